package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// The rest of PIM in chat: PIM for Groups activations, PIM's own approvals acted on with the
// approver's token, done (selfDeactivate), extend (a scheduled follow-up activation), cancelling
// a request pending in PIM, and a Graph outage that keeps requests waiting in the store.

// PIMGraph is what these need from Graph beyond Graph. *graph.Client implements it; a Graph
// without it gets "not available" answers for these commands.
type PIMGraph interface {
	Deactivate(ctx context.Context, tok graph.UserToken, userID, roleID string) (graph.Activation, error)
	RoleRequest(ctx context.Context, tok graph.UserToken, requestID string) (graph.ScheduleRequest, error)
	CancelRoleRequest(ctx context.Context, tok graph.UserToken, requestID string) error
	ReviewRoleRequest(ctx context.Context, tok graph.UserToken, requestID string, approve bool, justification string) error

	ActivateGroup(ctx context.Context, tok graph.UserToken, r graph.GroupActivationRequest) (graph.Activation, error)
	DeactivateGroup(ctx context.Context, tok graph.UserToken, userID, groupID, accessID string) (graph.Activation, error)
	ActiveGroupAssignments(ctx context.Context, userID string) ([]graph.GroupAssignment, error)
	EligibleGroups(ctx context.Context, userID string) ([]graph.GroupEligibility, error)
	WaitGroupUsable(ctx context.Context, userID, groupID string) error
	GroupRequest(ctx context.Context, tok graph.UserToken, requestID string) (graph.ScheduleRequest, error)
	CancelGroupRequest(ctx context.Context, tok graph.UserToken, requestID string) error
	ReviewGroupApproval(ctx context.Context, tok graph.UserToken, approvalID string, approve bool, justification string) error

	DirectoryAudits(ctx context.Context, activity string, since time.Time) ([]graph.AuditEvent, error)
	StandingAssignments(ctx context.Context) ([]graph.StandingAssignment, error)
	ConvertToEligible(ctx context.Context, tok graph.UserToken, principalID, roleID, justification string) (graph.Conversion, error)
}

// More sign-in purposes (tokens.go has the first ones).
const (
	forDone    purpose = iota + 10 // sign in to end an activation early
	forExtend                      // sign in to extend an activation (reason: the duration)
	forCancel                      // sign in to cancel a request pending in PIM
	forConvert                     // an admin signs in to convert standing access (reason: user|role id)
)

func (c *Core) pim() (PIMGraph, bool) {
	g, ok := c.graph.(PIMGraph)
	return g, ok
}

// pimPending says whether r waits for PIM's own approval (not Elevate's).
func pimPending(r store.Request) bool {
	return r.State == store.StateAwaitingApproval && r.GraphStatus == "PendingApproval" && r.GraphRequestID != ""
}

// isGroup says whether r is a PIM for Groups request.
func (c *Core) isGroup(r store.Request) (*policy.Role, bool) {
	role := c.cfg.RoleByID(r.RoleID)
	return role, role != nil && role.Group
}

// activateGraph makes the one PIM write for r: a directory role or a group membership.
func (c *Core) activateGraph(ctx context.Context, tok graph.UserToken, r store.Request, role *policy.Role, start time.Time) (graph.Activation, error) {
	ticketSystem := ""
	if role != nil {
		ticketSystem = role.TicketSystem
	}
	if role != nil && role.Group {
		pg, ok := c.pim()
		if !ok {
			return graph.Activation{}, errors.New("bot: this Graph client has no PIM for Groups")
		}
		return pg.ActivateGroup(ctx, tok, graph.GroupActivationRequest{UserID: r.UserID, GroupID: r.RoleID, AccessID: role.Access,
			Duration: r.Duration, Justification: r.Justification, TicketNumber: r.Ticket, TicketSystem: ticketSystem, Start: start})
	}
	return c.graph.Activate(ctx, tok, graph.ActivationRequest{
		UserID: r.UserID, RoleID: r.RoleID, Duration: r.Duration, Justification: r.Justification,
		TicketNumber: r.Ticket, TicketSystem: ticketSystem, Start: start,
	})
}

