package bottest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/oncall"
	"github.com/elevate-pim/elevate/oncall/oncalltest"
	"github.com/elevate-pim/elevate/store"
)

// ItemsPlatform is what RunItems needs of a platform besides Platform: the home, images and a
// check of everything the adapter rendered.
type ItemsPlatform interface {
	Platform
	// Home returns user's home as it is when they open it now (Slack's App Home view, Teams'
	// home card as its refresh answers), as text.
	Home(t *testing.T, user string) string
	// Images counts the images posted with messages in channel: uploaded files in Slack, Image
	// elements of a Teams card.
	Images(t *testing.T, channel string) int
	// Check validates everything the adapter has sent so far as the platform would: Block Kit's
	// limits for Slack; the Adaptive Card schema's required properties, the versions Teams
	// renders and the activity size for Teams. It returns one error per message refused.
	Check(t *testing.T) []error
}

// ItemsConfig is the config RunItems' World runs on: the example config with the pilot story's
// additions (demo.PilotConfig): a pilot of Alice, Bob, Carol and Dave, and Exchange
// Administrator approved by Bob or Carol unless the requester is on call in PagerDuty.
func ItemsConfig(t testing.TB) []byte {
	t.Helper()
	cfg, ok := demo.PilotConfig(examples.Config)
	if !ok {
		t.Fatal("bottest: the example config's Exchange Administrator entry changed")
	}
	return cfg
}

// WithOnCall starts a fake PagerDuty for t and returns the demo option that points the World's
// on-call checks at it.
func WithOnCall(t testing.TB) (*oncalltest.Server, func(*demo.Options)) {
	pd := oncalltest.New()
	t.Cleanup(pd.Close)
	return pd, func(o *demo.Options) {
		o.OnCall = oncall.New(oncall.Config{PagerDutyToken: oncalltest.PagerDutyToken, PagerDutyURL: pd.PagerDutyURL()})
	}
}

