package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// scheduleRequest is a stored roleAssignmentScheduleRequest.
type scheduleRequest struct {
	ID, Action, PrincipalID, RoleID string
	Justification                   string
	TicketNumber, TicketSystem      string
	Status                          string
	Created                         time.Time
	Completed                       *time.Time
	ApprovalID                      string
	Start                           time.Time
	StartGiven                      bool
	ExpType                         string
	Duration                        time.Duration
	DurationText                    string
	EndDateTime                     *time.Time
	CreatedByApp                    bool
	CreatedBy                       string
	TargetScheduleID                string
	ValidationOnly                  bool
}

// approval is PIM's approval of a PendingApproval request (one stage, one step).
type approval struct {
	ID, StepID, RequestID     string
	Result                    string // NotReviewed, Approve, Deny
	ReviewedBy, Justification string
	Reviewed                  *time.Time
}

type requestBody struct {
	Action           string  `json:"action"`
	PrincipalID      string  `json:"principalId"`
	RoleDefinitionID string  `json:"roleDefinitionId"`
	DirectoryScopeID *string `json:"directoryScopeId"`
	AppScopeID       *string `json:"appScopeId"`
	Justification    string  `json:"justification"`
	IsValidationOnly bool    `json:"isValidationOnly"`
	ScheduleInfo     *struct {
		StartDateTime *time.Time `json:"startDateTime"`
		Expiration    *struct {
			Type        string     `json:"type"`
			Duration    *string    `json:"duration"`
			EndDateTime *time.Time `json:"endDateTime"`
		} `json:"expiration"`
	} `json:"scheduleInfo"`
	TicketInfo *struct {
		TicketNumber string `json:"ticketNumber"`
		TicketSystem string `json:"ticketSystem"`
	} `json:"ticketInfo"`
}

const (
	codePolicyFailed = "RoleAssignmentRequestPolicyValidationFailed"
	codeAcrsFailed   = "RoleAssignmentRequestAcrsValidationFailed"
	codeExists       = "RoleAssignmentExists"
	codeNotExists    = "RoleAssignmentDoesNotExist"
	codeTooShort     = "ActiveDurationTooShort"
)

