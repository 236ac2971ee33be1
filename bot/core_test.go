package bot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

func TestActivateAfterSignIn(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 4h fixing mail flow")
	r := w.only("alice")
	if r.State != store.StateAwaitingSignIn {
		t.Fatalf("state before sign-in = %s, want awaiting_sign_in", r.State)
	}
	contains(t, w.rec.lastTo("alice"), "Sign in")
	if n := len(w.activations()); n != 0 {
		t.Fatalf("%d activations before sign-in, want 0", n)
	}

	status, page := w.signIn("alice")
	if status != http.StatusOK {
		t.Fatalf("callback status %d: %s", status, page)
	}
	contains(t, page, "signed in as alice@")

	r = w.request(r.ID)
	if r.State != store.StateActive {
		t.Fatalf("state = %s (%s), want active", r.State, r.FailureMessage)
	}
	if got := r.EndsAt.Sub(r.ActivatedAt); got != 4*time.Hour {
		t.Errorf("active for %v, want 4h", got)
	}
	contains(t, w.rec.lastTo("alice"), "Exchange Administrator is usable now")
	contains(t, w.rec.lastTo(w.cfg.Channels.Security), "activated Exchange Administrator")

	acts := w.activations()
	if len(acts) != 1 {
		t.Fatalf("%d activation writes, want exactly 1", len(acts))
	}
	if acts[0].Caller != r.UserID || r.UserID == "" {
		t.Errorf("activation made by %q, want the requester's own token (%q)", acts[0].Caller, r.UserID)
	}
	var body struct {
		Action, PrincipalID, Justification string
		ScheduleInfo                       struct {
			Expiration struct{ Type, Duration string }
		}
	}
	if err := json.Unmarshal([]byte(acts[0].Body), &body); err != nil {
		t.Fatalf("activation body %q: %v", acts[0].Body, err)
	}
	if body.Action != "selfActivate" || body.PrincipalID != r.UserID || body.ScheduleInfo.Expiration.Duration != "PT4H" || body.Justification != "fixing mail flow" {
		t.Errorf("activation body = %+v", body)
	}
	if n, err := w.store.VerifyAudit(); err != nil || n < 4 {
		t.Errorf("audit: %d records, %v", n, err)
	}
}

func TestSignInLinkWorksOnce(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	back, err := w.tenant.Browse(context.Background(), w.link("alice"), "alice@"+w.domain)
	if err != nil {
		t.Fatal(err)
	}
	br := w.browser()
	if status, page := br.get(back.String()); status != http.StatusOK || !isLinkPage(page) {
		t.Fatalf("first callback: %d %s", status, page)
	} else if status, page := br.answer(page, "link"); status != http.StatusOK {
		t.Fatalf("confirming: %d %s", status, page)
	}
	status, page := w.get(back.String())
	if status != http.StatusBadRequest {
		t.Errorf("replayed callback: status %d, want 400", status)
	}
	contains(t, page, "expired or was already used")
	if n := len(w.activations()); n != 1 {
		t.Errorf("%d activations after a replayed callback, want 1", n)
	}
}

func TestApprovalTwoOfN(t *testing.T) {
	w := newWorld(t, setup{})
	approvals := w.cfg.Channels.Approvals
	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	if r.State != store.StateAwaitingApproval || r.ApprovalsNeeded != 2 || r.Ticket != "INC-1234" {
		t.Fatalf("after sign-in: state %s, needs %d, ticket %q", r.State, r.ApprovalsNeeded, r.Ticket)
	}
	card, ok := w.rec.latestCard(approvals)
	if !ok {
		t.Fatalf("no card in %s", approvals)
	}
	contains(t, card.Fields[1].Value, "tier 0")

	w.click("alice", bot.ActionApprove, "")
	contains(t, w.rec.lastTo("alice"), "can't approve or deny your own request")

	w.click("dave", bot.ActionApprove, "") // told at once: no sign-in for someone who cannot approve
	contains(t, w.rec.lastTo("dave"), "not an approver for Global Administrator")

	w.click("bob", bot.ActionApprove, "")
	contains(t, w.rec.lastTo("bob"), "Sign in")
	w.signIn("bob")
	if got := w.request(r.ID); len(got.Approvals) != 1 || got.State != store.StateAwaitingApproval {
		t.Fatalf("after bob: %d approvals, state %s", len(got.Approvals), got.State)
	}
	w.click("bob", bot.ActionApprove, "") // a double click counts once
	if got := w.request(r.ID); len(got.Approvals) != 1 {
		t.Fatalf("double click: %d approvals, want 1", len(got.Approvals))
	}
	card, _ = w.rec.latestCard(approvals)
	contains(t, card.Footer, "Approved by bob@")

	w.click("carol", bot.ActionApprove, "")
	w.signIn("carol")
	got := w.request(r.ID)
	if got.State != store.StateActive {
		t.Fatalf("after two approvals: state %s (%s), want active", got.State, got.FailureMessage)
	}
	if n := len(w.activations()); n != 1 {
		t.Errorf("%d activations, want 1", n)
	}
	card, _ = w.rec.latestCard(approvals)
	contains(t, card.Text, "active until")
	if len(card.Buttons) != 0 {
		t.Errorf("decided card still has buttons: %+v", card.Buttons)
	}
}

