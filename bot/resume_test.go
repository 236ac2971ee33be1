package bot_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
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

// A follow-up activation (`extend`) whose answer was lost moments ago, which PIM does not show
// yet: that is not "not in PIM". Elevate keeps the intent and looks again later instead of
// clearing it, which would have the sweep write the follow-up a second time.
func TestExtensionIntentNotShownYet(t *testing.T) {
	w := newWorld(t, setup{activationDelay: 10 * time.Minute})
	upn := "alice@" + w.domain
	alice := w.tenant.UserID(upn)
	raw, err := w.tenant.UserToken(upn)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.New(graph.Config{GraphURL: w.tenant.GraphURL(), AuthorityHost: w.tenant.AuthorityURL(), TenantID: w.tenant.TenantID(),
		ClientID: w.tenant.ClientID(), ClientSecret: w.tenant.ClientSecret(), RedirectURL: "http://127.0.0.1/auth/callback", HTTPClient: w.tenant.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	// The follow-up went through (alice's own selfActivate), and PIM takes 10 minutes to show it.
	if _, err := g.Activate(context.Background(), graph.UserToken{AccessToken: raw, UserID: alice, UPN: upn},
		graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator, Duration: time.Hour, Justification: "mail flow"}); err != nil {
		t.Fatal(err)
	}
	if as, err := g.ActiveAssignments(context.Background(), alice); err != nil || len(as) != 0 {
		t.Fatalf("PIM shows the follow-up already (%v, %v): the test proves nothing", as, err)
	}
	now := w.clock.now().UTC()
	r, err := w.store.CreateRequest(store.Request{Platform: "test", ChatUser: "alice", UserID: alice, UPN: upn,
		RoleID: graphtest.RoleExchangeAdministrator, RoleName: "Exchange Administrator", Duration: time.Hour, Justification: "mail flow",
		State: store.StateActive, ActivatedAt: now.Add(-time.Hour), EndsAt: now.Add(-time.Second),
		Extension: &store.Extension{By: time.Hour, ConsentAt: now.Add(-30 * time.Minute)},
		Write:     &store.Write{Action: store.WriteExtend, At: now, Start: now, By: alice, Attempts: 1, Unknown: true}},
		store.AuditRecord{Actor: "test", Action: "request.extending"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.core.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
	got := w.request(r.ID)
	if got.Write == nil || got.Write.Action != store.WriteExtend || got.Extension == nil || got.Extension.By != time.Hour {
		t.Fatalf("after reconciling a follow-up PIM does not show yet: write %+v, extension %+v; want the intent kept, looked at again later", got.Write, got.Extension)
	}
	if !got.Write.Retry.Before(w.clock.now().Add(45 * time.Second)) {
		t.Errorf("looked at again at %v, want by the next sweep (within a minute)", got.Write.Retry)
	}
}

// `done` withdraws the follow-ups an Elevate version before store.Extension scheduled in PIM
// (kept in a store cursor) and records that in the request's own transaction, with an audit
// record, not in a cursor written apart from it.
func TestDoneRecordsWithdrawnFollowUps(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	r := w.only("alice")
	if r.State != store.StateActive {
		t.Fatalf("state %s", r.State)
	}
	// What the older version left: a follow-up scheduled in PIM (gone there since).
	if err := w.store.SetCursor(fmt.Sprintf("extension/%d", r.ID), []byte(`{"used":3600000000000,"scheduled":["legacy-follow-up"]}`)); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(6 * time.Minute)
	w.tenant.Advance(6 * time.Minute)
	w.say("alice", "done")
	if got := w.request(r.ID); got.State != store.StateEnded {
		w.signIn("alice")
	}
	got := w.request(r.ID)
	if got.State != store.StateEnded {
		t.Fatalf("after done: %s (%q)", got.State, w.rec.lastTo("alice"))
	}
	if got.Extension == nil || len(got.Extension.Withdrawn) != 1 || got.Extension.Withdrawn[0] != "legacy-follow-up" {
		t.Errorf("the request records %+v, want the withdrawn follow-up", got.Extension)
	}
	if !w.audited(r.ID, "request.extension_withdrawn") {
		t.Error("no request.extension_withdrawn audit record")
	}
}

// A multi-role request acknowledged in received whose job never ran is resumed as one, from its
// first item: one sign-in link for all its roles (the token died with the process), not one per
// role, and nothing left to expire unseen.
func TestMultiRoleReceivedIsResumed(t *testing.T) {
	w := newWorld(t, setup{})
	upn := "dave@" + w.domain
	dave := w.tenant.UserID(upn)
	now := w.clock.now().UTC()
	var items []store.Request
	for _, role := range []struct{ id, name string }{{graphtest.RoleExchangeAdministrator, "Exchange Administrator"}, {graphtest.RoleSharePointAdministrator, "SharePoint Administrator"}} {
		items = append(items, store.Request{Platform: "test", ChatUser: "dave", ChatName: "dave", UserID: dave, UPN: upn, RoleID: role.id, RoleName: role.name,
			Duration: time.Hour, Justification: "site migration", State: store.StateReceived, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	// As Accept stores them when dave holds a fresh sign-in; the job that follows never runs.
	items, err := w.store.CreateRequestsOnce(items, []store.AuditRecord{{Actor: "test:dave", Action: "request.created"}}, store.Once{})
	if err != nil {
		t.Fatal(err)
	}
	w.clock.advance(2 * time.Minute)
	w.restart()
	w.minute()
	if n := w.told("dave", "Sign in with your Microsoft account"); n != 1 {
		t.Fatalf("dave was asked to sign in %d times, want once for both roles: %q", n, w.rec.to("dave"))
	}
	for _, r := range items {
		if got := w.request(r.ID); got.State != store.StateAwaitingSignIn {
			t.Fatalf("#%d %s after the restart: %s; want awaiting_sign_in", r.ID, r.RoleName, got.State)
		}
	}
	w.signIn("dave")
	w.core.Wait()
	for _, r := range items {
		if got := w.request(r.ID); got.State != store.StateActive {
			t.Fatalf("#%d %s after the sign-in: %s (%s)", r.ID, r.RoleName, got.State, got.FailureMessage)
		}
	}
}

// The follow-up activation (`extend`) cut off at other points than a lost answer: the connection
// reset after PIM took it, or a 500 / 503s before processing (a 503 with Retry-After used to end
// the extension as refused). After the sweeps the extension is in force, PIM got one follow-up,
// and alice heard once that it is active again.
func TestExtendConverges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   graphtest.Fault
		applied bool // PIM took the write the fault cut off
	}{
		{name: "PIM applied, connection reset", fault: graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfActivate", Apply: true, Drop: true}, applied: true},
		{name: "500 before processing", fault: graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfActivate", Status: http.StatusInternalServerError}},
		{name: "503 with Retry-After", fault: graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfActivate", Status: http.StatusServiceUnavailable, RetryAfter: "1", Times: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r := extendWorld(t)
			w.later(t, 21*time.Minute)
			w.signIn("alice")
			w.tenant.Inject(tc.fault)
			w.later(t, 10*time.Minute) // the follow-up is due: its write meets the fault
			got := w.request(r.ID)
			if got.Write == nil || got.Write.Action != store.WriteExtend || !got.Write.Unknown {
				t.Fatalf("after the fault: write %+v; want the intent kept, its outcome unknown", got.Write)
			}
			for range 3 {
				w.later(t, time.Minute)
			}
			got = w.request(r.ID)
			if got.State != store.StateActive || got.Write != nil || got.Extension == nil || got.Extension.By != 0 || got.EndsAt.Sub(r.EndsAt) < 90*time.Minute {
				t.Fatalf("after the sweeps: %s ends %v (+%v), write %+v, extension %+v", got.State, got.EndsAt, got.EndsAt.Sub(r.EndsAt), got.Write, got.Extension)
			}
			if n := len(w.activations()); n < 2 {
				t.Fatalf("%d PIM writes", n)
			}
			granted := 0
			if tc.applied {
				granted++ // its call has no answer to count
			}
			for _, c := range w.activations() {
				if c.Status == http.StatusCreated {
					granted++
				}
			}
			if granted != 2 {
				t.Errorf("PIM took %d activations, want 2 (the first and one follow-up)", granted)
			}
			if n := w.told("alice", "is active again until"); n != 1 {
				t.Errorf("alice was told %d times that it is active again: %q", n, w.rec.to("alice"))
			}
		})
	}
}