func (t *Tenant) createScheduleRequest(c *gctx) {
	var b requestBody
	if err := json.Unmarshal(c.body, &b); err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return
	}
	action := strings.ToLower(b.Action)
	switch action {
	case "selfactivate", "selfdeactivate":
	case "adminremove":
		if b.PrincipalID == "" || b.RoleDefinitionID == "" {
			c.fail(http.StatusBadRequest, "BadRequest", "principalId and roleDefinitionId are required.")
			return
		}
		t.adminAssignmentRequest(c, b)
		return
	case "":
		c.fail(http.StatusBadRequest, "BadRequest", "The action property is required.")
		return
	default:
		c.fail(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("graphtest does not simulate the %q action (only selfActivate, selfDeactivate and adminRemove).", b.Action))
		return
	}
	if c.caller.App {
		c.fail(http.StatusForbidden, "Forbidden",
			"The "+b.Action+" action acts on the signed-in user: an application-only token cannot be used. Use the user's delegated token.")
		return
	}
	switch {
	case b.PrincipalID == "":
		c.fail(http.StatusBadRequest, "BadRequest", "The principalId property is required.")
		return
	case b.RoleDefinitionID == "":
		c.fail(http.StatusBadRequest, "BadRequest", "The roleDefinitionId property is required.")
		return
	case b.DirectoryScopeID == nil && b.AppScopeID == nil:
		c.fail(http.StatusBadRequest, "BadRequest", "Either directoryScopeId or appScopeId is required.")
		return
	}
	principal, roleID := strings.ToLower(b.PrincipalID), strings.ToLower(b.RoleDefinitionID)
	if principal != strings.ToLower(c.caller.UserID) {
		c.fail(http.StatusForbidden, "Forbidden",
			"The principalId of a "+b.Action+" request must be the signed-in user's object id.")
		return
	}
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	if action == "selfdeactivate" {
		t.selfDeactivate(c, b, principal, roleID, now)
		return
	}

	r := &scheduleRequest{
		ID: newID(), Action: "selfActivate", PrincipalID: principal, RoleID: roleID,
		Justification: b.Justification, Created: now, Start: now, CreatedBy: c.caller.UserID,
		ValidationOnly: b.IsValidationOnly, ExpType: "afterDuration",
	}
	if b.TicketInfo != nil {
		r.TicketNumber, r.TicketSystem = b.TicketInfo.TicketNumber, b.TicketInfo.TicketSystem
	}
	pol := t.st.policyFor(t.seed.TenantID, roleID)
	r.Duration = pol.MaxDuration // PIM's default when no expiration is given
	var failed []string
	if si := b.ScheduleInfo; si != nil {
		if si.StartDateTime != nil {
			r.Start, r.StartGiven = si.StartDateTime.UTC(), true
		}
		if e := si.Expiration; e != nil {
			r.ExpType = e.Type
			switch strings.ToLower(e.Type) {
			case "afterduration":
				if e.Duration == nil {
					c.fail(http.StatusBadRequest, "BadRequest", "expiration.duration is required for afterDuration.")
					return
				}
				d, err := parseISODuration(*e.Duration)
				if err != nil || d <= 0 {
					c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("%q is not a valid ISO 8601 duration.", *e.Duration))
					return
				}
				r.Duration, r.DurationText = d, *e.Duration
			case "afterdatetime":
				if e.EndDateTime == nil {
					c.fail(http.StatusBadRequest, "BadRequest", "expiration.endDateTime is required for afterDateTime.")
					return
				}
				end := e.EndDateTime.UTC()
				r.EndDateTime = &end
				r.Duration = end.Sub(r.Start)
			case "noexpiration":
				failed = append(failed, "ExpirationRule") // activation always expires
			case "notspecified", "":
			default:
				c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("%q is not an expiration type.", e.Type))
				return
			}
		}
	}

	if _, ok := t.st.roles[roleID]; !ok || !t.eligible(principal, roleID, now) {
		c.fail(http.StatusBadRequest, codePolicyFailed, `The following policy rules failed: ["EligibilityRule"]`)
		return
	}
	// A request may start later (scheduleInfo.startDateTime): it conflicts with assignments whose
	// window overlaps its own, and with pending requests. PIM refuses overlapping activations
	// (RoleAssignmentExists); whether it takes one that starts exactly when the current one ends
	// is not documented, so this tenant refuses that too (reference §14).
	winStart := r.Start
	if !r.StartGiven || winStart.Before(now) {
		winStart = now
	}
	if t.overlaps(principal, roleID, winStart, winStart.Add(max(r.Duration, time.Minute)), now) {
		c.fail(http.StatusBadRequest, codeExists, "The Role assignment already exists.")
		return
	}
	if !slices.Contains(failed, "ExpirationRule") && (r.Duration > pol.MaxDuration || r.Duration <= 0) {
		failed = append(failed, "ExpirationRule")
	}
	mfa := slices.Contains(c.caller.AMR, "mfa")
	// With an authentication context the sign-in it demands carries the MFA; asking for a bare MFA
	// sign-in first would cost the user two sign-ins.
	if pol.MFA && !mfa && pol.AuthContext == "" {
		failed = append(failed, "MfaRule")
	}
	if pol.Justification && strings.TrimSpace(b.Justification) == "" {
		failed = append(failed, "JustificationRule")
	}
	if pol.Ticket && strings.TrimSpace(r.TicketNumber) == "" {
		failed = append(failed, "TicketingRule")
	}
	if len(failed) > 0 {
		c.fail(http.StatusBadRequest, codePolicyFailed, "The following policy rules failed: "+jsonList(failed))
		return
	}
	if pol.AuthContext != "" && !slices.Contains(c.caller.ACRS, pol.AuthContext) {
		c.fail(http.StatusBadRequest, codeAcrsFailed, fmt.Sprintf(
			`The Acrs claim is missing in the token. claims={"access_token":{"acrs":{"essential":true,"value":"%s"}}}`,
			pol.AuthContext))
		return
	}
	if pol.MFA && !mfa {
		c.fail(http.StatusBadRequest, codePolicyFailed, `The following policy rules failed: ["MfaRule"]`)
		return
	}

	r.TargetScheduleID = r.ID
	if r.ValidationOnly {
		r.Status = "Granted"
		c.json(http.StatusCreated, t.requestJSON(c, r))
		return
	}
	t.audit(now, "Add member to role requested (PIM activation)", "Add", principal, false, roleID, principal, requestDetails(r)...)
	if pol.ApprovalOn {
		r.Status = "PendingApproval"
		r.ApprovalID = r.ID
		t.st.approvals[r.ID] = &approval{ID: r.ID, StepID: newID(), RequestID: r.ID, Result: "NotReviewed"}
		t.audit(now, "Add member to role approval requested (PIM activation)", "Add", principal, false, roleID, principal, requestDetails(r)...)
	} else {
		r.Status = "Granted"
		r.Completed = &now
		t.grant(r, now)
	}
	t.st.requests[r.ID] = r
	c.json(http.StatusCreated, t.requestJSON(c, r))
}