// waitUsableAny waits until r's role or group membership is in force.
func (c *Core) waitUsableAny(ctx context.Context, r store.Request) error {
	if _, ok := c.isGroup(r); ok {
		pg, _ := c.pim()
		return pg.WaitGroupUsable(ctx, r.UserID, r.RoleID)
	}
	_, err := c.graph.WaitUsable(ctx, r.UserID, r.RoleID)
	return err
}

// CodeGraphUnavailable marked, before write intents, a request that waited in the store (as
// received) for Graph to come back. Requests stored so by an older version are still resumed:
// looked up in PIM first, then written.
const CodeGraphUnavailable = "graph_unavailable"

// Retry moves on the requests that wait for Graph: it is Reconcile, kept for callers of the
// name.
func (c *Core) Retry(ctx context.Context) error { return c.Reconcile(ctx) }

// markActive records that PIM granted r just now and tells everyone; the wait for "usable"
// follows in the background.
func (c *Core) markActive(ctx context.Context, id uint64, act graph.Activation, start time.Time, why string) error {
	return c.activeNow(ctx, id, act, start, time.Time{}, systemEvent(c.now(), "request.active", strings.TrimSpace(act.RequestID+" "+act.Status+" "+why)))
}

// activeNow records that r is active in PIM from start (until end; zero: start plus the
// request's duration, as the clock starts at activation) with audit record ev, clears its write,
// and tells the requester, the approvers' card and the security channel once.
func (c *Core) activeNow(ctx context.Context, id uint64, act graph.Activation, start, end time.Time, ev store.AuditRecord) error {
	// A role of a multi-role request waits for "usable" here from its commit on: the change that
	// settles the request must not tell the roles usable before this one's wait (groupUsable).
	_, had := c.usableOf.LoadOrStore(id, usableWaiting)
	r, err := c.change(ctx, id, ev, func(r *store.Request, out *outbox) error {
		if r.State == store.StateActive || r.State.Terminal() {
			return store.ErrNoChange
		}
		r.State, r.GraphStatus, r.FailureCode, r.FailureMessage = store.StateActive, cmpOr(act.Status, r.GraphStatus), "", ""
		if act.RequestID != "" {
			r.GraphRequestID = act.RequestID
		}
		r.ActivatedAt, r.EndsAt, r.Write = start, start.Add(r.Duration), nil
		if !end.IsZero() {
			r.EndsAt = end
		}
		if toldAlone(*r) {
			out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("%s active until %s. PIM is applying it; I'll tell you when it is usable.", r.RoleName, c.clock(r.EndsAt))})
		}
		out.cards(*r)
		c.announce(out, *r)
		return nil
	})
	if !had && (err != nil || toldAlone(r)) {
		c.usableOf.Delete(id) // no wait here, or told on its own
	}
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	c.log.Info("activated", "request_id", r.ID, "role", r.RoleName, "graph_request_id", r.GraphRequestID, "how", ev.Action)
	c.spawn("wait until usable", func(ctx context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, c.usable)
		defer cancel()
		if err := c.waitUsableAny(wctx, r); err != nil {
			c.log.Warn("activation not visible yet", "request_id", r.ID, "err", err)
			c.tellUser(ctx, r, Message{Kind: KindProgress, Text: fmt.Sprintf("PIM has granted %s but it is not visible yet; this can take a few minutes. Sign out and in again if an admin portal still says no.", r.RoleName)})
			if !toldAlone(r) {
				c.usableOf.Store(r.ID, usableNo)
				c.groupUsable(ctx, r.Group)
			}
			return nil
		}
		c.seen.Store(r.ID, true)
		if !toldAlone(r) {
			c.usableOf.Store(r.ID, usableYes)
			c.groupUsable(ctx, r.Group) // one line for the roles of the request, when they all are
			return nil
		}
		c.tellUser(ctx, r, Message{Kind: KindResult, Text: fmt.Sprintf("%s is usable now (until %s).", r.RoleName, c.clock(r.EndsAt))})
		return nil
	})
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// pimApprovalPending records that PIM itself wants an approval for r and puts the card up.
func (c *Core) pimApprovalPending(ctx context.Context, id uint64, act graph.Activation) error {
	return c.pimApprovalPendingEv(ctx, id, act, systemEvent(c.now(), "request.pim_approval", act.RequestID))
}

