package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

// The demo config (with its Tier1 Admins group) plus what these tests need: admins, a small
// extension budget for Exchange, and a tier-0 role (Security Administrator) whose PIM policy
// asks for authentication context c1.
func pimConfig() []byte {
	cfg := string(examples.Config)
	cfg = strings.Replace(cfg, "  - name: Exchange Administrator      # aliases: exchange, exo\n    max_duration: 8h\n",
		"  - name: Exchange Administrator      # aliases: exchange, exo\n    max_duration: 8h\n    extension_budget: 2h\n", 1)
	// examples/elevate.yaml lists the Tier1 Admins group already.
	return []byte(cfg + `
admins:
  users: [alice@contoso.example]
`)
}

func pimWorld(t *testing.T, seed func(*graphtest.Seed)) *world {
	return newWorld(t, setup{config: pimConfig(), seed: seed})
}

func withC1(s *graphtest.Seed) {
	s.Eligibilities = append(s.Eligibilities, graphtest.Eligibility{Principal: "dave@contoso.example", Role: "Security Administrator"})
	s.Policies = append(s.Policies, graphtest.PolicyConfig{Role: "Security Administrator", AuthContext: "c1"})
}

// PIM itself requires approval for Teams Administrator: the same card, an approver's click acts
// on PIM's approval with the approver's own token, a second click is told it was decided.
func TestPIMNativeApproval(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("erin", "teams 1h fix a meeting policy")
	w.signIn("erin")
	r := w.only("erin")
	if r.State != store.StateAwaitingApproval || r.GraphStatus != "PendingApproval" || r.GraphRequestID == "" {
		t.Fatalf("after sign-in: %s %s", r.State, r.GraphStatus)
	}
	contains(t, w.rec.lastTo("erin"), "PIM itself requires approval")
	card, ok := w.rec.latestCard(w.cfg.Channels.Approvals)
	if !ok || len(card.Buttons) != 2 {
		t.Fatalf("card: %+v", card)
	}
	// Dave is not among PIM's approvers (its setting names PIM Approvers): told at once.
	w.click("dave", bot.ActionApprove, "")
	contains(t, w.rec.lastTo("dave"), "You are not an approver for Teams Administrator in PIM")

	w.click("bob", bot.ActionApprove, "")
	w.signIn("bob")
	got := w.request(r.ID)
	if got.State != store.StateActive {
		t.Fatalf("after bob: %s (%s)", got.State, got.FailureMessage)
	}
	contains(t, w.rec.lastTo("erin"), "Teams Administrator is usable now")
	var patches []graphtest.Call
	for _, c := range w.tenant.Calls() {
		if c.Method == http.MethodPatch && strings.Contains(c.Path, "/beta/roleManagement/directory/roleAssignmentApprovals/") && c.Status == 204 {
			patches = append(patches, c)
		}
	}
	if len(patches) != 1 || patches[0].Caller != w.tenant.UserID("bob@contoso.example") {
		t.Errorf("approval writes %+v, want one by bob's own token", patches)
	}
	card, _ = w.rec.latestCard(w.cfg.Channels.Approvals)
	contains(t, card.Text, "active until")

	// carol clicks the stale card (e.g. in another client): PIM answers 409, she is told.
	w.say("carol", "user 1h reset a password") // carol signs in once
	w.signIn("carol")
	if err := w.core.Click(context.Background(), w.actor("carol"), bot.ActionApprove, "1", ""); err != nil {
		t.Fatal(err)
	}
	contains(t, w.rec.lastTo("carol"), "already")
}