// grant creates the activated assignment; its instance shows after the activation delay.
func (t *Tenant) grant(r *scheduleRequest, now time.Time) {
	start := r.Start
	if !r.StartGiven || start.Before(now) {
		start = now
	}
	end := start.Add(r.Duration)
	t.audit(now, "Add member to role completed (PIM activation)", "Add", "", true, r.RoleID, r.PrincipalID, requestDetails(r)...)
	t.st.assign = append(t.st.assign, &assignment{
		ID: newID(), ScheduleID: r.ID, PrincipalID: r.PrincipalID, RoleID: r.RoleID,
		AssignmentType: "Activated", MemberType: "Direct", Start: start, End: &end,
		VisibleAt: now.Add(t.delay), RequestID: r.ID,
	})
}

func jsonList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// eligible reports whether principal holds a live eligibility for role, directly or through a group.
func (t *Tenant) eligible(principal, roleID string, now time.Time) bool {
	for _, e := range t.st.elig {
		if e.RoleID != roleID || e.Start.After(now) || (e.End != nil && !e.End.After(now)) {
			continue
		}
		if e.PrincipalID == principal || t.st.inGroup(principal, e.PrincipalID, map[string]bool{}) {
			return true
		}
	}
	return false
}

// activeOrPending reports an unexpired assignment (provisioned or not yet) or a pending request.
func (t *Tenant) activeOrPending(principal, roleID string, now time.Time) bool {
	for _, a := range t.st.assign {
		if a.PrincipalID == principal && a.RoleID == roleID && (a.End == nil || a.End.After(now)) {
			return true
		}
	}
	for _, r := range t.st.requests {
		if r.PrincipalID == principal && r.RoleID == roleID && r.Status == "PendingApproval" {
			return true
		}
	}
	return false
}

// overlaps reports an unexpired assignment of principal for role whose window overlaps or
// touches [start, end], or a pending request; lock held.
func (t *Tenant) overlaps(principal, roleID string, start, end, now time.Time) bool {
	for _, a := range t.st.assign {
		if a.PrincipalID != principal || a.RoleID != roleID || (a.End != nil && !a.End.After(now)) {
			continue
		}
		if !a.Start.After(end) && (a.End == nil || !a.End.Before(start)) {
			return true
		}
	}
	for _, r := range t.st.requests {
		if r.PrincipalID == principal && r.RoleID == roleID && r.Status == "PendingApproval" {
			return true
		}
	}
	return false
}

func (t *Tenant) selfDeactivate(c *gctx, b requestBody, principal, roleID string, now time.Time) {
	idx := -1
	for i, a := range t.st.assign {
		if a.PrincipalID == principal && a.RoleID == roleID && a.AssignmentType == "Activated" &&
			!a.Start.After(now) && (a.End == nil || a.End.After(now)) {
			idx = i
		}
	}
	if idx < 0 {
		c.fail(http.StatusBadRequest, codeNotExists, "The Role assignment does not exist.")
		return
	}
	a := t.st.assign[idx]
	if now.Sub(a.Start) < t.minActive {
		// PIM refuses to end an activation in its first minutes (reference §3.3, §12 #21).
		c.fail(http.StatusBadRequest, codeTooShort, "The role assignment cannot be deactivated within "+
			isoDuration(t.minActive)+" of its activation.")
		return
	}
	t.st.assign = slices.Delete(t.st.assign, idx, idx+1)
	r := &scheduleRequest{
		ID: newID(), Action: "selfDeactivate", PrincipalID: principal, RoleID: roleID,
		Justification: b.Justification, Created: now, Completed: &now, Start: now, Status: "Revoked",
		CreatedBy: c.caller.UserID, TargetScheduleID: a.ScheduleID, ExpType: "notSpecified",
	}
	t.st.requests[r.ID] = r
	t.audit(now, "Remove member from role requested (PIM deactivate)", "Remove", principal, false, roleID, principal, requestDetails(r)...)
	t.audit(now, "Remove member from role completed (PIM deactivate)", "Remove", "", true, roleID, principal, requestDetails(r)...)
	c.json(http.StatusCreated, t.requestJSON(c, r))
}

