package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// The rest of the user's own PIM lifecycle: a request's status, cancelling a pending (or a
// scheduled) request, approving by request id, and the same for PIM for Groups.

// ScheduleRequest is what PIM says about one schedule request.
type ScheduleRequest struct {
	ID, Status, ApprovalID, Action string
	PrincipalID, RoleID, GroupID   string
	Start                          time.Time
}

type requestJSON struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	ApprovalID   *string `json:"approvalId"`
	Action       string  `json:"action"`
	PrincipalID  string  `json:"principalId"`
	RoleID       string  `json:"roleDefinitionId"`
	GroupID      string  `json:"groupId"`
	ScheduleInfo *struct {
		StartDateTime *time.Time `json:"startDateTime"`
	} `json:"scheduleInfo"`
}

func (r requestJSON) out() ScheduleRequest {
	s := ScheduleRequest{ID: r.ID, Status: r.Status, ApprovalID: deref(r.ApprovalID), Action: r.Action,
		PrincipalID: r.PrincipalID, RoleID: r.RoleID, GroupID: r.GroupID}
	if r.ScheduleInfo != nil && r.ScheduleInfo.StartDateTime != nil {
		s.Start = *r.ScheduleInfo.StartDateTime
	}
	return s
}

// adapterFor is the user's adapter when tok is set, else the app's (reads only).
func (c *Client) adapterFor(op string, tok UserToken) (abstractions.RequestAdapter, error) {
	if tok.AccessToken == "" {
		return c.app, nil
	}
	return c.userAdapter(op, tok, "")
}

// RoleRequest reads a directory-role schedule request. With a user's token (the requester's or an
// approver's) it needs only their delegated permission; without one it uses the app, which
// Graph may refuse with read-only permissions (reference §3.2).
func (c *Client) RoleRequest(ctx context.Context, tok UserToken, requestID string) (ScheduleRequest, error) {
	const op = "GET roleAssignmentScheduleRequests/{id}"
	ad, err := c.adapterFor(op, tok)
	if err != nil {
		return ScheduleRequest{}, err
	}
	var r requestJSON
	if err := c.send(ctx, ad, op, abstractions.GET, c.v1("/roleManagement/directory/roleAssignmentScheduleRequests/"+url.PathEscape(requestID)), nil, &r, false); err != nil {
		return ScheduleRequest{}, err
	}
	return r.out(), nil
}

// CancelRoleRequest withdraws the user's own pending request (PendingApproval) or a scheduled
// activation that has not started, with their token.
func (c *Client) CancelRoleRequest(ctx context.Context, tok UserToken, requestID string) error {
	const op = "POST roleAssignmentScheduleRequests/{id}/cancel"
	ad, err := c.userAdapter(op, tok, "")
	if err != nil {
		return err
	}
	return c.send(ctx, ad, op, abstractions.POST, c.v1("/roleManagement/directory/roleAssignmentScheduleRequests/"+url.PathEscape(requestID)+"/cancel"), nil, nil, true)
}

// ReviewRoleRequest approves or denies the PIM approval of a directory-role request, found by the
// request's id, with the approver's token: it reads the request for its approvalId (the approver
// may read it with their own delegated permission), then calls ReviewApproval.
func (c *Client) ReviewRoleRequest(ctx context.Context, tok UserToken, requestID string, approve bool, justification string) error {
	r, err := c.RoleRequest(ctx, tok, requestID)
	if err != nil {
		return err
	}
	if r.Status != "PendingApproval" {
		return &Error{op: "review", Status: http.StatusConflict, Code: "AlreadyDecided", Message: "the request is " + r.Status}
	}
	id := r.ApprovalID
	if id == "" {
		id = requestID
	}
	return c.ReviewApproval(ctx, tok, id, approve, justification)
}

// GroupEligibility is a PIM for Groups membership (or ownership) the user may activate.
type GroupEligibility struct {
	GroupID, GroupName, AccessID string
	EndsAt                       time.Time
}

// GroupActivationRequest is a user's own activation of a group membership.
type GroupActivationRequest struct {
	UserID, GroupID string
	AccessID        string // "member" (default) or "owner"
	Duration        time.Duration
	Justification   string
	TicketNumber    string
	TicketSystem    string
	Start           time.Time // zero: now; later: a scheduled activation
	ValidationOnly  bool      // check only (isValidationOnly): nothing is activated
}

const groupBase = "/identityGovernance/privilegedAccess/group"