func TestPIMNativeConflictRefreshesCard(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("erin", "teams 1h fix a meeting policy")
	w.signIn("erin")
	r := w.only("erin")
	// carol signs in through her own request, then someone approves in the portal first.
	w.say("carol", "user 1h reset a password")
	w.signIn("carol")
	bobTok, _ := w.tenant.UserToken("bob@contoso.example")
	approveInPortal(t, w, r.GraphRequestID, bobTok)
	if err := w.core.Click(context.Background(), w.actor("carol"), bot.ActionApprove, itoa(r.ID), ""); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
	contains(t, strings.Join(w.rec.to("carol"), "\n"), "already decided in PIM by someone else")
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Errorf("after the conflict: %s, want active (approved by someone else)", got.State)
	}
	card, _ := w.rec.latestCard(w.cfg.Channels.Approvals)
	contains(t, card.Text, "active until")
}

// A PIM approval requested in the Entra portal shows up on the approvals channel, once.
func TestSyncPIMApprovals(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("erin", "status") // erin talks to Elevate but requests in the portal
	erinTok, _ := w.tenant.UserToken("erin@contoso.example")
	id := portalRequest(t, w, erinTok, "55555555-5555-4555-8555-555555555555", "69091246-20e8-4a56-aa4d-066075b2a7a8", "PT2H", "portal request")
	n, err := w.core.SyncPIMApprovals(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("sync: %d %v", n, err)
	}
	if n, _ := w.core.SyncPIMApprovals(context.Background()); n != 0 {
		t.Errorf("second sync posted %d, want 0", n)
	}
	card, ok := w.rec.latestCard(w.cfg.Channels.Approvals)
	if !ok || !strings.Contains(card.Text, "Teams Administrator") {
		t.Fatalf("card: %+v", card)
	}
	w.click("bob", bot.ActionApprove, "")
	w.signIn("bob")
	rs, _ := w.store.Requests(store.Filter{UserID: "55555555-5555-4555-8555-555555555555"})
	if len(rs) != 1 || rs[0].State != store.StateActive || rs[0].GraphRequestID != id || rs[0].Duration != 2*time.Hour {
		t.Fatalf("portal request in the store: %+v", rs)
	}
}

func TestGroupActivation(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("dave", "tier1-admins 2h rotate the helpdesk queue")
	w.signIn("dave")
	r := w.only("dave")
	if r.State != store.StateActive || r.RoleName != "Tier1 Admins" {
		t.Fatalf("state %s (%s)", r.State, r.FailureMessage)
	}
	contains(t, w.rec.lastTo("dave"), "Tier1 Admins is usable now")
	var writes int
	for _, c := range w.tenant.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/privilegedAccess/group/assignmentScheduleRequests") && !c.ValidationOnly() {
			writes++
			if c.Caller != r.UserID || !strings.Contains(c.Body, `"accessId":"member"`) {
				t.Errorf("group activation %+v", c)
			}
		}
	}
	if writes != 1 {
		t.Errorf("%d group writes", writes)
	}
	w.say("dave", "roles")
	contains(t, w.rec.lastTo("dave"), "Tier1 Admins (`tier1-admins`, group member")
	w.tenant.Advance(6 * time.Minute)
	w.say("dave", "done tier1")
	contains(t, w.rec.lastTo("dave"), "Done: Tier1 Admins is deactivated")
}

func TestDoneExplainsTooShortThenEnds(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	w.say("alice", "done")
	contains(t, w.rec.lastTo("alice"), "first 5 minutes")
	if got := w.only("alice"); got.State != store.StateActive {
		t.Fatalf("state %s after a refused done", got.State)
	}
	w.tenant.Advance(6 * time.Minute)
	w.say("alice", "done exchange")
	contains(t, w.rec.lastTo("alice"), "Done: Exchange Administrator is deactivated in PIM")
	if got := w.only("alice"); got.State != store.StateEnded {
		t.Errorf("state %s, want ended", got.State)
	}
	contains(t, w.rec.lastTo(w.cfg.Channels.Security), "ended Exchange Administrator early")
}

