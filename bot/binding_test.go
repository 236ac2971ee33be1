package bot_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

// bound says which Entra user chat user is linked to ("" when none).
func (w *world) bound(user string) string {
	w.t.Helper()
	b, err := w.store.Binding("test", user)
	if err != nil {
		return ""
	}
	return b.UPN
}

func (w *world) auditActions() []string {
	w.t.Helper()
	var out []string
	if err := w.store.Audit(func(r store.AuditRecord) error { out = append(out, r.Action); return nil }); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// The first sign-in of a chat account shows a page naming it and links only on the POST of that
// page; the next sign-in of the same account as the same person needs no page.
func TestFirstSignInAsksToLink(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	br := w.browser()
	status, page := br.open(w.link("alice"), "alice@"+w.domain)
	if status != http.StatusOK || !isLinkPage(page) {
		t.Fatalf("first sign-in: %d %s", status, page)
	}
	contains(t, page, "Link test user Alice (@alice, Contoso workspace) to alice@contoso.example?")
	contains(t, page, "activating Exchange Administrator for 1h (request #1)")
	if strings.Contains(page, "<script") {
		t.Errorf("the page has a script: %s", page)
	}
	if w.bound("alice") != "" || len(w.activations()) != 0 {
		t.Fatalf("linked or activated before the confirmation")
	}

	// A POST without the page's cookie (another browser, a forged form) is refused.
	form := url.Values{"answer": {"link"}}
	for _, m := range formInput.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	resp, err := http.PostForm(w.callbackURL+"/auth/callback", form)
	if err != nil {
		t.Fatal(err)
	}
	if got, body := w.browser().read(resp); got != http.StatusForbidden {
		t.Errorf("confirmation without the cookie: %d %s, want 403", got, body)
	}
	// Nor with the cookie but a wrong token in the form.
	bad := url.Values{"answer": {"link"}, "link": {form.Get("link")}, "csrf": {"x" + form.Get("csrf")}}
	resp, err = br.hc.PostForm(w.callbackURL+"/auth/callback", bad)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := br.read(resp); got != http.StatusForbidden {
		t.Errorf("confirmation with a wrong token: %d, want 403", got)
	}
	if w.bound("alice") != "" {
		t.Fatal("a refused confirmation linked the account")
	}

	confirmation := page
	status, page = br.answer(page, "link")
	if status != http.StatusOK {
		t.Fatalf("confirming: %d %s", status, page)
	}
	contains(t, html.UnescapeString(page), "Linked. You're signed in as alice@contoso.example.")
	if w.bound("alice") != "alice@contoso.example" {
		t.Fatalf("binding after confirming: %q", w.bound("alice"))
	}
	if got := w.only("alice").State; got != store.StateActive {
		t.Fatalf("state %s, want active", got)
	}
	if status, _ := br.answer(confirmation, "link"); status != http.StatusBadRequest {
		t.Errorf("the confirmation again: %d, want 400", status)
	}

	// Once linked, the same person signing in again goes straight on (a tier-0 request asks for
	// a sign-in every time).
	w.say("alice", "ga 1h INC-2 restore tenant")
	status, page = w.browser().open(w.link("alice"), "alice@"+w.domain)
	if status != http.StatusOK || isLinkPage(page) {
		t.Fatalf("second sign-in: %d %s, want no linking page; alice saw %q", status, page, w.rec.to("alice"))
	}
	contains(t, html.UnescapeString(page), "You're signed in as alice@contoso.example.")
}

// The forwarded-link attack in the bot core: Alice's second and third chat accounts ask to
// approve her own tier-0 request, and she gets Bob and Carol to open the sign-in links. Bob is
// linked to his own chat account already (and holds a fresh token); Carol is not linked yet, and
// the verified email of Alice's account is not hers. Nothing is linked, nothing is approved, and
// security is told both times.
func TestForwardedApprovalLinkRefused(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("bob", "user 30m reset a password")
	w.signIn("bob")
	w.say("alice", "ga 1h INC-1 restore tenant")
	w.signIn("alice")
	r := w.only("alice")

	for _, tc := range []struct{ account, victim, page, alert string }{
		{"alice2", "bob", "already linked to another chat account",
			"Refused: test user Alice2 (@alice2, Contoso workspace) tried to link to bob@contoso.example, which is already linked to test user bob."},
		{"alice3", "carol", "does not match the chat account",
			"Refused: test user Alice3 (@alice3, Contoso workspace) (alice3@contoso.example) signed in as carol@contoso.example"},
	} {
		w.click(tc.account, bot.ActionApprove, "")
		contains(t, w.rec.lastTo(tc.account), "Sign in once")
		status, page := w.browser().open(w.link(tc.account), tc.victim+"@"+w.domain) // the victim opens the forwarded link
		if status != http.StatusForbidden {
			t.Fatalf("%s's link opened by %s: %d %s, want 403", tc.account, tc.victim, status, page)
		}
		contains(t, page, tc.page)
		if got := w.bound(tc.account); got != "" {
			t.Errorf("%s was linked to %s", tc.account, got)
		}
		contains(t, w.rec.lastTo(w.cfg.Channels.Security), tc.alert)
		// A second click does not borrow the victim's identity or token either.
		w.click(tc.account, bot.ActionApprove, "")
		if got := w.request(r.ID); len(got.Approvals) != 0 || got.State != store.StateAwaitingApproval {
			t.Fatalf("request after %s's link: %s with %d approvals", tc.account, got.State, len(got.Approvals))
		}
	}
	if w.bound("carol") != "" {
		t.Error("carol got linked to a chat account")
	}
	if got := strings.Count(strings.Join(w.auditActions(), " "), "identity.refused"); got != 2 {
		t.Errorf("%d identity.refused audit records, want 2", got)
	}
}

// With the email check off, the page is the defence: it names the chat account, and the person
// who did not ask says so; security is told.
func TestLinkDeclined(t *testing.T) {
	w := newWorld(t, setup{config: withIdentity("off")})
	w.say("alice", "ga 1h INC-1 restore tenant")
	w.signIn("alice")
	w.click("alice2", bot.ActionApprove, "")
	br := w.browser()
	_, page := br.open(w.link("alice2"), "bob@"+w.domain)
	contains(t, page, "Link test user Alice2 (@alice2, Contoso workspace) to bob@contoso.example?")
	contains(t, page, "approving request #1: alice@contoso.example asks for Global Administrator for 1h")
	status, page := br.answer(page, "decline")
	if status != http.StatusOK {
		t.Fatalf("declining: %d %s", status, page)
	}
	contains(t, page, "Nothing was linked.")
	if got := w.bound("alice2"); got != "" {
		t.Errorf("alice2 was linked to %s", got)
	}
	contains(t, w.rec.lastTo(w.cfg.Channels.Security), "bob@contoso.example declined to link test user Alice2")
	contains(t, w.rec.lastTo("alice2"), "said this chat account is not theirs")
	contains(t, strings.Join(w.auditActions(), " "), "identity.declined")
	if got := w.only("alice"); len(got.Approvals) != 0 {
		t.Errorf("approvals: %+v", got.Approvals)
	}
}

// identity.email_match warn: the mismatch is alerted and shown, and the person may still link.
func TestEmailMismatchWarn(t *testing.T) {
	w := newWorld(t, setup{config: withIdentity("warn")})
	w.rec.setEmail("alice", "alice.personal@example.net")
	w.say("alice", "exchange 1h mail flow")
	br := w.browser()
	_, page := br.open(w.link("alice"), "alice@"+w.domain)
	contains(t, page, "(alice.personal@example.net) is not one of alice@contoso.example")
	contains(t, w.rec.lastTo(w.cfg.Channels.Security), "Warning: test user Alice")
	if status, _ := br.answer(page, "link"); status != http.StatusOK || w.bound("alice") == "" {
		t.Fatalf("linking under warn: %d, bound %q", status, w.bound("alice"))
	}
}

// A verified email that is one of the Entra user's proxy addresses (not the UPN) is a match; a
// chat account without a verified email is refused under require.
func TestEmailMatchesProxyAddress(t *testing.T) {
	w := newWorld(t, setup{})
	w.rec.setEmail("bob", "Robert@contoso.example")
	w.say("bob", "user 30m reset a password")
	if status, page := w.signIn("bob"); status != http.StatusOK {
		t.Fatalf("bob with an alias as his Slack email: %d %s", status, page)
	}
	w.rec.setEmail("carol", "")
	w.say("carol", "user 30m reset a password")
	if status, _ := w.signIn("carol"); status != http.StatusForbidden || w.bound("carol") != "" {
		t.Errorf("carol without a verified email: status %d, bound %q; want refused", status, w.bound("carol"))
	}
}

// One Microsoft account, a second chat account of the same platform: refused and alerted, until
// an admin links it with rebind (audited, alerted); unbind removes a link.
func TestSecondChatAccountAndRebind(t *testing.T) {
	w := newWorld(t, setup{config: pimConfig()})
	w.say("bob", "user 30m reset a password")
	w.signIn("bob")
	w.rec.setEmail("bob2", "bob@contoso.example") // even a matching email does not make it Bob's
	w.say("bob2", "user 30m reset a password")
	status, page := w.signInAs("bob2", "bob@"+w.domain)
	if status != http.StatusForbidden {
		t.Fatalf("second chat account: %d %s, want 403", status, page)
	}
	contains(t, page, "already linked to another chat account")
	contains(t, w.rec.lastTo(w.cfg.Channels.Security), "which is already linked to test user bob")
	if w.bound("bob2") != "" {
		t.Fatal("bob2 was linked")
	}

	w.say("bob", "rebind bob2 bob@contoso.example")
	contains(t, w.rec.lastTo("bob"), "Only Elevate's PIM administrators")
	w.say("alice", "exchange 1h mail flow") // alice is an admin; she signs in once
	w.signIn("alice")
	w.say("alice", "rebind <@bob2|bob2> bob@contoso.example")
	contains(t, w.rec.lastTo("alice"), "Linked test user bob2 to bob@contoso.example (not linked before). bob@contoso.example is also linked to bob.")
	contains(t, w.rec.lastTo(w.cfg.Channels.Security), "alice@contoso.example linked test user bob2 to bob@contoso.example")
	if w.bound("bob2") != "bob@contoso.example" {
		t.Fatalf("bob2 after rebind: %q", w.bound("bob2"))
	}
	w.say("alice", "unbind bob2")
	contains(t, w.rec.lastTo("alice"), "Unlinked test user bob2 from bob@contoso.example")
	if w.bound("bob2") != "" {
		t.Fatal("bob2 still linked after unbind")
	}
	actions := strings.Join(w.auditActions(), " ")
	contains(t, actions, "identity.rebound")
	contains(t, actions, "identity.unbound")
}

// A held token serves only the chat account whose sign-in produced it: a second chat account
// linked to the same person (by an admin) must sign in itself before acting in PIM.
func TestHeldTokenIsOnlyForItsChatAccount(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("bob", "user 30m reset a password")
	w.signIn("bob") // bob holds a fresh token
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	w.say("alice", "rebind bob2 bob@contoso.example")
	w.say("erin", "teams 1h fix a meeting policy") // PIM itself requires approval
	w.signIn("erin")
	r := w.only("erin")

	w.click("bob2", bot.ActionApprove, "")
	contains(t, w.rec.lastTo("bob2"), "sign in first")
	for _, c := range w.tenant.Calls() {
		if c.Method == http.MethodPatch {
			t.Fatalf("bob2's click wrote to PIM with someone's token: %s", c.Path)
		}
	}
	if got := w.request(r.ID); got.State != store.StateAwaitingApproval {
		t.Fatalf("state %s after bob2's click", got.State)
	}
	w.click("bob", bot.ActionApprove, "") // bob's own token: no sign-in needed
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after bob's click: %s (%s)", got.State, got.FailureMessage)
	}
}

