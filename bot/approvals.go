package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// requestApproval puts r into awaiting_approval and posts the card to the approvals channel.
func (c *Core) requestApproval(ctx context.Context, r store.Request) error {
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.awaiting_approval", fmt.Sprintf("needs %d", r.ApprovalsNeeded)), func(r *store.Request, out *outbox) error {
		switch r.State {
		case store.StateReceived, store.StateAwaitingSignIn:
			r.State = store.StateAwaitingApproval
		default:
			return store.ErrNoChange
		}
		// The requester hears "I've asked" only once the card is posted.
		out.then(out.card(*r)).tell(*r, Message{Kind: KindProgress, Text: fmt.Sprintf("Your request for %s needs %d approval%s; I've asked in %s. It expires at %s if nobody decides.",
			r.RoleName, r.ApprovalsNeeded, plural(r.ApprovalsNeeded), channelAt(c.approvalChannel(*r)), c.clock(r.ExpiresAt))})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// ensureCard posts the card of a request awaiting approval that has none yet: a failed post
// (chat outage, rate limit) is tried again by the expiry sweep, so no request is stranded.
func (c *Core) ensureCard(ctx context.Context, r store.Request) {
	if r.State != store.StateAwaitingApproval || (r.Group != 0 && r.Group != r.ID) {
		return // a multi-role request's card is its first item's
	}
	refs, err := c.store.MessageRefs(r.ID)
	if err != nil {
		c.log.Error("reading card references", "request_id", r.ID, "err", err)
		return
	}
	if slices.ContainsFunc(refs, func(ref store.MessageRef) bool { return ref.Kind == string(KindCard) }) {
		return
	}
	_ = c.enqueue(ctx, nil, func(out *outbox) error {
		queued, err := out.ob.Queued(r.ID)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(queued, func(it store.OutboxItem) bool { return it.Op == store.OutboxCard }) {
			return nil // still being delivered
		}
		c.log.Info("posting an approval card again after its post was given up", "request_id", r.ID)
		out.card(r)
		return nil
	})
}

// recentActivations tells approvers how often the requester used privileged roles lately.
func (c *Core) recentActivations(r store.Request) string {
	if r.UserID == "" {
		return ""
	}
	rs, err := c.store.Requests(store.Filter{UserID: r.UserID})
	if err != nil {
		return ""
	}
	since := r.CreatedAt.AddDate(0, 0, -30)
	n, last := 0, store.Request{}
	for _, x := range rs {
		if x.ID == r.ID || (r.Group != 0 && x.Group == r.Group) || x.ActivatedAt.IsZero() || x.ActivatedAt.Before(since) {
			continue
		}
		n++
		if x.ActivatedAt.After(last.ActivatedAt) {
			last = x
		}
	}
	if n == 0 {
		return "none in the last 30 days"
	}
	return fmt.Sprintf("%d in the last 30 days; last %s on %s", n, last.RoleName, last.ActivatedAt.In(c.loc).Format("2 Jan"))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (c *Core) approvalChannel(r store.Request) string {
	if role := c.cfg.RoleByID(r.RoleID); role != nil && role.ApprovalChannel != "" {
		return role.ApprovalChannel
	}
	return c.cfg.Channels.Approvals
}

// Click handles a button press. value is the button's Value (a request id); reason is the text a
// Deny asked for, if any.
func (c *Core) Click(ctx context.Context, a Actor, action Action, value, reason string) error {
	c.used(a)
	if h, ok := c.ActionHandlerFor(action); ok {
		return h(ctx, a, value, reason)
	}
	if action == ActionConvert {
		return c.confirmConvert(ctx, a, value)
	}
	id, ok := parseID(value)
	if !ok {
		c.reply(ctx, a, Message{Kind: KindError, Text: "That button no longer works. Use `/elevate status` to see your requests."})
		return nil
	}
	switch action {
	case ActionUseOffer, ActionActivate, ActionExtend:
		// Using Elevate for oneself: in a pilot, for its people only (pilot.go). Approve and
		// Deny are an approver's job; Cancel and I'm done give access back.
		if c.pilotRefuses(ctx, a) {
			return nil
		}
	}
	switch action {
	case ActionApprove, ActionDeny:
		return c.decide(ctx, a, id, action, reason)
	case ActionUseOffer:
		return c.useOffer(ctx, a, id)
	case ActionCancel:
		ok, err := c.cancel1(ctx, a, id)
		if err != nil {
			return err
		}
		if ok {
			c.reply(ctx, a, Message{Kind: KindResult, Text: "Cancelled."})
		} else {
			c.reply(ctx, a, Message{Kind: KindText, Text: "That request is no longer pending."})
		}
		return nil
	case ActionActivate:
		r, err := c.store.Request(id)
		if err != nil || !c.owns(a, r) {
			c.reply(ctx, a, Message{Kind: KindError, Text: "That request isn't yours to activate."})
			return nil
		}
		return c.activate(ctx, id)
	case ActionExtend, ActionDone:
		r, err := c.store.Request(id)
		if err != nil || !c.owns(a, r) {
			c.reply(ctx, a, Message{Kind: KindError, Text: "That elevation isn't yours."})
			return nil
		}
		if r.State != store.StateActive {
			c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s is no longer active.", r.RoleName)})
			return nil
		}
		if action == ActionDone {
			return c.doneRequest(ctx, a, r)
		}
		return c.extendRequest(ctx, a, r, time.Hour)
	}
	c.reply(ctx, a, Message{Kind: KindError, Text: "I don't know that button."})
	return nil
}

func (c *Core) useOffer(ctx context.Context, a Actor, id uint64) error {
	r, err := c.store.Request(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.owns(a, r)) {
		c.reply(ctx, a, Message{Kind: KindError, Text: "That offer isn't yours."})
		return nil
	}
	if err != nil {
		return err
	}
	if r.State != store.StateReceived {
		c.reply(ctx, a, Message{Kind: KindText, Text: "That offer was already used or has expired."})
		return nil
	}
	if c.now().After(r.ExpiresAt) {
		c.reply(ctx, a, Message{Kind: KindText, Text: "That offer has expired; ask again."})
		return nil
	}
	return c.proceed(ctx, id)
}

// decide records an approver's Approve or Deny: only authorized approvers, never the requester,
// once per approver; the card is updated for everyone.
func (c *Core) decide(ctx context.Context, a Actor, id uint64, action Action, reason string) error {
	r, err := c.store.Request(id)
	if errors.Is(err, store.ErrNotFound) {
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("Request #%d does not exist.", id)})
		return nil
	}
	if err != nil {
		return err
	}
	if r.Group != 0 && !pimPending(r) {
		// One decision for the whole request; a role of it waiting for PIM's own approval is
		// decided on its own, as a single role is (its buttons on the card carry its number).
		return c.decideGroup(ctx, a, r.Group, action, reason)
	}
	if r.State != store.StateAwaitingApproval || approvals(r) >= r.ApprovalsNeeded {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("Request #%d is already %s.", r.ID, stateWords(r))})
		return nil
	}
	if a.Platform == r.Platform && a.ChatUser == r.ChatUser {
		c.refuseSelf(a, r)
		c.reply(ctx, a, Message{Kind: KindError, Text: "You can't approve or deny your own request."})
		return nil
	}
	if pimPending(r) {
		return c.decidePIM(ctx, a, r, action, reason)
	}
	role := c.cfg.RoleByID(r.RoleID)
	if role == nil {
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("%s is no longer in Elevate's configuration, so nobody can approve it here.", r.RoleName)})
		return nil
	}
	who, known, err := c.identity(a)
	if err != nil {
		return c.mismatch(ctx, a, err)
	}
	if known && slices.ContainsFunc(r.Approvals, func(ap store.Approval) bool { return ap.Approver == who.ObjectID }) {
		c.reply(ctx, a, Message{Kind: KindText, Text: "Your decision on this request was already recorded."})
		return nil // a double click, before asking for a sign-in it would not need
	}
	// Knowing who clicked needs a sign-in once; tier-0 roles need one made by this chat account
	// for this very request, every time. Someone who is not an approver is told so at once, not
	// after a sign-in: read with Elevate's own identity, for the known user or the platform's
	// email hint (good enough to refuse, never to approve).
	fresh := false
	if known && role.Tier0 {
		_, fresh = c.tokens.fresh(keyOf(a, who.ObjectID), c.cfg.SignInFreshness, id, "")
	}
	signIn := !known || (role.Tier0 && !fresh)
	if signIn {
		if cand, ok := c.candidate(ctx, a, who, known); ok {
			if may, err := c.isApprover(ctx, role, cand); err == nil && !may {
				c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("You are not an approver for %s.", role.Name)})
				return nil
			} else if err != nil {
				c.log.Warn("approver check before sign-in", "request_id", id, "err", err)
			}
		}
	}
	if action == ActionDeny && strings.TrimSpace(reason) == "" {
		c.reply(ctx, a, Message{Kind: KindError, RequestID: id, Text: denyNeedsReason})
		return nil
	}
	if signIn {
		why := "Sign in once with your Microsoft account so I know who is approving."
		if known {
			why = role.Name + " is a tier-0 role: approving it needs a fresh sign-in."
		}
		c.askApproverSignIn(ctx, a, id, action, reason, who.UPN, why)
		return nil
	}
	if who.ObjectID == r.UserID {
		c.refuseSelf(a, r)
		c.reply(ctx, a, Message{Kind: KindError, Text: "You can't approve or deny your own request."})
		return nil
	}
	if ok, err := c.isApprover(ctx, role, who); err != nil {
		c.log.Error("approver check", "request_id", id, "approver", who.ObjectID, "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't check your approver rights just now. " + graphWords(err)})
		return nil
	} else if !ok {
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("You are not an approver for %s.", role.Name)})
		return nil
	}
	name := who.UPN
	if name == "" {
		name = a.Name
	}
	ev := c.event(a, "request."+string(action), reason)
	r, err = c.change(ctx, id, ev, func(r *store.Request, out *outbox) error {
		if r.State != store.StateAwaitingApproval || approvals(*r) >= r.ApprovalsNeeded {
			return store.ErrNoChange
		}
		if slices.ContainsFunc(r.Approvals, func(ap store.Approval) bool { return ap.Approver == who.ObjectID }) {
			return store.ErrNoChange // a double click counts once
		}
		r.Approvals = append(r.Approvals, store.Approval{Approver: who.ObjectID, ApproverName: name, Platform: a.Platform,
			ChatUser: a.ChatUser, Decision: string(action), Reason: reason, At: c.now().UTC()})
		if action == ActionDeny {
			r.State = store.StateDenied
		}
		out.cards(*r)
		if action == ActionDeny {
			out.reply(a, Message{Kind: KindResult, Text: fmt.Sprintf("You denied %s's request for %s.", nameOf(*r), r.RoleName)})
			out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("%s denied your request for %s: %s", name, r.RoleName, reason)})
			return nil
		}
		got := approvals(*r)
		out.reply(a, Message{Kind: KindResult, Text: fmt.Sprintf("You approved %s's request for %s (%d of %d).", nameOf(*r), r.RoleName, got, r.ApprovalsNeeded)})
		if got < r.ApprovalsNeeded {
			out.tell(*r, Message{Kind: KindProgress, Text: fmt.Sprintf("%s approved your request for %s (%d of %d).", name, r.RoleName, got, r.ApprovalsNeeded)})
		} else {
			out.tell(*r, Message{Kind: KindProgress, Text: fmt.Sprintf("%s approved your request for %s; that makes %d of %d.", name, r.RoleName, got, r.ApprovalsNeeded)})
		}
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		c.reply(ctx, a, Message{Kind: KindText, Text: "Your decision on this request was already recorded."})
		return nil
	}
	if err != nil {
		return err
	}
	if action == ActionDeny || approvals(r) < r.ApprovalsNeeded {
		return nil
	}
	return c.activate(ctx, id)
}

