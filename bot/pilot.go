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

	"github.com/elevate-pim/elevate/store"
)

// While the config names a pilot, only its people may request roles; everyone else is told
// politely, and anyone may leave a note with `feedback <text>` for the weekly digest.

// pilotGate ends r, with a polite answer, when Elevate is in a pilot and its requester is not in
// it. A requester Elevate does not know yet (no sign-in) is checked after their sign-in. stop
// says whether r ended here.
func (c *Core) pilotGate(ctx context.Context, r store.Request) (stop bool, err error) {
	pl := c.cfg.Pilot
	if pl == nil || r.UserID == "" || pl.Listed(r.UserID, r.UPN) {
		return false, nil
	}
	if r.UPN == "" {
		// Teams vouches for the object id before any sign-in, but the pilot may list people by
		// UPN: look it up rather than turn a listed person away.
		u, err := c.graph.User(ctx, r.UserID)
		if err != nil {
			c.log.Warn("pilot: looking up the requester's UPN; checking after their sign-in", "request_id", r.ID, "err", err)
			return false, nil // the sign-in tells who they are; afterSignIn checks again
		}
		if pl.Listed(r.UserID, u.UPN) {
			return false, nil
		}
	}
	if pl.Group != "" {
		in, err := c.graph.MemberOfAny(ctx, r.UserID, []string{pl.Group})
		if err != nil {
			// Fail closed: the pilot is what the admins chose; say why and let them ask again.
			c.log.Error("pilot group check", "request_id", r.ID, "err", err)
			return true, c.endForPilot(ctx, r, "pilot_check_failed",
				"Elevate is in a pilot and I couldn't check whether you are in it just now. "+graphWords(err))
		}
		if len(in) > 0 {
			return false, nil
		}
	}
	meanwhile := pl.Meanwhile
	if meanwhile == "" {
		meanwhile = "Meanwhile, activate roles in the Microsoft Entra admin center (Identity Governance → Privileged Identity Management → My roles)."
	}
	return true, c.endForPilot(ctx, r, "not_in_pilot",
		"Thanks for trying Elevate! It is in a pilot with a few people for now, and you'll be able to use it once it opens up. "+meanwhile)
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
