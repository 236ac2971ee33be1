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
	"github.com/elevate-pim/elevate/store"
)

// Crash consistency for PIM writes (DESIGN §3, issue #10). Every PIM write is preceded by its
// intent, store.Request.Write, committed with an audit record; the write runs under its own
// timeout, detached from the caller's cancellation; a write whose answer does not come back
// (timeout, reset, 5xx, shutdown) has an unknown outcome, which is a state, never "nothing was
// changed". Reconcile looks every such write up in PIM, at startup and in the minute sweep, and
// moves its request to what PIM says, with a "request.reconciled" audit record; a write PIM
// shows no trace of is made again (after looking, so never twice) a bounded number of times.
//
// The mechanism is reusable: a new kind of write claims its request (claim, release) BEFORE
// recording its intent with beginWrite, so the sweep never looks up a write still being made
// in this process; makes the write with pimCall; settles the answer with writeUnknown or its own
// transition (clearing Write); and adds its look-up to reconcile.

const (
	defaultWriteTimeout = 30 * time.Second
	// maxWriteAttempts bounds how often one write is sent when PIM shows no trace of it.
	maxWriteAttempts = 4
	// lookBound is how long Elevate keeps trying to look a write up while Graph does not
	// answer; then the request ends with words that say the outcome could not be confirmed.
	lookBound = time.Hour
)

// writeBackoff is how long after attempt n Elevate looks at PIM again: 1, 2, 4, 8… minutes.
func writeBackoff(n int) time.Duration {
	return min(time.Minute<<max(n-1, 0), 15*time.Minute)
}

// pimCall runs one PIM write under its own timeout, detached from the caller's cancellation: a
// shutdown or an adapter giving up must not cut a write off halfway and leave its outcome unknown
// when waiting a little would have told.
//
// A process that no longer leads (Options.Leading) sends nothing: a leader frozen past its lease
// (a GC pause, SIGSTOP, a paused VM) that wakes up here would otherwise make a write the new
// leader may be making too. The answer is an unknown outcome, the one answer that is true for the
// caller (its record of it is refused anyway): the leader looks the write up and makes it.
func (c *Core) pimCall(ctx context.Context, fn func(ctx context.Context) error) error {
	if c.leading != nil && !c.leading() {
		return fmt.Errorf("%w: this process no longer leads, so it did not send the PIM write", graph.ErrUnavailable)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.writeTimeout)
	defer cancel()
	return fn(wctx)
}

// claim marks request id as worked on by this process (a write or a reconciliation); false
// when it already is. After a restart nothing is claimed, so every intent is looked up.
func (c *Core) claim(id uint64) bool {
	_, busy := c.inflight.LoadOrStore(id, struct{}{})
	return !busy
}

func (c *Core) release(id uint64) { c.inflight.Delete(id) }

// spawn runs fn in the background, at most Options.Workers at a time, tied to the core's context
// and wait group: the sweep never waits for Graph.
func (c *Core) spawn(name string, fn func(ctx context.Context) error) {
	c.background(name, func(ctx context.Context) error {
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		defer func() { <-c.slots }()
		return fn(ctx)
	})
}

// beginWrite commits the intent w on request id (with ev), if ok accepts the stored request (ok
// may adjust both); it returns the request as committed, or store.ErrNoChange when ok refused.
func (c *Core) beginWrite(ctx context.Context, id uint64, ev store.AuditRecord, w store.Write, ok func(r *store.Request, w *store.Write) error) (store.Request, error) {
	return c.beginWriteWith(ctx, id, ev, w, func(r *store.Request, w *store.Write, _ *outbox) error { return ok(r, w) })
}

// beginWriteWith is beginWrite whose ok may queue what the intent tells ("Activating …") with
// out, in the intent's transaction.
func (c *Core) beginWriteWith(ctx context.Context, id uint64, ev store.AuditRecord, w store.Write, ok func(r *store.Request, w *store.Write, out *outbox) error) (store.Request, error) {
	return c.change(ctx, id, ev, func(r *store.Request, out *outbox) error {
		w := w
		if err := ok(r, &w, out); err != nil {
			return err
		}
		r.Write = &w
		return nil
	})
}

