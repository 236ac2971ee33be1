package both_test

import (
	"context"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

// digest posts the weekly digest of the week up to now, as the weekly run does, and returns it as
// the Slack and the Teams digest channels show it.
func (e *env) digest(t *testing.T) (map[string]string, schedule.Digest) {
	t.Helper()
	now := e.clock.now()
	sch, err := schedule.New(schedule.Options{Config: e.w.Config, Core: e.w.Core, Graph: e.w.Graph, Store: e.w.Store, Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	d, err := sch.PostDigest(context.Background(), now.AddDate(0, 0, -7), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	e.settle()
	return map[string]string{"Slack": e.slackChannel("C0ITADMINS"), "Teams": e.teamsChannel(digestID)}, d
}

// Erin and Dave never signed in; Teams vouches for their Entra object ids, so their feedback is
// credited to their UPNs, looked up in Graph, not to the display names Teams shows. When Graph
// cannot answer for Dave, his note keeps his display name, and the digest says that is all it is.
func TestFeedbackCreditedToEntraOnBoth(t *testing.T) {
	e, _ := startItems(t)
	e.teamsSays(t, "erin", "feedback please open it to the service desk")
	has(t, "erin's ack in Teams", e.teamsLast("erin"), "Thanks! Your note goes to the team in the weekly digest.")

	e.w.Tenant.Inject(graphtest.Fault{Method: "GET", Path: "users/" + e.w.Tenant.UserID("dave@"+e.w.Domain()), Status: 403})
	e.teamsSays(t, "dave", "feedback the card could show the ticket")
	has(t, "dave's ack in Teams", e.teamsLast("dave"), "Thanks! Your note goes to the team in the weekly digest.")
	if n := e.w.Tenant.Faults(); n != 0 {
		t.Fatalf("Graph was not asked for dave's UPN (%d faults left)", n)
	}

	posted, _ := e.digest(t)
	for name, got := range posted {
		has(t, name+" digest", got, "“please open it to the service desk” (erin@contoso.example)")
		has(t, name+" digest", got, "“the card could show the ticket” (dave, display name: Microsoft Graph could not be asked for their Entra account)")
	}
}

// Alice (Slack) asks for an hour and Dave (Teams) for two; each is done early, after 6 and 12
// minutes. The digest's average activation duration, on both platforms and in the snapshot it
// keeps for next week's trend, counts the 9 minutes they really held the role, not the hours
// they asked for.
func TestDigestCountsActualDurationOnBoth(t *testing.T) {
	e := start(t)
	e.slackSays(t, "alice", "exchange 1h fixing mail flow")
	e.signIn(t, e.slackLink(t, "alice"), "alice")
	e.teamsSays(t, "dave", "exchange 2h migrate public folders")
	e.signIn(t, e.teamsLink(t, "dave"), "dave")
	for _, u := range []string{"alice", "dave"} {
		if r := e.latest(t, u); r.State != store.StateActive {
			t.Fatalf("%s's request: %s (%s), want active", u, r.State, r.FailureMessage)
		}
	}
	// Six minutes on (PIM refuses to end an activation in its first 5), Alice is done; six
	// more, Dave is.
	e.w.Tenant.Advance(6 * time.Minute)
	e.clock.advance(6 * time.Minute)
	e.slackSays(t, "alice", "done exchange")
	has(t, "alice's done in Slack", e.slackLast("alice"), "Exchange Administrator is deactivated")
	e.w.Tenant.Advance(6 * time.Minute)
	e.clock.advance(6 * time.Minute)
	e.teamsSays(t, "dave", "done exchange")
	has(t, "dave's done in Teams", e.teamsLast("dave"), "Exchange Administrator is deactivated")

	posted, d := e.digest(t)
	for name, got := range posted {
		has(t, name+" digest", got, "average 9m, longest 12m (dave@contoso.example, Exchange Administrator)")
	}
	// What the weekly run keeps for next week's trend and the chart.
	if avg := d.Snapshot(e.clock.now()).AvgDuration; avg != 9*time.Minute {
		t.Errorf("the snapshot's average activation duration is %s, want 9m", avg)
	}
}
