package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Several roles in one request: `/elevate exchange,sharepoint 4h fixing mail flow`.
//
// The request is stored as one item per role (store/multi.go): each item has its own state, PIM
// write intent, reconciliation, extension and `done`, exactly as a single-role request, so a crash
// between two activations leaves two intents that Reconcile settles one by one. What is one for
// the request is decided once and written to every item together (store.UpdateGroup):
//
//   - the rule: approvals by the strictest role (the largest N of N-of-M; a tier-0 role makes the
//     approvers' sign-in per request), on-call auto-approval only when every role's rule waives;
//   - the requester's sign-in (one link; tier-0: made for this request) and PIM's dry run of every
//     role before any approver is asked: what PIM would refuse stops the request before the card;
//   - one card, for the first item, listing every role; one approval decision, recorded on every
//     item in one transaction (an approver must be an approver of every role that needs approval);
//   - then one PIM activation per role, each its own intent; the requester hears one account of
//     them: one "Activating …", when the last one settles one line for all ("Exchange
//     Administrator active until 14:00; SharePoint Administrator refused by PIM: …"), one
//     "… are usable now";
//   - a role PIM itself requires approval for is decided in PIM on its own, as a single role's
//     PIM step is: its own buttons on the card, its own lines to the requester (toldAlone).

// acceptGroup decides and stores a request for several roles; the job it returns moves it on.
func (c *Core) acceptGroup(a Actor, cmd policy.Command, once Once) (Job, error) {
	answer := func(text string, kind Kind) (Job, error) {
		if err := c.firstSeen(once); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { c.reply(ctx, a, Message{Kind: kind, Text: text}); return nil }, nil
	}
	who, _, err := c.identity(a)
	if err != nil {
		if err := c.firstSeen(once); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return c.mismatch(ctx, a, err) }, nil
	}
	names := policy.RoleNames(cmd.Roles)
	for _, role := range cmd.Roles {
		if words, dup := c.duplicate(a, role); dup {
			return answer(words+" Ask again without "+role.Name+".", KindText)
		}
	}
	now := c.now()
	items := make([]store.Request, 0, len(cmd.Roles))
	evs := make([]store.AuditRecord, 0, len(cmd.Roles))
	need, expires, tier0 := 0, time.Time{}, false
	for _, role := range cmd.Roles {
		one := cmd
		one.Role, one.Roles = role, nil
		dec := c.cfg.Decide(one, who, now)
		if !dec.Allowed {
			why := "Elevate's policy does not allow it."
			if dec.Problem != nil {
				why = strings.TrimSuffix(dec.Problem.Message, ".") + "."
			}
			if m := offerRe.FindStringSubmatchIndex(why); m != nil && dec.Problem.Offer > 0 {
				// "… at most 8h — use 8h?" offers a click a multi-role request does not have.
				return answer(fmt.Sprintf("Nothing was requested: %s; ask again for %s or less.", why[:m[0]], why[m[2]:m[3]]), KindError)
			}
			return answer(fmt.Sprintf("Nothing was requested: %s %s", why, againWithout(cmd.Roles, role)), KindError)
		}
		need = max(need, dec.Approvals)
		if expires.IsZero() || dec.ExpiresAt.Before(expires) {
			expires = dec.ExpiresAt
		}
		tier0 = tier0 || role.Tier0
		items = append(items, store.Request{
			Platform: a.Platform, ChatUser: a.ChatUser, ChatName: a.Name, Channel: a.Channel, LoginHint: a.EmailHint,
			UserID: who.ObjectID, UPN: who.UPN,
			RoleID: role.TemplateID, RoleName: role.Name,
			Duration: dec.Duration, Justification: cmd.Justification, Ticket: dec.Ticket,
			State: store.StateReceived, CreatedAt: now.UTC(),
		})
		evs = append(evs, c.event(a, "request.created", fmt.Sprintf("role=%q duration=%s with=%q", role.Name, hm(dec.Duration), names)))
	}
	for i := range items {
		// The strictest rule for all: the largest N, the earliest expiry.
		items[i].ApprovalsNeeded, items[i].ExpiresAt = need, expires.UTC()
		if items[i].UserID == "" || tier0 || !c.hasFreshToken(items[i], cmd.Roles[i]) {
			items[i].State = store.StateAwaitingSignIn
		}
	}
	rs, err := c.store.CreateRequestsOnce(items, evs, once)
	if err != nil {
		return nil, err
	}
	head := rs[0].ID
	c.log.Info("multi-role request created", "request_id", head, "platform", a.Platform, "roles", names)
	return func(ctx context.Context) error {
		for _, r := range rs {
			c.supersede(ctx, a, r)
		}
		for _, r := range rs {
			if stop, err := c.pilotGate(ctx, r); stop {
				return errors.Join(err, c.endGroup(ctx, head, store.StateCancelled, "pilot", nil, "Nothing was requested."))
			}
		}
		for _, r := range rs {
			c.notify(ctx, r)
		}
		// Before anyone signs in: eligibility and PIM's maximum of every role.
		for i, r := range rs {
			role := cmd.Roles[i]
			if el, who := c.checkEligible(ctx, r, role); el == notEligible {
				words := fmt.Sprintf("You are not eligible for %s in PIM (checked for %s). A PIM administrator can make you eligible; `/elevate roles` lists what you can activate.", role.Name, who)
				return c.endGroup(ctx, head, store.StateFailed, CodeNotEligible, map[uint64]string{r.ID: words},
					"Nothing was requested: "+words+" "+againWithout(cmd.Roles, role))
			}
			if pm := c.pimMax(ctx, role); pm > 0 && r.Duration > pm {
				words := fmt.Sprintf("%s allows at most %s in PIM.", role.Name, hm(pm))
				return c.endGroup(ctx, head, store.StateFailed, "duration_over_pim_max", map[uint64]string{r.ID: words},
					fmt.Sprintf("Nothing was requested: %s Ask again for %s or less.", words, hm(pm)))
			}
		}
		return c.proceedGroup(ctx, head)
	}, nil
}

// offerRe is the end of a decision's offer: " — use 8h?".
var offerRe = regexp.MustCompile(` — use (\S+)\?\.?$`)

// againWithout is the advice after one role of a multi-role request stopped it.
func againWithout(roles []*policy.Role, bad *policy.Role) string {
	var rest []string
	for _, r := range roles {
		if r != bad {
			rest = append(rest, r.Alias())
		}
	}
	if len(rest) == 0 {
		return ""
	}
	return fmt.Sprintf("Ask again without %s, e.g. `/elevate %s …`.", bad.Name, strings.Join(rest, ","))
}

