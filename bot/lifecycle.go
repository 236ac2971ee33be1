package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// acceptRequest decides and persists an activation request; the job it returns moves it on.
func (c *Core) acceptRequest(a Actor, cmd policy.Command, once Once) (Job, error) {
	who, _, err := c.identity(a)
	if err != nil {
		if err := c.firstSeen(once); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return c.mismatch(ctx, a, err) }, nil
	}
	if words, dup := c.duplicate(a, cmd.Role); dup {
		if err := c.firstSeen(once); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			c.reply(ctx, a, Message{Kind: KindText, Text: words})
			return nil
		}, nil
	}
	now := c.now()
	dec := c.cfg.Decide(cmd, who, now)
	offer := time.Duration(0)
	if !dec.Allowed {
		if dec.Problem == nil || dec.Problem.Offer <= 0 {
			if err := c.firstSeen(once); err != nil {
				return nil, err
			}
			return func(ctx context.Context) error { c.replyError(ctx, a, dec.Problem); return nil }, nil
		}
		offer = dec.Problem.Offer
	}
	r := store.Request{
		Platform: a.Platform, ChatUser: a.ChatUser, ChatName: a.Name, Channel: a.Channel, LoginHint: a.EmailHint,
		UserID: who.ObjectID, UPN: who.UPN,
		RoleID: cmd.Role.TemplateID, RoleName: cmd.Role.Name,
		Duration: dec.Duration, Justification: cmd.Justification, Ticket: dec.Ticket,
		State: store.StateReceived, ApprovalsNeeded: dec.Approvals,
		CreatedAt: now.UTC(), ExpiresAt: dec.ExpiresAt.UTC(),
	}
	if offer == 0 && (r.UserID == "" || !c.hasFreshToken(r, cmd.Role)) {
		// Known now, without Graph: the next step is the user's sign-in. Storing it so saves a
		// second write (and fsync) before the acknowledgement's neighbours get theirs.
		r.State = store.StateAwaitingSignIn
	}
	detail := fmt.Sprintf("role=%q duration=%s", r.RoleName, hm(r.Duration))
	var added []store.OutboxItem
	var queueOffer func(store.Request, *store.Outbox) error
	if offer > 0 {
		r.Duration, r.OfferedAt = offer, now.UTC()
		detail += fmt.Sprintf(" offered=%s", hm(offer))
		// The offer is the answer to the command: queued with the request, so that a request
		// waiting for the user's choice always has its question on its way.
		queueOffer = func(r store.Request, ob *store.Outbox) error {
			o := &outbox{c: c, ob: ob}
			o.reply(a, offerMessage(r, dec.Problem.Message))
			added = ob.Added() // a shared transaction that failed runs this again
			return o.err
		}
	}
	r, err = c.store.CreateRequestOnceWith(r, c.event(a, "request.created", detail), once, queueOffer)
	if err != nil {
		return nil, err
	}
	c.log.Info("request created", "request_id", r.ID, "platform", a.Platform, "role", r.RoleName)
	return func(ctx context.Context) error {
		c.flush(ctx, added)
		return c.startRequest(ctx, a, r, cmd.Role)
	}, nil
}