// writeUnknown records that the write of r (its Write) got no answer that says whether PIM took
// it: the request keeps its state, the write is looked up again after a backoff, and whoever
// made it is told once that it is being checked. cause is for the log and the audit.
func (c *Core) writeUnknown(ctx context.Context, r store.Request, cause error) error {
	c.log.Warn("PIM write outcome unknown; it will be looked up", "request_id", r.ID, "err", cause)
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.write_unknown", unknownCode(cause)), func(r *store.Request, out *outbox) error {
		if r.Write == nil {
			return store.ErrNoChange
		}
		w := *r.Write
		w.Unknown, w.Retry = true, c.now().UTC().Add(writeBackoff(w.Attempts))
		told := w.Told
		w.Told = true
		r.Write = &w
		if !told {
			queueToWriter(out, *r, w, Message{Kind: KindProgress, RequestID: r.ID, Text: unknownWords(*r, cause)})
		}
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// queueToWriter queues m for whoever made write w on r: an approver, or the requester.
func queueToWriter(out *outbox, r store.Request, w store.Write, m Message) {
	m.RequestID = r.ID
	if w.ByChatUser != "" && (w.ByPlatform != r.Platform || w.ByChatUser != r.ChatUser) {
		out.send(w.ByPlatform, DM(w.ByChatUser), m)
		return
	}
	out.tell(r, m)
}

func unknownCode(err error) string {
	var ge *graph.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ge) && ge.Status != 0:
		return fmt.Sprintf("http_%d", ge.Status)
	}
	return "no_answer"
}

// unknownWords tells the one who made a write what Elevate knows: that it does not know yet.
func unknownWords(r store.Request, cause error) string {
	busy := errors.Is(cause, graph.ErrThrottled) && !graph.OutcomeUnknown(cause)
	switch r.Write.Action {
	case store.WriteActivate:
		if busy {
			return fmt.Sprintf("Microsoft Graph is busy right now. Your request #%d for %s is kept; I'll check PIM and try again in a minute, and tell you how it went.", r.ID, r.RoleName)
		}
		return fmt.Sprintf("Microsoft Graph did not answer whether PIM activated %s (request #%d). I'll look it up in PIM and try again if it is not there, and tell you how it went.", r.RoleName, r.ID)
	case store.WriteDeactivate:
		return fmt.Sprintf("Microsoft Graph did not answer whether PIM ended %s. I'll look it up in PIM and tell you.", r.RoleName)
	case store.WriteApprove, store.WriteDeny:
		return fmt.Sprintf("Microsoft Graph did not answer whether PIM took your decision on request #%d. I'll look it up in PIM and tell you.", r.ID)
	case store.WriteCancel:
		return fmt.Sprintf("Microsoft Graph did not answer whether PIM withdrew your request for %s. I'll look it up in PIM and tell you.", r.RoleName)
	}
	return fmt.Sprintf("Microsoft Graph did not answer about request #%d. I'll look it up in PIM and tell you.", r.ID)
}

// Resume picks up, after a start, what was acknowledged but never finished: writes whose outcome
// is unknown (or that a crash cut off) are looked up in PIM, requests whose sign-in link lived
// only in the memory of the previous process get a new one, approved requests that were never
// activated are activated, and requests left in received (acknowledged, never moved on, no
// offer queued) are started again. The sweep (Expire) does the same every minute; calling it twice is
// harmless.
func (c *Core) Resume(ctx context.Context) error {
	return c.Reconcile(ctx)
}

// Reconcile looks up in PIM every open request with a PIM write in flight or of unknown outcome
// (and every request stranded in activating) that no one in this process is working on, and
// resumes stored requests whose next step never ran. The work runs in the background, a few at
// a time; Wait waits for it.
func (c *Core) Reconcile(ctx context.Context) error {
	c.reconcileConversions()
	rs, err := c.store.Requests(store.Filter{OpenOnly: true})
	if err != nil {
		return err
	}
	now := c.now()
	for _, r := range rs {
		switch {
		case r.Write != nil || r.State == store.StateActivating:
			if r.Write != nil && !r.Write.Retry.IsZero() && now.Before(r.Write.Retry) {
				continue
			}
		case r.State == store.StateAwaitingSignIn:
			// Its link lived in the memory of the process that sent it. One stored before this
			// process started (a restart, a takeover by a standby) gets a new link now; one of
			// this process's own waits a minute, as its link may be on its way.
			mine := !r.UpdatedAt.Before(c.started)
			if _, sent := c.asked.Load(r.ID); sent || expired(r, now) || mine && now.Sub(r.UpdatedAt) < time.Minute {
				continue
			}
		case now.Sub(r.UpdatedAt) < time.Minute:
			// Its own next step may be on its way (a job after an acknowledgement).
			continue
		case r.State == store.StateAwaitingApproval && !pimPending(r) && r.ApprovalsNeeded > 0 && approvals(r) >= r.ApprovalsNeeded:
			// approved, never activated
		case r.State == store.StateReceived && r.FailureCode == CodeGraphUnavailable && !expired(r, now):
			// waiting for Graph, as an older version stored it
		case r.State == store.StateReceived && r.OfferedAt.IsZero() && !expired(r, now):
			// Acknowledged, but its next step never ran (the process stopped first): no offer
			// was queued and nothing moved it on. Started again, not left to expire unseen.
			req := r
			c.spawn("resume request", func(ctx context.Context) error { return c.resumeReceived(ctx, req) })
			continue
		default:
			continue
		}
		if !c.claim(r.ID) {
			continue
		}
		id := r.ID
		c.spawn("reconcile", func(ctx context.Context) error {
			defer c.release(id)
			return c.reconcile(ctx, id)
		})
	}
	return nil
}

