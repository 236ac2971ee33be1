package graphtest

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Seed is the initial state of a simulated tenant. It is usually read from YAML with ParseSeed
// (see examples/tenant.yaml), but tests may build one in Go.
//
// Principals (members, eligibility and assignment holders, approvers, break-glass accounts) are
// referenced by user object id, UPN, group object id or group display name; roles by template id or
// display name (the built-in catalogue of reference/graph-pim.md §7 is always known).
type Seed struct {
	TenantID      string         `yaml:"tenant_id"`
	Domain        string         `yaml:"domain"` // e.g. contoso.example; also accepted as tenant in authority URLs
	Client        Client         `yaml:"client"`
	Users         []User         `yaml:"users"`
	Groups        []Group        `yaml:"groups"`
	Roles         []RoleDef      `yaml:"roles"` // custom roles in addition to the built-in catalogue
	Eligibilities []Eligibility  `yaml:"eligibilities"`
	Assignments   []Assignment   `yaml:"assignments"` // active assignments (permanent unless end is set)
	Policies      []PolicyConfig `yaml:"policies"`
	BreakGlass    []string       `yaml:"break_glass"`
	// GroupEligibilities are PIM for Groups eligible memberships (or ownerships).
	GroupEligibilities []GroupEligibility `yaml:"group_eligibilities"`
	// SubscribedSkus are the tenant's subscriptions (GET /subscribedSkus). nil: one Microsoft
	// Entra ID P2 subscription, which licenses PIM; an empty non-nil list: none at all.
	SubscribedSkus []Sku `yaml:"subscribed_skus"`
}

// Sku is one of the tenant's subscriptions and the service plans it includes.
type Sku struct {
	PartNumber string `yaml:"sku_part_number"` // e.g. AAD_PREMIUM_P2, SPE_E5, Microsoft_Entra_ID_Governance
	// Status is the capabilityStatus: Enabled (default), Warning, Suspended, Deleted or LockedOut.
	Status string `yaml:"capability_status"`
	// Plans are the service plans' names (servicePlanName), e.g. AAD_PREMIUM_P2 or
	// Entra_Identity_Governance; each is provisioned (Success).
	Plans []string `yaml:"service_plans"`
}

// GroupEligibility makes a principal eligible to activate membership (or ownership) of a group
// through PIM for Groups.
type GroupEligibility struct {
	Principal string     `yaml:"principal"`
	Group     string     `yaml:"group"`  // object id or display name
	Access    string     `yaml:"access"` // member (default) or owner
	End       *time.Time `yaml:"end"`
}

// Client is the app registration Elevate signs in with.
type Client struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	ObjectID     string `yaml:"object_id"` // service principal object id (oid of app tokens); derived when empty
	DisplayName  string `yaml:"display_name"`
	// RedirectURIs are the registered (Web platform) reply URLs; empty accepts any http(s)
	// redirect URI at sign-in, while GET /applications then lists none.
	RedirectURIs []string `yaml:"redirect_uris"`
	// Roles are the application permissions in app-only tokens; empty means a read-only default set.
	Roles []string `yaml:"roles"`
	// Scopes are the delegated permissions an admin consented to for all users (the app's
	// oauth2PermissionGrants, consentType AllPrincipals), which user tokens carry (scp); empty
	// means a default set.
	Scopes []string `yaml:"scopes"`
}

// User is a directory user.
type User struct {
	ID          string `yaml:"id"`
	UPN         string `yaml:"upn"`
	DisplayName string `yaml:"display_name"`
	Mail        string `yaml:"mail"`
	// ProxyAddresses are the user's email aliases as Exchange keeps them ("SMTP:primary",
	// "smtp:alias").
	ProxyAddresses []string `yaml:"proxy_addresses"`
}

// Group is a security group; members may be users or groups (nesting is transitive).
type Group struct {
	ID          string   `yaml:"id"`
	DisplayName string   `yaml:"display_name"`
	Members     []string `yaml:"members"`
}

// RoleDef is a custom role definition.
type RoleDef struct {
	ID          string `yaml:"id"`
	DisplayName string `yaml:"display_name"`
}

// Eligibility makes a principal eligible for a role (tenant-wide scope "/").
type Eligibility struct {
	Principal string     `yaml:"principal"`
	Role      string     `yaml:"role"`
	Start     *time.Time `yaml:"start"` // default: when the tenant starts
	End       *time.Time `yaml:"end"`   // default: permanent (null)
}

// Assignment is an active assignment (assignmentType "Assigned").
type Assignment struct {
	Principal string     `yaml:"principal"`
	Role      string     `yaml:"role"`
	Start     *time.Time `yaml:"start"`
	End       *time.Time `yaml:"end"` // default: permanent (null)
}