// startRequest is what follows a request's creation: older requests it replaces are cancelled,
// eligibility and PIM's maximum are checked, and the request moves on (or waits for the answer
// to an offer). Resume runs it again for a request whose creation was acknowledged but whose
// next step never ran.
func (c *Core) startRequest(ctx context.Context, a Actor, r store.Request, role *policy.Role) error {
	key := fmt.Sprintf("start/%d", r.ID)
	if !c.claimKey(key) {
		return nil // running in this process already
	}
	defer c.releaseKey(key)
	c.supersede(ctx, a, r)
	if stop, err := c.pilotGate(ctx, r); stop {
		return err
	}
	c.notify(ctx, r)
	// Before anyone is asked to sign in: is the user eligible at all, and does PIM's own
	// maximum allow the duration? Both read with Elevate's read-only identity; when Graph is
	// slow the user hears that it is being checked rather than nothing.
	checked := make(chan struct{})
	slow := time.AfterFunc(slowAnswer, func() {
		select {
		case <-checked:
		default:
			c.reply(ctx, a, Message{Kind: KindProgress, RequestID: r.ID, Text: fmt.Sprintf("Checking your eligibility and PIM's limit for %s in Microsoft Entra…", r.RoleName)})
		}
	})
	el, who := c.checkEligible(ctx, r, role)
	pm := c.pimMax(ctx, role)
	close(checked)
	slow.Stop()
	if el == notEligible {
		return c.refuseNotEligible(ctx, a, r, who)
	}
	if pm > 0 && r.Duration > pm {
		// PIM's role setting is stricter than Elevate's: offer what PIM will accept.
		_, err := c.change(ctx, r.ID, c.event(a, "request.offered", hm(pm)+" (PIM's maximum)"), func(r *store.Request, out *outbox) error {
			if r.State != store.StateReceived && r.State != store.StateAwaitingSignIn {
				return store.ErrNoChange
			}
			r.Duration, r.State, r.OfferedAt = pm, store.StateReceived, c.now().UTC() // waits for the user's choice
			out.reply(a, offerMessage(*r, limitWords(role, pm, true)))
			return nil
		})
		if errors.Is(err, store.ErrNoChange) {
			return nil
		}
		return err
	}
	if !r.OfferedAt.IsZero() {
		return nil // the offer is on its way: the user's answer moves the request on
	}
	return c.proceed(ctx, r.ID)
}

// resumeReceived runs startRequest again for r, left in received by a process that stopped
// before its next step (no offer was queued for it).
func (c *Core) resumeReceived(ctx context.Context, r store.Request) error {
	if r.Group != 0 {
		// A multi-role request moves as one, from its first item: eligibility and PIM's limits
		// are left to PIM here, which stays the final judge.
		key := fmt.Sprintf("start/%d", r.Group)
		if r.ID != r.Group || !c.claimKey(key) {
			return nil
		}
		defer c.releaseKey(key)
		c.log.Info("resuming a multi-role request whose next step never ran", "request_id", r.ID)
		return c.proceedGroup(ctx, r.Group)
	}
	a := Actor{Platform: r.Platform, ChatUser: r.ChatUser, Name: r.ChatName, Channel: r.Channel, UserID: r.UserID, EmailHint: r.LoginHint}
	role := c.cfg.RoleByID(r.RoleID)
	if role == nil {
		c.log.Warn("a request left in received is for a role no longer configured; it expires at its deadline", "request_id", r.ID)
		return nil
	}
	c.log.Info("resuming a request whose next step never ran", "request_id", r.ID)
	return c.startRequest(ctx, a, r, role)
}

// duplicate says, in the user's words, why a request for role would duplicate one the same person
// already has open, on any platform: waiting for approval, being activated, or active. A request
// still waiting for its sign-in or an offer's answer does not block a new one; supersede ends it.
func (c *Core) duplicate(a Actor, role *policy.Role) (string, bool) {
	if role == nil {
		return "", false
	}
	rs, err := c.mine(a)
	if err != nil {
		c.log.Error("reading open requests", "platform", a.Platform, "chat_user", a.ChatUser, "err", err)
		return "", false
	}
	return c.duplicateIn(rs, a.Platform, role.TemplateID, 0)
}

