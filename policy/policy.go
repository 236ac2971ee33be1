// Package policy is Elevate's configuration and its rules: the YAML config file (role catalogue
// and aliases, duration caps, justification, ticket and approval rules, user classes, channels,
// tenant endpoints), the chat command grammar, and the decision whether a request may go ahead.
//
// Everything here is pure: Parse takes bytes, Decide takes `now`. The package does no I/O, so
// that every rule can be tested as a table and `elevate check` can report every config problem
// with its line before anything talks to Graph or chat.
package policy

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is a parsed, validated config file. The built-in role catalogue is always present;
// the file customizes it, adds custom roles, or hides roles with `enabled: false`.
type Config struct {
	Tenant               Tenant
	Roles                []*Role // enabled roles: built-ins in catalogue order, then custom roles
	Users                Users
	Channels             Channels
	RequestExpiry        time.Duration  // default 1h: a pending request expires then
	SignInFreshness      time.Duration  // default 15m; tier-0 roles always need a fresh sign-in
	DefaultTicketPattern *regexp.Regexp // default `\b[A-Z][A-Z0-9]+-\d+\b`
	Admins               Admins         // who may run discover and convert
	Pilot                *Pilot         // nil: everyone may use Elevate
	// DirectMessages is where people are sent direct messages that no conversation of theirs
	// prompts (reminders, review prompts): "last", the platform they last used (default), or "all".
	DirectMessages string
	// FailureAlert is how many failed or refused activations by one person within how long alert
	// the security channel (config `failure_alert`); Count 0: never.
	FailureAlert FailureAlert
	Schedules    Schedules // scheduled work and the drift baseline (schedule.go)
	Identity     Identity  // linking chat accounts to Entra users (identity.go)

	disabled []*Role    // roles hidden by `enabled: false`, so a request for one gets a clear answer
	index    *roleIndex // lookup keys of Roles and disabled, built by Parse (nil: scanned)
}

// Tenant is where Elevate's Entra tenant and its endpoints are. Secrets are never here: they
// come from the environment (AZURE_CLIENT_SECRET, ...).
type Tenant struct {
	TenantID      string
	ClientID      string
	GraphURL      string // default https://graph.microsoft.com (no /v1.0; the client appends it)
	AuthorityHost string // default https://login.microsoftonline.com/ (always ends with /)
	RedirectURL   string // the sign-in callback, e.g. https://elevate.corp.example/auth/callback
}

// Role is one activatable directory role and its rules.
type Role struct {
	Name                  string   // "Exchange Administrator"
	TemplateID            string   // roleDefinitionId
	Aliases               []string // lower-case
	MaxDuration           time.Duration
	DefaultDuration       time.Duration // applied when a request gives none; <= MaxDuration
	JustificationRequired bool
	JustificationPattern  *regexp.Regexp // optional; the justification must match
	JustificationHint     string         // optional; what the pattern wants, in words
	TicketRequired        bool
	TicketPattern         *regexp.Regexp // never nil after Parse: the role's or the config's default
	TicketSystem          string         // e.g. "ServiceNow"; passed to PIM as ticketSystem
	TicketHint            string         // optional; an example ticket, e.g. "CHG0012345"
	Approval              Approval
	Tier0                 bool
	ApprovalChannel       string // overrides Channels.Approvals
	BuiltIn               bool   // from the built-in catalogue (else a custom role)
	// Group is set for a PIM for Groups membership (config `groups:`): TemplateID is then the
	// group's object id and Access says which relationship is activated.
	Group  bool
	Access string // "member" or "owner"; groups only
	// ExtensionBudget is how much `extend` may add to one activation in total; 0: no extensions.
	// Default: the role's max_duration.
	ExtensionBudget time.Duration

	example string // a typical reason, for hints
}

