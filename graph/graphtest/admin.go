package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Admin writes: converting standing access to eligible (reference §4) and the scenario helpers the
// demo and tests use to change the tenant behind Elevate's back.

// adminRoles may make admin writes with a delegated token (Privileged Role Administrator, Global
// Administrator), when active.
var adminRoles = []string{RolePrivilegedRoleAdmin, RoleGlobalAdministrator}

// mayAdmin checks the caller of an admin* request: an app needs one of the write (or, for
// removals, remove) permissions; a user needs an active privileged role. It answers and returns
// false when refused.
func (t *Tenant) mayAdmin(c *gctx, removal bool, perms ...string) bool {
	if c.caller.App {
		for _, p := range perms {
			if slices.Contains(c.caller.Roles, p) {
				return true
			}
		}
		if removal {
			for _, p := range perms {
				if r, ok := strings.CutSuffix(p, ".ReadWrite.Directory"); ok && slices.Contains(c.caller.Roles, r+".Remove.Directory") {
					return true
				}
			}
		}
		// What PIM answers, per the field report in reference §3.2: the real code inside message.
		msg, _ := json.Marshal(map[string]string{"errorCode": "PermissionScopeNotGranted",
			"message": "Authorization failed due to missing permission scope " + strings.Join(perms, ",") + "."})
		c.fail(http.StatusForbidden, "UnknownError", string(msg))
		return false
	}
	now := t.now()
	for _, a := range t.liveAssignments(now) {
		if a.PrincipalID == c.caller.UserID && slices.Contains(adminRoles, a.RoleID) {
			return true
		}
	}
	c.fail(http.StatusForbidden, "Forbidden",
		"The signed-in user needs an active Privileged Role Administrator or Global Administrator role for this request.")
	return false
}

// adminAssignmentRequest serves admin actions on roleAssignmentScheduleRequests: adminRemove.
func (t *Tenant) adminAssignmentRequest(c *gctx, b requestBody) {
	principal, roleID := strings.ToLower(b.PrincipalID), strings.ToLower(b.RoleDefinitionID)
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.mayAdmin(c, true, "RoleAssignmentSchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory") {
		return
	}
	n := len(t.st.assign)
	var target string
	kind := "timebound"
	t.st.assign = slices.DeleteFunc(t.st.assign, func(a *assignment) bool {
		hit := a.PrincipalID == principal && a.RoleID == roleID && (a.End == nil || a.End.After(now))
		if hit {
			target = a.ScheduleID
			if a.End == nil {
				kind = "permanent"
			}
		}
		return hit
	})
	if len(t.st.assign) == n {
		c.fail(http.StatusBadRequest, codeNotExists, "The Role assignment does not exist.")
		return
	}
	r := &scheduleRequest{
		ID: newID(), Action: "adminRemove", PrincipalID: principal, RoleID: roleID, Justification: b.Justification,
		Created: now, Completed: &now, Start: now, Status: "Revoked", CreatedBy: c.caller.id(),
		CreatedByApp: c.caller.App, TargetScheduleID: target, ExpType: "notSpecified",
	}
	t.st.requests[r.ID] = r
	t.audit(now, "Remove member from role in PIM completed ("+kind+")", "Remove", c.caller.id(), c.caller.App, roleID, principal, requestDetails(r)...)
	c.json(http.StatusCreated, t.requestJSON(c, r))
}