// A tier-0 approval needs a sign-in made by that approver for that request: a fresh sign-in
// made to approve another request does not count.
func TestTier0ApprovalNeedsSignInForThatRequest(t *testing.T) {
	w := newWorld(t, setup{seed: func(s *graphtest.Seed) {
		s.Eligibilities = append(s.Eligibilities, graphtest.Eligibility{Principal: "alice@contoso.example", Role: "Privileged Authentication Administrator"})
	}})
	w.say("alice", "ga 1h INC-1 restore tenant")
	w.signIn("alice")
	ga := w.only("alice")
	w.click("bob", bot.ActionApprove, "")
	w.signIn("bob")
	if got := w.request(ga.ID); len(got.Approvals) != 1 {
		t.Fatalf("GA approvals after bob: %d", len(got.Approvals))
	}

	w.say("alice", "paa 1h reset a passkey")
	w.signIn("alice")
	var paa store.Request
	rs, _ := w.store.Requests(store.Filter{Platform: "test", ChatUser: "alice"})
	for _, r := range rs {
		if r.ID != ga.ID {
			paa = r
		}
	}
	if paa.State != store.StateAwaitingApproval {
		t.Fatalf("PAA request: %s", paa.State)
	}
	w.click("bob", bot.ActionApprove, "") // within the freshness window of his GA sign-in
	contains(t, w.rec.lastTo("bob"), "tier-0 role: approving it needs a fresh sign-in")
	if got := w.request(paa.ID); len(got.Approvals) != 0 {
		t.Fatalf("a sign-in made for request #%d approved request #%d", ga.ID, paa.ID)
	}
	status, page := w.signIn("bob")
	if status != http.StatusOK {
		t.Fatalf("bob's sign-in: %d %s", status, page)
	}
	contains(t, page, "approving request #2: alice@contoso.example asks for Privileged Authentication Administrator for 1h")
	if got := w.request(paa.ID); got.State != store.StateActive {
		t.Fatalf("PAA after bob's own sign-in for it: %s (%s)", got.State, got.FailureMessage)
	}
}