// PolicyConfig is a role's PIM settings for activation. Unset fields take the defaults of roles
// without a policy: 8h maximum, MFA and justification required, no ticket, no approval.
type PolicyConfig struct {
	Role          string   `yaml:"role"`
	Group         string   `yaml:"group"`        // instead of role: a PIM for Groups member policy (max 8h)
	MaxDuration   Duration `yaml:"max_duration"` // ISO 8601 (PT8H) or Go (8h)
	MFA           *bool    `yaml:"mfa"`
	Justification *bool    `yaml:"justification"`
	Ticket        *bool    `yaml:"ticket"`
	Approval      *struct {
		Approvers []string `yaml:"approvers"` // users (singleUser) or groups (groupMembers)
	} `yaml:"approval"`
	AuthContext string `yaml:"auth_context"` // e.g. c1; empty = off
}

// Duration is a YAML duration accepting ISO 8601 (PT8H, P1D, PT1H30M) or Go syntax (8h, 90m).
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseAnyDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use PT8H or 8h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Built-in role template ids (reference/graph-pim.md §7).
const (
	RoleGlobalAdministrator     = "62e90394-69f5-4237-9190-012177145e10"
	RolePrivilegedRoleAdmin     = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	RoleExchangeAdministrator   = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	RoleSharePointAdministrator = "f28a1f50-f6e7-4571-818b-6a12f2af6b6c"
	RoleSecurityAdministrator   = "194ae4cb-b126-40b2-bd5b-6091b380977d"
	RoleUserAdministrator       = "fe930be7-5e62-47db-91af-98c3a49a38b1"
)

var builtinRoles = []RoleDef{
	{RoleGlobalAdministrator, "Global Administrator"},
	{RolePrivilegedRoleAdmin, "Privileged Role Administrator"},
	{RoleExchangeAdministrator, "Exchange Administrator"},
	{RoleSharePointAdministrator, "SharePoint Administrator"},
	{RoleSecurityAdministrator, "Security Administrator"},
	{RoleUserAdministrator, "User Administrator"},
	{"69091246-20e8-4a56-aa4d-066075b2a7a8", "Teams Administrator"},
	{"3a2c62db-5318-420d-8d74-23affee5d9d5", "Intune Administrator"},
	{"729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"},
	{"b0f54661-2d74-4c50-afa3-1ec803f12efe", "Billing Administrator"},
	{"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"},
	{"158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator"},
	{"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "Conditional Access Administrator"},
	{"c4e39bd9-1100-46d3-8c65-fb160da0071f", "Authentication Administrator"},
	{"7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator"},
	{"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"},
	{"4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader"},
}

// SeedError is one problem in a seed; ParseSeed and New return them joined (errors.Join).
type SeedError struct {
	Line int    // 0 when unknown (seeds built in Go)
	Path string // e.g. eligibilities[2].role
	Msg  string
}

func (e *SeedError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("seed:%d: %s: %s", e.Line, e.Path, e.Msg)
	}
	return fmt.Sprintf("seed: %s: %s", e.Path, e.Msg)
}

// ParseSeed reads a YAML seed and checks it: unknown fields, duplicate or malformed ids,
// references to users, groups and roles that do not exist, group cycles.
func ParseSeed(data []byte) (Seed, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Seed{}, fmt.Errorf("seed: %w", err)
	}
	var s Seed
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Seed{}, fmt.Errorf("seed: %w", err)
	}
	if _, err := resolve(s, time.Unix(0, 0)); err != nil {
		return Seed{}, withLines(err, &root)
	}
	return s, nil
}

// withLines fills in the line of each SeedError from the YAML tree.
func withLines(err error, root *yaml.Node) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var se *SeedError
		if errors.As(e, &se) && se.Line == 0 {
			se.Line = lineOf(root, se.Path)
		}
	}
	return errors.Join(errs...)
}

var pathPart = regexp.MustCompile(`^([a-z_]+)(?:\[(\d+)\])?$`)

// lineOf finds the line of a path such as "eligibilities[2].role" in the YAML tree; 0 if absent.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		m := pathPart.FindStringSubmatch(part)
		if m == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == m[1] {
				next = n.Content[i+1]
				line = n.Content[i].Line
			}
		}
		if next == nil {
			return line
		}
		n = next
		if m[2] != "" {
			i, _ := strconv.Atoi(m[2])
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	return line
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// parseAnyDuration accepts ISO 8601 durations (days and time parts, no years, months or weeks,
// as PIM accepts) and Go durations.
func parseAnyDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s[0] != 'P' && s[0] != 'p' {
		return time.ParseDuration(s)
	}
	return parseISODuration(s)
}

var isoRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

func parseISODuration(s string) (time.Duration, error) {
	m := isoRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration", s)
	}
	var d time.Duration
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute}
	for i, u := range units {
		if m[i+1] != "" {
			n, err := strconv.ParseInt(m[i+1], 10, 64)
			if err != nil {
				return 0, err
			}
			d += time.Duration(n) * u
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return 0, err
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// isoDuration formats d the way PIM writes durations: days and hours/minutes, never weeks.
func isoDuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteString("P")
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d == 0 {
		return b.String()
	}
	b.WriteString("T")
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		d -= m * time.Minute
	}
	if d > 0 {
		fmt.Fprintf(&b, "%gS", d.Seconds())
	}
	return b.String()
}