// Approval is Elevate's own approval gate before activation.
type Approval struct {
	Required  int      // approvals needed; 0 = none
	Approvers []string // Entra object ids or UPNs
	Group     string   // Entra group object id; its members may approve too (checked by bot via graph)
	// Remind are the points before a pending request expires at which its approvers are reminded
	// (config `remind`); nil means DefaultRemind, empty (`remind: none`) never.
	Remind []time.Duration
	// Escalate is the last point before expiry at which the request is escalated to EscalateTo
	// (config `escalate: {before, to}`); 0: tier-0 roles escalate DefaultEscalate before expiry,
	// other roles not at all.
	Escalate time.Duration
	// EscalateTo are channels ("#it-leads") and people (UPN or object id) told at the escalation;
	// empty: the security channel.
	EscalateTo []string
	// OnCall waives the approvals when the requester is on call (config `on_call`); nil: never.
	OnCall *OnCall
}

// OnCall is an on-call waiver: approvals are waived while the requester is on call in a PagerDuty
// schedule or escalation policy, or an Opsgenie schedule, optionally only while an incident is open
// on a named service. Never for a tier-0 role unless Tier0 says so for that role.
type OnCall struct {
	Provider         string // "pagerduty" or "opsgenie"
	Schedule         string
	EscalationPolicy string // PagerDuty only
	IncidentService  string // optional
	Tier0            bool   // the role is tier 0 and the config allows the waiver anyway
}

// DefaultRemind is when approvers are reminded of a pending request unless the role says otherwise.
var DefaultRemind = []time.Duration{15 * time.Minute}

// DefaultEscalate is how long before expiry a tier-0 request is escalated unless the role says otherwise.
const DefaultEscalate = 5 * time.Minute

// ReminderPlan is when and to whom approvers of a pending request are reminded and escalated.
type ReminderPlan struct {
	Remind     []time.Duration // before expiry, largest first
	Escalate   time.Duration   // before expiry; 0: no escalation
	EscalateTo []string        // channels and people
}

// Reminders is r's reminder plan with the defaults applied: approvers reminded DefaultRemind
// before expiry, tier-0 requests escalated to the security channel DefaultEscalate before expiry.
// Roles without approval have no plan.
func (c *Config) Reminders(r *Role) ReminderPlan {
	if r == nil || r.Approval.Required == 0 {
		return ReminderPlan{}
	}
	p := ReminderPlan{Remind: slices.Clone(r.Approval.Remind), Escalate: r.Approval.Escalate, EscalateTo: slices.Clone(r.Approval.EscalateTo)}
	if r.Approval.Remind == nil {
		p.Remind = slices.Clone(DefaultRemind)
	}
	slices.SortFunc(p.Remind, func(a, b time.Duration) int { return cmp.Compare(b, a) })
	p.Remind = slices.Compact(p.Remind)
	if p.Escalate == 0 && r.Tier0 {
		p.Escalate = DefaultEscalate
	}
	if p.Escalate > 0 && len(p.EscalateTo) == 0 && c.Channels.Security != "" {
		p.EscalateTo = []string{c.Channels.Security}
	}
	if len(p.EscalateTo) == 0 {
		p.Escalate = 0
	}
	return p
}

// FailureAlert is the threshold for a burst of failed or refused activations by one person: the
// PIM rollout guide's "may indicate compromised accounts or confused users".
type FailureAlert struct {
	Count  int
	Within time.Duration
}

// Pilot limits Elevate to a few people while it is tried out (config `pilot:`), as the PIM rollout
// guide advises: the listed users and the members of an Entra group (checked by the bot through
// Graph). Others are told politely where to go meanwhile.
type Pilot struct {
	Users     []string // object ids or UPNs
	Group     string   // Entra group object id
	Meanwhile string   // what others should do meanwhile; a default sentence when empty
}

// Listed reports whether the user is one of the pilot's listed users (group membership is the
// bot's to check).
func (p *Pilot) Listed(objectID, upn string) bool {
	for _, u := range p.Users {
		if (objectID != "" && strings.EqualFold(u, objectID)) || (upn != "" && strings.EqualFold(u, upn)) {
			return true
		}
	}
	return false
}

