package bot

import (
	"cmp"
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

// While the config names a pilot, only its people may use Elevate for themselves: request roles,
// list them (`roles`), see their elevations (`status`, the Slack App Home, the Teams home card),
// open the request form, extend an activation. Everyone else is told politely, in the same words
// wherever they asked. What is someone's job rather than their own use stays open to all:
// approving or denying others' requests (command, card or home), the administrators' and
// security team's commands, answering an access review, and leaving `feedback <text>`. Giving
// access back stays open too: `done` and `cancel` on one's own requests (made before the pilot,
// or before one left it). `help` answers everyone and says Elevate is in a pilot. A person
// Elevate does not know yet (a Slack user before their first sign-in) cannot be checked: a
// request of theirs is checked right after the sign-in, before anything reaches PIM.

// PilotRefusal is the answer for someone outside the pilot, or whose membership could not be
// checked: Choices returns it as its error, so that a form shows Words instead of the roles.
type PilotRefusal struct {
	Words string
	Code  string // not_in_pilot, or pilot_check_failed
}

func (p *PilotRefusal) Error() string { return "bot: " + p.Code + ": " + p.Words }

// upnUnknown is pilotMember's error when only the person's UPN could decide and Graph could not
// be asked for it.
type upnUnknown struct{ err error }

func (e upnUnknown) Error() string { return "pilot: looking up the UPN: " + e.err.Error() }
func (e upnUnknown) Unwrap() error { return e.err }

// pilotMember says whether the Entra user userID (UPN upn, if known) is in the pilot; true when
// there is none. Its error says membership could not be checked: an upnUnknown when the UPN could
// not be looked up, else the group check's.
//
// A group's answer is kept for pilotTTL: the Slack App Home is rebuilt on every change, and each
// build checks its viewer.
func (c *Core) pilotMember(ctx context.Context, userID, upn string) (bool, error) {
	pl := c.cfg.Pilot
	if pl == nil || pl.Listed(userID, upn) {
		return true, nil
	}
	// Keyed by the group too: an answer is about one group's membership, never another's.
	key := pl.Group + "|" + userID
	if v, ok := c.pilotSeen.Load(key); ok {
		if seen := v.(pilotSeen); c.now().Sub(seen.at) < pilotTTL {
			return seen.in, nil
		}
	}
	if upn == "" {
		// Teams vouches for the object id before any sign-in, but the pilot may list people by
		// UPN: look it up rather than turn a listed person away.
		u, err := c.upnOf(ctx, userID)
		if err != nil {
			return false, upnUnknown{err}
		}
		if pl.Listed(userID, u) {
			return true, nil
		}
	}
	in := false
	if pl.Group != "" {
		groups, err := c.graph.MemberOfAny(ctx, userID, []string{pl.Group})
		if err != nil {
			return false, err
		}
		in = len(groups) > 0
	}
	c.pilotSeen.Store(key, pilotSeen{in: in, at: c.now()})
	return in, nil
}

// pilotTTL is how long pilotMember's answer for a person not listed by name is kept: someone
// added to (or removed from) the pilot's group is let in (or out) within it.
const pilotTTL = 5 * time.Minute

type pilotSeen struct {
	in bool
	at time.Time
}

// pilotRefusal is the answer for the Entra user userID when it is outside the pilot or its
// membership could not be checked (err then says why); nil when it is in (or there is no pilot).
func (c *Core) pilotRefusal(ctx context.Context, userID, upn string) (*PilotRefusal, error) {
	in, err := c.pilotMember(ctx, userID, upn)
	switch {
	case err != nil:
		// Fail closed: the pilot is what the admins chose; say why and let them ask again.
		c.log.Warn("pilot check", "user_id", userID, "err", err)
		return &PilotRefusal{Code: "pilot_check_failed", Words: pilotCheckWords(err)}, err
	case in:
		return nil, nil
	}
	meanwhile := c.cfg.Pilot.Meanwhile
	if meanwhile == "" {
		meanwhile = "Meanwhile, activate roles in the Microsoft Entra admin center (Identity Governance → Privileged Identity Management → My roles)."
	}
	return &PilotRefusal{Code: "not_in_pilot",
		Words: "Thanks for trying Elevate! It is in a pilot with a few people for now, and you'll be able to use it once it opens up. " + meanwhile}, nil
}

// pilotCheckWords tells someone whose pilot membership could not be checked what failed, in
// their words: a read of their group membership (or of their account), never a PIM refusal, and
// what to do. The cause (Graph's code, status, request id) is in the log.
func pilotCheckWords(err error) string {
	const head = "Elevate is in a pilot and I couldn't check whether you are in it just now"
	var ge *graph.Error
	switch {
	case errors.Is(err, graph.ErrThrottled):
		return head + ": Microsoft Graph is busy. Try again in " + throttledWait(err) + "."
	case errors.Is(err, graph.ErrForbidden), errors.Is(err, graph.ErrUnauthorized):
		return head + ": Elevate isn't allowed to read the pilot's members. Please tell an administrator; they can run `elevate check` to see what is missing."
	case errors.Is(err, context.Canceled):
		return head + ": Elevate was stopping. Try again in a minute."
	case errors.As(err, &ge) && ge.Status > 0 && ge.Status < 500:
		what := "your group membership"
		if errors.As(err, new(upnUnknown)) {
			what = "your account"
		}
		return head + ": Microsoft Graph would not give me " + what + ". Try again in a minute; if it keeps happening, an administrator can run `elevate check` and find the details in Elevate's log."
	}
	// No answer, a timeout or a 5xx.
	return head + ": Microsoft Graph did not answer. Try again in a minute; if it keeps happening, an administrator can run `elevate check`."
}

// actorRefusal is pilotRefusal for a, when Elevate knows who a is; nil when it does not (a
// request of theirs is checked after their sign-in) or when a is in the pilot.
func (c *Core) actorRefusal(ctx context.Context, a Actor) *PilotRefusal {
	if c.cfg.Pilot == nil {
		return nil
	}
	who, known, err := c.identity(a)
	if err != nil || !known || who.ObjectID == "" {
		return nil // a binding mismatch is answered where it matters
	}
	pr, _ := c.pilotRefusal(ctx, who.ObjectID, who.UPN)
	return pr
}

// pilotRefuses answers a politely, and returns true, when a is outside the pilot (or it could not
// be checked): for what is using Elevate for oneself (see above).
func (c *Core) pilotRefuses(ctx context.Context, a Actor) bool {
	pr := c.actorRefusal(ctx, a)
	if pr == nil {
		return false
	}
	c.reply(ctx, a, Message{Kind: KindText, Text: pr.Words})
	return true
}

// piloted wraps a job that is using Elevate for oneself with the pilot's check.
func (c *Core) piloted(a Actor, job Job) Job {
	return func(ctx context.Context) error {
		if c.pilotRefuses(ctx, a) {
			return nil
		}
		return job(ctx)
	}
}

// pilotGate ends r, with a polite answer, when Elevate is in a pilot and its requester is not in
// it. A requester Elevate does not know yet (no sign-in) is checked after their sign-in, and so
// is one whose UPN alone would decide and could not be looked up. stop says whether r ended here.
func (c *Core) pilotGate(ctx context.Context, r store.Request) (stop bool, err error) {
	if c.cfg.Pilot == nil || r.UserID == "" {
		return false, nil
	}
	pr, err := c.pilotRefusal(ctx, r.UserID, r.UPN)
	if pr == nil {
		return false, nil
	}
	if errors.As(err, new(upnUnknown)) {
		c.log.Warn("pilot: checking the requester after their sign-in", "request_id", r.ID)
		return false, nil // the sign-in tells who they are; afterSignIn checks again
	}
	return true, c.endForPilot(ctx, r, pr.Code, pr.Words)
}

func (c *Core) endForPilot(ctx context.Context, r store.Request, code, words string) error {
	// The answer is queued in the same transaction as the end, so a crash cannot lose it.
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.failed", code), func(x *store.Request, out *outbox) error {
		if x.State.Terminal() || x.State == store.StateActivating || x.State == store.StateActive {
			return store.ErrNoChange
		}
		x.State, x.FailureCode, x.FailureMessage = store.StateFailed, code, words
		out.tell(*x, Message{Kind: KindResult, Text: words})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// Feedback is one `feedback` note.
type Feedback struct {
	At   time.Time `json:"at"`
	From string    `json:"from"` // UPN, or the chat display name when Elevate does not know it
	Text string    `json:"text"`
	// NameOnly says why From is a chat display name although the platform vouched for the
	// person's Entra object id (Teams): Graph could not be asked for their UPN. Empty otherwise.
	NameOnly string `json:"name_only,omitempty"`
}

const feedbackKey = "pilot.feedback"

// feedbackKept is how many notes are kept for digests; older ones stay in the audit log.
const feedbackKept = 500

// feedback keeps a note for the digest, with an audit record.
func (c *Core) feedback(ctx context.Context, a Actor, text string) error {
	from, nameOnly := cmp.Or(a.Name, a.ChatUser), ""
	if who, known, err := c.identity(a); err == nil && known {
		upn := who.UPN
		if upn == "" && who.ObjectID != "" {
			// Teams vouches for the object id before any sign-in: the person's UPN is in Entra.
			if upn, err = c.upnOf(ctx, who.ObjectID); err != nil {
				c.log.Warn("feedback: looking up the author's UPN; crediting their display name", "user_id", who.ObjectID, "err", err)
				nameOnly = "display name: Microsoft Graph could not be asked for their Entra account"
			}
		}
		if upn != "" {
			from = upn
		}
	}
	text = strings.TrimSpace(text)
	if len(text) > 1000 {
		text = text[:1000]
	}
	if _, err := c.store.AppendAudit(c.event(a, "pilot.feedback", text)); err != nil {
		return err
	}
	c.feedbackMu.Lock()
	defer c.feedbackMu.Unlock()
	notes, err := c.feedbackNotes()
	if err != nil {
		return err
	}
	notes = append(notes, Feedback{At: c.now().UTC(), From: from, Text: text, NameOnly: nameOnly})
	if len(notes) > feedbackKept {
		notes = slices.Clone(notes[len(notes)-feedbackKept:])
	}
	b, err := json.Marshal(notes)
	if err != nil {
		return err
	}
	if _, err := c.store.SwapState(feedbackKey, b); err != nil {
		return err
	}
	ack := "Thanks! Your note goes to the team in the weekly digest."
	if c.cfg.Pilot == nil {
		// The digest shows notes only during a pilot (its "Pilot feedback" line).
		ack = "Thanks! Your note is kept in Elevate's audit log for the team."
	}
	c.reply(ctx, a, Message{Kind: KindResult, Text: ack})
	return nil
}

func (c *Core) feedbackNotes() ([]Feedback, error) {
	b, err := c.store.State(feedbackKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var notes []Feedback
	if len(b) > 0 {
		if err := json.Unmarshal(b, &notes); err != nil {
			return nil, fmt.Errorf("bot: reading feedback notes: %w", err)
		}
	}
	return notes, nil
}

// PilotFeedback returns the `feedback` notes left in [from, to), oldest first, for the digest.
func (c *Core) PilotFeedback(from, to time.Time) ([]Feedback, error) {
	notes, err := c.feedbackNotes()
	if err != nil {
		return nil, err
	}
	var out []Feedback
	for _, n := range notes {
		if !n.At.Before(from) && n.At.Before(to) {
			out = append(out, n)
		}
	}
	return out, nil
}