// RunItems plays what issue #15 added through p: PIM's dry run refusing before approvers, the
// pilot's refusal (of a request, of the commands and the home), feedback, on-call auto-approval, the home after a change, the burst alert,
// the digest's trends with its chart and several roles in one request; then it validates every message the adapter rendered. w
// must run on ItemsConfig with its on-call checks pointed at pd (WithOnCall).
func RunItems(t *testing.T, w *demo.World, p ItemsPlatform, pd *oncalltest.Server) {
	ctx := context.Background()
	approvals, security, digest := w.Config.Channels.Approvals, w.Config.Channels.Security, w.Config.Channels.Digest
	settle := func(t *testing.T) { t.Helper(); p.Settle(t) }
	say := func(t *testing.T, user, text string) {
		t.Helper()
		p.Type(t, user, text)
		settle(t)
	}
	last := func(t *testing.T, user string) string {
		t.Helper()
		seen := p.Seen(t, user)
		if len(seen) == 0 {
			t.Fatalf("%s was shown nothing", user)
		}
		return seen[len(seen)-1]
	}
	want := func(t *testing.T, got, sub string) {
		t.Helper()
		if !strings.Contains(got, sub) {
			t.Fatalf("got %q, want it to contain %q", got, sub)
		}
	}
	// signInIfAsked signs user in when the newest thing they were shown asks for it (Slack does
	// not know who a user is before their first sign-in; Teams vouches for them).
	signInIfAsked := func(t *testing.T, user string) {
		t.Helper()
		if !strings.Contains(last(t, user), "Sign in") {
			return
		}
		status, page, err := w.SignIn(ctx, p.Link(t, user), user+"@"+w.Domain(), true)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s signs in: status %d, %v: %s", user, status, err, page)
		}
		settle(t)
	}
	latest := func(t *testing.T, user string) store.Request {
		t.Helper()
		rs, err := w.Store.Requests(store.Filter{Platform: p.Name()})
		if err != nil {
			t.Fatal(err)
		}
		for i := len(rs) - 1; i >= 0; i-- {
			if strings.HasPrefix(rs[i].UPN, user+"@") || rs[i].ChatName == user {
				return rs[i]
			}
		}
		t.Fatalf("no request of %s's on %s", user, p.Name())
		return store.Request{}
	}
	count := func(t *testing.T, channel, sub string) int {
		t.Helper()
		return strings.Count(strings.Join(p.Channel(t, channel), "\n"), sub)
	}

	t.Run("pilot refusal", func(t *testing.T) {
		say(t, "erin", "teams 1h fix a meeting policy")
		signInIfAsked(t, "erin")
		want(t, last(t, "erin"), "Thanks for trying Elevate! It is in a pilot with a few people for now")
		want(t, last(t, "erin"), "Meanwhile, activate roles in the Entra portal or ask in #it-help.")
		if r := latest(t, "erin"); r.State != store.StateFailed || r.FailureCode != "not_in_pilot" {
			t.Fatalf("erin's request: %s %s", r.State, r.FailureCode)
		}
	})

	t.Run("pilot refusal everywhere", func(t *testing.T) {
		// Known now (Teams vouched for her; in Slack she signed in): everything that is using
		// Elevate for herself answers in the pilot's words, her home included.
		const polite = "It is in a pilot with a few people for now"
		for _, cmd := range []string{"status", "roles", "extend 1h"} {
			say(t, "erin", cmd)
			want(t, last(t, "erin"), polite)
		}
		home := p.Home(t, "erin")
		want(t, home, polite)
		if strings.Contains(home, "Exchange Administrator") {
			t.Errorf("erin's home, outside the pilot, lists roles:\n%s", home)
		}
		say(t, "erin", "help")
		want(t, last(t, "erin"), "Elevate is in a pilot with a few people for now")
	})

	t.Run("feedback", func(t *testing.T) {
		say(t, "erin", "feedback please open it to the service desk")
		want(t, last(t, "erin"), "Thanks! Your note goes to the team in the weekly digest.")
	})

	t.Run("dry run refuses before approvers", func(t *testing.T) {
		if err := w.Tenant.PortalActivate("dave@"+w.Domain(), "Exchange Administrator", 2*time.Hour); err != nil {
			t.Fatal(err)
		}
		cards := count(t, approvals, "Elevation request")
		say(t, "dave", "exchange 1h migrate public folders")
		signInIfAsked(t, "dave")
		want(t, last(t, "dave"), "Exchange Administrator was not activated. Exchange Administrator is already active for you")
		if n := count(t, approvals, "Elevation request"); n != cards {
			t.Fatalf("%d cards posted for a request PIM would refuse", n-cards)
		}
		if r := latest(t, "dave"); r.State != store.StateFailed {
			t.Fatalf("dave's request: %s", r.State)
		}
	})

	t.Run("on-call auto-approval", func(t *testing.T) {
		pd.OnCall("P123ABC", "alice@"+w.Domain())
		pd.AddIncident(oncalltest.Incident{Number: 4521, Service: "PSVC1", Status: "triggered"})
		say(t, "alice", "exchange 2h INC-4521 mail flow outage")
		signInIfAsked(t, "alice")
		if r := latest(t, "alice"); r.State != store.StateActive {
			t.Fatalf("alice's request: %s (%s), want active without an approver", r.State, r.FailureMessage)
		}
		cards := p.Channel(t, approvals)
		if len(cards) == 0 {
			t.Fatalf("nothing in %s", approvals)
		}
		want(t, cards[len(cards)-1], "auto-approved: alice is on call for Exchange Administrator (PagerDuty schedule P123ABC with incident #4521 open)")
		want(t, strings.Join(p.Seen(t, "alice"), "\n"), "No approval needed: you are on call (PagerDuty schedule P123ABC with incident #4521 open)")
	})

	t.Run("home after a change", func(t *testing.T) {
		home := p.Home(t, "alice")
		want(t, home, "Exchange Administrator")
		want(t, home, "until")
	})

	t.Run("burst alert once", func(t *testing.T) {
		const alert = "failed or refused activations by"
		say(t, "dave", "ga 1h INC-4522 fix the tenant") // with the dry run's refusal: two
		if n := count(t, security, alert); n != 0 {
			t.Fatalf("%d alerts after two refusals", n)
		}
		say(t, "dave", "teams 1h fix a meeting policy")
		if n := count(t, security, alert); n != 1 {
			t.Fatalf("%d alerts after three refusals, want 1", n)
		}
		say(t, "dave", "intune 1h enrol laptops")
		if n := count(t, security, alert); n != 1 {
			t.Fatalf("%d alerts after a fourth refusal in the same burst, want still 1", n)
		}
	})

	t.Run("digest with trends and chart", func(t *testing.T) {
		sch, err := schedule.New(schedule.Options{Config: w.Config, Core: w.Core, Graph: w.Graph, Store: w.Store})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := w.Store.PutSnapshot("weekly", store.Snapshot{At: now.AddDate(0, 0, -7), Weekly: true, Permanent: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := sch.PostDigest(ctx, now.AddDate(0, 0, -7), now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		settle(t)
		got := strings.Join(p.Channel(t, digest), "\n")
		want(t, got, "Weekly PIM digest")
		want(t, got, "since last week")
		want(t, got, "“please open it to the service desk”")
		if n := p.Images(t, digest); n != 1 {
			t.Fatalf("%d images in %s, want the chart", n, digest)
		}
	})

	t.Run("several roles in one request", func(t *testing.T) {
		// No approval needed for either: one sign-in, one activation per role, and one account of
		// the request: one "Activating …" line, one line for both outcomes, one "usable" line.
		before := len(p.Seen(t, "carol"))
		say(t, "carol", "user,tier1 30m INC-4531 unlock the helpdesk queue")
		signInIfAsked(t, "carol")
		seen := strings.Join(p.Seen(t, "carol")[before:], "\n")
		want(t, seen, "User Administrator active until")
		want(t, seen, "; Tier1 Admins active until")
		for sub, n := range map[string]int{
			"Activating User Administrator and Tier1 Admins for 30m in PIM": 1,
			"Activating User Administrator for":                             0,
			"Activating Tier1 Admins for":                                   0,
			"User Administrator active until":                               1,
			"Tier1 Admins active until":                                     1,
			"PIM is applying them; I'll tell you when they are usable.":     1,
			"User Administrator and Tier1 Admins are usable now (until":     1,
			"is usable now": 0,
		} {
			if got := strings.Count(seen, sub); got != n {
				t.Errorf("carol was shown %q %d times, want %d:\n%s", sub, got, n, seen)
			}
		}
		if r := latest(t, "carol"); r.State != store.StateActive || r.Group == 0 || r.RoleName != "Tier1 Admins" {
			t.Fatalf("carol's last item: %s %s group %d", r.RoleName, r.State, r.Group)
		}
		// Dave's Exchange Administrator is active in PIM (from the portal): PIM's dry run refuses
		// that role before anyone is asked, and nothing of the request goes on.
		cards := count(t, approvals, "Elevation request")
		say(t, "dave", "exchange,sharepoint 1h INC-4532 mail flow and the intranet")
		signInIfAsked(t, "dave")
		want(t, last(t, "dave"), "Nothing was requested, and no approver was asked: PIM would refuse part of it.")
		want(t, last(t, "dave"), "Exchange Administrator: refused by PIM: Exchange Administrator is already active for you")
		if n := count(t, approvals, "Elevation request"); n != cards {
			t.Fatalf("%d cards posted for a request PIM would refuse", n-cards)
		}
	})

	t.Run("every rendering is valid", func(t *testing.T) {
		for _, err := range p.Check(t) {
			t.Error(err)
		}
	})
}
