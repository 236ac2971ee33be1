package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// PIM for Groups (reference §6): eligible memberships, the user's own selfActivate and
// selfDeactivate, and the v1.0 approval stages, under /identityGovernance/privilegedAccess/group/.

type groupElig struct {
	ID, PrincipalID, GroupID, AccessID string
	Start                              time.Time
	End                                *time.Time
}

type groupAssign struct {
	ID, PrincipalID, GroupID, AccessID string
	Start                              time.Time
	End                                *time.Time
	VisibleAt                          time.Time
	RequestID                          string
}

type groupRequest struct {
	ID, Action, PrincipalID, GroupID, AccessID string
	Justification                              string
	Status                                     string
	Created                                    time.Time
	Completed                                  *time.Time
	Start                                      time.Time
	Duration                                   time.Duration
	CreatedBy                                  string
	ValidationOnly                             bool
}

type groupRequestBody struct {
	Action           string `json:"action"`
	PrincipalID      string `json:"principalId"`
	GroupID          string `json:"groupId"`
	AccessID         string `json:"accessId"`
	Justification    string `json:"justification"`
	IsValidationOnly bool   `json:"isValidationOnly"`
	ScheduleInfo     *struct {
		StartDateTime *time.Time `json:"startDateTime"`
		Expiration    *struct {
			Type     string  `json:"type"`
			Duration *string `json:"duration"`
		} `json:"expiration"`
	} `json:"scheduleInfo"`
}

func (t *Tenant) routeGroups(c *gctx) bool {
	p, m := c.parts, c.r.Method
	if len(p) < 4 || !strings.EqualFold(p[0], "identityGovernance") || !strings.EqualFold(p[1], "privilegedAccess") ||
		!strings.EqualFold(p[2], "group") || c.version != "v1.0" {
		return false
	}
	rest := p[3:]
	switch {
	case m == "GET" && len(rest) == 1 && strings.EqualFold(rest[0], "eligibilityScheduleInstances"):
		t.listGroupEligibility(c)
	case m == "GET" && len(rest) == 1 && strings.EqualFold(rest[0], "assignmentScheduleInstances"):
		t.listGroupAssignments(c)
	case m == "POST" && len(rest) == 1 && strings.EqualFold(rest[0], "assignmentScheduleRequests"):
		t.createGroupRequest(c)
	case m == "GET" && len(rest) == 2 && strings.EqualFold(rest[0], "assignmentScheduleRequests"):
		t.getGroupRequest(c, rest[1])
	case m == "POST" && len(rest) == 3 && strings.EqualFold(rest[0], "assignmentScheduleRequests") && strings.EqualFold(rest[2], "cancel"):
		t.cancelGroupRequest(c, rest[1])
	case m == "GET" && len(rest) == 2 && strings.EqualFold(rest[0], "assignmentApprovals"):
		t.getGroupApproval(c, rest[1])
	case m == "PATCH" && len(rest) == 4 && strings.EqualFold(rest[0], "assignmentApprovals") && strings.EqualFold(rest[2], "stages"):
		t.patchGroupApprovalStage(c, rest[1], rest[3])
	default:
		return false
	}
	return true
}

// groupFilter reads the principalId / groupId filter the list endpoints require.
func groupFilter(c *gctx) ([]cond, bool) {
	conds, err := parseFilter(c.r.URL.Query().Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return nil, false
	}
	for _, cd := range conds {
		if f := strings.ToLower(cd.Field); f == "principalid" || f == "groupid" {
			return conds, true
		}
	}
	c.fail(http.StatusBadRequest, "BadRequest", "A filter on groupId or principalId is required.")
	return nil, false
}