// createEligibilityRequest serves POST roleEligibilityScheduleRequests: adminAssign, adminRemove.
func (t *Tenant) createEligibilityRequest(c *gctx) {
	var b requestBody
	if err := json.Unmarshal(c.body, &b); err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return
	}
	action := strings.ToLower(b.Action)
	if action != "adminassign" && action != "adminremove" {
		c.fail(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("graphtest does not simulate the %q eligibility action (only adminAssign and adminRemove).", b.Action))
		return
	}
	if b.PrincipalID == "" || b.RoleDefinitionID == "" || (b.DirectoryScopeID == nil && b.AppScopeID == nil) {
		c.fail(http.StatusBadRequest, "BadRequest", "principalId, roleDefinitionId and directoryScopeId are required.")
		return
	}
	principal, roleID := strings.ToLower(b.PrincipalID), strings.ToLower(b.RoleDefinitionID)
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.mayAdmin(c, action == "adminremove", "RoleEligibilitySchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory") {
		return
	}
	if t.st.users[principal] == nil && t.st.groups[principal] == nil {
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The principal '%s' does not exist.", b.PrincipalID))
		return
	}
	if _, ok := t.st.roles[roleID]; !ok {
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The role definition '%s' does not exist.", b.RoleDefinitionID))
		return
	}
	r := &scheduleRequest{
		ID: newID(), Action: "adminAssign", PrincipalID: principal, RoleID: roleID, Justification: b.Justification,
		Created: now, Completed: &now, Start: now, CreatedBy: c.caller.id(), CreatedByApp: c.caller.App,
		ExpType: "noExpiration",
	}
	if action == "adminremove" {
		r.Action, r.ExpType = "adminRemove", "notSpecified"
		n := len(t.st.elig)
		kind := "timebound"
		t.st.elig = slices.DeleteFunc(t.st.elig, func(e *eligibility) bool {
			hit := e.PrincipalID == principal && e.RoleID == roleID
			if hit {
				r.TargetScheduleID = e.ScheduleID
				if e.End == nil {
					kind = "permanent"
				}
			}
			return hit
		})
		if len(t.st.elig) == n {
			c.fail(http.StatusBadRequest, codeNotExists, "The Role eligibility does not exist.")
			return
		}
		r.Status = "Revoked"
		t.st.requests[r.ID] = r
		t.audit(now, "Remove eligible member from role in PIM completed ("+kind+")", "Remove", c.caller.id(), c.caller.App, roleID, principal, requestDetails(r)...)
		c.json(http.StatusCreated, t.eligibilityRequestJSON(c, r))
		return
	}
	for _, e := range t.st.elig {
		if e.PrincipalID == principal && e.RoleID == roleID && (e.End == nil || e.End.After(now)) {
			c.fail(http.StatusBadRequest, "RoleEligibilityExists", "The Role eligibility already exists.")
			return
		}
	}
	var end *time.Time
	if si := b.ScheduleInfo; si != nil {
		if si.StartDateTime != nil {
			r.Start, r.StartGiven = si.StartDateTime.UTC(), true
		}
		if e := si.Expiration; e != nil {
			r.ExpType = e.Type
			switch strings.ToLower(e.Type) {
			case "afterdatetime":
				if e.EndDateTime == nil {
					c.fail(http.StatusBadRequest, "BadRequest", "expiration.endDateTime is required for afterDateTime.")
					return
				}
				x := e.EndDateTime.UTC()
				end = &x
			case "afterduration":
				d, err := parseISODuration(deref(e.Duration))
				if err != nil || d <= 0 {
					c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("%q is not a valid ISO 8601 duration.", deref(e.Duration)))
					return
				}
				x := r.Start.Add(d)
				end, r.DurationText = &x, deref(e.Duration)
			}
		}
	}
	if end != nil && end.Sub(r.Start) > 365*24*time.Hour {
		c.fail(http.StatusBadRequest, codePolicyFailed, `The following policy rules failed: ["ExpirationRule"]`)
		return
	}
	r.EndDateTime = end
	r.Status = "Provisioned"
	r.TargetScheduleID = r.ID
	t.st.elig = append(t.st.elig, &eligibility{ID: newID(), ScheduleID: r.ID, PrincipalID: principal, RoleID: roleID,
		Start: r.Start, End: end})
	t.st.requests[r.ID] = r
	kind := "permanent"
	if end != nil {
		kind = "timebound"
	}
	t.audit(now, "Add eligible member to role in PIM completed ("+kind+")", "Add", c.caller.id(), c.caller.App, roleID, principal, requestDetails(r)...)
	c.json(http.StatusCreated, t.eligibilityRequestJSON(c, r))
}