func (c *Core) pimApprovalPendingEv(ctx context.Context, id uint64, act graph.Activation, ev store.AuditRecord) error {
	_, err := c.change(ctx, id, ev, func(r *store.Request, out *outbox) error {
		if r.State.Terminal() || r.State == store.StateActive || pimPending(*r) {
			return store.ErrNoChange
		}
		r.State, r.GraphRequestID, r.GraphStatus, r.Write = store.StateAwaitingApproval, act.RequestID, act.Status, nil
		r.ApprovalsNeeded = max(r.ApprovalsNeeded, approvals(*r)+1)
		// PIM's approval stage has its own deadline (a day by default), not Elevate's; the card
		// shows it as a step of its own (stages.go).
		r.ExpiresAt = c.now().UTC().Add(24 * time.Hour)
		r.PIMStageExpiresAt = r.ExpiresAt
		out.then(out.card(*r)).tell(*r, Message{Kind: KindProgress, Text: fmt.Sprintf("PIM itself requires approval for %s. I've asked in %s; the approver's click approves it in PIM, with their own Microsoft sign-in. I'll tell you when it is decided.", r.RoleName, channelAt(c.approvalChannel(*r)))})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// decidePIM acts on PIM's own approval step with the approver's delegated token. PIM decides who
// may approve; Elevate only makes sure the approver signed in recently enough (tier-0: for this
// very decision).
func (c *Core) decidePIM(ctx context.Context, a Actor, r store.Request, action Action, reason string) error {
	pg, ok := c.pim()
	if !ok {
		c.reply(ctx, a, Message{Kind: KindError, Text: "Approving PIM's own approvals is not available in this installation."})
		return nil
	}
	who, known, err := c.identity(a)
	if err != nil {
		return c.mismatch(ctx, a, err)
	}
	if action == ActionDeny && strings.TrimSpace(reason) == "" {
		c.reply(ctx, a, Message{Kind: KindError, RequestID: r.ID, Text: denyNeedsReason})
		return nil
	}
	role := c.cfg.RoleByID(r.RoleID)
	tier0 := role != nil && role.Tier0
	var forReq uint64
	if tier0 {
		forReq = r.ID
	}
	tok, fresh := graph.UserToken{}, false
	if known {
		tok, fresh = c.tokens.fresh(keyOf(a, who.ObjectID), c.cfg.SignInFreshness, forReq, scopeOf(role))
	}
	if !fresh {
		// Someone PIM's setting does not name as an approver is told so at once, not after a
		// sign-in (read with Elevate's identity; PIM still decides).
		if cand, ok := c.candidate(ctx, a, who, known); ok && role != nil && cand.ObjectID != r.UserID && !c.pimApprover(ctx, role, cand) {
			c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("You are not an approver for %s in PIM: its setting names who decides there.", r.RoleName)})
			return nil
		}
		why := "PIM itself asks for approval here, and your decision is made in PIM with your own Microsoft account: sign in first."
		if tier0 {
			why = r.RoleName + " is a tier-0 role: deciding on it in PIM needs a fresh sign-in."
		}
		link, err := c.signInLink(ctx, pendingSignIn{purpose: forApproval, requestID: r.ID, actor: a, decision: action, reason: reason}, who.UPN)
		if err != nil {
			c.log.Error("sign-in link", "request_id", r.ID, "err", err)
			c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't prepare a Microsoft sign-in link just now; try again in a minute."})
			return nil
		}
		c.reply(ctx, a, Message{Kind: KindSignIn, RequestID: r.ID, Text: why + " Your " + map[Action]string{ActionApprove: "approval", ActionDeny: "denial"}[action] + " is sent to PIM as soon as you are signed in.",
			Buttons: []Button{{Action: ActionOpenURL, Label: "Sign in", URL: link, Style: StylePrimary}}})
		return nil
	}
	if who.ObjectID == r.UserID {
		c.refuseSelf(a, r)
		c.reply(ctx, a, Message{Kind: KindError, Text: "You can't approve or deny your own request."})
		return nil
	}
	name := cmpOr(who.UPN, a.Name)
	just := strings.TrimSpace(reason)
	if just == "" {
		just = map[Action]string{ActionApprove: "Approved", ActionDeny: "Denied"}[action] + " in chat by " + name
	}
	// The intent first: what PIM request, whose decision, which way. The claim comes before
	// it, so the sweep never looks up a write this process is still making.
	if !c.claim(r.ID) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("Request #%d is being decided in PIM already; the card shows how it goes.", r.ID)})
		return nil
	}
	defer c.release(r.ID)
	wa := map[Action]string{ActionApprove: store.WriteApprove, ActionDeny: store.WriteDeny}[action]
	w := store.Write{Action: wa, At: c.now().UTC(), Target: r.GraphRequestID, By: who.ObjectID, ByPlatform: a.Platform, ByChatUser: a.ChatUser, Reason: just, Attempts: 1}
	r, err = c.beginWrite(ctx, r.ID, c.event(a, "request.pim_deciding", "intent: "+wa+" "+r.GraphRequestID), w, func(r *store.Request, _ *store.Write) error {
		if !pimPending(*r) || r.Write != nil {
			return store.ErrNoChange
		}
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("Request #%d is being decided in PIM already; the card shows how it goes.", r.ID)})
		return nil
	}
	if err != nil {
		return err
	}
	err = c.pimCall(ctx, func(ctx context.Context) error {
		if _, group := c.isGroup(r); group {
			return pg.ReviewGroupApproval(ctx, tok, r.GraphRequestID, action == ActionApprove, just)
		}
		return pg.ReviewRoleRequest(ctx, tok, r.GraphRequestID, action == ActionApprove, just)
	})
	if tier0 {
		c.tokens.drop(keyOf(a, who.ObjectID)) // one fresh sign-in, one tier-0 decision
	}
	if err != nil && graph.Transient(err) {
		return c.writeUnknown(ctx, r, err)
	}
	if err != nil {
		if cerr := c.clearWrite(ctx, r, "PIM refused the decision"); cerr != nil {
			return cerr
		}
		r.Write = nil
	}
	switch {
	case errors.Is(err, graph.ErrConflict):
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("Request #%d was already decided in PIM by someone else.", r.ID)})
		return c.syncPIMOutcome(ctx, tok, r)
	case errors.Is(err, graph.ErrForbidden):
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("PIM says you are not an approver for %s.", r.RoleName)})
		return nil
	case err != nil:
		c.log.Error("PIM approval", "request_id", r.ID, "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: "PIM did not take your decision. " + graphWords(err)})
		return nil
	}
	ev := c.event(a, "request.pim_"+string(action), just)
	r, err = c.change(ctx, r.ID, ev, func(r *store.Request, out *outbox) error {
		if !pimPending(*r) {
			return store.ErrNoChange
		}
		r.Write = nil
		r.Approvals = append(r.Approvals, store.Approval{Approver: who.ObjectID, ApproverName: name, Platform: a.Platform,
			ChatUser: a.ChatUser, Decision: string(action), Reason: reason, At: c.now().UTC(), InPIM: true})
		if action == ActionDeny {
			r.State, r.GraphStatus = store.StateDenied, "Denied"
		} else {
			r.State, r.GraphStatus = store.StateActivating, "Approved"
		}
		out.cards(*r)
		if action == ActionDeny {
			out.reply(a, Message{Kind: KindResult, Text: fmt.Sprintf("You denied %s's request for %s in PIM.", nameOf(*r), r.RoleName)})
			out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("%s denied your request for %s in PIM: %s", name, r.RoleName, just)})
			return nil
		}
		out.reply(a, Message{Kind: KindResult, Text: fmt.Sprintf("You approved %s's request for %s in PIM.", nameOf(*r), r.RoleName)})
		out.tell(*r, Message{Kind: KindProgress, Text: fmt.Sprintf("%s approved your request for %s in PIM.", name, r.RoleName)})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	if action == ActionDeny {
		return nil
	}
	return c.markActive(ctx, r.ID, graph.Activation{Status: "Provisioned"}, c.now().UTC(), "approved in PIM")
}