// extendWorld has alice's Exchange activation (30m) extended by 90m: consented, not written.
// (30m: the simulated tenant's tokens expire an hour after the real clock, whatever the core's.)
func extendWorld(t *testing.T) (*world, store.Request) {
	t.Helper()
	w := pimWorld(t, nil)
	w.say("alice", "exchange 30m mail flow")
	w.signIn("alice")
	r := w.only("alice")
	w.say("alice", "extend 3h")
	contains(t, w.rec.lastTo("alice"), "by 2h more at most")
	w.say("alice", "extend 90m")
	contains(t, w.rec.lastTo("alice"), "when Exchange Administrator ends at "+clockOf(r.EndsAt)+", I'll activate it again for 1h30m")
	contains(t, w.rec.lastTo("alice"), "I'll send you a link at "+clockOf(r.EndsAt.Add(-10*time.Minute)))
	// PIM refuses a second activation while one runs: nothing is written now.
	if n := len(w.activations()); n != 1 {
		t.Fatalf("%d PIM writes after extend, want only the first activation", n)
	}
	w.say("alice", "status")
	contains(t, w.rec.lastTo("alice"), "then activated again for 1h30m (your extension)")
	return w, r
}

// later moves the core's clock and the tenant's by d, then runs the sweep.
func (w *world) later(t *testing.T, d time.Duration) {
	t.Helper()
	w.clock.advance(d)
	w.tenant.Advance(d)
	if err := w.core.Expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
}

func clockOf(t time.Time) string { return t.UTC().Format("15:04") + " UTC" }

// TestExtendActivatesAgainAtTheEnd: the tenant refuses overlapping activations, so the follow-up
// is made when the current activation has ended, with a sign-in asked for ahead of time.
func TestExtendActivatesAgainAtTheEnd(t *testing.T) {
	w, r := extendWorld(t)
	w.later(t, 21*time.Minute) // 9 minutes left; alice's sign-in is 21 minutes old
	contains(t, w.rec.lastTo("alice"), "To activate Exchange Administrator again for 1h30m when it ends")
	w.signIn("alice")
	contains(t, w.rec.lastTo("alice"), "Thanks: I'll activate Exchange Administrator again for 1h30m")
	if n := len(w.activations()); n != 1 {
		t.Fatalf("%d PIM writes before the end", n)
	}
	w.later(t, 10*time.Minute) // the first activation has ended
	acts := w.activations()
	if len(acts) != 2 || acts[1].Status != 201 {
		t.Fatalf("the follow-up activation: %+v", acts)
	}
	got := w.request(r.ID)
	if got.State != store.StateActive || got.Extension == nil || got.Extension.By != 0 || got.Extension.Used != 90*time.Minute || len(got.Extension.Requests) != 1 {
		t.Fatalf("after the follow-up: %s %+v", got.State, got.Extension)
	}
	if d := got.EndsAt.Sub(r.EndsAt); d < 90*time.Minute || d > 92*time.Minute {
		t.Errorf("ends %v later, want 1h30m after the first end (plus the sweep's delay)", d)
	}
	contains(t, w.rec.lastTo("alice"), "Exchange Administrator is active again until "+clockOf(got.EndsAt))
	w.later(t, time.Minute) // a second sweep writes nothing more
	if n := len(w.activations()); n != 2 {
		t.Errorf("%d PIM writes after another sweep, want 2", n)
	}
	w.say("alice", "extend 1h")
	contains(t, w.rec.lastTo("alice"), "by 30m more at most")
	w.later(t, 6*time.Minute)
	w.say("alice", "done")
	w.signIn("alice")
	contains(t, w.rec.lastTo("alice"), "Done")
	if got := w.request(r.ID); got.State != store.StateEnded {
		t.Errorf("state %s after done", got.State)
	}
}