func TestConcurrentApprovalsActivateOnce(t *testing.T) {
	// Global Administrator as an ordinary two-approval role here: a tier-0 approval needs a
	// sign-in for each decision (TestTier0ApprovalNeedsSignInForThatRequest), which would
	// serialize the clicks this test fires at once.
	cfg := strings.Replace(string(examples.Config), "  - name: Global Administrator        # aliases: ga, global, globaladmin\n    tier0: true\n",
		"  - name: Global Administrator        # aliases: ga, global, globaladmin\n    tier0: false\n", 1)
	if cfg == string(examples.Config) {
		t.Fatal("the example config changed; update this test")
	}
	w := newWorld(t, setup{config: []byte(cfg)})
	// carol signs in through a request of her own, so her clicks below need no sign-in.
	w.say("carol", "user 1h reset a password")
	w.signIn("carol")
	w.say("alice", "ga 1h INC-1 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	w.click("bob", bot.ActionApprove, "")
	w.signIn("bob")
	// The last approval arrives many times at once (double clicks, Slack retries).
	var wg sync.WaitGroup
	for range 20 {
		for _, u := range []string{"bob", "carol"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.core.Click(context.Background(), w.actor(u), bot.ActionApprove, strconv.FormatUint(r.ID, 10), ""); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	w.core.Wait()
	if got := w.request(r.ID); got.State != store.StateActive || len(got.Approvals) != 2 {
		t.Fatalf("state %s with %d approvals, want active with 2", got.State, len(got.Approvals))
	}
	var gaWrites int
	for _, c := range w.activations() {
		if strings.Contains(c.Body, "62e90394-69f5-4237-9190-012177145e10") {
			gaWrites++
		}
	}
	if gaWrites != 1 {
		t.Errorf("%d Global Administrator activations, want exactly 1", gaWrites)
	}
}

func TestDenyWithReason(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "ga 1h INC-9 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	w.click("bob", bot.ActionDeny, "not during the change freeze")
	w.signIn("bob")
	got := w.request(r.ID)
	if got.State != store.StateDenied {
		t.Fatalf("state %s, want denied", got.State)
	}
	contains(t, w.rec.lastTo("alice"), "not during the change freeze")
	card, _ := w.rec.latestCard(w.cfg.Channels.Approvals)
	contains(t, card.Footer, "Denied by bob@")
	w.click("carol", bot.ActionApprove, "")
	contains(t, w.rec.lastTo("carol"), "already denied")
	if n := len(w.activations()); n != 0 {
		t.Errorf("%d activations after a denial, want 0", n)
	}
}

func TestOfferWithinMaximum(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("dave", "exchange 12h migrate public folders")
	contains(t, w.rec.lastTo("dave"), "Exchange Administrator allows at most 8h — use 8h?")
	r := w.only("dave")
	if r.State != store.StateReceived || r.Duration != 8*time.Hour {
		t.Fatalf("offer stored as %s for %v", r.State, r.Duration)
	}
	w.click("dave", bot.ActionUseOffer, "")
	w.signIn("dave")
	if got := w.request(r.ID); got.State != store.StateActive || got.EndsAt.Sub(got.ActivatedAt) != 8*time.Hour {
		t.Fatalf("state %s, active for %v", got.State, got.EndsAt.Sub(got.ActivatedAt))
	}
}

func TestUnknownRoleSuggests(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("dave", "exchnage 1h check quarantine")
	contains(t, w.rec.lastTo("dave"), "exchange")
	contains(t, strings.ToLower(w.rec.lastTo("dave")), "did you mean")
	rs, _ := w.store.Requests(store.Filter{Platform: "test", ChatUser: "dave"})
	if len(rs) != 0 {
		t.Errorf("an unknown role stored %d requests", len(rs))
	}
}

func TestMissingMFAAsksForAnotherSignIn(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice", graphtest.WithoutMFA())
	r := w.only("alice")
	if r.State != store.StateAwaitingSignIn {
		t.Fatalf("after a sign-in without MFA: state %s (%s), want awaiting_sign_in", r.State, r.FailureMessage)
	}
	contains(t, w.rec.lastTo("alice"), "multi-factor")
	w.signIn("alice")
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after MFA sign-in: state %s (%s)", got.State, got.FailureMessage)
	}
	if n := len(w.activations()); n != 2 {
		t.Errorf("%d activation attempts, want 2 (refused, then granted)", n)
	}
}

func TestBindingMismatchRefused(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	w.say("alice", "status")
	w.say("alice", "ga 1h INC-5 restore")
	status, page := w.signInAs("alice", "dave@"+w.domain)
	if status != http.StatusForbidden {
		t.Fatalf("signing in as someone else: status %d, want 403", status)
	}
	contains(t, page, "does not match")
	contains(t, w.rec.lastTo(w.cfg.Channels.Security), "Identity mismatch")
	if n := len(w.activations()); n != 1 {
		t.Errorf("%d activations, want only the first", n)
	}
}

func TestPendingRequestsExpire(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "ga 1h INC-7 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	w.clock.advance(w.cfg.RequestExpiry + time.Minute)
	if err := w.core.Expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.request(r.ID); got.State != store.StateExpired {
		t.Fatalf("state %s, want expired", got.State)
	}
	contains(t, w.rec.lastTo("alice"), "expired")
	card, _ := w.rec.latestCard(w.cfg.Channels.Approvals)
	contains(t, card.Text, "Expired")
	w.click("bob", bot.ActionApprove, "")
	contains(t, w.rec.lastTo("bob"), "already expired")
}

func TestCancel(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	w.say("alice", "cancel")
	if got := w.only("alice"); got.State != store.StateCancelled {
		t.Fatalf("state %s, want cancelled", got.State)
	}
	w.say("alice", "cancel")
	contains(t, w.rec.lastTo("alice"), "no pending requests")
}

// Graph throttling a selfActivate past the client's own retries neither fails the request nor
// drops it from status: it stays activating, the user is told once it is being retried, and the
// sweep looks at PIM, then writes once more.
func TestThrottledActivationIsRetried(t *testing.T) {
	w := newWorld(t, setup{})
	w.linked("alice") // linking would need Graph too (the email check)
	w.say("alice", "exchange 1h mail flow")
	w.tenant.Throttle(100)
	w.signIn("alice")
	r := w.only("alice")
	if r.State != store.StateActivating || r.Write == nil || !r.Write.Unknown {
		t.Fatalf("state %s, write %+v; want activating with its write kept", r.State, r.Write)
	}
	contains(t, w.rec.lastTo("alice"), "Microsoft Graph is busy right now. Your request #")
	w.say("alice", "status")
	contains(t, w.rec.lastTo("alice"), "activating")
	w.tenant.Throttle(0)
	w.clock.advance(2 * time.Minute)
	if err := w.core.Expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
	if r := w.request(r.ID); r.State != store.StateActive || r.Write != nil {
		t.Fatalf("after the retry: %s (%s), write %+v", r.State, r.FailureMessage, r.Write)
	}
	if n := strings.Count(strings.Join(w.rec.to("alice"), "\n"), "is busy right now"); n != 1 {
		t.Errorf("told %d times about the retry, want once", n)
	}
}

func TestHelpAndStatus(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("bob", "help")
	contains(t, w.rec.lastTo("bob"), "/elevate exchange 4h fixing mail flow")
	w.say("bob", "status")
	contains(t, w.rec.lastTo("bob"), "no pending or active")
	w.say("bob", "roles")
	contains(t, w.rec.lastTo("bob"), "Exchange Administrator")
}

func TestSignInLinkCarriesLoginHint(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	b, ok := w.rec.button("alice", bot.ActionOpenURL)
	if !ok {
		t.Fatal("no sign-in link")
	}
	contains(t, b.URL, "login_hint=alice%40"+w.domain)
}

func TestFailedCardIsPostedAgain(t *testing.T) {
	w := newWorld(t, setup{})
	w.rec.mu.Lock()
	w.rec.failChannel = w.cfg.Channels.Approvals
	w.rec.mu.Unlock()
	w.say("alice", "ga 1h INC-8 restore tenant")
	w.signIn("alice")
	if _, ok := w.rec.latestCard(w.cfg.Channels.Approvals); ok {
		t.Fatal("a card was posted although the channel is down")
	}
	r := w.only("alice")
	if r.State != store.StateAwaitingApproval {
		t.Fatalf("state %s, want awaiting_approval: the request must survive a chat outage", r.State)
	}
	for _, text := range w.rec.to("alice") {
		if strings.Contains(text, "I've asked in") {
			t.Fatalf("alice was told %q before the card was posted", text)
		}
	}
	w.rec.mu.Lock()
	w.rec.failChannel = ""
	w.rec.mu.Unlock()
	w.core.DeliverDue(context.Background()) // still backing off: nothing yet
	if _, ok := w.rec.latestCard(w.cfg.Channels.Approvals); ok {
		t.Fatal("the card was posted again before its backoff ran out")
	}
	w.clock.advance(time.Minute)
	for range 2 { // the outbox posts it once, however often it runs (the sweep too)
		w.core.DeliverDue(context.Background())
		if err := w.core.Expire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	card, ok := w.rec.latestCard(w.cfg.Channels.Approvals)
	if !ok {
		t.Fatal("the outbox did not post the card")
	}
	contains(t, card.Text, "asks for Global Administrator")
	if n := len(w.rec.to(w.cfg.Channels.Approvals)); n != 1 {
		t.Errorf("%d cards posted, want 1", n)
	}
	contains(t, w.rec.lastTo("alice"), "I've asked in "+w.cfg.Channels.Approvals)
	if st, err := w.core.Outbox(); err != nil || st.Depth != 0 || st.Failures == 0 {
		t.Errorf("outbox %+v, %v; want empty after at least one failure", st, err)
	}
}

func TestCardShowsRecentActivations(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	w.say("alice", "ga 1h INC-9 restore tenant")
	w.signIn("alice")
	card, ok := w.rec.latestCard(w.cfg.Channels.Approvals)
	if !ok {
		t.Fatal("no card")
	}
	var recent string
	for _, f := range card.Fields {
		if f.Label == "Recent activations" {
			recent = f.Value
		}
	}
	contains(t, recent, "1 in the last 30 days; last Exchange Administrator")
}

// TestApproverByObjectIDOnly is Teams: the platform vouches for the approver's object id, the
// config lists approvers by UPN.
func TestApproverByObjectIDOnly(t *testing.T) {
	cfg := []byte(`channels:
  approvals: "#pim-approvals"
  security: "#security"
roles:
  - name: Exchange Administrator
    approval:
      required: 1
      approvers: [bob@contoso.example]
`)
	w := newWorld(t, setup{config: cfg})
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	r := w.only("alice")
	if r.State != store.StateAwaitingApproval {
		t.Fatalf("state %s, want awaiting_approval", r.State)
	}
	bob := bot.Actor{Platform: "test", ChatUser: "bob-teams", Name: "Bob", UserID: w.tenant.UserID("bob@" + w.domain)}
	if err := w.core.Click(context.Background(), bob, bot.ActionApprove, strconv.FormatUint(r.ID, 10), ""); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("state %s (%q to bob), want active: bob is a listed approver", got.State, w.rec.lastTo("bob-teams"))
	}
}

// TestStaleSignInLinkDropped: a sign-in link queued while the requester's DMs failed is not
// delivered by the next run (the link lived in the old process's memory): it is dropped with an
// audit record, and the requester gets at most the new run's link.
func TestStaleSignInLinkDropped(t *testing.T) {
	w := newWorld(t, setup{})
	w.rec.mu.Lock()
	w.rec.failUser = "alice"
	w.rec.mu.Unlock()
	w.say("alice", "exchange 1h mail flow")
	if st, _ := w.core.Outbox(); st.Depth == 0 {
		t.Fatal("nothing queued while alice's DMs fail")
	}
	w.restart()
	w.rec.mu.Lock()
	w.rec.failUser = ""
	w.rec.mu.Unlock()
	w.clock.advance(10 * time.Minute)
	w.core.DeliverDue(context.Background())
	links := 0
	for _, text := range w.rec.to("alice") {
		if strings.Contains(text, "Sign in") {
			links++
		}
	}
	if links > 1 {
		t.Errorf("alice got %d sign-in links, want at most the new run's", links)
	}
	stale := 0
	if err := w.store.Audit(func(a store.AuditRecord) error {
		if a.Action == "outbox.stale" {
			stale++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stale == 0 {
		t.Error("the old run's link was not recorded as dropped (outbox.stale)")
	}
	if st, _ := w.core.Outbox(); st.Depth != 0 {
		t.Errorf("outbox %+v, want empty", st)
	}
}
