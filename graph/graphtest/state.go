package graphtest

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// state is the tenant's directory and PIM data, resolved from a Seed. It is guarded by Tenant.mu.
type state struct {
	users     map[string]*User // by object id
	userByUPN map[string]string
	groups    map[string]*group // by object id
	roles     map[string]RoleDef
	roleOrder []string
	elig      []*eligibility
	assign    []*assignment
	policies  map[string]*policy // by role id; roles without one get defaultPolicy
	requests  map[string]*scheduleRequest
	approvals map[string]*approval // by approval id (= request id)
	breakGl   []string
	signIns   []*signInRec
	audits    []*auditRec

	// PIM for Groups (groups.go)
	gElig      []*groupElig
	gAssign    []*groupAssign
	gRequests  map[string]*groupRequest
	gApprovals map[string]*approval
	gPolicies  map[string]*policy // by group id (member access)
}

type group struct {
	ID, DisplayName string
	Members         []string // user or group object ids
}

type eligibility struct {
	ID, ScheduleID, PrincipalID, RoleID string
	Start                               time.Time
	End                                 *time.Time
}

type assignment struct {
	ID, ScheduleID, PrincipalID, RoleID string
	AssignmentType, MemberType          string
	Start                               time.Time
	End                                 *time.Time
	VisibleAt                           time.Time // PIM's provisioning delay: hidden from instances until then
	RequestID                           string
	expiryLogged                        bool
}

type policy struct {
	RoleID        string
	MaxDuration   time.Duration
	MFA           bool
	Justification bool
	Ticket        bool
	Approvers     []approver
	ApprovalOn    bool
	AuthContext   string
	id            string // DirectoryRole_{tenant}_{guid}
}

type approver struct {
	UserID, GroupID, Description string
}

func defaultPolicy(roleID string) *policy {
	return &policy{RoleID: roleID, MaxDuration: 8 * time.Hour, MFA: true, Justification: true}
}