// TestExtendSignInAskedAgainAfterTakeover: the follow-up's sign-in link lived in the memory of
// the process that sent it; a standby that takes over asks again at its first sweep, saying the
// old link is dead, and the follow-up is made at the end with the new sign-in.
func TestExtendSignInAskedAgainAfterTakeover(t *testing.T) {
	w, r := extendWorld(t)
	w.later(t, 21*time.Minute)
	contains(t, w.rec.lastTo("alice"), "To activate Exchange Administrator again for 1h30m when it ends")
	old := w.link("alice")
	w.clock.advance(5 * time.Second)
	w.restart()
	w.later(t, time.Minute)
	contains(t, w.rec.lastTo("alice"), "Elevate restarted, so the sign-in link I sent you earlier no longer works. To activate Exchange Administrator again")
	if w.link("alice") == old {
		t.Fatal("the new message carries the old link")
	}
	w.later(t, time.Minute)
	if n := w.told("alice", "To activate Exchange Administrator again for 1h30m"); n != 2 {
		t.Errorf("asked %d times, want 2 (before and after the takeover)", n)
	}
	if status, _ := w.browser().open(old, "alice@"+w.domain); status != http.StatusBadRequest {
		t.Errorf("old link: status %d, want 400", status)
	}
	w.signIn("alice")
	contains(t, w.rec.lastTo("alice"), "Thanks: I'll activate Exchange Administrator again for 1h30m")
	w.later(t, 8*time.Minute) // the first activation has ended
	if acts := w.activations(); len(acts) != 2 || acts[1].Status != 201 {
		t.Fatalf("the follow-up activation: %+v", acts)
	}
	if got := w.request(r.ID); got.State != store.StateActive || got.Extension.By != 0 {
		t.Fatalf("after the follow-up: %s %+v", got.State, got.Extension)
	}
}

// TestExtendAnswerLost: the follow-up's answer is lost; the intent stored before the write makes
// the next sweep look in PIM, find the activation, and not write again.
func TestExtendAnswerLost(t *testing.T) {
	w, r := extendWorld(t)
	w.later(t, 21*time.Minute)
	w.signIn("alice")
	w.tenant.LoseResponses(1)
	w.later(t, 10*time.Minute)
	got := w.request(r.ID)
	if got.Write == nil || got.Write.Action != store.WriteExtend || !got.Write.Unknown {
		t.Fatalf("after a lost answer the intent should stay, its outcome unknown: %+v", got.Write)
	}
	w.later(t, time.Minute)
	got = w.request(r.ID)
	if got.State != store.StateActive || got.Extension.By != 0 || got.Write != nil || got.EndsAt.Sub(r.EndsAt) < 90*time.Minute {
		t.Fatalf("after the sweep looked: %s ends %v %+v", got.State, got.EndsAt, got.Extension)
	}
	if n := len(w.activations()); n != 2 {
		t.Errorf("%d PIM writes, want 2 (no second follow-up after the lost answer)", n)
	}
	n := 0
	for _, m := range w.rec.to("alice") {
		if strings.Contains(m, "is active again until") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("alice was told %d times that it is active again", n)
	}
}

// TestExtendNoSignIn: without the sign-in, the follow-up is given up after the grace period and
// alice is told; nothing is written to PIM.
func TestExtendNoSignIn(t *testing.T) {
	w, r := extendWorld(t)
	w.later(t, 21*time.Minute)
	w.later(t, 10*time.Minute)
	contains(t, w.rec.lastTo("alice"), "Exchange Administrator ended at "+clockOf(r.EndsAt)+". Sign in with your Microsoft account to activate it again")
	w.later(t, 11*time.Minute)
	if got := w.request(r.ID); got.State != store.StateEnded {
		t.Fatalf("state %s, want ended", got.State)
	}
	found := false
	for _, m := range w.rec.to("alice") {
		found = found || strings.Contains(m, "was not activated again: the follow-up you asked for needed your sign-in")
	}
	if !found {
		t.Errorf("alice was not told why: %q", w.rec.to("alice"))
	}
	if n := len(w.activations()); n != 1 {
		t.Errorf("%d PIM writes, want 1", n)
	}
}