// Admins are the PIM administrators who may run discover and convert (config `admins:`): listed
// users (object id or UPN) and the members of an Entra group (checked by the bot through Graph).
type Admins struct {
	Users []string
	Group string
}

// IsPIMAdmin reports whether the user may run discover and convert: a listed admin, or, when
// the config lists none and names no group, one of the schedules' admins (IsAdmin). Membership
// of Admins.Group is not known here; the bot checks it through Graph.
func (c *Config) IsPIMAdmin(objectID, upn string) bool {
	if len(c.Admins.Users) == 0 && c.Admins.Group == "" {
		return c.IsAdmin(objectID, upn)
	}
	for _, a := range c.Admins.Users {
		if (objectID != "" && strings.EqualFold(a, objectID)) || (upn != "" && strings.EqualFold(a, upn)) {
			return true
		}
	}
	return false
}

// Users are the user classes that change the rules.
type Users struct {
	BreakGlass []string // object ids of emergency accounts; they never request through Elevate
	Externals  []External
}

// External is a consultant whose access ends with their contract.
type External struct {
	User        string    // object id or UPN
	ContractEnd time.Time // the instant the contract ends; a date in the file means the end of that day, UTC
}

// Channels are where Elevate posts.
type Channels struct {
	Approvals string // approval cards
	Security  string // activations, break-glass sign-ins, drift
	Digest    string // the weekly digest
}

// Default is the config of an empty file: the built-in catalogue with default rules.
func Default() *Config {
	c, err := Parse("default", nil)
	if err != nil {
		panic("policy: the empty config does not parse: " + err.Error())
	}
	return c
}

// Role finds an enabled role by alias, name ("exchange administrator", also "exchange admin") or
// template id, case-insensitively. A near miss returns an *Error with suggestions.
func (c *Config) Role(nameOrAlias string) (*Role, error) {
	key := normalize(nameOrAlias)
	if r, disabled := c.lookup(key); r != nil && !disabled {
		return r, nil
	} else if r != nil {
		return nil, disabledError(r)
	}
	return nil, c.unknownRole(strings.TrimSpace(nameOrAlias), false)
}

// RoleByID returns the enabled role with this template id, or nil.
func (c *Config) RoleByID(templateID string) *Role {
	for _, r := range c.Roles {
		if strings.EqualFold(r.TemplateID, templateID) {
			return r
		}
	}
	return nil
}

// IsBreakGlass reports whether objectID is a configured break-glass account.
func (c *Config) IsBreakGlass(objectID string) bool {
	if objectID == "" {
		return false
	}
	for _, id := range c.Users.BreakGlass {
		if strings.EqualFold(id, objectID) {
			return true
		}
	}
	return false
}

// External returns the external-consultant entry for a user, matched by object id or UPN.
func (c *Config) External(objectID, upn string) (External, bool) {
	for _, e := range c.Users.Externals {
		if (objectID != "" && strings.EqualFold(e.User, objectID)) || (upn != "" && strings.EqualFold(e.User, upn)) {
			return e, true
		}
	}
	return External{}, false
}

// ApprovalChannel is where approval cards for r go: the role's channel, else the config's.
func (c *Config) ApprovalChannel(r *Role) string {
	if r != nil && r.ApprovalChannel != "" {
		return r.ApprovalChannel
	}
	return c.Channels.Approvals
}

// IsApprover reports whether the user is a listed approver of r. Membership of the approver
// group is not known here; the bot checks it through Graph.
func (r *Role) IsApprover(objectID, upn string) bool {
	for _, a := range r.Approval.Approvers {
		if (objectID != "" && strings.EqualFold(a, objectID)) || (upn != "" && strings.EqualFold(a, upn)) {
			return true
		}
	}
	return false
}

// Alias is the short name to show in examples: the first alias, else the name.
func (r *Role) Alias() string {
	if len(r.Aliases) > 0 {
		return r.Aliases[0]
	}
	return strings.ToLower(r.Name)
}