// requestJSON renders a request as Graph does (reference §3.1).
func (t *Tenant) requestJSON(c *gctx, r *scheduleRequest) map[string]any {
	var completed, approvalID, ticketNumber, ticketSystem, justification any
	if r.Completed != nil {
		completed = timeJSON(*r.Completed)
	}
	if r.ApprovalID != "" {
		approvalID = r.ApprovalID
	}
	if r.TicketNumber != "" {
		ticketNumber = r.TicketNumber
	}
	if r.TicketSystem != "" {
		ticketSystem = r.TicketSystem
	}
	if r.Justification != "" {
		justification = r.Justification
	}
	exp := map[string]any{"type": r.ExpType, "endDateTime": timePtrJSON(r.EndDateTime), "duration": nil}
	if r.DurationText != "" {
		exp["duration"] = r.DurationText
	}
	createdBy := map[string]any{"application": nil, "device": nil, "user": map[string]any{"displayName": nil, "id": r.CreatedBy}}
	if r.CreatedByApp {
		createdBy["application"], createdBy["user"] = map[string]any{"displayName": nil, "id": r.CreatedBy}, nil
	}
	return map[string]any{
		"@odata.context":    c.context("roleManagement/directory/roleAssignmentScheduleRequests/$entity"),
		"id":                r.ID,
		"status":            r.Status,
		"createdDateTime":   timeJSON(r.Created),
		"completedDateTime": completed,
		"approvalId":        approvalID,
		"customData":        nil,
		"action":            r.Action,
		"principalId":       r.PrincipalID,
		"roleDefinitionId":  r.RoleID,
		"directoryScopeId":  "/",
		"appScopeId":        nil,
		"isValidationOnly":  r.ValidationOnly,
		"targetScheduleId":  r.TargetScheduleID,
		"justification":     justification,
		"createdBy":         createdBy,
		"scheduleInfo": map[string]any{
			"startDateTime": timeJSON(r.Start), "recurrence": nil, "expiration": exp,
		},
		"ticketInfo": map[string]any{"ticketNumber": ticketNumber, "ticketSystem": ticketSystem},
	}
}

func (t *Tenant) getScheduleRequest(c *gctx, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.st.requests[strings.ToLower(id)]
	if r == nil {
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The request '%s' was not found.", id))
		return
	}
	c.json(http.StatusOK, t.requestJSON(c, r))
}

func (t *Tenant) cancelScheduleRequest(c *gctx, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.st.requests[strings.ToLower(id)]
	switch {
	case r == nil:
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The request '%s' was not found.", id))
	case c.caller.App || r.PrincipalID != c.caller.UserID:
		c.fail(http.StatusForbidden, "Forbidden", "Only the requester can cancel a request.")
	case r.Status != "PendingApproval" && !t.scheduledLater(r):
		c.fail(http.StatusBadRequest, "RequestCannotBeCancelled", "Only a pending or scheduled request can be cancelled; this one is "+r.Status+".")
	default:
		now := t.now().UTC()
		// A granted activation that has not started yet (a scheduled one) is withdrawn with it.
		t.st.assign = slices.DeleteFunc(t.st.assign, func(a *assignment) bool { return a.RequestID == r.ID && a.Start.After(now) })
		r.Status, r.Completed = "Canceled", &now
		t.audit(now, "Add member to role canceled (PIM activation)", "Add", r.PrincipalID, false, r.RoleID, r.PrincipalID, requestDetails(r)...)
		c.status = http.StatusNoContent
		c.w.WriteHeader(http.StatusNoContent)
	}
}

// scheduledLater reports whether r was granted with a start still in the future; lock held.
func (t *Tenant) scheduledLater(r *scheduleRequest) bool {
	now := t.now()
	for _, a := range t.st.assign {
		if a.RequestID == r.ID && a.Start.After(now) {
			return true
		}
	}
	return false
}

// isApprover reports whether userID may decide on requests for roleID.
func (t *Tenant) isApprover(userID, roleID string) bool {
	pol := t.st.policyFor(t.seed.TenantID, roleID)
	for _, a := range pol.Approvers {
		if a.UserID == userID || (a.GroupID != "" && t.st.inGroup(userID, a.GroupID, map[string]bool{})) {
			return true
		}
	}
	return false
}

