package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Job is the part of handling input that talks to Graph and the chat platform. Adapters that
// must acknowledge quickly (Slack: 3 s) run it after the acknowledgement; nothing is lost if it
// never runs, because what was accepted is already in the store and Reconcile (at start and in
// every minute's sweep) picks up a request whose next step never ran: a sign-in link is sent
// again, an approved request is activated, a PIM write of unknown outcome is looked up.
type Job func(ctx context.Context) error

// Command handles what a user typed after /elevate (Slack) or to the bot (Teams): Accept, then
// the job. Problems with the input are answered to the user; the error is for the operator.
func (c *Core) Command(ctx context.Context, a Actor, text string) error {
	job, err := c.Accept(a, text)
	if err != nil {
		return err
	}
	return job(ctx)
}

// Accept parses text and, for an activation request, decides and persists it. It touches only
// the store, so it is fast enough to run before a platform's acknowledgement; the returned job
// does the rest.
func (c *Core) Accept(a Actor, text string) (Job, error) {
	return c.AcceptOnce(a, text, Once{})
}

// Once is an adapter's replay key for what it accepts (see store.FirstSeen): a command that
// creates a request records it in the request's own transaction, any other records it first.
type Once = store.Once

// ErrReplay is AcceptOnce's answer for a key already handled: nothing was done or stored.
var ErrReplay = store.ErrReplay

// AcceptOnce is Accept that first makes sure once.Key (if not empty) was not handled before,
// returning ErrReplay if it was. For an activation request the key is recorded in the same
// transaction as the request (one commit before the acknowledgement, not two).
func (c *Core) AcceptOnce(a Actor, text string, once Once) (Job, error) {
	job, err := c.accept(a, text, once)
	if err != nil || job == nil {
		return job, err
	}
	return func(ctx context.Context) error {
		c.used(a) // after the acknowledgement: it reads the store
		return job(ctx)
	}, nil
}

func (c *Core) accept(a Actor, text string, once Once) (Job, error) {
	cmd, err := c.cfg.ParseCommand(text)
	if err == nil && cmd.Kind == policy.KindRequest && len(cmd.Roles) > 1 {
		return c.acceptGroup(a, cmd, once)
	}
	if err == nil && cmd.Kind == policy.KindRequest {
		return c.acceptRequest(a, cmd, once)
	}
	if err := c.firstSeen(once); err != nil {
		return nil, err
	}
	if err != nil {
		return func(ctx context.Context) error { c.replyError(ctx, a, err); return nil }, nil
	}
	switch cmd.Kind {
	// In a pilot, what uses Elevate for oneself is for its people only (pilot.go); giving
	// access back (cancel, done), deciding on others' requests and feedback are open to all.
	case policy.KindRoles:
		return c.piloted(a, func(ctx context.Context) error { return c.roles(ctx, a) }), nil
	case policy.KindStatus:
		return c.piloted(a, func(ctx context.Context) error { return c.status(ctx, a) }), nil
	case policy.KindCancel:
		return func(ctx context.Context) error { return c.cancelAll(ctx, a) }, nil
	case policy.KindDone:
		return func(ctx context.Context) error { return c.doneMany(ctx, a, cmd) }, nil
	case policy.KindExtend:
		return c.piloted(a, func(ctx context.Context) error { return c.extendMany(ctx, a, cmd) }), nil
	case policy.KindApprove:
		return func(ctx context.Context) error { return c.decide(ctx, a, cmd.RequestID, ActionApprove, "") }, nil
	case policy.KindDeny:
		return func(ctx context.Context) error { return c.decide(ctx, a, cmd.RequestID, ActionDeny, cmd.Reason) }, nil
	case policy.KindFeedback:
		return func(ctx context.Context) error { return c.feedback(ctx, a, cmd.Reason) }, nil
	}
	c.mu.RLock()
	h, ok := c.admin[cmd.Kind]
	c.mu.RUnlock()
	if ok {
		return func(ctx context.Context) error { return h(ctx, a, cmd) }, nil
	}
	switch cmd.Kind {
	case policy.KindDiscover:
		return func(ctx context.Context) error { return c.Discover(ctx, a, cmd) }, nil
	case policy.KindConvert:
		return func(ctx context.Context) error { return c.Convert(ctx, a, cmd) }, nil
	case policy.KindRebind:
		return func(ctx context.Context) error { return c.Rebind(ctx, a, cmd) }, nil
	case policy.KindUnbind:
		return func(ctx context.Context) error { return c.Unbind(ctx, a, cmd) }, nil
	}
	if cmd.Kind >= policy.KindDiscover {
		return func(ctx context.Context) error {
			c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("`%s` is not available in this installation yet.", cmd.Kind)})
			return nil
		}, nil
	}
	return func(ctx context.Context) error { c.reply(ctx, a, c.help()); return nil }, nil
}

