package both_test

import (
	"context"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

// digest posts the weekly digest of the week up to now, as the weekly run does, and returns it as
// the Slack and the Teams digest channels show it.
func (e *env) digest(t *testing.T) map[string]string {
	t.Helper()
	now := e.clock.now()
	sch, err := schedule.New(schedule.Options{Config: e.w.Config, Core: e.w.Core, Graph: e.w.Graph, Store: e.w.Store, Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sch.PostDigest(context.Background(), now.AddDate(0, 0, -7), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.settle()
	return map[string]string{"Slack": e.slackChannel("C0ITADMINS"), "Teams": e.teamsChannel(digestID)}
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

	for name, got := range e.digest(t) {
		has(t, name+" digest", got, "“please open it to the service desk” (erin@contoso.example)")
		has(t, name+" digest", got, "“the card could show the ticket” (dave, display name: Microsoft Graph could not be asked for their Entra account)")
	}
}