func TestCancelPendingPIMRequest(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("erin", "teams 1h fix a meeting policy")
	w.signIn("erin")
	r := w.only("erin")
	w.say("erin", "cancel")
	if got := w.request(r.ID); got.State != store.StateCancelled {
		t.Fatalf("state %s", got.State)
	}
	var cancelled bool
	for _, c := range w.tenant.Calls() {
		cancelled = cancelled || (strings.HasSuffix(c.Path, r.GraphRequestID+"/cancel") && c.Status == 204)
	}
	if !cancelled {
		t.Error("the PIM request was not cancelled in PIM")
	}
	card, _ := w.rec.latestCard(w.cfg.Channels.Approvals)
	if len(card.Buttons) != 0 {
		t.Errorf("card still has buttons: %+v", card)
	}
}

// PIM's authentication context on a tier-0 role: the 400 with claims becomes a sign-in link that
// carries them, and the retry with the new token activates.
func TestStepUpAuthContext(t *testing.T) {
	w := pimWorld(t, withC1)
	w.say("dave", "sec 1h investigate an alert")
	w.signIn("dave", graphtest.WithACRS()) // a sign-in that satisfies no auth context
	r := w.only("dave")
	if r.State != store.StateAwaitingSignIn {
		t.Fatalf("after the first sign-in: %s (%s)", r.State, r.FailureMessage)
	}
	contains(t, w.rec.lastTo("dave"), "stronger sign-in")
	b, _ := w.rec.button("dave", bot.ActionOpenURL)
	if !strings.Contains(b.URL, "claims=") || !strings.Contains(b.URL, "c1") {
		t.Fatalf("step-up link lacks the claims: %s", b.URL)
	}
	w.signIn("dave") // satisfies what the claims ask for
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after step-up: %s (%s)", got.State, got.FailureMessage)
	}
	acts := w.activations()
	if len(acts) != 2 || acts[0].Status != 400 || acts[1].Status != 201 {
		t.Errorf("activation attempts: %+v", acts)
	}
}