// resolve checks a seed and builds the state; now is the start of seeded schedules.
func resolve(s Seed, now time.Time) (*state, error) {
	st := &state{
		users: map[string]*User{}, userByUPN: map[string]string{}, groups: map[string]*group{},
		roles: map[string]RoleDef{}, policies: map[string]*policy{},
		requests: map[string]*scheduleRequest{}, approvals: map[string]*approval{},
		gRequests: map[string]*groupRequest{}, gApprovals: map[string]*approval{}, gPolicies: map[string]*policy{},
	}
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, &SeedError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if !guidRE.MatchString(s.TenantID) {
		fail("tenant_id", "%q is not a GUID (e.g. 7c1c2f0e-0000-4000-8000-000000000000)", s.TenantID)
	}
	if s.Client.ClientID == "" {
		fail("client.client_id", "missing")
	} else if !guidRE.MatchString(s.Client.ClientID) {
		fail("client.client_id", "%q is not a GUID", s.Client.ClientID)
	}
	if s.Client.ClientSecret == "" {
		fail("client.client_secret", "missing")
	}
	ids := map[string]string{} // object id → path, for duplicates across users and groups
	for i, u := range s.Users {
		p := fmt.Sprintf("users[%d]", i)
		switch {
		case !guidRE.MatchString(u.ID):
			fail(p+".id", "%q is not a GUID", u.ID)
			continue
		case ids[strings.ToLower(u.ID)] != "":
			fail(p+".id", "%s is already used by %s", u.ID, ids[strings.ToLower(u.ID)])
			continue
		case !strings.Contains(u.UPN, "@"):
			fail(p+".upn", "%q is not a user principal name (name@domain)", u.UPN)
			continue
		case st.userByUPN[strings.ToLower(u.UPN)] != "":
			fail(p+".upn", "%s is already used", u.UPN)
			continue
		}
		u := u
		u.ID = strings.ToLower(u.ID)
		if u.DisplayName == "" {
			u.DisplayName = strings.SplitN(u.UPN, "@", 2)[0]
		}
		ids[u.ID] = p
		st.users[u.ID] = &u
		st.userByUPN[strings.ToLower(u.UPN)] = u.ID
	}
	groupByName := map[string]string{}
	for i, g := range s.Groups {
		p := fmt.Sprintf("groups[%d]", i)
		switch {
		case !guidRE.MatchString(g.ID):
			fail(p+".id", "%q is not a GUID", g.ID)
			continue
		case ids[strings.ToLower(g.ID)] != "":
			fail(p+".id", "%s is already used by %s", g.ID, ids[strings.ToLower(g.ID)])
			continue
		case g.DisplayName == "":
			fail(p+".display_name", "missing")
			continue
		}
		id := strings.ToLower(g.ID)
		ids[id] = p
		st.groups[id] = &group{ID: id, DisplayName: g.DisplayName}
		groupByName[strings.ToLower(g.DisplayName)] = id
	}
	principal := func(ref string) (string, bool) {
		r := strings.ToLower(strings.TrimSpace(ref))
		if _, ok := st.users[r]; ok {
			return r, true
		}
		if id, ok := st.userByUPN[r]; ok {
			return id, true
		}
		if _, ok := st.groups[r]; ok {
			return r, true
		}
		if id, ok := groupByName[r]; ok {
			return id, true
		}
		return "", false
	}
	for i, g := range s.Groups {
		gr := st.groups[strings.ToLower(g.ID)]
		if gr == nil {
			continue
		}
		for j, m := range g.Members {
			id, ok := principal(m)
			if !ok {
				fail(fmt.Sprintf("groups[%d].members[%d]", i, j), "%q is not a user or group in this seed", m)
				continue
			}
			gr.Members = append(gr.Members, id)
		}
	}
	for _, g := range st.groups {
		if st.inGroup(g.ID, g.ID, map[string]bool{}) {
			fail("groups", "group %q contains itself (membership cycle)", g.DisplayName)
		}
	}
	for _, r := range builtinRoles {
		st.addRole(r)
	}
	for i, r := range s.Roles {
		if !guidRE.MatchString(r.ID) || r.DisplayName == "" {
			fail(fmt.Sprintf("roles[%d]", i), "a custom role needs a GUID id and a display_name")
			continue
		}
		st.addRole(RoleDef{ID: strings.ToLower(r.ID), DisplayName: r.DisplayName})
	}
	role := func(path, ref string) (string, bool) {
		r := strings.ToLower(strings.TrimSpace(ref))
		if _, ok := st.roles[r]; ok {
			return r, true
		}
		for _, d := range st.roles {
			if strings.EqualFold(d.DisplayName, r) {
				return d.ID, true
			}
		}
		fail(path, "%q is not a role (use a template id or a display name such as \"Exchange Administrator\")", ref)
		return "", false
	}
	for i, e := range s.Eligibilities {
		p := fmt.Sprintf("eligibilities[%d]", i)
		pid, ok := principal(e.Principal)
		if !ok {
			fail(p+".principal", "%q is not a user or group in this seed", e.Principal)
		}
		rid, rok := role(p+".role", e.Role)
		if !ok || !rok {
			continue
		}
		start := now
		if e.Start != nil {
			start = e.Start.UTC()
		}
		st.elig = append(st.elig, &eligibility{
			ID: newID(), ScheduleID: newID(), PrincipalID: pid, RoleID: rid, Start: start, End: utcPtr(e.End),
		})
	}
	for i, a := range s.Assignments {
		p := fmt.Sprintf("assignments[%d]", i)
		pid, ok := principal(a.Principal)
		if !ok {
			fail(p+".principal", "%q is not a user or group in this seed", a.Principal)
		}
		rid, rok := role(p+".role", a.Role)
		if !ok || !rok {
			continue
		}
		start := now.Add(-30 * 24 * time.Hour)
		if a.Start != nil {
			start = a.Start.UTC()
		}
		id := newID()
		st.assign = append(st.assign, &assignment{
			ID: id, ScheduleID: id, PrincipalID: pid, RoleID: rid, AssignmentType: "Assigned",
			MemberType: "Direct", Start: start, End: utcPtr(a.End), VisibleAt: start,
		})
	}
	for i, pc := range s.Policies {
		p := fmt.Sprintf("policies[%d]", i)
		var rid string
		if pc.Group != "" {
			gid, ok := principal(pc.Group)
			if !ok || st.groups[gid] == nil {
				fail(p+".group", "%q is not a group in this seed", pc.Group)
				continue
			}
			if st.gPolicies[gid] != nil {
				fail(p+".group", "%s already has a policy", pc.Group)
				continue
			}
			rid = gid
		} else {
			var ok bool
			if rid, ok = role(p+".role", pc.Role); !ok {
				continue
			}
			if st.policies[rid] != nil {
				fail(p+".role", "%s already has a policy", pc.Role)
				continue
			}
		}
		pol := defaultPolicy(rid)
		if pc.MaxDuration != 0 {
			if pc.MaxDuration < 0 || time.Duration(pc.MaxDuration) > 24*time.Hour {
				fail(p+".max_duration", "%v is out of range (PIM allows up to 24h)", time.Duration(pc.MaxDuration))
			}
			pol.MaxDuration = time.Duration(pc.MaxDuration)
		}
		pol.MFA = boolOr(pc.MFA, pol.MFA)
		pol.Justification = boolOr(pc.Justification, pol.Justification)
		pol.Ticket = boolOr(pc.Ticket, pol.Ticket)
		pol.AuthContext = pc.AuthContext
		if pc.Approval != nil {
			pol.ApprovalOn = true
			if len(pc.Approval.Approvers) == 0 {
				fail(p+".approval.approvers", "approval needs at least one approver")
			}
			for j, a := range pc.Approval.Approvers {
				id, ok := principal(a)
				if !ok {
					fail(fmt.Sprintf("%s.approval.approvers[%d]", p, j), "%q is not a user or group in this seed", a)
					continue
				}
				if u := st.users[id]; u != nil {
					pol.Approvers = append(pol.Approvers, approver{UserID: id, Description: u.DisplayName})
				} else {
					pol.Approvers = append(pol.Approvers, approver{GroupID: id, Description: st.groups[id].DisplayName})
				}
			}
		}
		if pc.Group != "" {
			if pol.MaxDuration > 8*time.Hour {
				fail(p+".max_duration", "PIM for Groups activations last at most 8h")
			}
			st.gPolicies[rid] = pol
			continue
		}
		st.policies[rid] = pol
	}
	for i, e := range s.GroupEligibilities {
		p := fmt.Sprintf("group_eligibilities[%d]", i)
		pid, ok := principal(e.Principal)
		if !ok {
			fail(p+".principal", "%q is not a user or group in this seed", e.Principal)
			continue
		}
		gid, gok := principal(e.Group)
		if !gok || st.groups[gid] == nil {
			fail(p+".group", "%q is not a group in this seed", e.Group)
			continue
		}
		access := strings.ToLower(e.Access)
		if access == "" {
			access = "member"
		}
		if access != "member" && access != "owner" {
			fail(p+".access", "%q should be member or owner", e.Access)
			continue
		}
		st.gElig = append(st.gElig, &groupElig{ID: newID(), PrincipalID: pid, GroupID: gid, AccessID: access,
			Start: now, End: utcPtr(e.End)})
	}
	for i, b := range s.BreakGlass {
		id, ok := principal(b)
		if !ok || st.users[id] == nil {
			fail(fmt.Sprintf("break_glass[%d]", i), "%q is not a user in this seed", b)
			continue
		}
		st.breakGl = append(st.breakGl, id)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return st, nil
}

func (st *state) addRole(r RoleDef) {
	r.ID = strings.ToLower(r.ID)
	if _, ok := st.roles[r.ID]; !ok {
		st.roleOrder = append(st.roleOrder, r.ID)
	}
	st.roles[r.ID] = r
}

func (st *state) policyFor(tenantID, roleID string) *policy {
	p := st.policies[roleID]
	if p == nil {
		p = defaultPolicy(roleID)
	}
	if p.id == "" {
		// Stable per role so that repeated reads agree, like the real policy ids.
		h := sha256.Sum256([]byte(tenantID + roleID))
		p.id = "DirectoryRole_" + tenantID + "_" + guidFrom(h[:16])
		st.policies[roleID] = p
	}
	return p
}

// inGroup reports whether principal is a transitive member of group.
func (st *state) inGroup(principal, groupID string, seen map[string]bool) bool {
	if seen[groupID] {
		return false
	}
	seen[groupID] = true
	g := st.groups[groupID]
	if g == nil {
		return false
	}
	for _, m := range g.Members {
		if m == principal || st.inGroup(principal, m, seen) {
			return true
		}
	}
	return false
}

// groupsOf returns the groups principal belongs to, transitively, in seed order of discovery.
func (st *state) groupsOf(principal string) []*group {
	var out []*group
	ids := make([]string, 0, len(st.groups))
	for id := range st.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if st.inGroup(principal, id, map[string]bool{}) {
			out = append(out, st.groups[id])
		}
	}
	return out
}

// user finds a user by object id or UPN.
func (st *state) user(ref string) *User {
	r := strings.ToLower(ref)
	if u := st.users[r]; u != nil {
		return u
	}
	if id, ok := st.userByUPN[r]; ok {
		return st.users[id]
	}
	return nil
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return guidFrom(b[:])
}

func guidFrom(b []byte) string {
	var c [16]byte
	copy(c[:], b)
	c[6] = c[6]&0x0f | 0x40
	c[8] = c[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", c[0:4], c[4:6], c[6:8], c[8:10], c[10:16])
}
