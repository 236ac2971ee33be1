package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// Deactivate ends the user's own activation early (selfDeactivate), with their token.
// PIM refuses it within about five minutes of the activation.
func (c *Client) Deactivate(ctx context.Context, tok UserToken, userID, roleID string) (Activation, error) {
	const op = "POST roleAssignmentScheduleRequests (selfDeactivate)"
	ad, err := c.userAdapter(op, tok, userID)
	if err != nil {
		return Activation{}, err
	}
	body := roleRequestBody{Action: "selfDeactivate", PrincipalID: userID, RoleID: roleID, DirectoryScopeID: "/"}
	var res requestJSON
	if err := c.send(ctx, ad, op, abstractions.POST, c.v1(roleRequests), body, &res, true); err != nil {
		return Activation{}, err
	}
	return Activation{RequestID: res.ID, Status: res.Status}, nil
}

// ReviewApproval records the approver's decision on a PIM approval (the approvalId of a
// PendingApproval activation), with the approver's own token: Graph has no app-only approval.
// Directory-role approvals exist only in the beta API. It returns ErrConflict when the request
// was already decided, ErrForbidden when the signed-in user is not an approver of it.
func (c *Client) ReviewApproval(ctx context.Context, tok UserToken, approvalID string, approve bool, justification string) error {
	const op = "PATCH beta roleAssignmentApprovals/{id}/steps/{id}"
	if approvalID == "" {
		return errors.New("graph: ReviewApproval: empty approval id")
	}
	ad, err := c.userAdapter(op, tok, "")
	if err != nil {
		return err
	}
	base := c.beta("/roleManagement/directory/roleAssignmentApprovals/" + url.PathEscape(approvalID))
	var appr struct {
		Steps []struct {
			ID           string `json:"id"`
			ReviewResult string `json:"reviewResult"`
			Status       string `json:"status"`
			AssignedToMe bool   `json:"assignedToMe"`
		} `json:"steps"`
	}
	if err := c.send(ctx, ad, "GET beta roleAssignmentApprovals/{id}", abstractions.GET, base, nil, &appr, false); err != nil {
		return err
	}
	stepID, decided := "", false
	for _, s := range appr.Steps {
		switch {
		case s.AssignedToMe && s.ReviewResult == "NotReviewed" && s.Status != "Completed":
			stepID = s.ID
		case s.ReviewResult != "" && s.ReviewResult != "NotReviewed":
			decided = true
		}
	}
	switch {
	case stepID == "" && decided:
		return &Error{op: op, Status: http.StatusConflict, Code: "AlreadyDecided", Message: "the request was already decided"}
	case stepID == "":
		return &Error{op: op, Status: http.StatusForbidden, Code: "NotAnApprover",
			Message: "no approval step is assigned to the signed-in user"}
	}

	result := "Deny"
	if approve {
		result = "Approve"
	}
	return c.send(ctx, ad, op, abstractions.PATCH, base+"/steps/"+url.PathEscape(stepID),
		map[string]string{"reviewResult": result, "justification": justification}, nil, true)
}

// userAdapter checks a user's token and builds an adapter that sends exactly that token.
// userID, when set, must be the token's user.
func (c *Client) userAdapter(op string, tok UserToken, userID string) (abstractions.RequestAdapter, error) {
	switch {
	case tok.AccessToken == "":
		return nil, &Error{op: op, Status: http.StatusUnauthorized, Code: "NoUserToken", Message: "the user has not signed in"}
	case userID != "" && tok.UserID != "" && tok.UserID != userID:
		// PIM would refuse too; refusing here keeps one user's token from ever acting for another.
		return nil, fmt.Errorf("graph: %s: the token belongs to a different user than the request", op)
	case !tok.ExpiresOn.IsZero() && !c.now().Before(tok.ExpiresOn):
		return nil, &Error{op: op, Status: http.StatusUnauthorized, Code: "TokenExpired", Message: "the user's sign-in has expired"}
	}
	return c.adapter(staticToken{azcore.AccessToken{Token: tok.AccessToken, ExpiresOn: tok.ExpiresOn}})
}

func request(method abstractions.HttpMethod, rawURL string) (*abstractions.RequestInformation, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	ri := abstractions.NewRequestInformation()
	ri.Method = method
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	return ri, nil
}
