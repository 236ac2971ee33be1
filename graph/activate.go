package graph

import (
	"context"
	"errors"
	"net/http"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
)

// ActivationRequest is a user's own PIM activation of a tenant-wide role.
type ActivationRequest struct {
	UserID, RoleID string
	Duration       time.Duration // sent in whole minutes (at least one)
	Justification  string
	TicketNumber   string // ticketInfo is sent only when set
	TicketSystem   string
	Start          time.Time // zero: now
	// ValidationOnly asks PIM to check the request without making it (isValidationOnly): what it
	// would refuse is refused the same way, and nothing is activated.
	ValidationOnly bool
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

	start := r.Start
	if start.IsZero() {
		start = time.Now()
	}
	body := roleRequestBody{
		Action: "selfActivate", PrincipalID: r.UserID, RoleID: r.RoleID, DirectoryScopeID: "/",
		Justification: r.Justification, IsValidationOnly: r.ValidationOnly,
		ScheduleInfo: &scheduleJSON{
			StartDateTime: start.UTC().Truncate(time.Second).Format(time.RFC3339),
			// Whole minutes (graph-pim.md §5.4).
			Expiration: expirationJSON{Type: "afterDuration", Duration: isoMinutes(r.Duration)},
		},
	}
	if r.TicketNumber != "" {
		body.TicketInfo = &ticketJSON{TicketNumber: r.TicketNumber, TicketSystem: r.TicketSystem}
	}
	var res requestJSON
	if err := c.send(ctx, ad, op, abstractions.POST, c.v1(roleRequests), body, &res, true); err != nil {
		return Activation{}, err
	}
	return Activation{RequestID: res.ID, Status: res.Status, ApprovalID: deref(res.ApprovalID)}, nil
}

const roleRequests = "/roleManagement/directory/roleAssignmentScheduleRequests"

// roleRequestBody is a unifiedRoleAssignmentScheduleRequest as Elevate writes it (graph-pim.md §3.1).
type roleRequestBody struct {
	Action           string        `json:"action"`
	PrincipalID      string        `json:"principalId"`
	RoleID           string        `json:"roleDefinitionId"`
	DirectoryScopeID string        `json:"directoryScopeId"`
	Justification    string        `json:"justification,omitempty"`
	ScheduleInfo     *scheduleJSON `json:"scheduleInfo,omitempty"`
	TicketInfo       *ticketJSON   `json:"ticketInfo,omitempty"`
	IsValidationOnly bool          `json:"isValidationOnly,omitempty"`
}

type scheduleJSON struct {
	StartDateTime string         `json:"startDateTime,omitempty"`
	Expiration    expirationJSON `json:"expiration"`
}

type expirationJSON struct {
	Type     string `json:"type"`
	Duration string `json:"duration,omitempty"`
}

type ticketJSON struct {
	TicketNumber string `json:"ticketNumber"`
	TicketSystem string `json:"ticketSystem,omitempty"`
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