func (t *Tenant) approvalJSON(c *gctx, a *approval, r *scheduleRequest) map[string]any {
	status := "InProgress"
	if a.Result != "NotReviewed" {
		status = "Completed"
	}
	var reviewedBy, reviewed, just any
	if a.ReviewedBy != "" {
		u := t.st.users[a.ReviewedBy]
		reviewedBy = map[string]any{"id": a.ReviewedBy, "displayName": u.DisplayName, "userPrincipalName": u.UPN}
		reviewed = timePtrJSON(a.Reviewed)
		just = a.Justification
	}
	mine := !c.caller.App && t.isApprover(c.caller.UserID, r.RoleID) && c.caller.UserID != r.PrincipalID
	return map[string]any{
		"@odata.context": c.context("roleManagement/directory/roleAssignmentApprovals/$entity"),
		"id":             a.ID,
		"steps": []any{map[string]any{
			"id": a.StepID, "displayName": nil, "reviewedBy": reviewedBy, "reviewedDateTime": reviewed,
			"reviewResult": a.Result, "status": status, "assignedToMe": mine, "justification": just,
		}},
	}
}

func (t *Tenant) getApproval(c *gctx, id string) {
	if c.caller.App {
		c.fail(http.StatusForbidden, "Forbidden", "Approvals cannot be read with an application-only token.")
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.st.approvals[strings.ToLower(id)]
	if a == nil {
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The approval '%s' was not found.", id))
		return
	}
	c.json(http.StatusOK, t.approvalJSON(c, a, t.st.requests[a.RequestID]))
}

func (t *Tenant) patchApprovalStep(c *gctx, id, stepID string) {
	b, ok := decodeReview(c)
	if !ok {
		return
	}
	now := t.now().UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.st.approvals[strings.ToLower(id)]
	if a == nil || !strings.EqualFold(a.StepID, stepID) {
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The approval step '%s/%s' was not found.", id, stepID))
		return
	}
	r := t.st.requests[a.RequestID]
	if !checkReview(c, b, c.caller.UserID != r.PrincipalID && t.isApprover(c.caller.UserID, r.RoleID), a.Result == "NotReviewed" && r.Status == "PendingApproval") {
		return
	}
	a.Result, a.ReviewedBy, a.Justification, a.Reviewed = b.ReviewResult, c.caller.UserID, b.Justification, &now
	r.Completed = &now
	if b.ReviewResult == "Approve" {
		r.Status = "Provisioned"
		t.audit(now, "Add member to role request approved (PIM activation)", "Add", c.caller.UserID, false, r.RoleID, r.PrincipalID, requestDetails(r)...)
		t.grant(r, now)
	} else {
		r.Status = "Denied"
		t.audit(now, "Add member to role request denied (PIM activation)", "Add", c.caller.UserID, false, r.RoleID, r.PrincipalID, requestDetails(r)...)
	}
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
}

// review is an approver's decision, as PATCH …/steps/{id} and …/stages/{id} carry it.
type review struct {
	ReviewResult  string `json:"reviewResult"`
	Justification string `json:"justification"`
}

// decodeReview reads a decision; it answers the error itself when it returns false.
func decodeReview(c *gctx) (review, bool) {
	var b review
	if c.caller.App {
		c.fail(http.StatusForbidden, "Forbidden", "Approving is not supported with an application-only token.")
		return b, false
	}
	if err := json.Unmarshal(c.body, &b); err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return b, false
	}
	return b, true
}

// checkReview answers PIM's refusals of a decision: not an approver (or the requester), already
// decided, a result other than Approve/Deny, no justification.
func checkReview(c *gctx, b review, approver, open bool) bool {
	switch {
	case !approver:
		c.fail(http.StatusForbidden, "Forbidden", "The signed-in user is not an approver of this request.")
	case !open:
		c.fail(http.StatusConflict, "Conflict", "This request has already been decided.")
	case b.ReviewResult != "Approve" && b.ReviewResult != "Deny":
		c.fail(http.StatusBadRequest, "BadRequest", `reviewResult must be "Approve" or "Deny".`)
	case strings.TrimSpace(b.Justification) == "":
		c.fail(http.StatusBadRequest, "BadRequest", "A justification is required from the approver.")
	default:
		return true
	}
	return false
}