func (t *Tenant) listGroupEligibility(c *gctx) {
	conds, ok := groupFilter(c)
	if !ok {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []any
	for _, e := range t.st.gElig {
		if e.Start.After(now) || (e.End != nil && !e.End.After(now)) {
			continue
		}
		ok, err := matchAll(conds, func(f string) (string, bool) {
			switch strings.ToLower(f) {
			case "principalid":
				return e.PrincipalID, true
			case "groupid":
				return e.GroupID, true
			case "accessid":
				return e.AccessID, true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		if !ok {
			continue
		}
		v := map[string]any{"id": e.ID, "principalId": e.PrincipalID, "groupId": e.GroupID, "accessId": e.AccessID,
			"memberType": "direct", "startDateTime": timeJSON(e.Start), "endDateTime": timePtrJSON(e.End),
			"eligibilityScheduleId": e.ID}
		if _, ok := expandSet(c.r.URL.Query().Get("$expand"))["group"]; ok {
			v["group"] = groupJSON(t.st.groups[e.GroupID])
		}
		out = append(out, v)
	}
	c.page(c.context("identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"), out)
}

func (t *Tenant) listGroupAssignments(c *gctx) {
	conds, ok := groupFilter(c)
	if !ok {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []any
	for _, a := range t.st.gAssign {
		if a.VisibleAt.After(now) || a.Start.After(now) || (a.End != nil && !a.End.After(now)) {
			continue
		}
		ok, err := matchAll(conds, func(f string) (string, bool) {
			switch strings.ToLower(f) {
			case "principalid":
				return a.PrincipalID, true
			case "groupid":
				return a.GroupID, true
			case "accessid":
				return a.AccessID, true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		if ok {
			out = append(out, map[string]any{"id": a.ID, "principalId": a.PrincipalID, "groupId": a.GroupID,
				"accessId": a.AccessID, "assignmentType": "activated", "memberType": "direct",
				"startDateTime": timeJSON(a.Start), "endDateTime": timePtrJSON(a.End), "assignmentScheduleId": a.RequestID})
		}
	}
	c.page(c.context("identityGovernance/privilegedAccess/group/assignmentScheduleInstances"), out)
}

func (t *Tenant) groupPolicy(groupID string) *policy {
	if p := t.st.gPolicies[groupID]; p != nil {
		return p
	}
	return defaultPolicy(groupID)
}

func (t *Tenant) createGroupRequest(c *gctx) {
	var b groupRequestBody
	if err := json.Unmarshal(c.body, &b); err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return
	}
	action := strings.ToLower(b.Action)
	if action != "selfactivate" && action != "selfdeactivate" {
		c.fail(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("graphtest does not simulate the %q group action (only selfActivate and selfDeactivate).", b.Action))
		return
	}
	if c.caller.App {
		c.fail(http.StatusForbidden, "Forbidden", "The "+b.Action+" action acts on the signed-in user: an application-only token cannot be used.")
		return
	}
	principal, gid, access := strings.ToLower(b.PrincipalID), strings.ToLower(b.GroupID), strings.ToLower(b.AccessID)
	switch {
	case principal == "" || gid == "" || access == "":
		c.fail(http.StatusBadRequest, "BadRequest", "principalId, groupId and accessId are required.")
		return
	case access != "member" && access != "owner":
		c.fail(http.StatusBadRequest, "BadRequest", "accessId must be member or owner.")
		return
	case principal != strings.ToLower(c.caller.UserID):
		c.fail(http.StatusForbidden, "Forbidden", "The principalId of a "+b.Action+" request must be the signed-in user's object id.")
		return
	}
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &groupRequest{ID: newID(), Action: b.Action, PrincipalID: principal, GroupID: gid, AccessID: access,
		Justification: b.Justification, Created: now, Start: now, CreatedBy: c.caller.UserID}
	if action == "selfdeactivate" {
		idx := slices.IndexFunc(t.st.gAssign, func(a *groupAssign) bool {
			return a.PrincipalID == principal && a.GroupID == gid && a.AccessID == access && !a.Start.After(now) &&
				(a.End == nil || a.End.After(now))
		})
		if idx < 0 {
			c.fail(http.StatusBadRequest, codeNotExists, "The group assignment does not exist.")
			return
		}
		if now.Sub(t.st.gAssign[idx].Start) < t.minActive {
			c.fail(http.StatusBadRequest, codeTooShort, "The group assignment cannot be deactivated within "+isoDuration(t.minActive)+" of its activation.")
			return
		}
		t.st.gAssign = slices.Delete(t.st.gAssign, idx, idx+1)
		r.Status, r.Completed = "Revoked", &now
		t.st.gRequests[r.ID] = r
		c.json(http.StatusCreated, t.groupRequestJSON(c, r))
		return
	}
	pol := t.groupPolicy(gid)
	r.Duration = pol.MaxDuration
	if si := b.ScheduleInfo; si != nil {
		if si.StartDateTime != nil && si.StartDateTime.After(now) {
			r.Start = si.StartDateTime.UTC()
		}
		if e := si.Expiration; e != nil && e.Duration != nil {
			d, err := parseISODuration(*e.Duration)
			if err != nil || d <= 0 {
				c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("%q is not a valid ISO 8601 duration.", *e.Duration))
				return
			}
			r.Duration = d
		}
	}
	eligible := slices.ContainsFunc(t.st.gElig, func(e *groupElig) bool {
		return e.GroupID == gid && e.AccessID == access && !e.Start.After(now) && (e.End == nil || e.End.After(now)) &&
			(e.PrincipalID == principal || t.st.inGroup(principal, e.PrincipalID, map[string]bool{}))
	})
	if !eligible {
		c.fail(http.StatusBadRequest, codePolicyFailed, `The following policy rules failed: ["EligibilityRule"]`)
		return
	}
	end := r.Start.Add(r.Duration)
	busy := slices.ContainsFunc(t.st.gAssign, func(a *groupAssign) bool {
		return a.PrincipalID == principal && a.GroupID == gid && a.AccessID == access && (a.End == nil || a.End.After(now)) &&
			!a.Start.After(end) && (a.End == nil || !a.End.Before(r.Start)) // touching counts (see pim.go overlaps)
	})
	for _, x := range t.st.gRequests {
		busy = busy || (x.PrincipalID == principal && x.GroupID == gid && x.AccessID == access && x.Status == "PendingApproval")
	}
	if busy {
		c.fail(http.StatusBadRequest, codeExists, "The group assignment already exists.")
		return
	}
	var failed []string
	if r.Duration > pol.MaxDuration || r.Duration > 8*time.Hour {
		failed = append(failed, "ExpirationRule")
	}
	if pol.MFA && !slices.Contains(c.caller.AMR, "mfa") {
		failed = append(failed, "MfaRule")
	}
	if pol.Justification && strings.TrimSpace(b.Justification) == "" {
		failed = append(failed, "JustificationRule")
	}
	if len(failed) > 0 {
		c.fail(http.StatusBadRequest, codePolicyFailed, "The following policy rules failed: "+jsonList(failed))
		return
	}
	if b.IsValidationOnly {
		// Checked like a real request and answered the same way, but nothing is kept (graph-pim.md §3.1).
		r.ValidationOnly, r.Status = true, "Granted"
		c.json(http.StatusCreated, t.groupRequestJSON(c, r))
		return
	}
	if pol.ApprovalOn {
		r.Status = "PendingApproval"
		// For groups the approval is addressed by the request id (reference §3.5).
		t.st.gApprovals[r.ID] = &approval{ID: r.ID, StepID: newID(), RequestID: r.ID, Result: "NotReviewed"}
	} else {
		r.Status, r.Completed = "Provisioned", &now
		t.grantGroup(r, now)
	}
	t.st.gRequests[r.ID] = r
	c.json(http.StatusCreated, t.groupRequestJSON(c, r))
}

// grantGroup makes the activated membership; lock held.
func (t *Tenant) grantGroup(r *groupRequest, now time.Time) {
	start := r.Start
	if start.Before(now) {
		start = now
	}
	end := start.Add(r.Duration)
	t.st.gAssign = append(t.st.gAssign, &groupAssign{ID: newID(), PrincipalID: r.PrincipalID, GroupID: r.GroupID,
		AccessID: r.AccessID, Start: start, End: &end, VisibleAt: now.Add(t.delay), RequestID: r.ID})
	// PIM for Groups logs the same activity names as roles, under the GroupManagement category
	// (reference §9); the group is the target, the member is in the details.
	t.audit(now, "Add member to role completed (PIM activation)", "Add", "", true, "", r.GroupID,
		[2]string{"RequestId", r.ID}, [2]string{"PrincipalId", r.PrincipalID})
}

func (t *Tenant) groupRequestJSON(c *gctx, r *groupRequest) map[string]any {
	var completed, just any
	if r.Completed != nil {
		completed = timeJSON(*r.Completed)
	}
	if r.Justification != "" {
		just = r.Justification
	}
	return map[string]any{
		"@odata.context": c.context("identityGovernance/privilegedAccess/group/assignmentScheduleRequests/$entity"),
		"id":             r.ID, "status": r.Status, "action": r.Action, "principalId": r.PrincipalID,
		"groupId": r.GroupID, "accessId": r.AccessID, "justification": just, "isValidationOnly": r.ValidationOnly,
		"createdDateTime": timeJSON(r.Created), "completedDateTime": completed, "approvalId": nil,
		"targetScheduleId": r.GroupID + "_" + r.AccessID + "_" + r.ID,
		"createdBy":        map[string]any{"user": map[string]any{"id": r.CreatedBy}},
		"scheduleInfo": map[string]any{"startDateTime": timeJSON(r.Start),
			"expiration": map[string]any{"type": "afterDuration", "duration": isoDuration(r.Duration), "endDateTime": nil}},
	}
}

func (t *Tenant) getGroupRequest(c *gctx, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.st.gRequests[strings.ToLower(id)]
	if r == nil {
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The request '%s' was not found.", id))
		return
	}
	c.json(http.StatusOK, t.groupRequestJSON(c, r))
}

func (t *Tenant) cancelGroupRequest(c *gctx, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.st.gRequests[strings.ToLower(id)]
	now := t.now().UTC()
	switch {
	case r == nil:
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The request '%s' was not found.", id))
	case c.caller.App || r.PrincipalID != c.caller.UserID:
		c.fail(http.StatusForbidden, "Forbidden", "Only the requester can cancel a request.")
	case r.Status != "PendingApproval" && !(r.Status == "Provisioned" && r.Start.After(now)):
		c.fail(http.StatusBadRequest, "RequestCannotBeCancelled", "Only a pending or scheduled request can be cancelled; this one is "+r.Status+".")
	default:
		t.st.gAssign = slices.DeleteFunc(t.st.gAssign, func(a *groupAssign) bool { return a.RequestID == r.ID && a.Start.After(now) })
		r.Status, r.Completed = "Canceled", &now
		c.status = http.StatusNoContent
		c.w.WriteHeader(http.StatusNoContent)
	}
}

func (t *Tenant) isGroupApprover(userID, groupID string) bool {
	for _, a := range t.groupPolicy(groupID).Approvers {
		if a.UserID == userID || (a.GroupID != "" && t.st.inGroup(userID, a.GroupID, map[string]bool{})) {
			return true
		}
	}
	return false
}

func (t *Tenant) getGroupApproval(c *gctx, id string) {
	if c.caller.App {
		c.fail(http.StatusForbidden, "Forbidden", "Approvals cannot be read with an application-only token.")
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.st.gApprovals[strings.ToLower(id)]
	if a == nil {
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The approval '%s' was not found.", id))
		return
	}
	r := t.st.gRequests[a.RequestID]
	status := "InProgress"
	if a.Result != "NotReviewed" {
		status = "Completed"
	}
	mine := t.isGroupApprover(c.caller.UserID, r.GroupID) && c.caller.UserID != r.PrincipalID
	c.json(http.StatusOK, map[string]any{
		"@odata.context": c.context("identityGovernance/privilegedAccess/group/assignmentApprovals/$entity"),
		"id":             a.ID,
		"stages": []any{map[string]any{"id": a.StepID, "assignedToMe": mine, "reviewResult": a.Result,
			"status": status, "justification": nilIfEmpty(a.Justification), "reviewedDateTime": timePtrJSON(a.Reviewed)}},
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (t *Tenant) patchGroupApprovalStage(c *gctx, id, stageID string) {
	b, ok := decodeReview(c)
	if !ok {
		return
	}
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.st.gApprovals[strings.ToLower(id)]
	if a == nil || !strings.EqualFold(a.StepID, stageID) {
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The approval stage '%s/%s' was not found.", id, stageID))
		return
	}
	r := t.st.gRequests[a.RequestID]
	if !checkReview(c, b, c.caller.UserID != r.PrincipalID && t.isGroupApprover(c.caller.UserID, r.GroupID), a.Result == "NotReviewed" && r.Status == "PendingApproval") {
		return
	}
	a.Result, a.ReviewedBy, a.Justification, a.Reviewed = b.ReviewResult, c.caller.UserID, b.Justification, &now
	r.Completed = &now
	if b.ReviewResult == "Approve" {
		r.Status = "Provisioned"
		t.grantGroup(r, now)
	} else {
		r.Status = "Denied"
	}
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
}

// transitiveMembers serves GET /groups/{id}/transitiveMembers: the users in a group, nested
// groups resolved.
func (t *Tenant) transitiveMembers(c *gctx, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.st.groups[strings.ToLower(id)]
	if g == nil {
		t.userNotFound(c, id)
		return
	}
	var out []any
	for _, u := range t.sortedUsers() {
		if t.st.inGroup(u.ID, g.ID, map[string]bool{}) {
			out = append(out, userJSON(u))
		}
	}
	c.page(c.context("directoryObjects"), out)
}