// A callback with a valid state but no code (the person cancelled, consent failed) does not use
// the link up: it works afterwards.
func TestCallbackWithoutCodeKeepsLink(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	link, err := url.Parse(w.link("alice"))
	if err != nil {
		t.Fatal(err)
	}
	state := link.Query().Get("state")
	for _, q := range []url.Values{
		{"state": {state}, "error": {"access_denied"}, "error_description": {"AADSTS65004: User declined to consent."}},
		{"state": {state}},
	} {
		status, page := w.get(w.callbackURL + "/auth/callback?" + q.Encode())
		if status != http.StatusBadRequest {
			t.Errorf("callback %v: %d, want 400", q, status)
		}
		contains(t, page, "still works until")
	}
	if status, page := w.signIn("alice"); status != http.StatusOK {
		t.Fatalf("the link after a callback without a code: %d %s", status, page)
	}
	if got := w.only("alice").State; got != store.StateActive {
		t.Errorf("state %s, want active", got)
	}
}

func withIdentity(mode string) []byte {
	return append(append([]byte{}, pimConfig()...), []byte("identity:\n  email_match: "+mode+"\n")...)
}

// What the platform says about a chat account is shown escaped on the page.
func TestLinkPageEscapes(t *testing.T) {
	w := newWorld(t, setup{config: withIdentity("off")})
	w.say("alice", "ga 1h INC-1 restore tenant")
	w.signIn("alice")
	evil := `x<script>alert(1)</script>`
	w.click(evil, bot.ActionApprove, "")
	_, page := w.browser().open(w.link(evil), "bob@"+w.domain)
	if !isLinkPage(page) || strings.Contains(page, "<script>") {
		t.Fatalf("page: %s", page)
	}
	contains(t, page, "X&lt;script&gt;alert(1)&lt;/script&gt;")
}

// When the platform cannot say which email it verified (an outage), nothing is linked under
// require, and it is not reported as a mismatch.
func TestEmailCheckWithoutProfile(t *testing.T) {
	w := newWorld(t, setup{})
	w.rec.profileDown = true
	w.say("alice", "exchange 1h mail flow")
	status, page := w.signIn("alice")
	if status != http.StatusServiceUnavailable || w.bound("alice") != "" {
		t.Fatalf("status %d, bound %q: %s", status, w.bound("alice"), page)
	}
	if got := w.rec.to(w.cfg.Channels.Security); len(got) != 0 {
		t.Errorf("alerted: %q", got)
	}
}
