package policy

import "time"

// builtin is one entry of the built-in role catalogue. Template ids are Microsoft's fixed
// roleDefinitionIds (permissions-reference, Jan 2026); they are the same in every tenant.
type builtin struct {
	name       string
	templateID string
	aliases    []string
	tier0      bool
	example    string // a typical reason, for the "say why, e.g. ..." hint
}

// catalogue lists the directory roles Elevate knows without any config, in the order `roles`
// shows them. Tier 0 marks the roles that can take over the tenant: they always need a fresh
// sign-in, and the drift baseline watches them.
var catalogue = []builtin{
	{"Global Administrator", "62e90394-69f5-4237-9190-012177145e10", []string{"ga", "global", "globaladmin"}, true, "restore tenant"},
	{"Privileged Role Administrator", "e8611ab8-c189-46e8-94e1-60213ab1f814", []string{"pra", "privrole"}, true, "assign auditor role"},
	{"Privileged Authentication Administrator", "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", []string{"paa", "privauth"}, true, "reset admin MFA"},
	{"Conditional Access Administrator", "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", []string{"ca", "conditionalaccess"}, true, "fix sign-in policy"},
	{"Security Administrator", "194ae4cb-b126-40b2-bd5b-6091b380977d", []string{"security", "secadmin"}, true, "review alerts"},
	{"Exchange Administrator", "29232cdf-9323-42fd-ade2-1d097af3e4de", []string{"exchange", "exo"}, false, "fixing mail flow"},
	{"SharePoint Administrator", "f28a1f50-f6e7-4571-818b-6a12f2af6b6c", []string{"sharepoint", "spo"}, false, "restore site"},
	{"Teams Administrator", "69091246-20e8-4a56-aa4d-066075b2a7a8", []string{"teams"}, false, "fix meeting policy"},
	{"Intune Administrator", "3a2c62db-5318-420d-8d74-23affee5d9d5", []string{"intune"}, false, "wipe lost phone"},
	{"User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1", []string{"user", "users", "useradmin"}, false, "onboard new hires"},
	{"Helpdesk Administrator", "729827e3-9c14-49f7-bb1b-9608f156bbb8", []string{"helpdesk"}, false, "reset password"},
	{"Authentication Administrator", "c4e39bd9-1100-46d3-8c65-fb160da0071f", []string{"auth", "authadmin"}, false, "reset MFA"},
	{"Application Administrator", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", []string{"app", "apps", "appadmin"}, false, "rotate app secret"},
	{"Cloud Application Administrator", "158c047a-c907-4556-b7ef-446551a6b5f7", []string{"cloudapp", "cloudapps"}, false, "consent to app"},
	{"Billing Administrator", "b0f54661-2d74-4c50-afa3-1ec803f12efe", []string{"billing"}, false, "renew licences"},
	{"Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451", []string{"reader", "globalreader"}, false, "audit settings"},
	{"Reports Reader", "4a5d8f65-41da-4de4-8968-e035b65339cf", []string{"reports"}, false, "usage report"},
}

// Role defaults, for built-in and custom roles alike.
const (
	DefaultMaxDuration     = 8 * time.Hour
	DefaultDefaultDuration = 1 * time.Hour
	DefaultRequestExpiry   = 1 * time.Hour
	DefaultSignInFreshness = 15 * time.Minute
	DefaultTicketPattern   = `\b[A-Z][A-Z0-9]+-\d+\b`
	DefaultGraphURL        = "https://graph.microsoft.com"
	DefaultAuthorityHost   = "https://login.microsoftonline.com/"

	// PIMMaxDuration is the longest activation PIM accepts for a directory role.
	PIMMaxDuration = 24 * time.Hour
	// MinDuration is the shortest activation Elevate asks for: shorter ones end before PIM
	// has made the role usable.
	MinDuration = 5 * time.Minute
	// MaxJustification bounds a justification: enough for any real reason, small enough for a card.
	MaxJustification = 500
)

// reservedWords are the command words; no alias may shadow them. Some are reserved for commands
// that are not built yet, so that a config written today keeps working when they arrive.
var reservedWords = map[string]bool{
	"help": true, "roles": true, "status": true, "done": true, "extend": true, "cancel": true,
	"discover": true, "convert": true, "review": true, "digest": true, "drift": true,
	"approve": true, "deny": true, "request": true, "whoami": true, "elevate": true, "feedback": true,
	"rebind": true, "unbind": true,
}

// commandWords are the reserved words that work today, offered in "did you mean".
var commandWords = []string{"help", "roles", "status", "done", "extend", "cancel", "discover", "convert", "review", "digest", "drift", "approve", "deny", "feedback"}