// groupOf returns the items of r's multi-role request (nil for a single-role request).
func (c *Core) groupOf(r store.Request) ([]store.Request, error) {
	if r.Group == 0 {
		return nil, nil
	}
	return c.store.GroupRequests(r.Group)
}

// changeGroup is change for every item of a multi-role request: one transaction.
func (c *Core) changeGroup(ctx context.Context, head uint64, ev store.AuditRecord, fn func(rs []*store.Request, out *outbox) error) ([]store.Request, error) {
	var added []store.OutboxItem
	rs, err := c.store.UpdateGroup(head, ev, func(rs []*store.Request, ob *store.Outbox) error {
		o := &outbox{c: c, ob: ob}
		if err := fn(rs, o); err != nil {
			return err
		}
		if o.err != nil {
			return o.err
		}
		added = ob.Added()
		return nil
	})
	if err == nil {
		for _, r := range rs {
			c.notify(ctx, r)
		}
		c.flush(ctx, added)
	}
	return rs, err
}

// endGroup ends every still-pending item of a multi-role request (state failed or cancelled):
// the item a reason names gets it as its failure, the others "not asked for". The requester gets
// one message, text.
func (c *Core) endGroup(ctx context.Context, head uint64, state store.State, code string, why map[uint64]string, text string) error {
	_, err := c.changeGroup(ctx, head, systemEvent(c.now(), "request."+string(state), code), func(rs []*store.Request, out *outbox) error {
		n := 0
		for _, r := range rs {
			if !pending(r.State) || unsettledActivation(*r) {
				continue
			}
			r.State, r.FailureCode, r.FailureMessage = state, code, why[r.ID]
			if r.FailureMessage == "" {
				r.FailureCode, r.FailureMessage = "not_asked", "not asked for: another role of the same request stopped it"
			}
			n++
		}
		if n == 0 {
			return store.ErrNoChange
		}
		if text != "" {
			out.tell(*rs[0], Message{Kind: KindResult, Text: text})
		}
		out.cards(*rs[0])
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// proceedGroup moves a received multi-role request on: to the one sign-in, or past it.
func (c *Core) proceedGroup(ctx context.Context, head uint64) error {
	rs, err := c.store.GroupRequests(head)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(rs, func(r store.Request) bool { return superseded(r.State) }) {
		return nil
	}
	if !c.groupSignedIn(rs) {
		return c.askSignInGroup(ctx, rs, "", "")
	}
	return c.afterSignInGroup(ctx, head)
}

// groupSignedIn says whether the requester holds a token fresh enough for every role.
func (c *Core) groupSignedIn(rs []store.Request) bool {
	for _, r := range rs {
		if r.UserID == "" || !c.hasFreshToken(r, c.cfg.RoleByID(r.RoleID)) {
			return false
		}
	}
	return true
}

// askSignInGroup puts the items still waiting for their requester into awaiting_sign_in and
// sends one sign-in link for all of them.
func (c *Core) askSignInGroup(ctx context.Context, rs []store.Request, why, claims string) error {
	if slices.ContainsFunc(rs, func(r store.Request) bool { return r.State == store.StateReceived }) {
		got, err := c.changeGroup(ctx, rs[0].ID, systemEvent(c.now(), "request.awaiting_sign_in", why), func(xs []*store.Request, out *outbox) error {
			for _, x := range xs {
				if x.State == store.StateReceived {
					x.State = store.StateAwaitingSignIn
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNoChange) {
			return err
		}
		rs = got
	}
	return c.sendSignInGroup(ctx, rs[0], why, claims)
}

// sendSignInGroup sends the requester of a multi-role request one sign-in link for all its roles.
func (c *Core) sendSignInGroup(ctx context.Context, head store.Request, why, claims string) error {
	rs, err := c.store.GroupRequests(head.Group)
	if err != nil {
		return err
	}
	if head.ID != rs[0].ID && rs[0].State == store.StateAwaitingSignIn {
		return nil // the first item waits for the same sign-in: its link is the one (Reconcile goes through every item)
	}
	head = rs[0]
	actor := Actor{Platform: head.Platform, ChatUser: head.ChatUser, Name: head.ChatName, Channel: head.Channel, UserID: head.UserID, EmailHint: head.LoginHint}
	link, err := c.signInLink(ctx, pendingSignIn{purpose: forRequest, requestID: head.ID, actor: actor, claims: claims}, head.UPN)
	if err != nil {
		c.log.Error("sign-in link", "request_id", head.ID, "err", err)
		c.tellLater(ctx, head, Message{Kind: KindError, Text: "I couldn't prepare a Microsoft sign-in link just now. Your request is saved; try `/elevate status` in a minute."})
		return nil
	}
	var waiting []store.Request // the roles the sign-in is for: not those active or over already
	for _, r := range rs {
		c.asked.Store(r.ID, struct{}{})
		if pending(r.State) && r.State != store.StateActive {
			waiting = append(waiting, r)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	text := fmt.Sprintf("Sign in with your Microsoft account to activate %s. One sign-in covers every role of this request; the link works once, for 10 minutes.", c.groupRoles(waiting))
	if w := waiting[0]; approvals(w) >= w.ApprovalsNeeded && w.ApprovalsNeeded > 0 {
		text = fmt.Sprintf("Your request for %s was approved. Sign in to activate it now; the link works once, for 10 minutes.", c.groupRoles(waiting))
	}
	if why != "" {
		text = why + " " + text
	}
	return c.enqueue(ctx, nil, func(out *outbox) error {
		out.send(head.Platform, DM(head.ChatUser), Message{Kind: KindSignIn, RequestID: head.ID, Text: text, Buttons: []Button{{Action: ActionOpenURL, Label: "Sign in", URL: link, Style: StylePrimary}}})
		return nil
	})
}

// groupRoles names a multi-role request's roles with their durations: "Exchange Administrator
// and SharePoint Administrator for 4h", or each with its own when they differ.
func (c *Core) groupRoles(rs []store.Request) string {
	var ns []string
	same := true
	for _, r := range rs {
		ns = append(ns, r.RoleName)
		same = same && r.Duration == rs[0].Duration
	}
	if same {
		return policy.JoinAnd(ns) + " for " + hm(rs[0].Duration)
	}
	ns = ns[:0]
	for _, r := range rs {
		ns = append(ns, r.RoleName+" for "+hm(r.Duration))
	}
	return policy.JoinAnd(ns)
}

// signedInGroup records who signed in for a multi-role request on every item, decides each role
// again now that the requester is known, and moves the request on.
func (c *Core) signedInGroup(ctx context.Context, head uint64, userID, upn string) error {
	rs, err := c.changeGroup(ctx, head, systemEvent(c.now(), "request.signed_in", userID), func(xs []*store.Request, out *outbox) error {
		for _, x := range xs {
			x.UserID, x.UPN = userID, upn
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNoChange) {
		return err
	}
	for _, r := range rs {
		if role := c.cfg.RoleByID(r.RoleID); role != nil && pending(r.State) {
			if refusal := c.recheck(r, role); refusal != "" {
				return c.endGroup(ctx, head, store.StateFailed, "policy", map[uint64]string{r.ID: refusal},
					fmt.Sprintf("Nothing was requested: %s %s", strings.TrimSuffix(refusal, ".")+".", againWithout(c.groupPolicyRoles(rs), role)))
			}
		}
	}
	return c.afterSignInGroup(ctx, head)
}

func (c *Core) groupPolicyRoles(rs []store.Request) []*policy.Role {
	var roles []*policy.Role
	for _, r := range rs {
		if role := c.cfg.RoleByID(r.RoleID); role != nil {
			roles = append(roles, role)
		}
	}
	return roles
}

// afterSignInGroup runs once the requester of a multi-role request has a fresh token: PIM's dry
// run of every role, then the approval (or on-call waiver) for all, then one activation per role.
func (c *Core) afterSignInGroup(ctx context.Context, head uint64) error {
	rs, err := c.store.GroupRequests(head)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if stop, err := c.pilotGate(ctx, r); stop {
			return errors.Join(err, c.endGroup(ctx, head, store.StateCancelled, "pilot", nil, "Nothing was requested."))
		}
	}
	if words, dup := c.groupDuplicate(rs); dup {
		return c.endGroup(ctx, head, store.StateCancelled, "duplicate", nil, words)
	}
	h := rs[0]
	if h.ApprovalsNeeded > 0 && approvals(h) < h.ApprovalsNeeded && slices.ContainsFunc(rs, func(r store.Request) bool { return superseded(r.State) }) {
		// Ask PIM before asking people, for every role.
		why := map[uint64]string{}
		var lines []string
		for _, r := range rs {
			if !superseded(r.State) {
				continue
			}
			role := c.cfg.RoleByID(r.RoleID)
			err := c.dryRun(ctx, r, role)
			var ge *graph.Error
			errors.As(err, &ge)
			switch {
			case err == nil:
				continue
			case errors.Is(err, graph.ErrAcrsRequired):
				c.tokens.drop(requesterKey(r))
				claims := ""
				if ge != nil {
					claims = ge.Claims
				}
				return c.askSignInGroup(ctx, rs, fmt.Sprintf("PIM asks for a stronger sign-in for %s (Conditional Access authentication context).", r.RoleName), claims)
			case errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "MfaRule":
				c.tokens.drop(requesterKey(r))
				return c.askSignInGroup(ctx, rs, fmt.Sprintf("PIM needs a sign-in with multi-factor authentication for %s.", r.RoleName), "")
			case !errors.Is(err, graph.ErrPolicyValidation) && !errors.Is(err, graph.ErrRoleAssignmentExists):
				c.log.Warn("PIM's dry run failed; asking approvers anyway", "request_id", r.ID, "err", err)
				continue
			}
			_, words := c.refusal(ctx, r, err)
			why[r.ID] = words
			lines = append(lines, fmt.Sprintf("%s: refused by PIM: %s", r.RoleName, words))
		}
		if len(why) > 0 {
			return c.endGroup(ctx, head, store.StateFailed, "pim_dry_run", why,
				"Nothing was requested, and no approver was asked: PIM would refuse part of it.\n"+strings.Join(lines, "\n"))
		}
		if !c.waiveOnCallGroup(ctx, rs) {
			return c.requestApprovalGroup(ctx, head)
		}
	}
	return c.activateGroup(ctx, head)
}

// groupDuplicate says whether the requester, known now, already has one of the roles open in
// another request (from another chat account).
func (c *Core) groupDuplicate(rs []store.Request) (string, bool) {
	h := rs[0]
	if h.UserID == "" {
		return "", false
	}
	theirs, err := c.store.Requests(store.Filter{UserID: h.UserID, OpenOnly: true})
	if err != nil {
		c.log.Error("reading open requests", "request_id", h.ID, "err", err)
		return "", false
	}
	theirs = slices.DeleteFunc(theirs, func(x store.Request) bool { return x.Group == h.Group })
	for _, r := range rs {
		if !superseded(r.State) {
			continue
		}
		if words, dup := c.duplicateIn(theirs, r.Platform, r.RoleID, 0); dup {
			return words, true
		}
	}
	return "", false
}

// waiveOnCallGroup waives the approval of a multi-role request when every role's on-call rule
// waives it for the requester; any role without one, or whose check says no, leaves it to people.
func (c *Core) waiveOnCallGroup(ctx context.Context, rs []store.Request) bool {
	name := firstNonEmpty(strings.Split(rs[0].UPN, "@")[0], rs[0].ChatName, "the requester")
	var words []string
	note := ""
	for _, r := range rs {
		role := c.cfg.RoleByID(r.RoleID)
		if role != nil && role.Approval.Required == 0 {
			continue // needs no approval, so no waiver
		}
		if role == nil || role.Approval.OnCall == nil || (role.Tier0 && !role.Approval.OnCall.Tier0) {
			if len(words) > 0 || slices.ContainsFunc(rs, func(x store.Request) bool { return c.hasOnCall(x) }) {
				note = fmt.Sprintf("%s has no on-call waiver, so approvers decide for the whole request.", r.RoleName)
			}
			words = nil
			break
		}
		ans, err := c.askOnCall(ctx, r, role.Approval.OnCall)
		if err != nil {
			c.log.Warn("on-call check failed; asking approvers", "request_id", r.ID, "provider", role.Approval.OnCall.Provider, "err", err)
			note, words = fmt.Sprintf("Could not check whether %s is on call for %s (%s), so approvers decide.", name, r.RoleName, onCallWords(err, role.Approval.OnCall.Provider)), nil
			break
		}
		if !ans.OnCall {
			note, words = fmt.Sprintf("%s is %s for %s, so approvers decide.", name, ans.Reason, r.RoleName), nil
			break
		}
		words = append(words, fmt.Sprintf("%s (%s)", r.RoleName, ans.Words()))
	}
	if note == "" && len(words) == 0 {
		return false
	}
	waived := ""
	action, detail := "request.oncall_checked", note
	if len(words) > 0 {
		waived = fmt.Sprintf("%s is on call for %s", name, policy.JoinAnd(words))
		action, detail = "request.auto_approved", "auto-approved: "+waived
	}
	_, err := c.changeGroup(ctx, rs[0].ID, systemEvent(c.now(), action, detail), func(xs []*store.Request, out *outbox) error {
		for _, x := range xs {
			if !superseded(x.State) {
				return store.ErrNoChange
			}
			x.Waived, x.OnCallNote = waived, note
		}
		if waived != "" {
			out.card(*xs[0])
			out.tell(*xs[0], Message{Kind: KindProgress, Text: fmt.Sprintf("No approval needed: %s. Activating %s now.", waived, c.groupRoles(derefs(xs)))})
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, store.ErrNoChange) {
			c.log.Error("recording the on-call check", "request_id", rs[0].ID, "err", err)
		}
		return false
	}
	return waived != ""
}

func (c *Core) hasOnCall(r store.Request) bool {
	role := c.cfg.RoleByID(r.RoleID)
	return role != nil && role.Approval.OnCall != nil
}

func derefs(xs []*store.Request) []store.Request {
	rs := make([]store.Request, len(xs))
	for i, x := range xs {
		rs[i] = *x
	}
	return rs
}

// requestApprovalGroup puts every item into awaiting_approval and posts the one card.
func (c *Core) requestApprovalGroup(ctx context.Context, head uint64) error {
	_, err := c.changeGroup(ctx, head, systemEvent(c.now(), "request.awaiting_approval", ""), func(xs []*store.Request, out *outbox) error {
		n := 0
		for _, x := range xs {
			if superseded(x.State) {
				x.State = store.StateAwaitingApproval
				n++
			}
		}
		if n == 0 {
			return store.ErrNoChange
		}
		h := *xs[0]
		out.then(out.card(h)).tell(h, Message{Kind: KindProgress, Text: fmt.Sprintf("Your request for %s needs %d approval%s (the strictest rule of its roles); I've asked in %s. It expires at %s if nobody decides.",
			c.groupRoles(derefs(xs)), h.ApprovalsNeeded, plural(h.ApprovalsNeeded), channelAt(c.approvalChannel(h)), c.clock(h.ExpiresAt))})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// activateGroup makes one PIM activation per role, one after the other, each with its own intent
// (activate): a crash between two leaves each item's intent for Reconcile.
func (c *Core) activateGroup(ctx context.Context, head uint64) error {
	rs, err := c.store.GroupRequests(head)
	if err != nil {
		return err
	}
	var next []store.Request // what this activates: one "Activating …" line for them all
	begun := false           // a role's write was begun: the line went with its intent
	for _, r := range rs {
		if (r.State == store.StateReceived || r.State == store.StateAwaitingSignIn || r.State == store.StateAwaitingApproval) && r.Write == nil && !pimPending(r) && !toldAlone(r) {
			next = append(next, r)
		}
		begun = begun || !toldAlone(r) && (r.Write != nil || r.State == store.StateActivating || r.State == store.StateActive)
	}
	lead := "" // told with the first intent that commits (activateLeading): never before one, never twice
	if len(next) > 0 && !begun {
		lead = fmt.Sprintf("Activating %s in PIM…", c.groupRoles(next))
	}
	var errs []error
	tier0 := false
	for _, r := range rs {
		if role := c.cfg.RoleByID(r.RoleID); role != nil && role.Tier0 {
			tier0 = true
		}
		if err := c.activateLeading(ctx, r.ID, &lead); err != nil {
			errs = append(errs, fmt.Errorf("request %d: %w", r.ID, err))
		}
	}
	if tier0 {
		c.tokens.drop(requesterKey(rs[0])) // tier-0: one sign-in, one request's activations
	}
	return errors.Join(errs...)
}

// decideGroup records an approver's decision on a multi-role request: once, on every item, in one
// transaction. The approver must be an approver of every role whose rule asks for approval (a role
// without approvers adds no constraint); a tier-0 role among them makes it need a sign-in for this
// request.
func (c *Core) decideGroup(ctx context.Context, a Actor, head uint64, action Action, reason string) error {
	rs, err := c.store.GroupRequests(head)
	if err != nil {
		return err
	}
	h := rs[0]
	// PIM's own approval is per role: each role waiting for it has its own buttons on the card
	// (decide sends their clicks to decidePIM). The request's number names one only when it is
	// the only one waiting.
	if waiting := pimWaiting(rs); len(waiting) > 0 && !slices.ContainsFunc(rs, func(r store.Request) bool {
		return r.State == store.StateAwaitingApproval && !pimPending(r) && approvals(r) < r.ApprovalsNeeded
	}) {
		if len(waiting) == 1 {
			return c.decidePIM(ctx, a, rs[slices.IndexFunc(rs, pimPending)], action, reason)
		}
		var which []string
		for _, r := range rs {
			if pimPending(r) {
				which = append(which, fmt.Sprintf("`%s %d` for %s", action, r.ID, r.RoleName))
			}
		}
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("PIM itself requires approval for %s of request #%d, each decided on its own: use that role's buttons on the card, or %s.", policy.JoinAnd(waiting), h.ID, strings.Join(which, ", "))})
		return nil
	}
	if !slices.ContainsFunc(rs, func(r store.Request) bool {
		return r.State == store.StateAwaitingApproval && approvals(r) < r.ApprovalsNeeded
	}) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("Request #%d is already %s.", h.ID, stateWords(h))})
		return nil
	}
	if a.Platform == h.Platform && a.ChatUser == h.ChatUser {
		c.refuseSelf(a, h)
		c.reply(ctx, a, Message{Kind: KindError, Text: "You can't approve or deny your own request."})
		return nil
	}
	var roles []*policy.Role // the roles whose rule asks for approvers: who approves must be one of each
	tier0 := false
	for _, r := range rs {
		role := c.cfg.RoleByID(r.RoleID)
		if role == nil {
			c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("%s is no longer in Elevate's configuration, so nobody can approve this request here.", r.RoleName)})
			return nil
		}
		if role.Approval.Required > 0 {
			roles = append(roles, role)
		}
		tier0 = tier0 || role.Tier0
	}
	who, known, err := c.identity(a)
	if err != nil {
		return c.mismatch(ctx, a, err)
	}
	decided := func(x store.Request) bool {
		return x.State == store.StateAwaitingApproval && slices.ContainsFunc(x.Approvals, func(ap store.Approval) bool { return ap.Approver == who.ObjectID })
	}
	if known && slices.ContainsFunc(rs, decided) {
		c.reply(ctx, a, Message{Kind: KindText, Text: "Your decision on this request was already recorded."})
		return nil
	}
	notApprover := func(role *policy.Role) {
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("You are not an approver for %s, one of the roles of this request: a request for several roles is approved by approvers of each role that needs approval.", role.Name)})
	}
	fresh := false
	if known && tier0 {
		_, fresh = c.tokens.fresh(keyOf(a, who.ObjectID), c.cfg.SignInFreshness, head, "")
	}
	signIn := !known || (tier0 && !fresh)
	if signIn {
		if cand, ok := c.candidate(ctx, a, who, known); ok {
			for _, role := range roles {
				if may, err := c.isApprover(ctx, role, cand); err == nil && !may {
					notApprover(role)
					return nil
				}
			}
		}
	}
	if action == ActionDeny && strings.TrimSpace(reason) == "" {
		c.reply(ctx, a, Message{Kind: KindError, RequestID: head, Text: denyNeedsReason})
		return nil
	}
	if signIn {
		why := "Sign in once with your Microsoft account so I know who is approving."
		if known {
			why = "This request includes a tier-0 role: approving it needs a fresh sign-in."
		}
		c.askApproverSignIn(ctx, a, head, action, reason, who.UPN, why)
		return nil
	}
	if who.ObjectID == h.UserID {
		c.refuseSelf(a, h)
		c.reply(ctx, a, Message{Kind: KindError, Text: "You can't approve or deny your own request."})
		return nil
	}
	for _, role := range roles {
		ok, err := c.isApprover(ctx, role, who)
		if err != nil {
			c.log.Error("approver check", "request_id", head, "approver", who.ObjectID, "err", err)
			c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't check your approver rights just now. " + graphWords(err)})
			return nil
		}
		if !ok {
			notApprover(role)
			return nil
		}
	}
	name := cmpOr(who.UPN, a.Name)
	ap := store.Approval{Approver: who.ObjectID, ApproverName: name, Platform: a.Platform, ChatUser: a.ChatUser, Decision: string(action), Reason: reason, At: c.now().UTC()}
	rs, err = c.changeGroup(ctx, head, c.event(a, "request."+string(action), reason), func(xs []*store.Request, out *outbox) error {
		var first *store.Request // the first item decided: the count and words are its
		for _, x := range xs {
			if x.State != store.StateAwaitingApproval || approvals(*x) >= x.ApprovalsNeeded || pimPending(*x) {
				continue
			}
			if slices.ContainsFunc(x.Approvals, func(ap store.Approval) bool { return ap.Approver == who.ObjectID }) {
				continue
			}
			x.Approvals = append(x.Approvals, ap)
			if action == ActionDeny {
				x.State = store.StateDenied
			}
			if first == nil {
				first = x
			}
		}
		if first == nil {
			return store.ErrNoChange
		}
		h := *first
		what := c.groupRoles(derefs(xs))
		out.cards(h)
		if action == ActionDeny {
			out.reply(a, Message{Kind: KindResult, Text: fmt.Sprintf("You denied %s's request for %s.", nameOf(h), what)})
			out.tell(h, Message{Kind: KindResult, Text: fmt.Sprintf("%s denied your request for %s: %s", name, what, reason)})
			return nil
		}
		got := approvals(h)
		out.reply(a, Message{Kind: KindResult, Text: fmt.Sprintf("You approved %s's request for %s (%d of %d).", nameOf(h), what, got, h.ApprovalsNeeded)})
		out.tell(h, Message{Kind: KindProgress, Text: fmt.Sprintf("%s approved your request for %s (%d of %d).", name, what, got, h.ApprovalsNeeded)})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		c.reply(ctx, a, Message{Kind: KindText, Text: "Your decision on this request was already recorded."})
		return nil
	}
	if err != nil {
		return err
	}
	if action == ActionDeny || !slices.ContainsFunc(rs, func(x store.Request) bool {
		return x.State == store.StateAwaitingApproval && x.ApprovalsNeeded > 0 && approvals(x) >= x.ApprovalsNeeded && !pimPending(x)
	}) {
		return nil
	}
	if !c.groupSignedIn(rs) {
		return c.askSignInGroup(ctx, rs, "", "")
	}
	return c.activateGroup(ctx, head)
}

// onTheWay says whether an item of a multi-role request is still on its way to activation: not
// yet signed in for, approved or written, or being activated. A role waiting for PIM's own
// approval is not: that step is its own (decided in PIM, a day by default), as for a single role.
func onTheWay(x store.Request) bool {
	switch x.State {
	case store.StateReceived, store.StateAwaitingSignIn, store.StateActivating:
		return true
	case store.StateAwaitingApproval:
		return !pimPending(x)
	}
	return false
}

// settling says whether a change of one item from before to r makes its multi-role request
// settled: r leaves the way to activation (active, failed, waiting for PIM's own approval, …) and
// no sibling is still on it. The change that does so queues the one line for the whole request
// (groupSummary). A role that waited for PIM's approval settles again later, on its own, as a
// single role does: the line had said it waits.
func settling(before, r store.Request) bool {
	return r.Group != 0 && onTheWay(before) && !onTheWay(r) && r.State != store.StateEnded && !(pimStage(r) && !pimPending(r))
}

// toldAlone says whether the requester hears r's own activation lines ("Activating …", "… active
// until …", "… is usable now", "… was not activated"), as for a single role: a single-role
// request, or a role of a multi-role request that went through PIM's own approval after its
// request's line said it waits for it. The other roles of a multi-role request are told in the
// request's lines: one "Activating … in PIM…", one line for all their outcomes (groupSummary),
// one "… are usable now" (groupUsable).
func toldAlone(r store.Request) bool { return r.Group == 0 || pimStage(r) }

// groupSummary queues, in the transaction that settles the last role of a multi-role request,
// one line for all of its roles to the requester ("Exchange Administrator active until 14:00;
// SharePoint Administrator refused by PIM: …") and an update of the card.
func (c *Core) groupSummary(out *outbox, r store.Request) {
	if out.err != nil {
		return
	}
	rs, err := out.ob.Group(r.Group)
	if err != nil {
		out.err = err
		return
	}
	for i := range rs {
		if rs[i].ID == r.ID {
			rs[i] = r // this transaction's change, not written yet
		}
	}
	var parts []string
	for _, x := range rs {
		if onTheWay(x) {
			return // another role is still on its way; its settling sends the line
		}
		parts = append(parts, c.roleOutcome(x))
	}
	if len(parts) < 2 || !slices.ContainsFunc(rs, func(x store.Request) bool {
		return x.State == store.StateActive || x.State == store.StateFailed || x.State == store.StateEnded
	}) {
		return // nothing was activated or refused (all cancelled, expired, denied, waiting for PIM): its own words said it
	}
	text := strings.Join(parts, "; ") + "."
	applying := slices.DeleteFunc(slices.Clone(rs), func(x store.Request) bool { return x.State != store.StateActive || pimStage(x) })
	var names []string
	for _, x := range applying {
		names = append(names, x.RoleName)
	}
	switch {
	case len(applying) == len(rs):
		text += " PIM is applying them; I'll tell you when they are usable."
	case len(applying) == 1:
		text += fmt.Sprintf(" PIM is applying %s; I'll tell you when it is usable.", names[0])
	case len(applying) > 1:
		text += fmt.Sprintf(" PIM is applying %s; I'll tell you when they are usable.", policy.JoinAnd(names))
	}
	out.tell(rs[0], Message{Kind: KindResult, Text: text})
	out.cards(rs[0])
}

// groupUsable tells the requester of a multi-role request, once, which of the roles its line
// said active are usable now, when the request has settled and every such role's wait for
// "usable" has ended (a role PIM does not show in time is told on its own, as for a single role).
func (c *Core) groupUsable(ctx context.Context, group uint64) {
	if group == 0 {
		return
	}
	c.usableMu.Lock()
	defer c.usableMu.Unlock()
	if _, told := c.usableTold.Load(group); told {
		return
	}
	rs, err := c.store.GroupRequests(group)
	if err != nil || len(rs) == 0 {
		return
	}
	var usable []store.Request
	for _, x := range rs {
		if onTheWay(x) {
			return
		}
		if x.State != store.StateActive || pimStage(x) {
			continue
		}
		v, here := c.usableOf.Load(x.ID)
		switch {
		case !here:
			// Made active by an earlier process (before a restart or a takeover): its wait, if
			// any, was that process's; it holds nothing back here.
		case v == usableWaiting:
			return // still waiting for PIM to show it
		case v == usableYes:
			usable = append(usable, x)
		}
	}
	if len(usable) == 0 {
		return
	}
	c.usableTold.Store(group, struct{}{})
	for _, x := range rs {
		c.usableOf.Delete(x.ID)
	}
	var names []string
	same := true
	for _, x := range usable {
		names = append(names, x.RoleName)
		same = same && c.clock(x.EndsAt) == c.clock(usable[0].EndsAt) // as the requester reads them
	}
	text := fmt.Sprintf("%s is usable now (until %s).", names[0], c.clock(usable[0].EndsAt))
	switch {
	case len(usable) > 1 && same:
		text = fmt.Sprintf("%s are usable now (until %s).", policy.JoinAnd(names), c.clock(usable[0].EndsAt))
	case len(usable) > 1:
		names = names[:0]
		for _, x := range usable {
			names = append(names, fmt.Sprintf("%s (until %s)", x.RoleName, c.clock(x.EndsAt)))
		}
		text = policy.JoinAnd(names) + " are usable now."
	}
	c.tellLater(ctx, rs[0], Message{Kind: KindResult, Text: text})
}

// A role's wait for "usable" in this process (Core.usableOf), for groupUsable.
type usableWait int8

const (
	usableWaiting usableWait = iota // activeNow is recording it active, or waiting for PIM to show it
	usableYes                       // PIM showed it
	usableNo                        // PIM did not show it in time: told on its own
)

// roleOutcome is one role's line in a multi-role request's summary and card.
func (c *Core) roleOutcome(x store.Request) string {
	switch x.State {
	case store.StateActive:
		return fmt.Sprintf("%s active until %s", x.RoleName, c.clock(x.EndsAt))
	case store.StateFailed:
		if x.FailureCode == "not_asked" {
			return x.RoleName + " not asked for"
		}
		if x.FailureCode == failWriteUnconfirmed {
			// PIM never confirmed the write: not a refusal, and the words say what to check.
			return fmt.Sprintf("%s not confirmed by PIM: %s", x.RoleName, strings.TrimSuffix(x.FailureMessage, "."))
		}
		if x.FailureMessage != "" {
			return fmt.Sprintf("%s refused by PIM: %s", x.RoleName, strings.TrimSuffix(x.FailureMessage, "."))
		}
		return x.RoleName + " not activated"
	case store.StateEnded:
		return fmt.Sprintf("%s ended at %s", x.RoleName, c.clock(x.EndsAt))
	case store.StateActivating:
		return x.RoleName + " being activated"
	case store.StateAwaitingApproval:
		if pimPending(x) {
			return x.RoleName + " waiting for PIM's own approval"
		}
		if x.ApprovalsNeeded > 0 && approvals(x) >= x.ApprovalsNeeded && !pimPending(x) {
			return x.RoleName + " approved, being activated"
		}
		return x.RoleName + " waiting for approval"
	case store.StateAwaitingSignIn:
		return x.RoleName + " waiting for the requester's sign-in"
	}
	return x.RoleName + " " + strings.ReplaceAll(string(x.State), "_", " ")
}

// groupCard is the approvers' card of a multi-role request: the first item's card, listing every
// role with its duration and, once decided, what became of it.
func (c *Core) groupCard(h store.Request) Message {
	rs, err := c.store.GroupRequests(h.Group)
	if err != nil {
		c.log.Error("reading a multi-role request", "request_id", h.ID, "err", err)
		return c.singleCard(h)
	}
	h = rs[0]
	// The card is the first item's; its approvals and decisions are read from the item that has
	// them all, in case the first was withdrawn alone before they were made. Those are Elevate's
	// approvals, one decision for the whole request; PIM's own approval of a role is that role's
	// (its line, its buttons, the "PIM approval" field).
	elevate := func(x store.Request) store.Request {
		x.Approvals = slices.DeleteFunc(slices.Clone(x.Approvals), func(ap store.Approval) bool { return ap.InPIM })
		if pimStage(x) {
			x.ApprovalsNeeded = elevateNeeded(x)
			if x.State == store.StateAwaitingApproval {
				x.State = store.StateActivating // PIM's step: the role's own line and buttons say it
			}
		}
		x.PIMStageExpiresAt, x.GraphStatus = time.Time{}, ""
		return x
	}
	ref := elevate(h)
	need := 0 // Elevate's approvals needed: the strictest rule's
	for _, x := range rs {
		x = elevate(x)
		need = max(need, x.ApprovalsNeeded)
		if len(x.Approvals) > len(ref.Approvals) || (ref.State == store.StateCancelled && x.State == store.StateAwaitingApproval && len(x.Approvals) == len(ref.Approvals)) {
			ref = x
		}
	}
	m := c.singleCard(ref)
	m.RequestID, m.Title = h.ID, "Elevation request #"+idValue(h.ID)
	var lines, inPIM []string
	var pimButtons []Button
	tier0 := false
	pendingNow := false
	for _, x := range rs {
		role := c.cfg.RoleByID(x.RoleID)
		line := x.RoleName
		if c.groupDurations(rs) == "per role" {
			line += " for " + hm(x.Duration)
		}
		if role != nil && role.Tier0 {
			line += " (tier 0)"
			tier0 = true
		}
		switch {
		case pimPending(x):
			line = c.roleOutcome(x)
			// Decided in PIM, role by role, as a single role's PIM step is: its own buttons.
			pimButtons = append(pimButtons,
				Button{Action: ActionApprove, Label: "Approve " + x.RoleName + " in PIM", Value: idValue(x.ID), Style: StylePrimary},
				Button{Action: ActionDeny, Label: "Deny " + x.RoleName + " in PIM", Value: idValue(x.ID), Style: StyleDanger})
		case x.State == store.StateAwaitingApproval && approvals(x) < x.ApprovalsNeeded:
			pendingNow = true
		case x.State != store.StateAwaitingApproval:
			line = c.roleOutcome(x)
		}
		if pimStage(x) {
			inPIM = append(inPIM, x.RoleName+": "+c.pimStageWords(x))
		}
		lines = append(lines, line)
	}
	m.Fields = slices.DeleteFunc(m.Fields, func(f Field) bool {
		return f.Label == "PIM approval" || (f.Label == "Approvals" && need == 0 && ref.Waived == "")
	})
	for i, f := range m.Fields {
		switch f.Label {
		case "Role":
			m.Fields[i] = Field{"Roles", strings.Join(lines, "; ")}
		case "Duration":
			m.Fields[i].Value = c.groupDurations(rs)
		}
	}
	if len(inPIM) > 0 {
		m.Fields = append(m.Fields, Field{"PIM approval", strings.Join(inPIM, "; ")})
	}
	if need > 1 || tier0 {
		rule := fmt.Sprintf("the strictest of its roles: %d approval%s", need, plural(need))
		if tier0 {
			rule += ", tier-0 sign-ins"
		}
		m.Fields = append(m.Fields, Field{"Rule", rule + "; each approver approves every role that needs approval"})
	}
	var outcomes []string
	for _, x := range rs {
		outcomes = append(outcomes, c.roleOutcome(x))
	}
	m.Buttons = nil
	if pendingNow {
		// Whatever became of the first item alone (cancelled by its requester), the rest waits.
		m.Buttons = []Button{
			{Action: ActionApprove, Label: "Approve", Value: idValue(h.ID), Style: StylePrimary},
			{Action: ActionDeny, Label: "Deny", Value: idValue(h.ID), Style: StyleDanger},
		}
	} else if len(pimButtons) > 0 {
		m.Buttons = pimButtons
		m.Footer = strings.TrimSpace(m.Footer + " PIM itself requires approval for " + policy.JoinAnd(pimWaiting(rs)) +
			": each is decided in PIM on its own, by one of PIM's approvers with their own Microsoft sign-in. The requester cannot approve their own request.")
	}
	switch {
	case pendingNow:
		m.Text = fmt.Sprintf("%s asks for %s.", nameOf(h), c.groupRoles(rs))
	case slices.ContainsFunc(rs, func(x store.Request) bool { return x.State == store.StateDenied }):
		m.Text = "Denied."
	case !slices.ContainsFunc(rs, func(x store.Request) bool {
		return x.State != store.StateCancelled && x.State != store.StateExpired
	}):
		m.Text = strings.ToUpper(stateWords(h)[:1]) + stateWords(h)[1:] + "."
	case need > 0 && approvals(ref) >= need:
		m.Text = "Approved. " + strings.Join(outcomes, "; ") + "."
	default:
		m.Text = strings.Join(outcomes, "; ") + "."
	}
	return m
}

// pimWaiting names the roles of rs waiting for PIM's own approval.
func pimWaiting(rs []store.Request) []string {
	var names []string
	for _, x := range rs {
		if pimPending(x) {
			names = append(names, x.RoleName)
		}
	}
	return names
}

func (c *Core) groupDurations(rs []store.Request) string {
	for _, r := range rs {
		if r.Duration != rs[0].Duration {
			return "per role"
		}
	}
	return hm(rs[0].Duration)
}

// activeGroups picks what `done` or `extend` without a role acts on: the only active role, or
// every active role when they all belong to one multi-role request. ok is false when the user
// must say which (they were told).
func (c *Core) pickActives(ctx context.Context, a Actor, cmd policy.Command, verb string) ([]store.Request, bool, error) {
	rs, err := c.activeFor(a, nil)
	if err != nil {
		return nil, false, err
	}
	example := verb
	if verb == "extend" {
		example += " %s 1h"
	} else {
		example += " %s"
	}
	switch {
	case cmd.All:
		if len(rs) == 0 {
			c.reply(ctx, a, Message{Kind: KindText, Text: "You have no active roles from Elevate. See `/elevate status`."})
			return nil, false, nil
		}
		return rs, true, nil
	case len(cmd.Roles) > 0:
		var out []store.Request
		var missing []string
		for _, role := range cmd.Roles {
			i := slices.IndexFunc(rs, func(r store.Request) bool { return strings.EqualFold(r.RoleID, role.TemplateID) })
			if i < 0 {
				missing = append(missing, role.Name)
				continue
			}
			out = append(out, rs[i])
		}
		if len(missing) > 0 {
			c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("You have no active %s from Elevate, so nothing was done. See `/elevate status`.", policy.JoinAnd(missing))})
			return nil, false, nil
		}
		return out, true, nil
	case cmd.Role != nil:
		r, ok, err := c.pickActive(ctx, a, cmd.Role, verb)
		return []store.Request{r}, ok, err
	case len(rs) == 0:
		c.reply(ctx, a, Message{Kind: KindText, Text: "You have no active roles from Elevate. See `/elevate status`."})
		return nil, false, nil
	case len(rs) == 1:
		return rs, true, nil
	}
	if g := rs[0].Group; g != 0 && !slices.ContainsFunc(rs, func(r store.Request) bool { return r.Group != g }) {
		return rs, true, nil // the roles of one request: all of them
	}
	var names []string
	for _, r := range rs {
		if role := c.cfg.RoleByID(r.RoleID); role != nil {
			names = append(names, "`"+fmt.Sprintf(example, role.Alias())+"`")
		}
	}
	c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("You have more than one active role, from different requests; say which: %s, or `%s`.", strings.Join(names, ", "), fmt.Sprintf(example, "all"))})
	return nil, false, nil
}

// doneMany ends several activations; one sign-in covers them all.
func (c *Core) doneMany(ctx context.Context, a Actor, cmd policy.Command) error {
	rs, ok, err := c.pickActives(ctx, a, cmd, "done")
	if err != nil || !ok {
		return err
	}
	return c.doneAll(ctx, a, rs)
}

func (c *Core) doneAll(ctx context.Context, a Actor, rs []store.Request) error {
	if len(rs) > 1 && !c.hasLifecycleToken(rs) {
		var ids []string
		for _, r := range rs[1:] {
			ids = append(ids, idValue(r.ID))
		}
		var names []string
		for _, r := range rs {
			names = append(names, r.RoleName)
		}
		_, _ = c.userToken(ctx, a, rs[0], forDone, doneMoreReason+strings.Join(ids, ","),
			fmt.Sprintf("Ending %s is your own PIM deactivation: sign in with your Microsoft account (one sign-in for all of them).", policy.JoinAnd(names)))
		return nil
	}
	var errs []error
	for _, r := range rs {
		if err := c.doneRequest(ctx, a, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// doneMoreReason marks a `done` sign-in made for several activations: the other request ids follow.
const doneMoreReason = "done-more:"

// continueDoneMore ends the other activations a `done` sign-in was made for.
func (c *Core) continueDoneMore(ctx context.Context, a Actor, reason string) []store.Request {
	var rs []store.Request
	for _, v := range strings.Split(strings.TrimPrefix(reason, doneMoreReason), ",") {
		id, ok := parseID(v)
		if !ok {
			continue
		}
		if r, err := c.store.Request(id); err == nil && r.State == store.StateActive && c.owns(a, r) {
			rs = append(rs, r)
		}
	}
	return rs
}

func (c *Core) hasLifecycleToken(rs []store.Request) bool {
	for _, r := range rs {
		if _, ok := c.tokens.fresh(requesterKey(r), c.cfg.SignInFreshness, 0, scopeOf(c.cfg.RoleByID(r.RoleID))); !ok || r.UserID == "" {
			return false
		}
	}
	return true
}

// extendMany extends several activations by d each (each within its own role's budget).
func (c *Core) extendMany(ctx context.Context, a Actor, cmd policy.Command) error {
	rs, ok, err := c.pickActives(ctx, a, cmd, "extend")
	if err != nil || !ok {
		return err
	}
	var errs []error
	for _, r := range rs {
		if err := c.extendRequest(ctx, a, r, cmd.Duration); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MaxRoles is how many roles one request may name (policy.MaxRoles), for the adapters' forms.
const MaxRoles = policy.MaxRoles

// remindsFor says whether the reminder sweep reminds and escalates through r: every single-role
// request, and for a multi-role request only its strictest item (the most approvals, tier 0
// first, then the first), so approvers hear of the request once, under the rule that applies.
func (c *Core) remindsFor(r store.Request) bool {
	if r.Group == 0 {
		return true
	}
	rs, err := c.store.GroupRequests(r.Group)
	if err != nil {
		c.log.Error("reading a multi-role request", "request_id", r.ID, "err", err)
		return r.ID == r.Group
	}
	best, bestReq, bestTier0 := uint64(0), -1, false
	for _, x := range rs {
		role := c.cfg.RoleByID(x.RoleID)
		if role == nil {
			continue
		}
		req, t0 := role.Approval.Required, role.Tier0
		if req > bestReq || (req == bestReq && t0 && !bestTier0) {
			best, bestReq, bestTier0 = x.ID, req, t0
		}
	}
	return best == r.ID
}

// rolesOf names what r asks for: its role, or every role of its multi-role request.
func (c *Core) rolesOf(r store.Request) string {
	if r.Group == 0 {
		return r.RoleName
	}
	rs, err := c.store.GroupRequests(r.Group)
	if err != nil {
		return r.RoleName
	}
	return c.groupRoles(rs)
}

// expireGroup expires the items of a multi-role request still waiting past their deadline (none
// with a PIM write that may have gone through), with one message for all of them.
func (c *Core) expireGroup(ctx context.Context, head uint64, now time.Time) error {
	_, err := c.changeGroup(ctx, head, systemEvent(now, "request.expired", ""), func(xs []*store.Request, out *outbox) error {
		var names []string
		for _, x := range xs {
			if !pending(x.State) || x.Write != nil || x.ExpiresAt.IsZero() || !now.After(x.ExpiresAt) {
				continue
			}
			x.State = store.StateExpired
			names = append(names, x.RoleName)
		}
		if len(names) == 0 {
			return store.ErrNoChange
		}
		out.tell(*xs[0], Message{Kind: KindResult, Text: fmt.Sprintf("Your request for %s expired without a decision. Ask again if you still need it.", policy.JoinAnd(names))})
		out.cards(*xs[0])
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// supersedeGroup cancels an older multi-role request, still waiting for its requester, that a new
// request r names one of the roles of: the whole of it, so that no role of it is activated later
// by a sign-in on its old link. The requester is told, as the other roles go with it.
func (c *Core) supersedeGroup(ctx context.Context, old, r store.Request) {
	rs, err := c.store.GroupRequests(old.Group)
	if err != nil {
		c.log.Error("reading a multi-role request", "request_id", old.ID, "err", err)
		return
	}
	if slices.ContainsFunc(rs, func(x store.Request) bool { return !superseded(x.State) && !x.State.Terminal() }) {
		return // part of it is past its requester (approval, activation): it stays
	}
	text := fmt.Sprintf("Your earlier request #%d for %s is replaced by #%d; ask again for any of its other roles you still need.", old.Group, c.groupRoles(rs), r.ID)
	why := map[uint64]string{}
	for _, x := range rs {
		why[x.ID] = fmt.Sprintf("superseded by #%d", r.ID)
	}
	if err := c.endGroup(ctx, old.Group, store.StateCancelled, "superseded", why, text); err != nil {
		c.log.Error("superseding a multi-role request", "request_id", old.Group, "by", r.ID, "err", err)
	}
}