// AdminHandler runs one of the PIM administrators' commands (discover, convert, review, digest,
// drift). The handler checks who may run it.
type AdminHandler func(ctx context.Context, a Actor, cmd policy.Command) error

// HandleAdmin installs the handler for an administrators' command; the packages that implement
// them (discovery, schedules) install theirs when they are wired in.
func (c *Core) HandleAdmin(k policy.Kind, h AdminHandler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.admin[k] = h
}

func (c *Core) replyError(ctx context.Context, a Actor, err error) {
	var pe *policy.Error
	if errors.As(err, &pe) {
		c.reply(ctx, a, Message{Kind: KindError, Text: pe.Message})
		return
	}
	c.log.Error("command failed", "platform", a.Platform, "user", a.ChatUser, "err", err)
	c.reply(ctx, a, Message{Kind: KindError, Text: "Something went wrong on our side; nothing was changed. Please try again in a minute."})
}

func (c *Core) help() Message {
	lines := []string{
		"`/elevate <role> [duration] <why>`: activate a role, e.g. `/elevate exchange 4h fixing mail flow` or `/elevate ga 90m INC-1234 restore tenant`",
		"`/elevate exchange,sharepoint 4h <why>`: several roles in one request (up to 5), approved together",
		"`/elevate roles`: the roles you can activate",
		"`/elevate status`: your pending and active elevations",
		"`/elevate done [role|all]`: end an activation early · `/elevate extend [role|all] 1h`: extend it, within its budget",
		"`/elevate cancel`: cancel your pending requests",
		"`/elevate approve 3` · `/elevate deny 3 <why>`: decide on request #3, if you are one of its approvers",
		"`/elevate help`: this help",
		"Durations: 30m, 4h, 1h30m. Every activation is your own PIM activation, after your own Microsoft sign-in.",
	}
	if c.cfg.Pilot != nil {
		// help answers everyone; in a pilot it says who can use the rest.
		lines = append(lines, "Elevate is in a pilot with a few people for now: only they can request roles, see them or extend them here; approvers decide on their requests as usual. `/elevate feedback <text>` tells the team what you think.")
	}
	return Message{Kind: KindText, Title: "Elevate: just-in-time admin roles through PIM", Text: strings.Join(lines, "\n")}
}