func expired(r store.Request, now time.Time) bool {
	return !r.ExpiresAt.IsZero() && now.After(r.ExpiresAt)
}

// reconcile moves one request on; its claim is held.
func (c *Core) reconcile(ctx context.Context, id uint64) error {
	r, err := c.store.Request(id)
	if err != nil || r.State.Terminal() {
		return err
	}
	w := r.Write
	switch {
	case w == nil && r.State == store.StateAwaitingSignIn:
		// The link was in the memory of a process that is gone: ask again, saying the old
		// link is dead (its page says so too).
		why := ""
		if r.UpdatedAt.Before(c.started) {
			why = "Elevate restarted, so the sign-in link I sent you earlier no longer works."
		}
		return c.sendSignIn(ctx, r, why, "")
	case w == nil && (r.State == store.StateAwaitingApproval || r.State == store.StateReceived):
		return c.activateClaimed(ctx, id)
	case w == nil, w.Action == store.WriteActivate:
		return c.reconcileActivation(ctx, r)
	case w.Action == store.WriteDeactivate:
		return c.reconcileDeactivation(ctx, r)
	case w.Action == store.WriteApprove, w.Action == store.WriteDeny, w.Action == store.WriteCancel:
		return c.reconcileDecision(ctx, r)
	case w.Action == store.WriteExtend:
		return c.reconcileExtension(ctx, r)
	}
	c.log.Warn("no reconciliation for this write; left for its owner", "request_id", id, "action", w.Action)
	return nil
}