func (t *Tenant) eligibilityRequestJSON(c *gctx, r *scheduleRequest) map[string]any {
	v := t.requestJSON(c, r)
	v["@odata.context"] = c.context("roleManagement/directory/roleEligibilityScheduleRequests/$entity")
	return v
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// PortalActivate activates role for user as the Entra portal would, outside Elevate: no policy
// checks beyond eligibility, the instance visible at once. Elevate's watchers should notice it.
func (t *Tenant) PortalActivate(user, role string, d time.Duration) error {
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.st.user(user)
	if u == nil {
		return fmt.Errorf("graphtest: no user %q", user)
	}
	roleID, ok := t.st.roleID(role)
	if !ok {
		return fmt.Errorf("graphtest: no role %q", role)
	}
	if !t.eligible(u.ID, roleID, now) {
		return fmt.Errorf("graphtest: %s is not eligible for %s", u.UPN, role)
	}
	if t.activeOrPending(u.ID, roleID, now) {
		return fmt.Errorf("graphtest: %s already has %s", u.UPN, role)
	}
	r := &scheduleRequest{ID: newID(), Action: "selfActivate", PrincipalID: u.ID, RoleID: roleID,
		Justification: "activated in the Entra portal", Created: now, Completed: &now, Start: now,
		Status: "Granted", CreatedBy: u.ID, ExpType: "afterDuration", Duration: d, DurationText: isoDuration(d)}
	r.TargetScheduleID = r.ID
	t.st.requests[r.ID] = r
	t.audit(now, "Add member to role requested (PIM activation)", "Add", u.ID, false, roleID, u.ID, requestDetails(r)...)
	t.audit(now, "Add member to role completed (PIM activation)", "Add", "", true, roleID, u.ID, requestDetails(r)...)
	end := now.Add(d)
	t.st.assign = append(t.st.assign, &assignment{ID: newID(), ScheduleID: r.ID, PrincipalID: u.ID, RoleID: roleID,
		AssignmentType: "Activated", MemberType: "Direct", Start: now, End: &end, VisibleAt: now, RequestID: r.ID})
	return nil
}

// AssignPermanent adds a standing (permanent, "Assigned") assignment of role to a user or group,
// as an admin outside PIM would: drift for Elevate to find.
func (t *Tenant) AssignPermanent(principal, role string) error {
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	id := ""
	if u := t.st.user(principal); u != nil {
		id = u.ID
	} else if g := t.st.groups[strings.ToLower(principal)]; g != nil {
		id = g.ID
	}
	if id == "" {
		return fmt.Errorf("graphtest: no user or group %q", principal)
	}
	roleID, ok := t.st.roleID(role)
	if !ok {
		return fmt.Errorf("graphtest: no role %q", role)
	}
	aid := newID()
	t.st.assign = append(t.st.assign, &assignment{ID: aid, ScheduleID: aid, PrincipalID: id, RoleID: roleID,
		AssignmentType: "Assigned", MemberType: "Direct", Start: now, VisibleAt: now})
	t.audit(now, "Add member to role outside of PIM (permanent)", "Add", "", true, roleID, id)
	return nil
}

// SetPolicy replaces a role's PIM settings, as an admin editing role settings in the portal would.
func (t *Tenant) SetPolicy(pc PolicyConfig) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.seed
	s.Policies = []PolicyConfig{pc}
	// Resolve against the current directory so approvers may be any seeded user or group.
	st, err := resolve(s, t.now().UTC())
	if err != nil {
		return err
	}
	for id, p := range st.policies {
		if old := t.st.policies[id]; old != nil {
			p.id = old.id
		}
		t.st.policies[id] = p
		t.audit(t.now().UTC(), "Update role setting in PIM", "Update", "", true, id, "")
	}
	for id, p := range st.gPolicies {
		t.st.gPolicies[id] = p
		t.audit(t.now().UTC(), "Update role setting in PIM", "Update", "", true, "", id)
	}
	return nil
}

// roleID finds a role by template id or display name.
func (st *state) roleID(ref string) (string, bool) {
	r := strings.ToLower(strings.TrimSpace(ref))
	if _, ok := st.roles[r]; ok {
		return r, true
	}
	for _, d := range st.roles {
		if strings.EqualFold(d.DisplayName, r) {
			return d.ID, true
		}
	}
	return "", false
}

// PortalExtend lengthens user's running activation of role to end, as an administrator's
// extension in the Entra portal does (adminExtend): the instance ends later, and the audit log
// says so.
func (t *Tenant) PortalExtend(user, role string, end time.Time) error {
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.st.user(user)
	if u == nil {
		return fmt.Errorf("graphtest: no user %q", user)
	}
	roleID, ok := t.st.roleID(role)
	if !ok {
		return fmt.Errorf("graphtest: no role %q", role)
	}
	for _, a := range t.st.assign {
		if a.PrincipalID == u.ID && a.RoleID == roleID && a.AssignmentType == "Activated" && !a.Start.After(now) && a.End != nil && a.End.After(now) {
			if !end.After(*a.End) {
				return fmt.Errorf("graphtest: %s's %s already ends at %s", u.UPN, role, a.End)
			}
			e := end.UTC()
			a.End = &e
			t.audit(now, "Add member to role completed (PIM activation extended)", "Update", "", true, roleID, u.ID)
			return nil
		}
	}
	return fmt.Errorf("graphtest: %s has no running activation of %s", u.UPN, role)
}