// syncPIMOutcome reads what became of a PIM request someone else decided and records it.
func (c *Core) syncPIMOutcome(ctx context.Context, tok graph.UserToken, r store.Request) error {
	pg, _ := c.pim()
	var sr graph.ScheduleRequest
	var err error
	if _, group := c.isGroup(r); group {
		sr, err = pg.GroupRequest(ctx, tok, r.GraphRequestID)
	} else {
		sr, err = pg.RoleRequest(ctx, tok, r.GraphRequestID)
	}
	if err != nil {
		c.log.Warn("reading a decided PIM request", "request_id", r.ID, "err", err)
		c.refreshCards(ctx, r)
		return nil
	}
	return c.applyPIMStatus(ctx, r, sr.Status, "")
}

// applyPIMStatus moves a request pending in PIM to what PIM's request status says: active,
// denied, cancelled or failed (anything else only refreshes the cards). action names the audit
// record ("" for "request.<state>").
func (c *Core) applyPIMStatus(ctx context.Context, r store.Request, status, action string) error {
	switch status {
	case "Provisioned", "Granted", "ScheduleCreated", "PendingProvisioning":
		ev := systemEvent(c.now(), cmpOr(action, "request.active"), "approved in PIM: "+status)
		return c.activeNow(ctx, r.ID, graph.Activation{Status: status}, c.now().UTC(), time.Time{}, ev)
	case "Denied", "Canceled", "Revoked", "Failed":
		to := map[string]store.State{"Denied": store.StateDenied, "Canceled": store.StateCancelled}[status]
		if to == "" {
			to = store.StateFailed
		}
		_, err := c.change(ctx, r.ID, systemEvent(c.now(), cmpOr(action, "request."+string(to)), "decided in PIM: "+status), func(r *store.Request, out *outbox) error {
			if !pimPending(*r) {
				return store.ErrNoChange
			}
			r.State, r.GraphStatus, r.Write = to, status, nil
			out.cards(*r)
			out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("Your request for %s was %s in PIM.", r.RoleName, strings.ToLower(status))})
			return nil
		})
		if errors.Is(err, store.ErrNoChange) {
			return nil
		}
		if err != nil {
			return err
		}
	default:
		c.refreshCards(ctx, r)
	}
	return nil
}