// keys are the lower-case words that name r: its aliases, its name, the name with
// "administrator" shortened to "admin", and its template id.
func (r *Role) keys() []string {
	name := normalize(r.Name)
	keys := append([]string{}, r.Aliases...)
	keys = append(keys, name)
	if short, ok := strings.CutSuffix(name, " administrator"); ok {
		keys = append(keys, short+" admin")
	}
	if r.TemplateID == "" {
		return keys
	}
	return append(keys, strings.ToLower(r.TemplateID))
}

// roleIndex is every lookup key (roles' keys) of the enabled and of the disabled roles, first
// role first as findRole finds them, and the most words a role's name has; Parse builds it. A
// command's role lookup tries several word counts at several places of the command, and
// computing every role's keys each time (lower-casing and joining every name) was 7% of the
// server's CPU under load.
type roleIndex struct {
	enabled, disabled map[string]*Role
	maxWords          int
}

// indexRoles builds c's role index; call it once the roles are final.
func (c *Config) indexRoles() {
	idx := &roleIndex{enabled: map[string]*Role{}, disabled: map[string]*Role{}}
	for _, set := range []struct {
		roles []*Role
		m     map[string]*Role
	}{{c.Roles, idx.enabled}, {c.disabled, idx.disabled}} {
		for _, r := range set.roles {
			for _, k := range r.keys() {
				if _, ok := set.m[k]; !ok && k != "" {
					set.m[k] = r
				}
			}
			idx.maxWords = max(idx.maxWords, len(strings.Fields(r.Name)))
		}
	}
	c.index = idx
}

// lookup finds the role with lookup key key (already normalized): an enabled one, else a
// disabled one (disabled true). A Config built without Parse has no index and is scanned.
func (c *Config) lookup(key string) (r *Role, disabled bool) {
	if c.index == nil {
		if r := findRole(c.Roles, key); r != nil {
			return r, false
		}
		r := findRole(c.disabled, key)
		return r, r != nil
	}
	if r, ok := c.index.enabled[key]; ok {
		return r, false
	}
	r = c.index.disabled[key]
	return r, r != nil
}

func findRole(roles []*Role, key string) *Role {
	if key == "" {
		return nil
	}
	for _, r := range roles {
		for _, k := range r.keys() {
			if k == key {
				return r
			}
		}
	}
	return nil
}

// normalize lower-cases and collapses white space, so "Exchange  Administrator" finds the role.
func normalize(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// candidates are the words offered in "did you mean" for roles (and, for commands, the
// command words). Template ids are left out: nobody mistypes a GUID into a near miss.
func (c *Config) candidates(withCommands bool) []candidate {
	var cs []candidate
	for _, r := range c.Roles {
		for _, a := range r.Aliases {
			cs = append(cs, candidate{a, r.Name})
		}
		cs = append(cs, candidate{normalize(r.Name), r.Name})
	}
	if withCommands {
		for _, w := range commandWords {
			cs = append(cs, candidate{w, w})
		}
	}
	return cs
}

func (c *Config) unknownRole(input string, withCommands bool) *Error {
	sugg := suggest(input, c.candidates(withCommands))
	what := "a role"
	if withCommands {
		what = "a role or command"
	}
	shown := input
	if len([]rune(shown)) > 40 {
		shown = string([]rune(shown)[:40]) + "…"
	}
	msg := `"` + shown + `" isn't ` + what + ` I know` + didYouMean(sugg)
	if len(sugg) == 0 {
		msg += ` — say "roles" to see the roles you can request`
	}
	code := CodeUnknownRole
	if len(sugg) > 0 && reservedWords[sugg[0]] {
		code = CodeUnknownCommand // "stauts": the user meant a command, not a role
	}
	return &Error{Code: code, Message: msg, Suggestions: sugg}
}

func disabledError(r *Role) *Error {
	return &Error{Code: CodeRoleDisabled, Message: r.Name + " is turned off in Elevate's config — ask your Elevate admin"}
}
