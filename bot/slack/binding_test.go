package slack_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/store"
)

// TestForwardedLinkAttack is issue 11's attack through Slack: an insider with more Slack
// accounts clicks Approve on her own Global Administrator request from each and gets Bob, then
// Carol, to open "her" sign-in links. Bob is linked already and holds a fresh token; Carol is
// not linked yet. Neither link binds, neither approval counts, and #security is told each time.
func TestForwardedLinkAttack(t *testing.T) {
	e := start(t, false)
	e.fake.AddUser(slacktest.User{ID: uid("alice2"), Name: "alice2", Email: "alice.two@contoso.example"})
	e.fake.AddUser(slacktest.User{ID: uid("alice3"), Name: "alice3", Email: "alice.three@contoso.example"})
	p := platform{e}
	p.Type(t, "bob", "user 30m reset a password")
	e.settle()
	e.signIn(t, "bob")
	p.Type(t, "alice", "ga 1h INC-7 restore tenant")
	e.settle()
	e.signIn(t, "alice")
	before := e.activations()

	for _, tc := range []struct{ account, victim, alert string }{
		{"alice2", "bob", "Refused: Slack user alice2 (@alice2, Contoso workspace) tried to link to bob@contoso.example, which is already linked to Slack user UBOB."},
		{"alice3", "carol", "Refused: Slack user alice3 (@alice3, Contoso workspace) (alice.three@contoso.example) signed in as carol@contoso.example"},
	} {
		p.Click(t, tc.account, bot.ActionApprove, "")
		e.settle()
		status, page, err := e.w.Browser().Open(context.Background(), p.Link(t, tc.account), tc.victim+"@contoso.example", true)
		if err != nil || status != http.StatusForbidden {
			t.Fatalf("%s opens %s's link: %d %v %s; want 403", tc.victim, tc.account, status, err, page)
		}
		e.settle()
		if _, err := e.w.Store.Binding(slack.Platform, uid(tc.account)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s is linked (err %v)", tc.account, err)
		}
		alerts := p.Channel(t, "C0SECURITY")
		if len(alerts) == 0 || !strings.Contains(alerts[len(alerts)-1], tc.alert) {
			t.Errorf("#security: %q, want %q", alerts, tc.alert)
		}
		// Clicking again does not borrow the victim's identity or token.
		p.Click(t, tc.account, bot.ActionApprove, "")
		e.settle()
	}
	rs := e.requests(t)
	for _, r := range rs {
		if r.RoleName == "Global Administrator" && (len(r.Approvals) != 0 || r.State != store.StateAwaitingApproval) {
			t.Errorf("the request: %s with approvals %+v", r.State, r.Approvals)
		}
	}
	if n := e.activations() - before; n != 0 {
		t.Errorf("%d activations after the attack, want 0", n)
	}
}

// TestProfile: users.info's names, the email only when Slack confirmed it, and the workspace's
// name from auth.test.
func TestProfile(t *testing.T) {
	e := start(t, false)
	e.fake.AddUser(slacktest.User{ID: "UNEW", Name: "newbie", Email: "newbie@contoso.example", Unconfirmed: true})
	p, err := e.a.Profile(context.Background(), uid("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (bot.Profile{Name: "alice", Handle: "alice", Workspace: slacktest.Team, Email: "alice@contoso.example"}); p != want {
		t.Errorf("alice's profile = %+v, want %+v", p, want)
	}
	p, err = e.a.Profile(context.Background(), "UNEW")
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != "" {
		t.Errorf("an unconfirmed email was given: %+v", p)
	}
	if _, err := e.a.Profile(context.Background(), "UNOBODY"); err == nil {
		t.Error("a profile of nobody")
	}
	if n := e.fake.CallCount("auth.test"); n != 1 {
		t.Errorf("auth.test called %d times, want once (cached)", n)
	}
}