// userToken is the requester's held token for lifecycle calls (done, extend, cancel), or a
// sign-in link when there is none fresh.
func (c *Core) userToken(ctx context.Context, a Actor, r store.Request, p purpose, reason, why string) (graph.UserToken, bool) {
	role := c.cfg.RoleByID(r.RoleID)
	var forReq uint64
	if role != nil && role.Tier0 && p == forExtend {
		forReq = r.ID // an extension is an activation: tier-0 wants a sign-in for it
	}
	if tok, ok := c.tokens.fresh(requesterKey(r), c.cfg.SignInFreshness, forReq, scopeOf(role)); ok && r.UserID != "" {
		return tok, true
	}
	link, err := c.signInLink(ctx, pendingSignIn{purpose: p, requestID: r.ID, actor: a, reason: reason}, r.UPN)
	if err != nil {
		c.log.Error("sign-in link", "request_id", r.ID, "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't prepare a Microsoft sign-in link just now; try again in a minute."})
		return graph.UserToken{}, false
	}
	c.reply(ctx, a, Message{Kind: KindSignIn, RequestID: r.ID, Text: why + " The link works once, for 10 minutes.",
		Buttons: []Button{{Action: ActionOpenURL, Label: "Sign in", URL: link, Style: StylePrimary}}})
	return graph.UserToken{}, false
}