// candidate is who a probably is before a sign-in proves it: the known identity, or the Entra
// user the platform's email hint names.
func (c *Core) candidate(ctx context.Context, a Actor, who policy.Requester, known bool) (policy.Requester, bool) {
	if known {
		return who, true
	}
	if a.EmailHint == "" {
		return policy.Requester{}, false
	}
	u, err := c.graph.User(ctx, a.EmailHint)
	if err != nil {
		return policy.Requester{}, false
	}
	return policy.Requester{ObjectID: u.ID, UPN: u.UPN}, true
}

// denyNeedsReason answers a Deny without a reason: the requester is owed one, on every platform.
const denyNeedsReason = "Say why you are denying this request: the requester reads it. Deny again with a reason."

func (c *Core) refuseSelf(a Actor, r store.Request) {
	c.log.Warn("self-approval refused", "request_id", r.ID, "platform", a.Platform, "chat_user", a.ChatUser)
}

func (c *Core) isApprover(ctx context.Context, role *policy.Role, who policy.Requester) (bool, error) {
	if role.IsApprover(who.ObjectID, who.UPN) {
		return true, nil
	}
	// Teams vouches for the object id only; approvers may be listed by UPN.
	if who.UPN == "" && who.ObjectID != "" && len(role.Approval.Approvers) > 0 {
		upn, err := c.upnOf(ctx, who.ObjectID)
		if err != nil {
			return false, err
		}
		if role.IsApprover(who.ObjectID, upn) {
			return true, nil
		}
	}
	if role.Approval.Group == "" {
		return false, nil
	}
	in, err := c.graph.MemberOfAny(ctx, who.ObjectID, []string{role.Approval.Group})
	if err != nil {
		return false, err
	}
	return len(in) > 0, nil
}

