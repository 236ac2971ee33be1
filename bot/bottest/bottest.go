// Package bottest is the conformance suite every chat adapter passes: the walking skeleton's story
// (request, sign-in, activation; N-of-M approval with a refused self-approval and a double click;
// an offer; a "did you mean") in Run, and issue #15's items (PIM's dry run, the pilot and its
// feedback, on-call auto-approval, the home, the burst alert, the digest's trends and chart) in
// RunItems, driven through the platform's own wire format against the simulated tenant, with the
// real Graph client and store; then every message the adapter rendered is validated as the
// platform would (Block Kit's limits, the Adaptive Card checks).
//
// An adapter's test builds a demo.World with its Messenger registered, serves its own endpoints,
// and implements Platform by speaking to them as the platform would (signed requests, socket
// frames, invoke activities).
package bottest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/store"
)

// Platform drives an adapter the way its chat platform would. Users are the simulated tenant's
// user names ("alice", "bob", ...); channels are the config's channel values.
type Platform interface {
	// Name is the adapter's Messenger.Platform().
	Name() string
	// Type delivers text typed by user (what follows /elevate) and returns once the adapter has
	// acknowledged it.
	Type(t *testing.T, user, text string)
	// Click presses the newest button with action that user can see (their own messages or a
	// channel's), as the platform delivers clicks; reason answers a Deny's question.
	Click(t *testing.T, user string, action bot.Action, reason string)
	// Link returns the URL of the newest link button shown to user.
	Link(t *testing.T, user string) string
	// Seen returns the text of everything shown to user privately (DMs, ephemeral replies),
	// oldest first, with updates applied.
	Seen(t *testing.T, user string) []string
	// Channel returns the text of every message in channel, oldest first, with updates applied.
	Channel(t *testing.T, channel string) []string
	// Settle waits until the adapter has finished the work it started after acknowledging.
	Settle(t *testing.T)
}