func (c *Core) roles(ctx context.Context, a Actor) error {
	who, known, err := c.identity(a)
	if err != nil {
		return c.mismatch(ctx, a, err)
	}
	if !known {
		var names []string
		for _, r := range c.cfg.Roles {
			names = append(names, fmt.Sprintf("%s (`%s`)", r.Name, firstAlias(r)))
		}
		c.reply(ctx, a, Message{Kind: KindText, Title: "Roles Elevate knows",
			Text: strings.Join(names, "\n") + "\n\nRequest one and sign in once; after that `/elevate roles` lists the roles you are eligible for."})
		return nil
	}
	els, err := c.graph.EligibleRoles(ctx, who.ObjectID)
	if err != nil {
		c.log.Error("eligible roles", "user_id", who.ObjectID, "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't read your eligible roles from Microsoft Entra just now. " + graphWords(err)})
		return nil
	}
	var lines []string
	if pg, ok := c.pim(); ok && c.hasGroups() {
		gs, err := pg.EligibleGroups(ctx, who.ObjectID)
		if err != nil {
			c.log.Warn("eligible groups", "user_id", who.ObjectID, "err", err)
		}
		for _, g := range gs {
			if r := c.cfg.RoleByID(g.GroupID); r != nil && r.Group && r.Access == g.AccessID {
				lim, _ := c.limit(ctx, r)
				lines = append(lines, fmt.Sprintf("%s (`%s`, group %s, up to %s)", r.Name, firstAlias(r), g.AccessID, hm(lim)))
			}
		}
	}
	if len(els) == 0 && len(lines) == 0 {
		c.reply(ctx, a, Message{Kind: KindText, Text: "You have no eligible roles in PIM. A PIM administrator can make you eligible."})
		return nil
	}
	for _, e := range els {
		line := e.RoleName
		if r := c.cfg.RoleByID(e.RoleID); r != nil {
			lim, byPIM := c.limit(ctx, r)
			line = fmt.Sprintf("%s (`%s`, up to %s)", r.Name, firstAlias(r), hm(lim))
			if byPIM {
				line = fmt.Sprintf("%s (`%s`, up to %s: PIM's maximum)", r.Name, firstAlias(r), hm(lim))
			}
		}
		if e.ViaGroupName != "" {
			line += " through group " + e.ViaGroupName
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	c.reply(ctx, a, Message{Kind: KindText, Title: "Roles you can activate", Text: strings.Join(lines, "\n")})
	return nil
}

func firstAlias(r *policy.Role) string {
	if len(r.Aliases) > 0 {
		return r.Aliases[0]
	}
	return strings.ToLower(r.Name)
}

// mine returns a's open requests: those made from this chat account and, once Elevate knows who a
// is in Entra, those the same person made from any other chat account or platform. A person is
// their Entra identity, not a chat account.
func (c *Core) mine(a Actor) ([]store.Request, error) {
	rs, err := c.store.Requests(store.Filter{Platform: a.Platform, ChatUser: a.ChatUser, OpenOnly: true})
	if err != nil {
		return nil, err
	}
	who, known, err := c.identity(a)
	if err != nil || !known || who.ObjectID == "" {
		return rs, nil // a mismatch is answered where it matters; here it only narrows the view
	}
	theirs, err := c.store.Requests(store.Filter{UserID: who.ObjectID, OpenOnly: true})
	if err != nil {
		return nil, err
	}
	for _, r := range theirs {
		if !slices.ContainsFunc(rs, func(x store.Request) bool { return x.ID == r.ID }) {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(x, y store.Request) int { return cmp.Compare(x.ID, y.ID) })
	return rs, nil
}

// owns reports whether r is a's: made from this chat account, or by the same Entra user from
// another one.
func (c *Core) owns(a Actor, r store.Request) bool {
	if r.Platform == a.Platform && r.ChatUser == a.ChatUser {
		return true
	}
	who, known, err := c.identity(a)
	return err == nil && known && who.ObjectID != "" && who.ObjectID == r.UserID
}

func (c *Core) status(ctx context.Context, a Actor) error {
	rs, err := c.mine(a)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		c.reply(ctx, a, Message{Kind: KindText, Text: "You have no pending or active elevations."})
		return nil
	}
	var lines []string
	for _, r := range rs {
		line := c.statusLine(r)
		if r.Group != 0 && r.Group != r.ID {
			line += fmt.Sprintf(" (with #%d: one request)", r.Group)
		}
		lines = append(lines, line)
	}
	c.reply(ctx, a, Message{Kind: KindText, Title: "Your elevations", Text: strings.Join(lines, "\n")})
	return nil
}

func (c *Core) statusLine(r store.Request) string {
	switch r.State {
	case store.StateActive:
		if r.Write != nil && r.Write.Action == store.WriteDeactivate {
			return fmt.Sprintf("#%d %s: active until %s; ending it in PIM (being confirmed)", r.ID, r.RoleName, c.clock(r.EndsAt))
		}
		if e := r.Extension; e != nil && e.By > 0 {
			return fmt.Sprintf("#%d %s: active until %s, then activated again for %s (your extension)", r.ID, r.RoleName, c.clock(r.EndsAt), hm(e.By))
		}
		return fmt.Sprintf("#%d %s: active until %s", r.ID, r.RoleName, c.clock(r.EndsAt))
	case store.StateAwaitingApproval:
		if pimPending(r) {
			return fmt.Sprintf("#%d %s for %s: waiting for PIM's approval (until %s)", r.ID, r.RoleName, hm(r.Duration), c.clock(r.PIMStageExpiresAt))
		}
		return fmt.Sprintf("#%d %s for %s: waiting for approval (%d of %d)", r.ID, r.RoleName, hm(r.Duration), approvals(r), r.ApprovalsNeeded)
	case store.StateAwaitingSignIn:
		return fmt.Sprintf("#%d %s for %s: waiting for your sign-in", r.ID, r.RoleName, hm(r.Duration))
	case store.StateActivating:
		if r.Write != nil && r.Write.Unknown {
			return fmt.Sprintf("#%d %s for %s: activating; Microsoft Graph has not confirmed it yet, I'm checking with PIM (attempt %d)", r.ID, r.RoleName, hm(r.Duration), r.Write.Attempts)
		}
		return fmt.Sprintf("#%d %s for %s: activating in PIM", r.ID, r.RoleName, hm(r.Duration))
	default:
		return fmt.Sprintf("#%d %s for %s: %s", r.ID, r.RoleName, hm(r.Duration), strings.ReplaceAll(string(r.State), "_", " "))
	}
}

func (c *Core) cancelAll(ctx context.Context, a Actor) error {
	rs, err := c.mine(a)
	if err != nil {
		return err
	}
	n, inPIM := 0, 0
	for _, r := range rs {
		if pimPending(r) {
			inPIM++ // withdrawn in PIM, after the sign-in it may ask for (it says so itself)
		}
		ok, err := c.cancel1(ctx, a, r.ID)
		if err != nil {
			return err
		}
		if ok {
			n++
		}
	}
	switch {
	case n == 0 && inPIM > 0:
	case n == 0:
		c.reply(ctx, a, Message{Kind: KindText, Text: "You have no pending requests to cancel. (An active role ends at its end time; see `/elevate status`.)"})
	case n == 1:
		c.reply(ctx, a, Message{Kind: KindResult, Text: "Cancelled your pending request."})
	default:
		c.reply(ctx, a, Message{Kind: KindResult, Text: fmt.Sprintf("Cancelled your %d pending requests.", n)})
	}
	return nil
}

// cancel1 cancels one pending request of the actor's; false when it was no longer pending. A
// request pending in PIM is withdrawn there too, with the requester's token.
func (c *Core) cancel1(ctx context.Context, a Actor, id uint64) (bool, error) {
	cur, err := c.store.Request(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.owns(a, cur)) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if pimPending(cur) {
		return c.cancelPIM(ctx, a, cur)
	}
	_, err = c.change(ctx, id, c.event(a, "request.cancelled", ""), func(r *store.Request, out *outbox) error {
		// Ownership was checked above (it reads the store, which fn may not); the requester
		// cannot change in between.
		if r.UserID != cur.UserID && cur.UserID != "" || !pending(r.State) || unsettledActivation(*r) {
			return store.ErrNoChange
		}
		r.State = store.StateCancelled
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

// unsettledActivation says whether r carries an activation write PIM may have taken (a crash or
// a lost answer, PIM not showing it yet): such a request is not cancelled or superseded by chat,
// which would leave PIM holding a role Elevate calls cancelled; reconciliation settles it first.
func unsettledActivation(r store.Request) bool {
	return r.Write != nil && r.Write.Action == store.WriteActivate && r.Write.Attempts > 0
}

// pending says whether a request can still be cancelled, denied or expire.
func pending(s store.State) bool {
	switch s {
	case store.StateReceived, store.StateAwaitingSignIn, store.StateAwaitingApproval:
		return true
	}
	return false
}

// approvals counts r's approvals; a request whose approvals were waived (its requester on call)
// counts as fully approved.
func approvals(r store.Request) int {
	if r.Waived != "" {
		return r.ApprovalsNeeded
	}
	n := 0
	for _, ap := range r.Approvals {
		if ap.Decision == string(ActionApprove) {
			n++
		}
	}
	return n
}

func parseID(v string) (uint64, bool) {
	id, err := strconv.ParseUint(strings.TrimPrefix(v, "#"), 10, 64)
	return id, err == nil && id > 0
}

func (c *Core) hasGroups() bool {
	for _, r := range c.cfg.Roles {
		if r.Group {
			return true
		}
	}
	return false
}

// firstSeen records once.Key on its own (for what creates no request): ErrReplay if it was seen.
func (c *Core) firstSeen(once Once) error {
	if once.Key == "" {
		return nil
	}
	at := once.At
	if at.IsZero() {
		at = c.now()
	}
	first, err := c.store.FirstSeen(once.Key, at, once.Window)
	if err != nil {
		return err
	}
	if !first {
		return ErrReplay
	}
	return nil
}