// duplicateAfterSignIn ends r when its requester, known only now (a first sign-in on this
// platform), already has an open request for the same role from another chat account: Elevate
// could not tell it was the same person when r was made.
func (c *Core) duplicateAfterSignIn(ctx context.Context, r store.Request) (stop bool, err error) {
	if r.UserID == "" || !superseded(r.State) {
		return false, nil // approved requests come back here for their activation's sign-in
	}
	theirs, err := c.store.Requests(store.Filter{UserID: r.UserID, OpenOnly: true})
	if err != nil {
		return false, err
	}
	words, dup := c.duplicateIn(theirs, r.Platform, r.RoleID, r.ID)
	if !dup {
		return false, nil
	}
	_, err = c.change(ctx, r.ID, systemEvent(c.now(), "request.cancelled", "duplicate: "+words), func(x *store.Request, out *outbox) error {
		if !superseded(x.State) || unsettledActivation(*x) {
			return store.ErrNoChange
		}
		x.State = store.StateCancelled
		out.tell(*x, Message{Kind: KindText, Text: words})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return false, nil // it moved on meanwhile; its own path decides
	}
	return true, err
}

// duplicateIn says, in the user's words, which of rs (one person's open requests) a new request
// for roleID from platform would duplicate; except is the new request itself, if stored.
func (c *Core) duplicateIn(rs []store.Request, platform, roleID string, except uint64) (string, bool) {
	for _, r := range rs {
		if r.ID == except || !strings.EqualFold(r.RoleID, roleID) || superseded(r.State) || r.State.Terminal() {
			continue
		}
		a := Actor{Platform: platform}
		where := ""
		if r.Platform != a.Platform {
			where = ", made in " + platformName(r.Platform)
		}
		switch r.State {
		case store.StateActive:
			return fmt.Sprintf("%s is already active for you until %s (#%d%s). Use `/elevate extend 1h` for more time or `/elevate done` to end it.",
				r.RoleName, c.clock(r.EndsAt), r.ID, where), true
		case store.StateAwaitingApproval:
			return fmt.Sprintf("You already have a pending request for %s: #%d%s, waiting for approval (%d of %d). Use `/elevate cancel` to withdraw it first.",
				r.RoleName, r.ID, where, approvals(r), r.ApprovalsNeeded), true
		default:
			return fmt.Sprintf("Your request #%d for %s%s is being activated right now; `/elevate status` shows how it goes.", r.ID, r.RoleName, where), true
		}
	}
	return "", false
}

// superseded says whether a request in state s gives way to a new request for the same role: it
// waits only for its requester (a sign-in, an answer to an offer).
func superseded(s store.State) bool {
	return s == store.StateReceived || s == store.StateAwaitingSignIn
}

// supersede cancels the requester's older requests for the same role that still wait for them, so
// that asking again (a sign-in link that lapsed, another duration) leaves one request open.
func (c *Core) supersede(ctx context.Context, a Actor, r store.Request) {
	rs, err := c.mine(a)
	if err != nil {
		c.log.Error("reading open requests", "request_id", r.ID, "err", err)
		return
	}
	for _, old := range rs {
		if old.ID == r.ID || old.ID > r.ID || !strings.EqualFold(old.RoleID, r.RoleID) || !superseded(old.State) {
			continue
		}
		if old.Group != 0 && old.Group != r.Group {
			c.supersedeGroup(ctx, old, r) // an older multi-role request gives way as a whole
			continue
		}
		_, err := c.update(ctx, old.ID, c.event(a, "request.cancelled", fmt.Sprintf("superseded by #%d", r.ID)), func(x *store.Request) error {
			if !superseded(x.State) || unsettledActivation(*x) {
				return store.ErrNoChange
			}
			x.State = store.StateCancelled
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNoChange) {
			c.log.Error("superseding a request", "request_id", old.ID, "by", r.ID, "err", err)
		}
	}
}

// platformName is how users know a platform.
func platformName(p string) string {
	switch p {
	case "slack":
		return "Slack"
	case "teams":
		return "Teams"
	}
	return p
}

// slowAnswer is how long a request's checks may take before the user is told they are under way:
// Slack shows nothing for a slash command until the first reply.
const slowAnswer = 2 * time.Second

func offerMessage(r store.Request, text string) Message {
	return Message{Kind: KindOffer, RequestID: r.ID, Text: text, Buttons: []Button{
		{Action: ActionUseOffer, Label: "Use " + hm(r.Duration), Value: idValue(r.ID), Style: StylePrimary},
		{Action: ActionCancel, Label: "Cancel", Value: idValue(r.ID)},
	}}
}

func idValue(id uint64) string { return fmt.Sprint(id) }

// proceed moves a received request on: to sign-in, approval or activation.
func (c *Core) proceed(ctx context.Context, id uint64) error {
	r, err := c.store.Request(id)
	if err != nil {
		return err
	}
	if r.Group != 0 {
		return c.proceedGroup(ctx, r.Group)
	}
	if r.State != store.StateReceived && r.State != store.StateAwaitingSignIn {
		return nil
	}
	role := c.cfg.RoleByID(r.RoleID)
	if r.UserID == "" || !c.hasFreshToken(r, role) {
		return c.askSignIn(ctx, r, "", "")
	}
	return c.afterSignIn(ctx, r.ID)
}

func (c *Core) hasFreshToken(r store.Request, role *policy.Role) bool {
	_, ok := c.freshToken(r, role)
	return ok
}

func (c *Core) freshToken(r store.Request, role *policy.Role) (graph.UserToken, bool) {
	var forReq uint64
	if role != nil && role.Tier0 {
		forReq = r.ID // tier-0: a sign-in made for this very request
		if r.Group != 0 {
			forReq = r.Group // … for all the roles of a multi-role request
		}
	}
	return c.tokens.fresh(requesterKey(r), c.cfg.SignInFreshness, forReq, scopeOf(role))
}

// askSignIn puts r into awaiting_sign_in and sends the requester a sign-in link. why says what
// PIM asked for, claims is a step-up claims challenge from PIM (empty for a plain sign-in).
func (c *Core) askSignIn(ctx context.Context, r store.Request, why, claims string) error {
	if r.State == store.StateAwaitingSignIn {
		// Already there (a new request is stored so): no write transaction, which would only
		// queue behind the acknowledgements' writes to find nothing to do.
		return c.sendSignIn(ctx, r, why, claims)
	}
	r, err := c.update(ctx, r.ID, systemEvent(c.now(), "request.awaiting_sign_in", why), func(r *store.Request) error {
		switch r.State {
		case store.StateReceived, store.StateAwaitingApproval, store.StateActivating:
			r.State = store.StateAwaitingSignIn
			return nil
		case store.StateAwaitingSignIn:
			return store.ErrNoChange // a new link below is still useful
		}
		return errNotPending
	})
	if errors.Is(err, errNotPending) {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNoChange) {
		return err
	}
	return c.sendSignIn(ctx, r, why, claims)
}

// sendSignIn sends the requester of r a sign-in link for it.
func (c *Core) sendSignIn(ctx context.Context, r store.Request, why, claims string) error {
	if r.Group != 0 {
		return c.sendSignInGroup(ctx, r, why, claims) // one link for every role of the request
	}
	actor := Actor{Platform: r.Platform, ChatUser: r.ChatUser, Name: r.ChatName, Channel: r.Channel, UserID: r.UserID, EmailHint: r.LoginHint}
	link, err := c.signInLink(ctx, pendingSignIn{purpose: forRequest, requestID: r.ID, actor: actor, claims: claims}, r.UPN)
	if err != nil {
		c.log.Error("sign-in link", "request_id", r.ID, "err", err)
		c.tellLater(ctx, r, Message{Kind: KindError, Text: "I couldn't prepare a Microsoft sign-in link just now. Your request is saved; try `/elevate status` in a minute."})
		return nil
	}
	c.asked.Store(r.ID, struct{}{})
	text := fmt.Sprintf("Sign in with your Microsoft account to activate %s for %s. The link works once, for 10 minutes.", r.RoleName, hm(r.Duration))
	if why != "" {
		text = why + " " + text
	}
	if approvals(r) >= r.ApprovalsNeeded && r.ApprovalsNeeded > 0 {
		text = fmt.Sprintf("Your request for %s was approved. Sign in to activate it now; the link works once, for 10 minutes.", r.RoleName)
		if why != "" {
			text = why + " " + text
		}
	}
	// The link lives in this process's memory: a later run drops it unsent and sends a new one.
	return c.enqueue(ctx, nil, func(out *outbox) error {
		out.send(r.Platform, DM(r.ChatUser), Message{Kind: KindSignIn, RequestID: r.ID, Text: text, Buttons: []Button{{Action: ActionOpenURL, Label: "Sign in", URL: link, Style: StylePrimary}}})
		return nil
	})
}

var errNotPending = errors.New("bot: request is no longer pending")

func (c *Core) signInLink(ctx context.Context, p pendingSignIn, hint string) (string, error) {
	if hint == "" {
		hint = p.actor.EmailHint
	}
	if p.scopes == nil {
		p.scopes = c.scopesFor(p)
	}
	state, challenge := c.signins.add(p)
	return c.graph.SignInURL(ctx, state, challenge, hint, p.claims, p.scopes)
}

// afterSignIn runs once the requester has a fresh token: approval first, then activation.
func (c *Core) afterSignIn(ctx context.Context, id uint64) error {
	r, err := c.store.Request(id)
	if err != nil {
		return err
	}
	if r.Group != 0 {
		return c.afterSignInGroup(ctx, r.Group)
	}
	if stop, err := c.pilotGate(ctx, r); stop {
		return err // known only now for a first sign-in
	}
	if stop, err := c.duplicateAfterSignIn(ctx, r); stop {
		return err
	}
	if r.ApprovalsNeeded > 0 && approvals(r) < r.ApprovalsNeeded {
		// Ask PIM before asking people: what PIM would refuse is answered now, and no
		// approver is asked to approve a request PIM would refuse.
		if ok, err := c.pimWouldAccept(ctx, r); !ok {
			return err
		}
		if !c.waiveOnCall(ctx, r) {
			return c.requestApproval(ctx, r)
		}
	}
	return c.activate(ctx, id)
}

// activate makes the one PIM write: selfActivate with the requester's own token.
func (c *Core) activate(ctx context.Context, id uint64) error {
	return c.activateLeading(ctx, id, nil)
}

// activateLeading is activate for one role of a multi-role request: if *lead is not empty and
// this role's first intent commits, *lead (the request's one "Activating …" line) is queued in
// that transaction and *lead is emptied, so it is said once, and never before an intent.
func (c *Core) activateLeading(ctx context.Context, id uint64, lead *string) error {
	if !c.claim(id) {
		return nil // a write or a look-up for it runs in this process already
	}
	defer c.release(id)
	return c.activateClaimedLeading(ctx, id, lead)
}

// activateClaimed is activate with the request's claim held. Its intent (state activating with
// the write) is committed before the POST: the at-most-once gate, and what Reconcile looks up
// in PIM if the answer never comes.
func (c *Core) activateClaimed(ctx context.Context, id uint64) error {
	return c.activateClaimedLeading(ctx, id, nil)
}

func (c *Core) activateClaimedLeading(ctx context.Context, id uint64, lead *string) error {
	r0, err := c.store.Request(id)
	if err != nil {
		return err
	}
	role := c.cfg.RoleByID(r0.RoleID)
	tok, ok := c.freshToken(r0, role)
	if !ok {
		return c.askSignIn(ctx, r0, "", "")
	}
	now := c.now().UTC()
	start := now
	var prior *store.Write
	legacy := false
	w := store.Write{Action: store.WriteActivate, At: now, By: r0.UserID, Attempts: 1}
	r, err := c.beginWriteWith(ctx, id, systemEvent(now, "request.activating", fmt.Sprintf("intent: selfActivate principal=%s role=%s", r0.UserID, r0.RoleID)), w, func(r *store.Request, w *store.Write, out *outbox) error {
		switch r.State {
		case store.StateReceived, store.StateAwaitingSignIn:
			if r.ApprovalsNeeded > 0 && approvals(*r) < r.ApprovalsNeeded {
				return store.ErrNoChange
			}
		case store.StateAwaitingApproval:
			if approvals(*r) < r.ApprovalsNeeded || pimPending(*r) {
				return store.ErrNoChange
			}
		case store.StateActivating:
			// Only a write PIM showed no trace of is made again, by Reconcile, after looking.
			if r.Write == nil || r.Write.Action != store.WriteActivate {
				return store.ErrNoChange
			}
		default:
			return store.ErrNoChange
		}
		if r.Write != nil && r.Write.Action != store.WriteActivate {
			return store.ErrNoChange
		}
		legacy = r.FailureCode == CodeGraphUnavailable
		if r.Write != nil {
			p := *r.Write
			prior = &p
			// Keep the first intent's time (PIM's record of any earlier write is no older) and
			// count the attempts; the user was told about the retries once.
			w.At, w.Attempts, w.Told = p.At, p.Attempts+1, p.Told
		}
		r.State, r.FailureCode, r.FailureMessage = store.StateActivating, "", ""
		if prior == nil && !legacy && toldAlone(*r) {
			// Told with the intent (one transaction): a crash right after it cannot lose it.
			out.tell(*r, Message{Kind: KindProgress, Text: fmt.Sprintf("Activating %s for %s in PIM…", r.RoleName, hm(r.Duration))})
		}
		if prior == nil && lead != nil && *lead != "" && !toldAlone(*r) {
			h := *r
			h.ID = r.Group // the request's line: named by its first id, as its other lines are
			out.tell(h, Message{Kind: KindProgress, Text: *lead})
		}
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	if prior == nil && lead != nil && !toldAlone(r) {
		*lead = "" // said, with this intent
	}
	if prior != nil || legacy {
		// An earlier write may have gone through: look before writing again, so a role is
		// never requested twice.
		says, err := c.lookActivation(ctx, r)
		switch {
		case err != nil && graph.Transient(err):
			return c.writeUnknown(ctx, r, err)
		case err != nil:
			c.log.Warn("looking before a retried activation", "request_id", r.ID, "err", err)
		case says.active:
			return c.activeNow(ctx, id, graph.Activation{RequestID: says.request, Status: "Provisioned"}, says.start, says.end,
				systemEvent(c.now(), "request.reconciled", "found active before writing again"))
		case says.pending() != "":
			return c.pimApprovalPendingEv(ctx, id, graph.Activation{RequestID: says.request, Status: "PendingApproval"},
				systemEvent(c.now(), "request.reconciled", "waiting for PIM's approval: "+says.request))
		}
	}
	if role != nil && role.Tier0 && r.Group == 0 {
		c.tokens.drop(requesterKey(r)) // tier-0: one sign-in, one activation (activateGroup: one request's)
	}
	var act graph.Activation
	err = c.pimCall(ctx, func(ctx context.Context) error {
		var err error
		// No start time is sent: PIM starts the activation when it takes it (its clock, not
		// ours); Elevate's clock for it starts now.
		act, err = c.activateGraph(ctx, tok, r, role, time.Time{})
		return err
	})
	switch {
	case err == nil && act.Status == "PendingApproval":
		return c.pimApprovalPending(ctx, id, act)
	case err == nil:
		return c.markActive(ctx, id, act, start, "")
	case (prior != nil || legacy) && errors.Is(err, graph.ErrRoleAssignmentExists):
		// PIM refuses a second activation: the earlier write had gone through, PIM had not
		// shown it yet.
		says, _ := c.lookActivation(ctx, r)
		if p := says.pending(); p != "" {
			return c.pimApprovalPendingEv(ctx, id, graph.Activation{RequestID: p, Status: "PendingApproval"},
				systemEvent(c.now(), "request.reconciled", "PIM refuses a second activation: waiting for PIM's approval of "+p))
		}
		if !says.active {
			says.start, says.end = start, time.Time{}
		}
		return c.activeNow(ctx, id, graph.Activation{RequestID: says.request, Status: "Provisioned"}, says.start, says.end,
			systemEvent(c.now(), "request.reconciled", "PIM refuses a second activation: the earlier write had gone through"))
	case graph.Transient(err):
		return c.writeUnknown(ctx, r, err)
	}
	return c.activationFailed(ctx, r, err)
}

func (c *Core) waitUsable(ctx context.Context, r store.Request) error {
	wctx, cancel := context.WithTimeout(ctx, c.usable)
	defer cancel()
	if _, err := c.graph.WaitUsable(wctx, r.UserID, r.RoleID); err != nil {
		c.log.Warn("activation not visible yet", "request_id", r.ID, "err", err)
		c.tellLater(ctx, r, Message{Kind: KindProgress, Text: fmt.Sprintf("PIM has granted %s but it is not visible yet; this can take a few minutes. Sign out and in again if an admin portal still says no.", r.RoleName)})
		return nil
	}
	c.tellLater(ctx, r, Message{Kind: KindResult, Text: fmt.Sprintf("%s is usable now (until %s).", r.RoleName, c.clock(r.EndsAt))})
	return nil
}

// announce queues the activation's line for the security channel.
func (c *Core) announce(out *outbox, r store.Request) {
	text := fmt.Sprintf("%s activated %s for %s (until %s): %s", nameOf(r), r.RoleName, hm(r.Duration), c.clock(r.EndsAt), r.Justification)
	out.alert(cmpOr(r.Platform, c.firstPlatform()), Message{Kind: KindAlert, RequestID: r.ID, Text: text})
}

func nameOf(r store.Request) string {
	switch {
	case r.UPN != "":
		return r.UPN
	case r.ChatName != "":
		return r.ChatName
	}
	return r.ChatUser
}

// activationFailed turns a PIM refusal into the user's words and the right next state.
func (c *Core) activationFailed(ctx context.Context, r store.Request, err error) error {
	var ge *graph.Error
	errors.As(err, &ge)
	c.log.Warn("activation refused", "request_id", r.ID, "err", err)
	this := "this role"
	if r.Group != 0 {
		this = r.RoleName // one role of several
	}
	switch {
	case errors.Is(err, graph.ErrAcrsRequired):
		c.tokens.drop(requesterKey(r))
		claims := ""
		if ge != nil {
			claims = ge.Claims
		}
		return c.askSignIn(ctx, r, "PIM asks for a stronger sign-in for "+this+" (Conditional Access authentication context).", claims)
	case errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "MfaRule":
		c.tokens.drop(requesterKey(r))
		return c.askSignIn(ctx, r, "PIM needs a sign-in with multi-factor authentication for "+this+".", "")
	}
	code, words := c.refusal(ctx, r, err)
	_, uerr := c.change(ctx, r.ID, systemEvent(c.now(), "request.failed", code), func(r *store.Request, out *outbox) error {
		if r.State != store.StateActivating {
			return store.ErrNoChange
		}
		r.State, r.FailureCode, r.FailureMessage, r.Write = store.StateFailed, code, words, nil
		if toldAlone(*r) {
			out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("%s was not activated. %s", r.RoleName, words)})
		}
		out.cards(*r)
		return nil
	})
	if errors.Is(uerr, store.ErrNoChange) {
		return nil
	}
	return uerr
}

// refusal is PIM's refusal err as a failure code for the record and words for the requester.
func (c *Core) refusal(ctx context.Context, r store.Request, err error) (code, words string) {
	var ge *graph.Error
	errors.As(err, &ge)
	code, words = "graph_error", graphWords(err)
	if ge != nil && ge.Code != "" {
		code = ge.Code
		if ge.Rule != "" {
			code += "/" + ge.Rule
		}
	}
	switch {
	case errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "ExpirationRule":
		words = fmt.Sprintf("PIM allows less than %s for %s. Ask again with a shorter duration.", hm(r.Duration), r.RoleName)
		if pm := c.pimMax(ctx, c.cfg.RoleByID(r.RoleID)); pm > 0 && pm < r.Duration {
			words = fmt.Sprintf("%s allows at most %s in PIM. Ask again for %s or less.", r.RoleName, hm(pm), hm(pm))
		}
	case errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "EligibilityRule":
		words = fmt.Sprintf("You are not eligible for %s in PIM. A PIM administrator can make you eligible.", r.RoleName)
	case errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "JustificationRule":
		words = fmt.Sprintf("PIM needs a justification for %s. Ask again and say why.", r.RoleName)
	case errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "TicketingRule":
		words = fmt.Sprintf("PIM needs a ticket number for %s. Ask again with the ticket in your reason, e.g. INC-1234.", r.RoleName)
	case errors.Is(err, graph.ErrRoleAssignmentExists):
		words = fmt.Sprintf("%s is already active for you, or another request for it is pending in PIM. See `/elevate status`.", r.RoleName)
	}
	return code, words
}

// throttledWait says how long to wait after Graph throttled err: its Retry-After rounded up to
// the next minute, or "a minute" without one.
func throttledWait(err error) string {
	var ge *graph.Error
	if errors.As(err, &ge) && ge.RetryAfter > 0 {
		return hm(ge.RetryAfter.Round(time.Minute) + time.Minute)
	}
	return "a minute"
}

// graphWords says in plain words what a Graph failure means for the user.
func graphWords(err error) string {
	var ge *graph.Error
	switch {
	case errors.Is(err, graph.ErrThrottled):
		return "Microsoft Graph is busy (throttled). Try again in " + throttledWait(err) + "."
	case errors.Is(err, graph.ErrForbidden), errors.Is(err, graph.ErrUnauthorized):
		return "Microsoft Graph refused the call (permissions). An administrator can run `elevate check`."
	case errors.Is(err, context.Canceled):
		// Elevate was stopping: whether a write got through is looked up, never assumed.
		return "Elevate was interrupted before Microsoft Graph answered."
	case errors.Is(err, context.DeadlineExceeded):
		return "Microsoft Graph did not answer in time."
	}
	if errors.As(err, &ge) && ge.Code != "" && ge.Status < 500 {
		return "PIM refused it (" + ge.Code + "). An administrator can find the details in the log."
	}
	// No answer, or a 5xx: a write may or may not have been made, so nothing is claimed.
	return "Microsoft Graph could not be reached."
}

// Expire ends what has run out: pending requests past their deadline become expired, active ones
// past their end become ended. A scheduler calls it every minute; it is safe to call any time.
func (c *Core) Expire(ctx context.Context) error {
	// Graph work (look-ups, retried writes, the comparison with PIM) runs in the background,
	// a few at a time: the sweep itself never waits for Graph.
	if err := c.Reconcile(ctx); err != nil {
		c.log.Error("reconciling requests with PIM", "err", err)
	}
	c.syncActive(ctx)
	rs, err := c.store.Requests(store.Filter{OpenOnly: true})
	if err != nil {
		return err
	}
	c.remind(ctx, rs)
	now := c.now()
	for _, r := range rs {
		c.ensureCard(ctx, r)
		if c.sweepExtension(ctx, r) {
			continue // a follow-up activation the requester asked for with `extend` is due or on its way
		}
		var to store.State
		switch {
		case pending(r.State) && r.Write != nil:
			// A PIM write for it may have gone through: Reconcile looks before anything ends.
			continue
		case pending(r.State) && !r.ExpiresAt.IsZero() && now.After(r.ExpiresAt):
			to = store.StateExpired
		case r.State == store.StateActive && !r.EndsAt.IsZero() && !now.Before(r.EndsAt):
			to = store.StateEnded
		default:
			continue
		}
		if to == store.StateExpired && r.Group != 0 {
			// A multi-role request expires as one: one transaction, one message.
			if err := c.expireGroup(ctx, r.Group, now); err != nil {
				return err
			}
			continue
		}
		from := r.State
		_, err := c.change(ctx, r.ID, systemEvent(now, "request."+string(to), ""), func(r *store.Request, out *outbox) error {
			if r.State != from || to == store.StateExpired && r.Write != nil {
				return store.ErrNoChange
			}
			r.State, r.Write = to, nil
			if to == store.StateExpired {
				out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("Your request for %s expired without a decision. Ask again if you still need it.", r.RoleName)})
			} else {
				out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("%s has ended.", r.RoleName)})
			}
			out.cards(*r)
			return nil
		})
		if errors.Is(err, store.ErrNoChange) {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Core) mismatch(ctx context.Context, a Actor, err error) error {
	if !errors.Is(err, errBindingMismatch) {
		return err
	}
	c.alertMismatch(ctx, a, "")
	c.reply(ctx, a, Message{Kind: KindError, Text: "This chat account is linked to a different Microsoft account than the one you are using. The security team has been told; ask them to sort it out."})
	return nil
}

func (c *Core) alertMismatch(ctx context.Context, a Actor, got string) {
	c.log.Warn("identity binding mismatch", "platform", a.Platform, "chat_user", a.ChatUser, "user_id", a.UserID, "signed_in_as", got)
	if c.cfg.Channels.Security != "" {
		text := fmt.Sprintf("Identity mismatch: chat user %s (%s) signed in as a different Microsoft account %s than the one it is linked to. Nothing was activated.",
			a.ChatUser, a.Platform, strings.TrimSpace(got))
		_ = c.enqueue(ctx, nil, func(out *outbox) error {
			out.alert(a.Platform, Message{Kind: KindAlert, Text: text})
			return nil
		})
	}
}