// upnOf looks up a user's UPN in Entra, cached: UPNs change rarely and approver checks are hot.
func (c *Core) upnOf(ctx context.Context, objectID string) (string, error) {
	if v, ok := c.upns.Load(objectID); ok {
		return v.(string), nil
	}
	u, err := c.graph.User(ctx, objectID)
	if err != nil {
		return "", err
	}
	c.upns.Store(objectID, u.UPN)
	return u.UPN, nil
}

func stateWords(r store.Request) string {
	if r.State == store.StateAwaitingApproval {
		return "approved and waiting for activation"
	}
	return strings.ReplaceAll(string(r.State), "_", " ")
}

// card is the approvers' view of r; it is re-rendered from the store on every change. A
// multi-role request has one card, its first item's, listing every role (groupCard).
func (c *Core) card(r store.Request) Message {
	if r.Group != 0 {
		return c.groupCard(r)
	}
	return c.singleCard(r)
}

func (c *Core) singleCard(r store.Request) Message {
	role := c.cfg.RoleByID(r.RoleID)
	title := "Elevation request #" + idValue(r.ID)
	roleName := r.RoleName
	if role != nil && role.Tier0 {
		roleName += " (tier 0)"
	}
	m := Message{Kind: KindCard, RequestID: r.ID, Title: title, Fields: []Field{
		{"Requester", nameOf(r)},
		{"Role", roleName},
		{"Duration", hm(r.Duration)},
		{"Justification", r.Justification},
	}}
	if r.Ticket != "" {
		m.Fields = append(m.Fields, Field{"Ticket", r.Ticket})
	}
	if recent := c.recentActivations(r); recent != "" {
		m.Fields = append(m.Fields, Field{"Recent activations", recent})
	}
	switch {
	case r.Waived != "":
		m.Fields = append(m.Fields, Field{"Approvals", "auto-approved: " + r.Waived})
	case pimStage(r):
		// Elevate's approvals and PIM's own approval stage are separate steps, each with its
		// own count and expiry.
		if n := elevateNeeded(r); n > 0 {
			m.Fields = append(m.Fields, Field{"Approvals", fmt.Sprintf("%d of %d", elevateApprovals(r), n)})
		}
		m.Fields = append(m.Fields, Field{"PIM approval", c.pimStageWords(r)})
	default:
		m.Fields = append(m.Fields, Field{"Approvals", fmt.Sprintf("%d of %d", approvals(r), r.ApprovalsNeeded)})
		if r.OnCallNote != "" {
			m.Fields = append(m.Fields, Field{"On call", r.OnCallNote})
		}
	}
	var decided []string
	for _, ap := range r.Approvals {
		verb := map[string]string{"approve": "Approved", "deny": "Denied"}[ap.Decision]
		if ap.InPIM {
			verb += " in PIM"
		}
		line := fmt.Sprintf("%s by %s at %s", verb, cmpOr(ap.ApproverName, ap.Approver), c.clock(ap.At))
		if ap.Decision == string(ActionDeny) {
			line += ": " + ap.Reason
		}
		if !slices.Contains(decided, line) {
			decided = append(decided, line)
		}
	}
	switch {
	case r.State == store.StateAwaitingApproval && approvals(r) < r.ApprovalsNeeded:
		m.Text = fmt.Sprintf("%s asks for %s for %s.", nameOf(r), r.RoleName, hm(r.Duration))
		m.Buttons = []Button{
			{Action: ActionApprove, Label: "Approve", Value: idValue(r.ID), Style: StylePrimary},
			{Action: ActionDeny, Label: "Deny", Value: idValue(r.ID), Style: StyleDanger},
		}
		m.Footer = strings.Join(slices.DeleteFunc([]string{"Expires at " + c.clock(r.ExpiresAt) + ".", c.reminderNote(r), "The requester cannot approve their own request."}, func(s string) bool { return s == "" }), " ")
		if pimPending(r) {
			m.Footer = "PIM's approval expires at " + c.clock(r.PIMStageExpiresAt) + ". The requester cannot approve their own request."
		}
	case r.State == store.StateActive:
		m.Text = fmt.Sprintf("Approved. %s is active until %s.", r.RoleName, c.clock(r.EndsAt))
	case r.State == store.StateFailed:
		m.Text = "Approved, but PIM did not activate it: " + r.FailureMessage
	case r.Waived != "" && (r.State == store.StateReceived || r.State == store.StateAwaitingSignIn):
		// Posted when the waiver applies, after the sign-in and before the activation's write.
		m.Text = fmt.Sprintf("Auto-approved: %s is on call. Activating %s for %s.", onCallName(r), r.RoleName, hm(r.Duration))
	default:
		m.Text = strings.ToUpper(stateWords(r)[:1]) + stateWords(r)[1:] + "."
	}
	if len(decided) > 0 {
		m.Footer = strings.TrimSpace(strings.Join(decided, "; ") + ". " + m.Footer)
	}
	return m
}

// refreshCards queues an update of every approval card of r, in a transaction of its own: for a
// change that did not queue it itself (out.cards).
func (c *Core) refreshCards(ctx context.Context, r store.Request) {
	_ = c.enqueue(ctx, nil, func(out *outbox) error {
		out.cards(r)
		return nil
	})
}

// askApproverSignIn sends approver a the sign-in link that records their decision on request id
// (a multi-role request's first id) once they are signed in; why says why a sign-in is needed.
func (c *Core) askApproverSignIn(ctx context.Context, a Actor, id uint64, action Action, reason, upn, why string) {
	link, err := c.signInLink(ctx, pendingSignIn{purpose: forApproval, requestID: id, actor: a, decision: action, reason: reason}, upn)
	if err != nil {
		c.log.Error("sign-in link", "request_id", id, "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't prepare a Microsoft sign-in link just now; try again in a minute."})
		return
	}
	c.reply(ctx, a, Message{Kind: KindSignIn, RequestID: id, Text: why + " Your " + map[Action]string{ActionApprove: "approval", ActionDeny: "denial"}[action] + " counts as soon as you are signed in.",
		Buttons: []Button{{Action: ActionOpenURL, Label: "Sign in", URL: link, Style: StylePrimary}}})
}
