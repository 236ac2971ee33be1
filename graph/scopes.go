package graph

// Delegated permissions (scopes) of Microsoft Graph that Elevate may ask a signed-in user for.
// Sign-in asks for them and `elevate check` proves the tenant-wide admin consent for each: this
// list is the one place both read, so they cannot drift apart.
const (
	// ScopeActivate: the user's own directory-role activations, deactivations, cancellations
	// and PIM approval decisions.
	ScopeActivate = "RoleAssignmentSchedule.ReadWrite.Directory"
	// ScopeGroups: the same for PIM for Groups memberships and ownerships.
	ScopeGroups = "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"
	// ScopeEligibility: an admin converting standing access to eligible, or applying access-review
	// removals with their own sign-in.
	ScopeEligibility = "RoleEligibilitySchedule.ReadWrite.Directory"
)

// Scope is a delegated permission Elevate may ask for, and when.
type Scope struct {
	Name string
	For  string // in plain words
}

// DelegatedScopes are every delegated Graph permission Elevate may ask a user for. Each needs
// the tenant's admin consent (they are admin-consent-only permissions): without it the sign-in
// ends with AADSTS65001.
var DelegatedScopes = []Scope{
	{Name: ScopeActivate, For: "activate, end and approve directory roles with each user's own sign-in"},
	{Name: ScopeGroups, For: "activate, end and approve PIM for Groups memberships with each user's own sign-in"},
	{Name: ScopeEligibility, For: "convert standing access to eligible and apply access-review removals with an admin's own sign-in"},
}