// activeFor finds the actor's active request for role (any role when nil).
func (c *Core) activeFor(a Actor, role *policy.Role) ([]store.Request, error) {
	rs, err := c.mine(a)
	if err != nil {
		return nil, err
	}
	var out []store.Request
	for _, r := range rs {
		if r.State == store.StateActive && (role == nil || strings.EqualFold(r.RoleID, role.TemplateID)) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *Core) pickActive(ctx context.Context, a Actor, role *policy.Role, verb string) (store.Request, bool, error) {
	rs, err := c.activeFor(a, role)
	if err != nil {
		return store.Request{}, false, err
	}
	switch {
	case len(rs) == 0 && role != nil:
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("You have no active %s from Elevate. See `/elevate status`.", role.Name)})
	case len(rs) == 0:
		c.reply(ctx, a, Message{Kind: KindText, Text: "You have no active roles from Elevate. See `/elevate status`."})
	case len(rs) > 1:
		var names []string
		for _, r := range rs {
			if role := c.cfg.RoleByID(r.RoleID); role != nil {
				names = append(names, "`"+verb+" "+role.Alias()+"`")
			}
		}
		c.reply(ctx, a, Message{Kind: KindText, Text: "You have more than one active role; say which: " + strings.Join(names, ", ")})
	default:
		return rs[0], true, nil
	}
	return store.Request{}, false, nil
}

// done ends the actor's activation early with selfDeactivate (and withdraws a scheduled
// extension first).
func (c *Core) done(ctx context.Context, a Actor, role *policy.Role) error {
	r, ok, err := c.pickActive(ctx, a, role, "done")
	if err != nil || !ok {
		return err
	}
	return c.doneRequest(ctx, a, r)
}