// Run plays the story through p. w must have p's Messenger registered.
func Run(t *testing.T, w *demo.World, p Platform) {
	ctx := context.Background()
	approvals := w.Config.Channels.Approvals
	signIn := func(t *testing.T, user string, mfa bool) {
		t.Helper()
		status, page, err := w.SignIn(ctx, p.Link(t, user), user+"@"+w.Domain(), mfa)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s signs in: status %d, %v: %s", user, status, err, page)
		}
		p.Settle(t)
	}
	say := func(t *testing.T, user, text string) {
		t.Helper()
		p.Type(t, user, text)
		p.Settle(t)
	}
	click := func(t *testing.T, user string, a bot.Action, reason string) {
		t.Helper()
		p.Click(t, user, a, reason)
		p.Settle(t)
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
	activations := func() int {
		n := 0
		for _, c := range w.Tenant.Calls() {
			if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/roleManagement/directory/roleAssignmentScheduleRequests") && !c.ValidationOnly() {
				n++
			}
		}
		return n
	}
	stateOf := func(t *testing.T, user string) store.State {
		t.Helper()
		rs, err := w.Store.Requests(store.Filter{Platform: p.Name()})
		if err != nil {
			t.Fatal(err)
		}
		for i := len(rs) - 1; i >= 0; i-- {
			if strings.HasPrefix(rs[i].UPN, user+"@") || strings.HasPrefix(rs[i].LoginHint, user+"@") || rs[i].ChatName == user {
				return rs[i].State
			}
		}
		t.Fatalf("no request of %s's on %s", user, p.Name())
		return ""
	}

	t.Run("activate after sign-in", func(t *testing.T) {
		say(t, "alice", "exchange 2h fixing mail flow")
		want(t, last(t, "alice"), "Sign in")
		if n := activations(); n != 0 {
			t.Fatalf("%d activations before sign-in", n)
		}
		signIn(t, "alice", true)
		want(t, last(t, "alice"), "usable now")
		if got := stateOf(t, "alice"); got != store.StateActive {
			t.Fatalf("state %s, want active", got)
		}
		if n := activations(); n != 1 {
			t.Fatalf("%d activations, want 1", n)
		}
	})

	t.Run("two approvals, never your own", func(t *testing.T) {
		say(t, "alice", "ga 1h INC-1234 restore tenant")
		signIn(t, "alice", true)
		cards := p.Channel(t, approvals)
		if len(cards) == 0 {
			t.Fatalf("nothing posted in %s", approvals)
		}
		want(t, cards[len(cards)-1], "Global Administrator")

		click(t, "alice", bot.ActionApprove, "")
		want(t, last(t, "alice"), "can't approve or deny your own request")

		// Dave is no approver of Global Administrator: he is told so at once, not asked to sign in.
		click(t, "dave", bot.ActionApprove, "")
		want(t, last(t, "dave"), "You are not an approver for Global Administrator.")
		for _, m := range p.Seen(t, "dave") {
			if strings.Contains(m, "counts as soon as you are signed in") || strings.Contains(m, "approving it needs a fresh sign-in") {
				t.Fatalf("dave, no approver, was asked to sign in first: %q", m)
			}
		}

		click(t, "bob", bot.ActionApprove, "")
		signIn(t, "bob", true)
		want(t, last(t, "bob"), "1 of 2")
		click(t, "bob", bot.ActionApprove, "") // a double click counts once
		want(t, last(t, "bob"), "already recorded")

		click(t, "carol", bot.ActionApprove, "")
		signIn(t, "carol", true)
		if got := stateOf(t, "alice"); got != store.StateActive {
			t.Fatalf("state %s, want active", got)
		}
		if n := activations(); n != 2 {
			t.Fatalf("%d activations, want 2", n)
		}
		cards = p.Channel(t, approvals)
		want(t, cards[len(cards)-1], "active until")
	})

	t.Run("offer within the maximum", func(t *testing.T) {
		say(t, "dave", "exchange 12h migrate public folders")
		want(t, last(t, "dave"), "allows at most 8h — use 8h?")
		click(t, "dave", bot.ActionUseOffer, "")
		signIn(t, "dave", true)
		want(t, last(t, "dave"), "usable now")
	})

	// signInsShown counts the sign-in requests user was shown.
	signInsShown := func(t *testing.T, user string) int {
		n := 0
		for _, m := range p.Seen(t, user) {
			if strings.Contains(m, "Sign in with your Microsoft account") {
				n++
			}
		}
		return n
	}

	// The simulated tenant's SharePoint setting (1h) is stricter than Elevate's cap (2h).
	t.Run("PIM's maximum is offered at once", func(t *testing.T) {
		before, posts := signInsShown(t, "dave"), activations()
		say(t, "dave", "sharepoint 2h restore the intranet site") // within Elevate's cap, over PIM's
		want(t, last(t, "dave"), "SharePoint Administrator allows at most 1h in PIM — use 1h?")
		say(t, "dave", "sharepoint 3h restore the intranet site") // over both
		want(t, last(t, "dave"), "SharePoint Administrator allows at most 1h in PIM — use 1h?")
		if n := signInsShown(t, "dave"); n != before {
			t.Fatalf("dave was asked to sign in %d more times before choosing the offer", n-before)
		}
		if n := activations(); n != posts {
			t.Fatalf("%d PIM writes for offers", n-posts)
		}
		say(t, "dave", "roles")
		want(t, last(t, "dave"), "SharePoint Administrator (`sharepoint`, up to 1h: PIM's maximum)")
	})

	t.Run("not eligible is told before any sign-in", func(t *testing.T) {
		before, posts := signInsShown(t, "erin"), activations()
		say(t, "erin", "exchange 1h check the mail flow")
		want(t, last(t, "erin"), "You are not eligible for Exchange Administrator in PIM")
		if n := signInsShown(t, "erin"); n != before {
			t.Fatalf("erin was asked to sign in for a role she is not eligible for")
		}
		if n := activations(); n != posts {
			t.Fatalf("%d PIM writes for a role erin is not eligible for", n-posts)
		}
		if got := stateOf(t, "erin"); got != store.StateFailed {
			t.Fatalf("state %s, want failed", got)
		}
	})

	t.Run("did you mean", func(t *testing.T) {
		say(t, "dave", "exchnage 1h check quarantine")
		got := strings.ToLower(last(t, "dave"))
		want(t, got, "did you mean")
		want(t, got, "exchange")
	})

	// Platforms that can check what their adapter rendered (ItemsPlatform's Check) do so for the
	// whole story: every card, sign-in, offer, result and error above.
	if c, ok := p.(interface{ Check(*testing.T) []error }); ok {
		t.Run("every rendering is valid", func(t *testing.T) {
			for _, err := range c.Check(t) {
				t.Error(err)
			}
		})
	}
}