func TestDiscoverAndConvert(t *testing.T) {
	w := pimWorld(t, func(s *graphtest.Seed) {
		s.Assignments = append(s.Assignments, graphtest.Assignment{Principal: "PIM Approvers", Role: "Exchange Administrator"})
	})
	w.say("dave", "discover")
	contains(t, w.rec.lastTo("dave"), "Only Elevate's PIM administrators")
	// alice signs in once (a request of her own), then asks.
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	w.say("alice", "discover")
	report := w.rec.lastTo("alice")
	for _, want := range []string{"Global Administrator: erin@contoso.example", "group PIM Approvers (2 members",
		"Global Administrators with standing access: 3", "Break-glass (left as they are): breakglass1@", "`/elevate convert erin@contoso.example ga`"} {
		contains(t, report, want)
	}
	w.say("alice", "convert breakglass1@contoso.example ga")
	contains(t, w.rec.lastTo("alice"), "break-glass account")

	w.say("alice", "convert erin@contoso.example ga")
	contains(t, w.rec.lastTo("alice"), "Convert erin@contoso.example's permanent Global Administrator to eligible?")
	w.click("alice", bot.ActionConvert, "")
	w.signIn("alice")
	// alice holds no active privileged role yet: PIM refuses, nothing changes.
	contains(t, w.rec.lastTo("alice"), "needs an active Privileged Role Administrator")
	w.say("alice", "ga 1h INC-42 convert standing access")
	w.signIn("alice")
	w.click("bob", bot.ActionApprove, "")
	w.signIn("bob")
	w.click("carol", bot.ActionApprove, "")
	w.signIn("carol")
	w.say("alice", "convert erin@contoso.example ga")
	w.click("alice", bot.ActionConvert, "")
	w.signIn("alice")
	contains(t, w.rec.lastTo("alice"), "Converted: erin@contoso.example is now permanently eligible for Global Administrator")
	var audited []string
	if err := w.store.Audit(func(r store.AuditRecord) error {
		if r.Action == "standing.convert" {
			audited = append(audited, r.Detail)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The first attempt, before alice's Privileged Role Administrator was active, was refused.
	if len(audited) != 2 || !strings.Contains(audited[0], "failed") || !strings.HasSuffix(audited[1], " converted") {
		t.Errorf("conversion audit records: %q, want the refused attempt, then the conversion", audited)
	}
	if _, err := w.store.VerifyAudit(); err != nil {
		t.Errorf("audit chain after a conversion: %v", err)
	}
	w.say("alice", "discover")
	if strings.Contains(w.rec.lastTo("alice"), "erin@") {
		t.Errorf("erin still standing: %s", w.rec.lastTo("alice"))
	}
}

// portalGroupActivate activates user's membership of the Tier1 Admins group outside Elevate, as
// the Entra portal does: the user's own selfActivate with their own token.
func portalGroupActivate(t *testing.T, w *world, user string) {
	t.Helper()
	tok, err := w.tenant.UserToken(user + "@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"action": "selfActivate", "principalId": w.tenant.UserID(user + "@contoso.example"),
		"groupId": "71e10000-0000-4000-8000-000000000001", "accessId": "member", "justification": "on call",
		"scheduleInfo": map[string]any{"expiration": map[string]any{"type": "afterDuration", "duration": "PT1H"}}})
	req, _ := http.NewRequest(http.MethodPost, w.tenant.GraphURL()+"/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleRequests", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.tenant.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("portal group activation: %d %s", resp.StatusCode, b)
	}
}

// TestSyncOutsideActivations: what PIM recorded before Elevate's first poll is summarised in one
// alert; afterwards each activation made outside Elevate is posted, named (a PIM for Groups
// membership by its group); Elevate's own activations, roles and groups alike, are recognised by
// the PIM request ids it stored and not reported.
func TestSyncOutsideActivations(t *testing.T) {
	w := pimWorld(t, nil)
	since := time.Now().Add(-time.Hour)
	security := func() []string { return w.rec.to(w.cfg.Channels.Security) }
	for _, a := range [][2]string{{"carol@contoso.example", "User Administrator"}, {"dave@contoso.example", "SharePoint Administrator"}} {
		if err := w.tenant.PortalActivate(a[0], a[1], time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	n, err := w.core.SyncOutsideActivations(context.Background(), since)
	if err != nil || n != 1 || len(security()) != 1 {
		t.Fatalf("first sync: %d posted (%v): %q", n, err, security())
	}
	for _, want := range []string{"Before Elevate started watching", "2 activations made outside Elevate", "carol@contoso.example: User Administrator", "dave@contoso.example: SharePoint Administrator"} {
		contains(t, security()[0], want)
	}

	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice") // Elevate's own directory role activation
	w.say("dave", "tier1 1h on call")
	w.signIn("dave") // Elevate's own PIM for Groups activation
	if r := w.only("dave"); r.State != store.StateActive {
		t.Fatalf("dave's group activation: %s %s", r.State, r.FailureMessage)
	}
	portalGroupActivate(t, w, "carol")
	if n, err := w.core.SyncOutsideActivations(context.Background(), since); err != nil || n != 1 {
		t.Fatalf("second sync: %d posted (%v): %q", n, err, security())
	}
	got := security()
	contains(t, got[len(got)-1], "Activated outside Elevate: carol@contoso.example activated membership of the group Tier1 Admins (PIM for Groups)")
	for _, m := range got {
		if strings.Contains(m, "outside Elevate: alice@") || strings.Contains(m, "outside Elevate: dave@") {
			t.Errorf("Elevate's own activation reported as outside: %q", m)
		}
	}
	if n, _ := w.core.SyncOutsideActivations(context.Background(), since); n != 0 {
		t.Errorf("third sync posted %d", n)
	}
}

// A write whose answer is lost (504) is not repeated: the request stays activating with its
// write's outcome unknown, the user is told once, and the sweep looks first and finds the role
// active in PIM.
func TestLostAnswerIsNotWrittenTwice(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("alice", "exchange 1h mail flow")
	w.tenant.LoseResponses(1)
	w.signIn("alice")
	r := w.only("alice")
	if r.State != store.StateActivating || r.Write == nil || !r.Write.Unknown {
		t.Fatalf("after a lost answer: %s %+v", r.State, r.Write)
	}
	contains(t, strings.Join(w.rec.to("alice"), "\n"), "did not answer whether PIM activated Exchange Administrator")
	time.Sleep(100 * time.Millisecond) // the look comes a minute later; PIM has provisioned by then
	w.clock.advance(2 * time.Minute)
	if err := w.core.Expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after reconciliation: %s (%s)", got.State, got.FailureMessage)
	}
	if n := len(w.activations()); n != 1 {
		t.Errorf("%d activation writes, want 1", n)
	}
}

// Graph down before anything was written: the request waits, then the sweep looks, finds
// nothing in PIM and writes once.
func TestOutageKeepsRequest(t *testing.T) {
	w := pimWorld(t, nil)
	w.linked("alice") // linking would need Graph too (the email check)
	w.say("alice", "exchange 1h mail flow")
	w.tenant.Outage(1, http.StatusInternalServerError)
	w.signIn("alice")
	if r := w.only("alice"); r.State != store.StateActivating {
		t.Fatalf("state %s", r.State)
	}
	w.clock.advance(2 * time.Minute)
	w.core.Expire(context.Background())
	w.core.Wait()
	if r := w.only("alice"); r.State != store.StateActive {
		t.Fatalf("after retry: %s (%s)", r.State, r.FailureMessage)
	}
	if n := len(w.activations()); n != 2 {
		t.Errorf("%d activation POSTs, want 2 (the refused one and the retry)", n)
	}
}

// Cost: one activation with warm caches is one write and at most one read.
func TestActivationGraphCalls(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice") // warms the policy cache and alice's token
	w.tenant.Advance(6 * time.Minute)
	w.say("alice", "done")
	w.tenant.ResetCalls()
	w.say("alice", "exchange 1h mail flow again")
	if r := w.rec.lastTo("alice"); !strings.Contains(r, "usable now") {
		t.Fatalf("second activation: %q", r)
	}
	var writes, reads int
	for _, c := range w.tenant.Calls() {
		if c.Method == http.MethodGet {
			reads++
		} else {
			writes++
		}
	}
	t.Logf("activation with warm caches: %d write(s), %d read(s)", writes, reads)
	if writes != 1 {
		t.Errorf("%d writes, want 1", writes)
	}
	// WaitUsable polls until PIM's provisioning delay (50ms here) has passed; with no delay it
	// is one read. Allow the polls that the delay costs.
	if reads > 1+int(50*time.Millisecond/(10*time.Millisecond))+1 {
		t.Errorf("%d reads", reads)
	}
}

func itoa(id uint64) string { return strconv.FormatUint(id, 10) }

// graphCall makes a raw Graph request as the Entra portal would, with tok.
func graphCall(t *testing.T, w *world, method, path, tok string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.tenant.GraphURL()+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// portalRequest is a selfActivate made in the Entra portal; it returns the request id.
func portalRequest(t *testing.T, w *world, tok, userID, roleID, duration, why string) string {
	t.Helper()
	out := graphCall(t, w, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests", tok, map[string]any{
		"action": "selfActivate", "principalId": userID, "roleDefinitionId": roleID, "directoryScopeId": "/", "justification": why,
		"scheduleInfo": map[string]any{"expiration": map[string]any{"type": "afterDuration", "duration": duration}}})
	return out["id"].(string)
}

// approveInPortal approves a pending request in the Entra portal as the holder of tok.
func approveInPortal(t *testing.T, w *world, approvalID, tok string) {
	t.Helper()
	ap := graphCall(t, w, http.MethodGet, "/beta/roleManagement/directory/roleAssignmentApprovals/"+approvalID, tok, nil)
	step := ap["steps"].([]any)[0].(map[string]any)["id"].(string)
	graphCall(t, w, http.MethodPatch, "/beta/roleManagement/directory/roleAssignmentApprovals/"+approvalID+"/steps/"+step, tok,
		map[string]any{"reviewResult": "Approve", "justification": "approved in the portal"})
}

// TestGroupPIMMaximum: a PIM for Groups setting stricter than Elevate's cap is read (the group's
// policy, scopeType Group) and offered at once, before any sign-in; `roles` shows it.
func TestGroupPIMMaximum(t *testing.T) {
	w := pimWorld(t, func(s *graphtest.Seed) {
		for i, p := range s.Policies {
			if p.Group == "Tier1 Admins" {
				s.Policies[i].MaxDuration = graphtest.Duration(time.Hour)
			}
		}
	})
	w.say("dave", "tier1 2h on call")
	contains(t, w.rec.lastTo("dave"), "Tier1 Admins allows at most 1h in PIM — use 1h?")
	if n := len(w.activations()); n != 0 {
		t.Fatalf("%d PIM writes before the offer was taken", n)
	}
	w.click("dave", bot.ActionUseOffer, "")
	w.signIn("dave")
	if r := w.only("dave"); r.State != store.StateActive || r.Duration != time.Hour {
		t.Fatalf("after the offer: %s %v (%s)", r.State, r.Duration, r.FailureMessage)
	}
	w.say("dave", "roles")
	contains(t, w.rec.lastTo("dave"), "up to 1h")
}

// Every post and update of a card on Teams asks for its approvers (refresh.userIds): the UPNs
// the configuration lists are resolved through Graph once, not on every card (under load that
// queued each card update behind one Graph read per approver).
func TestApproversResolvedOnce(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "ga 1h INC-1234 restore the tenant")
	w.signIn("alice")
	r := w.only("alice")
	if r.State != store.StateAwaitingApproval {
		t.Fatalf("state %s (%s)", r.State, r.FailureMessage)
	}
	userReads := func() int {
		n := 0
		for _, c := range w.tenant.Calls() {
			if c.Method == http.MethodGet && strings.Contains(c.Path, "/users/") {
				n++
			}
		}
		return n
	}
	var first []string
	for i := range 3 {
		before := userReads()
		got, err := w.core.Approvers(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		reads := userReads() - before
		if i == 0 {
			first = got
			if len(got) != 3 {
				t.Fatalf("approvers %v, want bob's, carol's and erin's object ids", got)
			}
			continue
		}
		if reads != 0 {
			t.Errorf("call %d read Graph %d times, want 0 (resolved the first time)", i+1, reads)
		}
		if !slices.Equal(got, first) {
			t.Errorf("call %d: %v, want %v", i+1, got, first)
		}
	}
}

// One eligibility read answers for every role it lists: dave, eligible for Exchange and
// SharePoint Administrator, asks for one, then the other, and Elevate reads his eligibilities once.
func TestEligibilityReadOnceForEveryRoleItLists(t *testing.T) {
	w := newWorld(t, setup{})
	reads := func() int {
		n := 0
		for _, c := range w.tenant.Calls() {
			if c.Method == http.MethodGet && strings.Contains(c.Path, "/roleEligibilityScheduleInstances") {
				n++
			}
		}
		return n
	}
	w.say("dave", "exchange 1h mail flow")
	w.signIn("dave")
	if got := w.only("dave"); got.State != store.StateActive {
		t.Fatalf("exchange: %s (%s)", got.State, got.FailureMessage)
	}
	before := reads()
	if before == 0 {
		t.Fatal("no eligibility read for the first request")
	}
	w.say("dave", "sharepoint 1h site permissions")
	if got := reads() - before; got != 0 {
		t.Errorf("the second role's request read eligibilities %d more times, want 0 (the first read listed it)", got)
	}
}