// EligibleGroups lists the user's direct PIM for Groups eligibilities (app-only,
// PrivilegedEligibilitySchedule.Read.AzureADGroup or PrivilegedAccess.Read.AzureADGroup).
func (c *Client) EligibleGroups(ctx context.Context, userID string) ([]GroupEligibility, error) {
	if userID == "" {
		return nil, errors.New("graph: EligibleGroups: empty user id")
	}
	const op = "GET privilegedAccess/group/eligibilityScheduleInstances"
	var out []GroupEligibility
	u := c.v1(groupBase + "/eligibilityScheduleInstances" + query("$filter", "principalId eq "+odataQuote(userID), "$expand", "group"))
	err := c.list(ctx, c.app, op, u, func(m json.RawMessage) error {
		var v struct {
			GroupID, AccessID string
			EndDateTime       *time.Time
			Group             *struct{ DisplayName string }
		}
		if err := json.Unmarshal(m, &v); err != nil {
			return err
		}
		e := GroupEligibility{GroupID: v.GroupID, AccessID: v.AccessID, EndsAt: deref(v.EndDateTime)}
		if v.Group != nil {
			e.GroupName = v.Group.DisplayName
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// GroupAssignment is an active group membership from PIM for Groups.
type GroupAssignment struct {
	GroupID, AccessID string
	Start, End        time.Time
}

// ActiveGroupAssignments lists the user's active PIM for Groups assignments (app-only).
func (c *Client) ActiveGroupAssignments(ctx context.Context, userID string) ([]GroupAssignment, error) {
	const op = "GET privilegedAccess/group/assignmentScheduleInstances"
	var out []GroupAssignment
	u := c.v1(groupBase + "/assignmentScheduleInstances" + query("$filter", "principalId eq "+odataQuote(userID)))
	err := c.list(ctx, c.app, op, u, func(m json.RawMessage) error {
		var v struct {
			GroupID, AccessID          string
			StartDateTime, EndDateTime *time.Time
		}
		if err := json.Unmarshal(m, &v); err != nil {
			return err
		}
		out = append(out, GroupAssignment{GroupID: v.GroupID, AccessID: v.AccessID, Start: deref(v.StartDateTime), End: deref(v.EndDateTime)})
		return nil
	})
	return out, err
}

// ActivateGroup posts the user's own selfActivate of a group membership, with their token.
func (c *Client) ActivateGroup(ctx context.Context, tok UserToken, r GroupActivationRequest) (Activation, error) {
	const op = "POST privilegedAccess/group/assignmentScheduleRequests"
	switch {
	case r.UserID == "" || r.GroupID == "":
		return Activation{}, errors.New("graph: ActivateGroup: user id and group id are required")
	case r.Duration <= 0:
		return Activation{}, errors.New("graph: ActivateGroup: duration must be positive")
	}
	ad, err := c.userAdapter(op, tok, r.UserID)
	if err != nil {
		return Activation{}, err
	}
	start := r.Start
	if start.IsZero() {
		start = time.Now()
	}
	body := map[string]any{
		"action": "selfActivate", "principalId": r.UserID, "groupId": r.GroupID, "accessId": accessOr(r.AccessID),
		"scheduleInfo": map[string]any{"startDateTime": start.UTC().Truncate(time.Second).Format(time.RFC3339),
			"expiration": map[string]any{"type": "afterDuration", "duration": isoMinutes(r.Duration)}},
	}
	if r.Justification != "" {
		body["justification"] = r.Justification
	}
	if r.TicketNumber != "" {
		body["ticketInfo"] = map[string]any{"ticketNumber": r.TicketNumber, "ticketSystem": r.TicketSystem}
	}
	if r.ValidationOnly {
		body["isValidationOnly"] = true
	}
	var res requestJSON
	if err := c.send(ctx, ad, op, abstractions.POST, c.v1(groupBase+"/assignmentScheduleRequests"), body, &res, true); err != nil {
		return Activation{}, err
	}
	a := Activation{RequestID: res.ID, Status: res.Status, ApprovalID: deref(res.ApprovalID)}
	if a.Status == "PendingApproval" && a.ApprovalID == "" {
		a.ApprovalID = res.ID // group approvals are addressed by the request id (reference §3.5)
	}
	return a, nil
}

// DeactivateGroup ends the user's own group activation early (selfDeactivate).
func (c *Client) DeactivateGroup(ctx context.Context, tok UserToken, userID, groupID, accessID string) (Activation, error) {
	const op = "POST privilegedAccess/group/assignmentScheduleRequests (selfDeactivate)"
	ad, err := c.userAdapter(op, tok, userID)
	if err != nil {
		return Activation{}, err
	}
	body := map[string]any{"action": "selfDeactivate", "principalId": userID, "groupId": groupID, "accessId": accessOr(accessID)}
	var res requestJSON
	if err := c.send(ctx, ad, op, abstractions.POST, c.v1(groupBase+"/assignmentScheduleRequests"), body, &res, true); err != nil {
		return Activation{}, err
	}
	return Activation{RequestID: res.ID, Status: res.Status}, nil
}

// GroupRequest reads a PIM for Groups schedule request (with a user's token when given).
func (c *Client) GroupRequest(ctx context.Context, tok UserToken, requestID string) (ScheduleRequest, error) {
	const op = "GET privilegedAccess/group/assignmentScheduleRequests/{id}"
	ad, err := c.adapterFor(op, tok)
	if err != nil {
		return ScheduleRequest{}, err
	}
	var r requestJSON
	if err := c.send(ctx, ad, op, abstractions.GET, c.v1(groupBase+"/assignmentScheduleRequests/"+url.PathEscape(requestID)), nil, &r, false); err != nil {
		return ScheduleRequest{}, err
	}
	return r.out(), nil
}

// CancelGroupRequest withdraws the user's own pending (or scheduled) group request.
func (c *Client) CancelGroupRequest(ctx context.Context, tok UserToken, requestID string) error {
	const op = "POST privilegedAccess/group/assignmentScheduleRequests/{id}/cancel"
	ad, err := c.userAdapter(op, tok, "")
	if err != nil {
		return err
	}
	return c.send(ctx, ad, op, abstractions.POST, c.v1(groupBase+"/assignmentScheduleRequests/"+url.PathEscape(requestID)+"/cancel"), nil, nil, true)
}

// ReviewGroupApproval approves or denies a PIM for Groups approval (v1.0 stages), with the
// approver's token. approvalID is the request id. ErrConflict: already decided; ErrForbidden:
// not an approver.
func (c *Client) ReviewGroupApproval(ctx context.Context, tok UserToken, approvalID string, approve bool, justification string) error {
	const op = "PATCH privilegedAccess/group/assignmentApprovals/{id}/stages/{id}"
	ad, err := c.userAdapter(op, tok, "")
	if err != nil {
		return err
	}
	base := c.v1(groupBase + "/assignmentApprovals/" + url.PathEscape(approvalID))
	var appr struct {
		Stages []struct {
			ID           string `json:"id"`
			ReviewResult string `json:"reviewResult"`
			Status       string `json:"status"`
			AssignedToMe bool   `json:"assignedToMe"`
		} `json:"stages"`
	}
	if err := c.send(ctx, ad, "GET privilegedAccess/group/assignmentApprovals/{id}", abstractions.GET, base, nil, &appr, false); err != nil {
		return err
	}
	stageID, decided := "", false
	for _, s := range appr.Stages {
		switch {
		case s.AssignedToMe && s.ReviewResult == "NotReviewed" && s.Status != "Completed":
			stageID = s.ID
		case s.ReviewResult != "" && s.ReviewResult != "NotReviewed":
			decided = true
		}
	}
	switch {
	case stageID == "" && decided:
		return &Error{op: op, Status: http.StatusConflict, Code: "AlreadyDecided", Message: "the request was already decided"}
	case stageID == "":
		return &Error{op: op, Status: http.StatusForbidden, Code: "NotAnApprover", Message: "no approval stage is assigned to the signed-in user"}
	}
	result := "Deny"
	if approve {
		result = "Approve"
	}
	return c.send(ctx, ad, op, abstractions.PATCH, base+"/stages/"+url.PathEscape(stageID),
		map[string]string{"reviewResult": result, "justification": justification}, nil, true)
}

// WaitGroupUsable polls the user's group assignments until one for groupID is in force, like
// WaitUsable.
func (c *Client) WaitGroupUsable(ctx context.Context, userID, groupID string) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("graph: waiting for group %s to become usable: %w", groupID, ctx.Err())
		case <-t.C:
		}
		wait := c.cfg.PollInterval
		as, err := c.ActiveGroupAssignments(ctx, userID)
		var ge *Error
		switch {
		case err == nil:
			for _, a := range as {
				if strings.EqualFold(a.GroupID, groupID) {
					return nil
				}
			}
		case errors.Is(err, ErrThrottled) && errors.As(err, &ge):
			wait = max(wait, ge.RetryAfter)
		case ctx.Err() != nil:
			return fmt.Errorf("graph: waiting for group %s to become usable: %w", groupID, ctx.Err())
		default:
			return err
		}
		t.Reset(wait)
	}
}

func accessOr(a string) string {
	if a == "" {
		return "member"
	}
	return a
}

// isoMinutes writes d in whole minutes as an ISO 8601 duration (PT2H, PT1H30M).
func isoMinutes(d time.Duration) string {
	d = max(d.Truncate(time.Minute), time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case m == 0:
		return fmt.Sprintf("PT%dH", h)
	case h == 0:
		return fmt.Sprintf("PT%dM", m)
	}
	return fmt.Sprintf("PT%dH%dM", h, m)
}
