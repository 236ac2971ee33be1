package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// pimWouldAccept asks PIM, before any approver is asked, whether it would accept r's activation:
// the same selfActivate with isValidationOnly, made with the requester's token, so PIM checks
// eligibility, duration, justification, ticket, MFA and authentication context and activates
// nothing. A refusal is answered to the requester at once in the words an activation's refusal
// gets, and the request ends failed without a card; a stronger sign-in is asked for as it would
// be for the activation. When PIM cannot be asked (an outage, no token held), approvers are
// asked anyway: PIM still judges the activation itself. It reports whether to go on.
func (c *Core) pimWouldAccept(ctx context.Context, r store.Request) (bool, error) {
	role := c.cfg.RoleByID(r.RoleID)
	tok, ok := c.freshToken(r, role)
	if !ok || role == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := c.dryRunWith(ctx, tok, r, role)
	if err == nil {
		return true, nil
	}
	var ge *graph.Error
	errors.As(err, &ge)
	switch {
	case errors.Is(err, graph.ErrAcrsRequired):
		c.tokens.drop(requesterKey(r))
		claims := ""
		if ge != nil {
			claims = ge.Claims
		}
		return false, c.askSignIn(ctx, r, "PIM asks for a stronger sign-in for this role (Conditional Access authentication context).", claims)
	case errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "MfaRule":
		c.tokens.drop(requesterKey(r))
		return false, c.askSignIn(ctx, r, "PIM needs a sign-in with multi-factor authentication for this role.", "")
	case !errors.Is(err, graph.ErrPolicyValidation) && !errors.Is(err, graph.ErrRoleAssignmentExists):
		// Not PIM's verdict on the request (an outage, throttling, a timeout): let people decide;
		// the activation itself is still checked by PIM.
		c.log.Warn("PIM's dry run failed; asking approvers anyway", "request_id", r.ID, "err", err)
		return true, nil
	}
	code, words := c.refusal(ctx, r, err)
	_, uerr := c.change(ctx, r.ID, systemEvent(c.now(), "request.failed", code+" (PIM's dry run, before approval)"), func(x *store.Request, out *outbox) error {
		if x.State != store.StateReceived && x.State != store.StateAwaitingSignIn {
			return store.ErrNoChange
		}
		x.State, x.FailureCode, x.FailureMessage = store.StateFailed, code, words
		out.tell(*x, Message{Kind: KindResult, Text: fmt.Sprintf("%s was not activated. %s", x.RoleName, words)})
		return nil
	})
	if errors.Is(uerr, store.ErrNoChange) {
		return false, nil
	}
	return false, uerr
}

// dryRun is PIM's dry run of r's activation (isValidationOnly) with the requester's held token:
// nil when PIM would accept it, or when it cannot be asked (no token, no PIM for Groups client).
func (c *Core) dryRun(ctx context.Context, r store.Request, role *policy.Role) error {
	tok, ok := c.freshToken(r, role)
	if !ok || role == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.dryRunWith(ctx, tok, r, role)
}

func (c *Core) dryRunWith(ctx context.Context, tok graph.UserToken, r store.Request, role *policy.Role) error {
	if role.Group {
		pg, ok := c.pim()
		if !ok {
			return nil
		}
		_, err := pg.ActivateGroup(ctx, tok, graph.GroupActivationRequest{UserID: r.UserID, GroupID: r.RoleID, AccessID: role.Access,
			Duration: r.Duration, Justification: r.Justification, TicketNumber: r.Ticket, TicketSystem: role.TicketSystem, ValidationOnly: true})
		return err
	}
	_, err := c.graph.Activate(ctx, tok, graph.ActivationRequest{UserID: r.UserID, RoleID: r.RoleID, Duration: r.Duration,
		Justification: r.Justification, TicketNumber: r.Ticket, TicketSystem: role.TicketSystem, ValidationOnly: true})
	return err
}
