package bot_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/store"
)

// A request acknowledged in received (its requester held a fresh sign-in) whose job never ran —
// the process stopped right after the acknowledgement — is started again by Resume: the user is
// asked to sign in (the token died with the process) and the request activates, instead of
// waiting unseen until it expires.
func TestReceivedIsResumed(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("dave", "exchange 1h mail flow")
	w.signIn("dave")
	if got := w.only("dave"); got.State != store.StateActive {
		t.Fatalf("first request: %s (%s)", got.State, got.FailureMessage)
	}
	// The second command is acknowledged with a fresh token held: stored in received. Its job
	// never runs.
	if _, err := w.core.Accept(w.actor("dave"), "sharepoint 1h site migration"); err != nil {
		t.Fatal(err)
	}
	var r store.Request
	rs, err := w.store.Requests(store.Filter{Platform: "test", ChatUser: "dave", OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range rs {
		if x.RoleName == "SharePoint Administrator" {
			r = x
		}
	}
	if r.ID == 0 || r.State != store.StateReceived {
		t.Fatalf("the acknowledged request: %+v; want it stored in received", r)
	}
	before := w.told("dave", "Sign in with your Microsoft account to activate SharePoint Administrator")
	w.clock.advance(2 * time.Minute)
	w.restart()
	if got := w.request(r.ID); got.State != store.StateAwaitingSignIn {
		t.Fatalf("after the restart: %s; want awaiting_sign_in (resumed)", got.State)
	}
	if n := w.told("dave", "Sign in with your Microsoft account to activate SharePoint Administrator") - before; n != 1 {
		t.Fatalf("dave was asked to sign in %d times after the restart, want once: %q", n, w.rec.to("dave"))
	}
	w.minute() // the sweep does not start it again
	if n := w.told("dave", "Sign in with your Microsoft account to activate SharePoint Administrator") - before; n != 1 {
		t.Errorf("asked %d times after a sweep, want once", n)
	}
	w.signIn("dave")
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after signing in: %s (%s)", got.State, got.FailureMessage)
	}
}

// An offer (a shorter duration) is queued with the request it is about: a process that stops
// right after the acknowledgement still shows it (the next run's outbox delivers it), once, and
// Resume leaves the request to the user's answer.
func TestOfferSurvivesRestart(t *testing.T) {
	w := newWorld(t, setup{})
	if _, err := w.core.Accept(w.actor("alice"), "exchange 20h mail flow"); err != nil {
		t.Fatal(err)
	}
	r := w.only("alice")
	if r.State != store.StateReceived || r.OfferedAt.IsZero() {
		t.Fatalf("the request: %s offered at %v; want received with its offer", r.State, r.OfferedAt)
	}
	w.clock.advance(2 * time.Minute)
	w.restart()
	w.minute()
	if n := w.told("alice", "allows at most 8h — use 8h?"); n != 1 {
		t.Fatalf("alice saw the offer %d times, want once: %q", n, w.rec.to("alice"))
	}
	if got := w.request(r.ID); got.State != store.StateReceived {
		t.Fatalf("after the restart: %s; want received, waiting for alice's answer", got.State)
	}
	w.click("alice", bot.ActionUseOffer, "")
	w.signIn("alice")
	if got := w.request(r.ID); got.State != store.StateActive || got.Duration != 8*time.Hour {
		t.Fatalf("after using the offer: %s for %s (%s)", got.State, got.Duration, got.FailureMessage)
	}
}

// crashOnLookup is the core's Graph, except that looking a person up by UPN (whom to remind)
// "crashes" the process once armed: the store is closed under the core, so nothing after it
// commits.
type crashOnLookup struct {
	bot.Graph
	armed atomic.Bool
	w     atomic.Pointer[world]
}

func (g *crashOnLookup) User(ctx context.Context, idOrUPN string) (graph.User, error) {
	if g.armed.CompareAndSwap(true, false) {
		if w := g.w.Load(); w != nil {
			w.store.Close()
		}
		return graph.User{}, errors.New("test: the process died here")
	}
	return g.Graph.User(ctx, idOrUPN)
}

// The approvers' reminder DMs are queued in the same transaction as the reminder itself: a crash
// while the people to remind are being looked up loses nothing: after the restart the reminder
// is due again and goes out whole, the DMs included, once.
func TestReminderDMsWithTheReminder(t *testing.T) {
	g := &crashOnLookup{}
	w := newWorld(t, setup{wrap: func(c *graph.Client) bot.Graph { g.Graph = c; return g }})
	g.w.Store(w)
	if err := w.store.Bind(store.Binding{Platform: "test", ChatUser: "carol", UserID: w.tenant.UserID("carol@" + w.domain), UPN: "carol@" + w.domain},
		store.AuditRecord{Actor: "test", Action: "binding.created"}); err != nil {
		t.Fatal(err)
	}
	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	w.clock.advance(w.cfg.RequestExpiry - 14*time.Minute) // past the 15-minute reminder point
	g.armed.Store(true)
	_ = w.core.Expire(context.Background()) // dies half-way
	w.core.Wait()
	if g.armed.Load() {
		t.Fatal("the reminder looked nobody up: the test proves nothing")
	}
	w.restart()
	w.sweep()
	w.sweep()
	if n := w.count("carol", "Reminder — request #"+num(r.ID)); n != 1 {
		t.Errorf("carol got %d reminders after the crash and restart, want 1: %q", n, w.rec.to("carol"))
	}
	if n := w.count(w.cfg.Channels.Approvals, "Reminder — request #"+num(r.ID)); n != 1 {
		t.Errorf("%d reminders in the approvals channel, want 1", n)
	}
	if got := w.request(r.ID); got.Reminders != 1 {
		t.Errorf("reminders recorded: %d, want 1", got.Reminders)
	}
}