func (c *Core) doneRequest(ctx context.Context, a Actor, r store.Request) error {
	pg, ok := c.pim()
	if !ok {
		c.reply(ctx, a, Message{Kind: KindText, Text: "Ending an activation from chat is not available in this installation; use the PIM portal (My roles → Active assignments)."})
		return nil
	}
	tok, ok := c.userToken(ctx, a, r, forDone, "", fmt.Sprintf("Ending %s is your own PIM deactivation: sign in with your Microsoft account.", r.RoleName))
	if !ok {
		return nil
	}
	// The intent first; the claim before it, so the sweep never looks up a write still being made.
	if !c.claim(r.ID) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s is being changed in PIM right now; `/elevate status` shows how it goes.", r.RoleName)})
		return nil
	}
	defer c.release(r.ID)
	w := store.Write{Action: store.WriteDeactivate, At: c.now().UTC(), By: r.UserID, ByPlatform: a.Platform, ByChatUser: a.ChatUser, Attempts: 1}
	r, err := c.beginWrite(ctx, r.ID, c.event(a, "request.deactivating", "intent: selfDeactivate principal="+r.UserID+" role="+r.RoleID), w, func(r *store.Request, _ *store.Write) error {
		if r.State != store.StateActive || r.Write != nil {
			return store.ErrNoChange
		}
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s is not active from Elevate now, or is being changed in PIM; see `/elevate status`.", r.RoleName)})
		return nil
	}
	if err != nil {
		return err
	}
	ext := c.extension(r.ID)
	role, group := c.isGroup(r)
	var withdrawn []string
	for _, next := range ext.Scheduled {
		if r.Extension != nil && slices.Contains(r.Extension.Withdrawn, next) {
			continue
		}
		err := c.pimCall(ctx, func(ctx context.Context) error {
			if group {
				return pg.CancelGroupRequest(ctx, tok, next)
			}
			return pg.CancelRoleRequest(ctx, tok, next)
		})
		if err != nil && !errors.Is(err, graph.ErrNotFound) {
			c.log.Warn("cancelling a scheduled extension", "request_id", r.ID, "graph_request_id", next, "err", err)
			continue
		}
		withdrawn = append(withdrawn, next)
	}
	if len(withdrawn) > 0 {
		// Recorded in the request's own transaction, with its audit record.
		r, err = c.update(ctx, r.ID, c.event(a, "request.extension_withdrawn", strings.Join(withdrawn, ",")), func(x *store.Request) error {
			if x.Extension == nil {
				x.Extension = &store.Extension{}
			}
			x.Extension.Withdrawn = append(x.Extension.Withdrawn, withdrawn...)
			return nil
		})
		if err != nil {
			return err
		}
	}
	err = c.pimCall(ctx, func(ctx context.Context) error {
		var err error
		if group {
			_, err = pg.DeactivateGroup(ctx, tok, r.UserID, r.RoleID, role.Access)
		} else {
			_, err = pg.Deactivate(ctx, tok, r.UserID, r.RoleID)
		}
		return err
	})
	if err != nil && graph.Transient(err) {
		return c.writeUnknown(ctx, r, err)
	}
	if e := c.doneFailed(ctx, a, r, err); e != nil || err != nil {
		return e
	}
	now := c.now().UTC()
	_, err = c.change(ctx, r.ID, c.event(a, "request.ended", "deactivated early"), func(r *store.Request, out *outbox) error {
		if r.State != store.StateActive {
			return store.ErrNoChange
		}
		r.State, r.EndsAt, r.Write = store.StateEnded, now, nil
		out.reply(a, Message{Kind: KindResult, RequestID: r.ID, Text: fmt.Sprintf("Done: %s is deactivated in PIM. Thanks for giving it back early.", r.RoleName)})
		out.cards(*r)
		c.queueEnded(out, *r, now)
		if r.Extension != nil {
			r.Extension.By = 0 // the follow-up it consented to is off too
		}
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// alertEnded tells the security channel that r was ended early, in a transaction of its own.
func (c *Core) alertEnded(ctx context.Context, r store.Request, at time.Time) {
	_ = c.enqueue(ctx, nil, func(out *outbox) error { c.queueEnded(out, r, at); return nil })
}

// queueEnded queues the security channel's line that r was ended early.
func (c *Core) queueEnded(out *outbox, r store.Request, at time.Time) {
	out.alert(cmpOr(r.Platform, c.firstPlatform()), Message{Kind: KindAlert, RequestID: r.ID,
		Text: fmt.Sprintf("%s ended %s early (at %s).", nameOf(r), r.RoleName, c.clock(at))})
}

// doneFailed explains a refused deactivation; nil err means it worked.
func (c *Core) doneFailed(ctx context.Context, a Actor, r store.Request, err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, graph.ErrNotFound) {
		if cerr := c.clearWrite(ctx, r, "PIM refused the deactivation"); cerr != nil {
			return cerr
		}
	}
	switch {
	case errors.Is(err, graph.ErrActiveDurationTooShort):
		when := r.ActivatedAt.Add(5 * time.Minute)
		c.reply(ctx, a, Message{Kind: KindText, RequestID: r.ID, Text: fmt.Sprintf("PIM doesn't let an activation be ended in its first 5 minutes, and %s was activated at %s. It is still active; say `/elevate done` again after %s.",
			r.RoleName, c.clock(r.ActivatedAt), c.clock(when))})
	case errors.Is(err, graph.ErrNotFound):
		// Already over in PIM (expired, or deactivated in the portal): record it.
		c.change(ctx, r.ID, c.event(a, "request.ended", "not active in PIM any more"), func(r *store.Request, out *outbox) error {
			if r.State != store.StateActive {
				return store.ErrNoChange
			}
			r.State, r.Write = store.StateEnded, nil
			out.cards(*r)
			return nil
		})
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s is no longer active in PIM; nothing to end.", r.RoleName)})
	default:
		c.log.Warn("deactivation refused", "request_id", r.ID, "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("%s was not deactivated. %s", r.RoleName, graphWords(err))})
	}
	return nil
}

// extensionState is what Elevate versions before store.Extension remembered of an activation's
// extensions (a store cursor): follow-ups scheduled in PIM, which `done` still withdraws.
type extensionState struct {
	Used      time.Duration `json:"used"`
	Scheduled []string      `json:"scheduled,omitempty"` // PIM request ids of follow-ups not started yet
	All       []string      `json:"all,omitempty"`       // every follow-up's PIM request id (not "outside Elevate")
}

func extensionKey(id uint64) string { return fmt.Sprintf("extension/%d", id) }

func (c *Core) extension(id uint64) extensionState {
	var e extensionState
	if b, err := c.store.Cursor(extensionKey(id)); err == nil && b != nil {
		_ = json.Unmarshal(b, &e)
	}
	return e
}

// cancelPIM withdraws a request waiting for PIM's own approval, in PIM, with the requester's token.
func (c *Core) cancelPIM(ctx context.Context, a Actor, r store.Request) (bool, error) {
	pg, ok := c.pim()
	if !ok {
		return false, nil
	}
	tok, ok := c.userToken(ctx, a, r, forCancel, "", fmt.Sprintf("Your request for %s is pending in PIM; withdrawing it there is done with your Microsoft account: sign in.", r.RoleName))
	if !ok {
		return false, nil
	}
	if !c.claim(r.ID) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("Request #%d is being changed in PIM right now; `/elevate status` shows how it goes.", r.ID)})
		return false, nil
	}
	defer c.release(r.ID)
	w := store.Write{Action: store.WriteCancel, At: c.now().UTC(), Target: r.GraphRequestID, By: r.UserID, ByPlatform: a.Platform, ByChatUser: a.ChatUser, Attempts: 1}
	r, err := c.beginWrite(ctx, r.ID, c.event(a, "request.cancelling", "intent: cancel "+r.GraphRequestID), w, func(r *store.Request, _ *store.Write) error {
		if !pimPending(*r) || r.Write != nil {
			return store.ErrNoChange
		}
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = c.pimCall(ctx, func(ctx context.Context) error {
		if _, group := c.isGroup(r); group {
			return pg.CancelGroupRequest(ctx, tok, r.GraphRequestID)
		}
		return pg.CancelRoleRequest(ctx, tok, r.GraphRequestID)
	})
	if err != nil && graph.Transient(err) {
		return false, c.writeUnknown(ctx, r, err)
	}
	if err != nil && !errors.Is(err, graph.ErrNotFound) {
		c.log.Warn("cancel in PIM", "request_id", r.ID, "err", err)
		if cerr := c.clearWrite(ctx, r, "PIM refused the cancellation"); cerr != nil {
			return false, cerr
		}
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("PIM did not cancel your request for %s. %s", r.RoleName, graphWords(err))})
		return false, nil
	}
	_, err = c.change(ctx, r.ID, c.event(a, "request.cancelled", "cancelled in PIM"), func(r *store.Request, out *outbox) error {
		if !pimPending(*r) {
			return store.ErrNoChange
		}
		r.State, r.GraphStatus, r.Write = store.StateCancelled, "Canceled", nil
		out.cards(*r)
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// continueLifecycle resumes done, extend, cancel or convert after the sign-in they asked for.
func (c *Core) continueLifecycle(ctx context.Context, p pendingSignIn) error {
	if p.purpose == forConvert {
		user, roleID, _ := strings.Cut(p.reason, "|")
		return c.convertNow(ctx, p.actor, user, roleID)
	}
	r, err := c.store.Request(p.requestID)
	if err != nil {
		return err
	}
	switch p.purpose {
	case forDone:
		if strings.HasPrefix(p.reason, doneMoreReason) {
			rs := c.continueDoneMore(ctx, p.actor, p.reason)
			if r.State == store.StateActive {
				rs = append([]store.Request{r}, rs...)
			}
			if len(rs) > 0 {
				return c.doneAll(ctx, p.actor, rs)
			}
		}
		if r.State == store.StateActive {
			return c.doneRequest(ctx, p.actor, r)
		}
	case forExtend:
		if p.reason == followUpReason {
			if r.State == store.StateActive && c.now().Before(r.EndsAt) && r.Extension != nil && r.Extension.By > 0 {
				c.reply(ctx, p.actor, Message{Kind: KindText, Text: fmt.Sprintf("Thanks: I'll activate %s again for %s when it ends at %s.", r.RoleName, hm(r.Extension.By), c.clock(r.EndsAt))})
				return nil
			}
			return c.followUp(ctx, r)
		}
		d, _ := time.ParseDuration(p.reason)
		if r.State == store.StateActive && d > 0 {
			return c.extendRequest(ctx, p.actor, r, d)
		}
	case forCancel:
		if pimPending(r) {
			ok, err := c.cancelPIM(ctx, p.actor, r)
			if ok {
				c.reply(ctx, p.actor, Message{Kind: KindResult, Text: fmt.Sprintf("Cancelled your request for %s in PIM.", r.RoleName)})
			}
			return err
		}
	}
	c.reply(ctx, p.actor, Message{Kind: KindText, Text: fmt.Sprintf("Request #%d is %s now; nothing to do.", r.ID, stateWords(r))})
	return nil
}
