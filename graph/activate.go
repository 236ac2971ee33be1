package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
)

// ActivationRequest is a user's own PIM activation of a tenant-wide role.
type ActivationRequest struct {
	UserID, RoleID string
	Duration       time.Duration // sent in whole minutes (at least one)
	Justification  string
	TicketNumber   string // ticketInfo is sent only when set
	TicketSystem   string
	Start          time.Time // zero: now
}

// Activation is PIM's answer to an activation request.
type Activation struct {
	RequestID  string
	Status     string // "Granted", "Provisioned", "PendingApproval", ...
	ApprovalID string // set when PIM's own approval is required
}

// Activate posts selfActivate as the user, with the user's delegated token: PIM then checks MFA,
// authentication context, justification, ticket and duration against that sign-in, and Entra's
// audit shows the user's own activation. The bot's app identity is never used here.
//
// The request is retried only when Graph says it was not processed (429, or 503 with
// Retry-After), so a role is never requested twice. ErrRoleAssignmentExists after a timeout
// usually means the first attempt went through: check ActiveAssignments.
func (c *Client) Activate(ctx context.Context, tok UserToken, r ActivationRequest) (Activation, error) {
	const op = "POST roleAssignmentScheduleRequests"
	switch {
	case r.UserID == "" || r.RoleID == "":
		return Activation{}, errors.New("graph: Activate: user id and role id are required")
	case r.Duration <= 0:
		return Activation{}, errors.New("graph: Activate: duration must be positive")
	}
	ad, err := c.userAdapter(op, tok, r.UserID)
	if err != nil {
		return Activation{}, err
	}

	body := models.NewUnifiedRoleAssignmentScheduleRequest()
	body.SetAction(ptr(models.SELFACTIVATE_UNIFIEDROLESCHEDULEREQUESTACTIONS))
	body.SetPrincipalId(ptr(r.UserID))
	body.SetRoleDefinitionId(ptr(r.RoleID))
	body.SetDirectoryScopeId(ptr("/"))
	if r.Justification != "" {
		body.SetJustification(ptr(r.Justification))
	}
	start := r.Start
	if start.IsZero() {
		start = time.Now()
	}
	sched := models.NewRequestSchedule()
	sched.SetStartDateTime(ptr(start.UTC().Truncate(time.Second)))
	exp := models.NewExpirationPattern()
	exp.SetTypeEscaped(ptr(models.AFTERDURATION_EXPIRATIONPATTERNTYPE)) // SetTypeEscaped: SetType is the OData type
	// Whole minutes: ISODuration turns seconds into "P" (graph-pim.md §5.4).
	exp.SetDuration(serialization.FromDuration(max(r.Duration.Truncate(time.Minute), time.Minute)))
	sched.SetExpiration(exp)
	body.SetScheduleInfo(sched)
	if r.TicketNumber != "" {
		ti := models.NewTicketInfo()
		ti.SetTicketNumber(ptr(r.TicketNumber))
		if r.TicketSystem != "" {
			ti.SetTicketSystem(ptr(r.TicketSystem))
		}
		body.SetTicketInfo(ti)
	}

	res, err := c.roles(ad).RoleAssignmentScheduleRequests().Post(ctx, body,
		&rolemanagement.DirectoryRoleAssignmentScheduleRequestsRequestBuilderPostRequestConfiguration{
			Options: []abstractions.RequestOption{retryOnlyUnprocessed()}})
	if err != nil {
		return Activation{}, wrapErr(op, err)
	}
	if res == nil {
		return Activation{}, fmt.Errorf("graph: %s: empty response", op)
	}
	return Activation{RequestID: deref(res.GetId()), Status: deref(res.GetStatus()), ApprovalID: deref(res.GetApprovalId())}, nil
}

// retryOnlyUnprocessed lets the retry handler repeat a write only when Graph said it was not
// processed: a 429, or a 503 with Retry-After. A 504 may have been written.
func retryOnlyUnprocessed() *khttp.RetryHandlerOptions {
	return &khttp.RetryHandlerOptions{ShouldRetry: notProcessed}
}

func notProcessed(_ time.Duration, _ int, _ *http.Request, resp *http.Response) bool {
	return resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""
}