// lookFailed keeps a write whose look-up failed for later, or, past lookBound, ends the wait
// with words that say what is not known.
func (c *Core) lookFailed(ctx context.Context, r store.Request, cause error, giveUp func() error) error {
	c.log.Warn("looking a PIM write up failed", "request_id", r.ID, "err", cause)
	w := r.Write
	if w != nil && c.now().Sub(w.At) > lookBound && giveUp != nil {
		return giveUp()
	}
	_, err := c.update(ctx, r.ID, systemEvent(c.now(), "request.look_failed", unknownCode(cause)), func(r *store.Request) error {
		if r.Write == nil {
			return store.ErrNoChange
		}
		w := *r.Write
		w.Retry = c.now().UTC().Add(writeBackoff(w.Attempts))
		if errors.Is(cause, errNotShownYet) {
			// Graph answered; PIM only needs a moment: the next sweep looks again.
			w.Retry = c.now().UTC().Add(notShownRetry)
		}
		r.Write = &w
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// pimSays is what a look at PIM found for a request.
type pimSays struct {
	active     bool
	start, end time.Time
	request    string // PIM's request id of the write, when the audit log shows it already
}

// pending is the PIM request id of an activation waiting for PIM's approval, if that is what
// PIM says.
func (s pimSays) pending() string {
	if s.active {
		return ""
	}
	return s.request
}

// lookActivation reads PIM for r's principal and role or group: an activated assignment, or an
// activation waiting for PIM's approval since the intent (directory audits, which lag).
func (c *Core) lookActivation(ctx context.Context, r store.Request) (pimSays, error) {
	var out pimSays
	if role, ok := c.isGroup(r); ok {
		pg, _ := c.pim()
		as, err := pg.ActiveGroupAssignments(ctx, r.UserID)
		if err != nil {
			return out, err
		}
		for _, a := range as {
			if strings.EqualFold(a.GroupID, r.RoleID) && (role.Access == "" || strings.EqualFold(a.AccessID, role.Access)) {
				out.active, out.start, out.end = true, a.Start, a.End
			}
		}
		return out, nil
	}
	as, err := c.graph.ActiveAssignments(ctx, r.UserID)
	if err != nil {
		return out, err
	}
	for _, a := range as {
		if strings.EqualFold(a.RoleID, r.RoleID) && a.AssignmentType == "Activated" && a.End.After(out.end) {
			out.active, out.start, out.end = true, a.Start, a.End
		}
	}
	pg, ok := c.pim()
	if !ok || r.Write == nil || r.Write.Action != store.WriteActivate {
		return out, nil
	}
	// PIM's request id of the write, from the audit log (which lags): it tells Elevate's own
	// activations from those made outside it, and an approval PIM waits for.
	activity := graph.ActivityApprovalRequested
	if out.active {
		activity = graph.ActivityActivationCompleted
	}
	// A margin for clock skew between Elevate and Entra.
	evs, err := pg.DirectoryAudits(ctx, activity, r.Write.At.Add(-10*time.Minute))
	if err != nil {
		c.log.Warn("reading PIM's audit log", "request_id", r.ID, "err", err)
		return out, nil // instances said what they could; the write is tried again only after looking
	}
	for _, e := range evs {
		if strings.EqualFold(e.TargetID, r.UserID) && strings.EqualFold(e.RoleID, r.RoleID) && e.RequestID != "" {
			out.request = e.RequestID
		}
	}
	return out, nil
}

// reconcileActivation moves a request whose activation may or may not have reached PIM to what
// PIM says: active, waiting for PIM's approval, or (nothing there) written again.
func (c *Core) reconcileActivation(ctx context.Context, r store.Request) error {
	if r.UserID == "" {
		return nil
	}
	says, err := c.lookActivation(ctx, r)
	if err != nil {
		return c.lookFailed(ctx, r, err, func() error {
			return c.failUnknown(ctx, r, fmt.Sprintf("Microsoft Graph has not answered for an hour, so I could not confirm whether PIM activated %s. Check My roles in the PIM portal, and ask again if it is not there.", r.RoleName))
		})
	}
	switch {
	case says.active:
		return c.activeNow(ctx, r.ID, graph.Activation{RequestID: says.request, Status: "Provisioned"}, says.start, says.end,
			systemEvent(c.now(), "request.reconciled", "active in PIM until "+says.end.UTC().Format(time.RFC3339)))
	case says.pending() != "":
		return c.pimApprovalPendingEv(ctx, r.ID, graph.Activation{RequestID: says.request, Status: "PendingApproval"},
			systemEvent(c.now(), "request.reconciled", "waiting for PIM's approval: "+says.request))
	}
	// PIM shows no trace of it.
	attempts := 0
	if r.Write != nil {
		attempts = r.Write.Attempts
	}
	if r.State == store.StateAwaitingSignIn {
		if expired(r, c.now()) {
			return c.expireNow(ctx, r, "not in PIM")
		}
		if _, sent := c.asked.Load(r.ID); !sent {
			// The link asked for lived in the memory of a process that is gone: ask again.
			return c.sendSignIn(ctx, r, fmt.Sprintf("PIM shows no activation of %s for you yet.", r.RoleName), "")
		}
		return c.lookFailed(ctx, r, errors.New("not in PIM yet; waiting for the requester's sign-in"), nil)
	}
	if attempts >= maxWriteAttempts {
		return c.failUnknown(ctx, r, fmt.Sprintf("PIM did not take the activation after %d tries, and it shows no activation or pending request of %s for you, so nothing was changed. Ask again in a few minutes.", attempts, r.RoleName))
	}
	if _, ok := c.freshToken(r, c.cfg.RoleByID(r.RoleID)); ok {
		return c.activateClaimed(ctx, r.ID)
	}
	why := fmt.Sprintf("PIM shows no activation of %s for you yet (Microsoft Graph did not answer in time).", r.RoleName)
	if r.Write == nil || !r.Write.Unknown { // no timeout was recorded (writeUnknown): the process stopped
		why = fmt.Sprintf("Elevate restarted before PIM's answer about %s arrived, and PIM shows no activation of it.", r.RoleName)
	}
	return c.askSignIn(ctx, r, why+" Sign in again and I'll try once more.", "")
}

// failWriteUnconfirmed is the failure code of a request whose PIM write was never confirmed.
const failWriteUnconfirmed = "write_unconfirmed"

// failUnknown ends a request whose write could not be completed or confirmed, with the words
// that say exactly what is known.
func (c *Core) failUnknown(ctx context.Context, r store.Request, words string) error {
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.failed", failWriteUnconfirmed), func(r *store.Request, out *outbox) error {
		if r.State.Terminal() || r.State == store.StateActive {
			return store.ErrNoChange
		}
		r.State, r.FailureCode, r.FailureMessage, r.Write = store.StateFailed, failWriteUnconfirmed, words, nil
		if toldAlone(*r) { // a role of several: the request's one line says it (groupSummary)
			out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("%s was not activated. %s", r.RoleName, words)})
		}
		out.cards(*r)
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// expireNow ends a pending request past its deadline.
func (c *Core) expireNow(ctx context.Context, r store.Request, why string) error {
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.expired", why), func(r *store.Request, out *outbox) error {
		if !pending(r.State) {
			return store.ErrNoChange
		}
		r.State, r.Write = store.StateExpired, nil
		out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("Your request for %s expired without a decision. Ask again if you still need it.", r.RoleName)})
		out.cards(*r)
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// reconcileDeactivation settles a `done` whose answer did not come: PIM shows the role ended
// (recorded) or still active (the user is told to say done again).
func (c *Core) reconcileDeactivation(ctx context.Context, r store.Request) error {
	says, err := c.lookActivation(ctx, r)
	if err != nil {
		return c.lookFailed(ctx, r, err, func() error {
			return c.clearWriteTelling(ctx, r, "deactivation unconfirmed", func(r store.Request, w store.Write, out *outbox) {
				queueToWriter(out, r, w, Message{Kind: KindText, Text: fmt.Sprintf("I could not confirm with PIM whether %s ended; `/elevate status` and PIM's My roles show it.", r.RoleName)})
			})
		})
	}
	if !says.active && c.maybeNotShownYet(ctx, r) {
		// Not shown active, but PIM may not show an activation this new yet and has recorded no
		// deactivation: a crash between the intent and the write looks just like this. Look again
		// later; past the provisioning window, absent means ended.
		return c.lookFailed(ctx, r, errNotShownYet, nil)
	}
	if !says.active {
		now := c.now().UTC()
		_, err := c.change(ctx, r.ID, systemEvent(now, "request.reconciled", "not active in PIM any more"), func(r *store.Request, out *outbox) error {
			if r.State != store.StateActive {
				return store.ErrNoChange
			}
			r.State, r.EndsAt, r.Write = store.StateEnded, now, nil
			out.tell(*r, Message{Kind: KindResult, RequestID: r.ID, Text: fmt.Sprintf("Done: PIM shows %s deactivated. Thanks for giving it back early.", r.RoleName)})
			out.cards(*r)
			c.queueEnded(out, *r, now)
			return nil
		})
		if errors.Is(err, store.ErrNoChange) {
			return nil
		}
		return err
	}
	return c.clearWriteTelling(ctx, r, "still active in PIM", func(r store.Request, w store.Write, out *outbox) {
		queueToWriter(out, r, w, Message{Kind: KindText, Text: fmt.Sprintf("PIM still shows %s active until %s: the deactivation did not go through. Say `/elevate done` again to end it.", r.RoleName, c.clock(says.end))})
	})
}

// notShownRetry is how soon a write PIM does not show yet is looked at again: by the next sweep.
const notShownRetry = 30 * time.Second

// errNotShownYet is a look-up that found the activation neither active nor ended (a deactivation),
// or a follow-up not shown yet: PIM is still provisioning.
var errNotShownYet = errors.New("bot: PIM shows the activation neither active nor deactivated yet")

// activityDeactivated is what PIM's audit log records for a completed selfDeactivate (graph-pim.md).
const activityDeactivated = "Remove member from role completed (PIM deactivate)"

// maybeNotShownYet says whether r, not shown active by PIM, may still be an activation PIM has not
// made visible yet rather than one that ended: it was activated less than the provisioning window
// ago (UsableTimeout) and PIM's audit log records no deactivation of it since its write's intent.
// Group memberships are judged by the window alone.
func (c *Core) maybeNotShownYet(ctx context.Context, r store.Request) bool {
	if r.ActivatedAt.IsZero() || c.now().Sub(r.ActivatedAt) >= c.usable {
		return false
	}
	pg, ok := c.pim()
	if _, group := c.isGroup(r); group || !ok || r.Write == nil {
		return true
	}
	evs, err := pg.DirectoryAudits(ctx, activityDeactivated, r.Write.At.Add(-10*time.Minute))
	if err != nil {
		return true
	}
	for _, e := range evs {
		if strings.EqualFold(e.TargetID, r.UserID) && strings.EqualFold(e.RoleID, r.RoleID) && !e.At.Before(r.ActivatedAt) {
			return false // PIM recorded it ended
		}
	}
	return true
}

// clearWrite drops r's write (its outcome is settled without a state change), with an audit record.
func (c *Core) clearWrite(ctx context.Context, r store.Request, why string) error {
	return c.clearWriteTelling(ctx, r, why, nil)
}

// clearWriteTelling is clearWrite that also queues, in the same transaction, what tell queues.
func (c *Core) clearWriteTelling(ctx context.Context, r store.Request, why string, tell func(r store.Request, w store.Write, out *outbox)) error {
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.reconciled", why), func(r *store.Request, out *outbox) error {
		if r.Write == nil {
			return store.ErrNoChange
		}
		w := *r.Write
		r.Write = nil
		if tell != nil {
			tell(*r, w, out)
		}
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// reconcileDecision settles an approval, denial or cancellation in PIM whose answer did not come,
// by reading PIM's request (with Elevate's own identity).
func (c *Core) reconcileDecision(ctx context.Context, r store.Request) error {
	pg, ok := c.pim()
	if !ok {
		return nil
	}
	w := *r.Write
	var sr graph.ScheduleRequest
	var err error
	if _, group := c.isGroup(r); group {
		sr, err = pg.GroupRequest(ctx, graph.UserToken{}, w.Target)
	} else {
		sr, err = pg.RoleRequest(ctx, graph.UserToken{}, w.Target)
	}
	if err != nil {
		// Elevate may not read requests (read-only permissions): the instances still tell an
		// approval that went through.
		if says, lerr := c.lookActivation(ctx, r); lerr == nil && says.active {
			return c.activeNow(ctx, r.ID, graph.Activation{Status: "Provisioned"}, says.start, says.end,
				systemEvent(c.now(), "request.reconciled", "active in PIM"))
		}
		return c.lookFailed(ctx, r, err, func() error {
			return c.clearWriteTelling(ctx, r, "decision unconfirmed", func(r store.Request, w store.Write, out *outbox) {
				queueToWriter(out, r, w, Message{Kind: KindText, Text: fmt.Sprintf("I could not confirm with PIM what became of request #%d; check it in the PIM portal.", r.ID)})
			})
		})
	}
	if sr.Status == "PendingApproval" {
		// PIM did not take it.
		what := map[string]string{store.WriteApprove: "approval", store.WriteDeny: "denial", store.WriteCancel: "withdrawal"}[w.Action]
		again := "Click again on the card to decide."
		if w.Action == store.WriteCancel {
			again = "Say `/elevate cancel` again to withdraw it."
		}
		return c.clearWriteTelling(ctx, r, "PIM shows it still pending", func(r store.Request, w store.Write, out *outbox) {
			queueToWriter(out, r, w, Message{Kind: KindText, Text: fmt.Sprintf("PIM did not take your %s of request #%d for %s; it is still pending there. %s", what, r.ID, r.RoleName, again)})
			out.cards(r)
		})
	}
	if w.Action == store.WriteApprove || w.Action == store.WriteDeny {
		// Record whose decision PIM took, as the answer would have, and tell its author (once:
		// the approval is recorded, or the write cleared, in the same transaction).
		what := map[string]string{store.WriteApprove: "approval", store.WriteDeny: "denial"}[w.Action]
		took := (w.Action == store.WriteApprove) == (sr.Status != "Denied")
		_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.reconciled", "decided in PIM: "+sr.Status), func(r *store.Request, out *outbox) error {
			if !pimPending(*r) || r.Write == nil || slices.ContainsFunc(r.Approvals, func(a store.Approval) bool { return a.Approver == w.By && a.InPIM }) {
				return store.ErrNoChange
			}
			if !took {
				r.Write = nil
				queueToWriter(out, *r, w, Message{Kind: KindText, Text: fmt.Sprintf("Request #%d for %s was decided otherwise in PIM (%s) before your %s.", r.ID, r.RoleName, strings.ToLower(sr.Status), what)})
				return nil
			}
			r.Approvals = append(r.Approvals, store.Approval{Approver: w.By, Platform: w.ByPlatform, ChatUser: w.ByChatUser,
				Decision: map[string]string{store.WriteApprove: string(ActionApprove), store.WriteDeny: string(ActionDeny)}[w.Action],
				Reason:   w.Reason, At: c.now().UTC(), InPIM: true})
			queueToWriter(out, *r, w, Message{Kind: KindText, Text: fmt.Sprintf("PIM took your %s of request #%d for %s.", what, r.ID, r.RoleName)})
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNoChange) {
			return err
		}
		if r, err = c.store.Request(r.ID); err != nil {
			return err
		}
	}
	return c.applyPIMStatus(ctx, r, sr.Status, "request.reconciled")
}

// syncActive compares Elevate's active requests with PIM's assignments: an activation ended in
// the portal (or by PIM) ends here too, one lengthened outside Elevate gets PIM's end time. It
// runs in the background, one at a time.
func (c *Core) syncActive(ctx context.Context) {
	if !c.syncing.CompareAndSwap(false, true) {
		return
	}
	c.spawn("active sync", func(ctx context.Context) error {
		defer c.syncing.Store(false)
		rs, err := c.store.Requests(store.Filter{States: []store.State{store.StateActive}})
		if err != nil {
			return err
		}
		for _, r := range rs {
			now := c.now()
			// PIM can take minutes to show a new activation; extensions are followed by their owner.
			if r.Write != nil || r.UserID == "" || now.Sub(r.ActivatedAt) < c.usable || !now.Before(r.EndsAt) || r.Extension != nil || c.extension(r.ID).Used > 0 {
				continue
			}
			if !c.claim(r.ID) {
				continue
			}
			err := c.syncOne(ctx, r)
			c.release(r.ID)
			if err != nil {
				c.log.Warn("comparing an activation with PIM", "request_id", r.ID, "err", err)
			}
		}
		return nil
	})
}

func (c *Core) syncOne(ctx context.Context, r store.Request) error {
	says, err := c.lookActivation(ctx, r)
	if err != nil {
		return err
	}
	now := c.now().UTC()
	if says.active {
		c.seen.Store(r.ID, true)
	} else if _, ok := c.seen.Swap(r.ID, false); !ok {
		// Never seen in PIM by this process: PIM may still be provisioning it. Absent at the
		// next look too, it has ended.
		return nil
	}
	switch {
	case !says.active:
		_, err := c.change(ctx, r.ID, systemEvent(now, "request.reconciled", "ended in PIM outside Elevate"), func(r *store.Request, out *outbox) error {
			if r.State != store.StateActive || r.Write != nil {
				return store.ErrNoChange
			}
			r.State, r.EndsAt = store.StateEnded, now
			out.tell(*r, Message{Kind: KindResult, RequestID: r.ID, Text: fmt.Sprintf("%s has ended in PIM (outside Elevate, before %s).", r.RoleName, c.clock(now))})
			out.cards(*r)
			return nil
		})
		if errors.Is(err, store.ErrNoChange) {
			return nil
		}
		if err != nil {
			return err
		}
	case says.end.After(r.EndsAt.Add(time.Minute)):
		_, err := c.change(ctx, r.ID, systemEvent(now, "request.reconciled", "PIM ends it at "+says.end.UTC().Format(time.RFC3339)), func(r *store.Request, out *outbox) error {
			if r.State != store.StateActive || r.Write != nil {
				return store.ErrNoChange
			}
			r.EndsAt = says.end
			out.tell(*r, Message{Kind: KindText, RequestID: r.ID, Text: fmt.Sprintf("PIM now ends %s at %s (changed outside Elevate).", r.RoleName, c.clock(r.EndsAt))})
			out.cards(*r)
			return nil
		})
		if errors.Is(err, store.ErrNoChange) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// claimKey and releaseKey are claim and release for writes without a request (conversions).
func (c *Core) claimKey(key string) bool {
	_, busy := c.inflight.LoadOrStore(key, struct{}{})
	return !busy
}

func (c *Core) releaseKey(key string) { c.inflight.Delete(key) }

// convertIntent is the intent of `/elevate convert`: an admin's two PIM writes (the eligibility,
// then the removal of the standing assignment), kept in a store cursor until the answer, or a
// look at PIM, says what became of them.
type convertIntent struct {
	Admin     string    `json:"admin"` // Entra object id whose token makes the writes
	AdminName string    `json:"admin_name,omitempty"`
	Platform  string    `json:"platform"` // where to tell the admin
	ChatUser  string    `json:"chat_user"`
	User      string    `json:"user"`
	UserName  string    `json:"user_name,omitempty"`
	Role      string    `json:"role"`
	RoleName  string    `json:"role_name,omitempty"`
	At        time.Time `json:"at"`
	Unknown   bool      `json:"unknown,omitempty"`
	Retry     time.Time `json:"retry,omitzero"`
}

const convertPrefix = "intent/convert/"

func convertKey(userID, roleID string) string {
	return convertPrefix + strings.ToLower(userID) + "|" + strings.ToLower(roleID)
}

func (c *Core) saveConvertIntent(in convertIntent, ev store.AuditRecord) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, err = c.store.SetCursorAudit(convertKey(in.User, in.Role), b, ev)
	return err
}

// reconcileConversions looks up in PIM the conversions whose outcome is unknown or that a crash
// cut off, in the background.
func (c *Core) reconcileConversions() {
	all, err := c.store.Cursors(convertPrefix)
	if err != nil {
		c.log.Error("reading conversion intents", "err", err)
		return
	}
	now := c.now()
	for key, b := range all {
		var in convertIntent
		if err := json.Unmarshal(b, &in); err != nil {
			c.log.Error("a conversion intent", "key", key, "err", err)
			continue
		}
		if !in.Retry.IsZero() && now.Before(in.Retry) || !c.claimKey(key) {
			continue
		}
		c.spawn("reconcile conversion", func(ctx context.Context) error {
			defer c.releaseKey(key)
			return c.reconcileConversion(ctx, key, in)
		})
	}
}

// reconcileConversion reads the user's standing assignments and eligibilities and tells the
// admin what PIM shows; the intent is then cleared (a conversion is not retried unasked).
func (c *Core) reconcileConversion(ctx context.Context, key string, in convertIntent) error {
	as, err := c.graph.ActiveAssignments(ctx, in.User)
	var els []graph.Eligibility
	if err == nil {
		els, err = c.graph.EligibleRoles(ctx, in.User)
	}
	if err != nil {
		c.log.Warn("looking a conversion up in PIM", "user_id", in.User, "err", err)
		if c.now().Sub(in.At) > lookBound {
			return c.settleConvert(ctx, key, systemEvent(c.now(), "standing.convert", fmt.Sprintf("user=%s role=%q unconfirmed", in.User, in.RoleName)), func(out *outbox) error {
				out.send(in.Platform, DM(in.ChatUser), Message{Kind: KindText, Text: fmt.Sprintf("I could not confirm with PIM whether %s's %s was converted; `/elevate discover` shows what is standing now.", in.UserName, in.RoleName)})
				return nil
			})
		}
		in.Retry = c.now().UTC().Add(writeBackoff(1))
		b, _ := json.Marshal(in)
		return c.store.SetCursor(key, b)
	}
	standing := slices.ContainsFunc(as, func(x graph.Assignment) bool {
		return strings.EqualFold(x.RoleID, in.Role) && x.AssignmentType == "Assigned" && x.End.IsZero()
	})
	eligible := slices.ContainsFunc(els, func(e graph.Eligibility) bool {
		return strings.EqualFold(e.RoleID, in.Role) && e.ViaGroupName == ""
	})
	var outcome, text string
	switch {
	case !standing && eligible:
		outcome, text = "converted", fmt.Sprintf("Converted: PIM shows %s eligible for %s, and the standing assignment is removed.", in.UserName, in.RoleName)
	case standing && eligible:
		outcome, text = "half", fmt.Sprintf("PIM shows %s eligible for %s, but the standing assignment is still there: say `/elevate convert` again to remove it.", in.UserName, in.RoleName)
	case standing:
		outcome, text = "unchanged", fmt.Sprintf("PIM shows %s's standing %s unchanged: the conversion did not go through. Say `/elevate convert` again.", in.UserName, in.RoleName)
	default:
		outcome, text = "removed_not_eligible", fmt.Sprintf("PIM shows %s's standing %s removed, but no eligibility for it: make them eligible in PIM if they still need it.", in.UserName, in.RoleName)
	}
	return c.settleConvert(ctx, key, systemEvent(c.now(), "standing.reconciled", fmt.Sprintf("user=%s role=%q %s", in.User, in.RoleName, outcome)), func(out *outbox) error {
		out.send(in.Platform, DM(in.ChatUser), Message{Kind: KindResult, Text: text})
		if outcome == "converted" {
			out.alert(in.Platform, Message{Text: fmt.Sprintf("%s converted %s's standing %s to eligible.", in.AdminName, in.UserName, in.RoleName)})
		}
		return nil
	})
}

// settleConvert clears the conversion intent key with ev and queues what fn queues, in one
// transaction (a crash cannot clear the intent and lose what tells the admin), then delivers it.
func (c *Core) settleConvert(ctx context.Context, key string, ev store.AuditRecord, fn func(out *outbox) error) error {
	added, err := c.store.SetCursorAuditWith(key, nil, ev, func(ob *store.Outbox) error {
		o := &outbox{c: c, ob: ob}
		if err := fn(o); err != nil {
			return err
		}
		return o.err
	})
	if err != nil {
		return err
	}
	c.crashed("conversion settled")
	c.flush(ctx, added)
	return nil
}

// crashed is a named point right after a commit, for tests that crash the process there.
func (c *Core) crashed(point string) {
	if c.crash != nil {
		c.crash(point)
	}
}
