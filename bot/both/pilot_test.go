package both_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/examples"

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

// pilotConfig is the example config with Exchange Administrator approved by Bob or Carol, and
// Elevate in a pilot with Alice and Dave only: the approvers, and Erin, are outside it.
func pilotConfig(t *testing.T) []byte {
	t.Helper()
	old := "  - name: Exchange Administrator      # aliases: exchange, exo\n    max_duration: 8h\n    approval: none\n"
	if !strings.Contains(string(examples.Config), old) {
		t.Fatal("examples/elevate.yaml's Exchange Administrator entry changed; update this test")
	}
	cfg := strings.Replace(string(examples.Config), old, `  - name: Exchange Administrator
    max_duration: 8h
    approval:
      approvers: [bob@contoso.example, carol@contoso.example]
`, 1)
	return []byte(cfg + `
pilot:
  users: [alice@contoso.example, dave@contoso.example]
  meanwhile: "Ask in #it-help meanwhile."
`)
}

const polite = "Thanks for trying Elevate! It is in a pilot with a few people for now, and you'll be able to use it once it opens up. Ask in #it-help meanwhile."

// slackHome is user opening Elevate's App Home in Slack; it returns the view published for them.
func (e *env) slackHome(t *testing.T, user string) string {
	t.Helper()
	n := strconv.FormatInt(e.seq.Add(1), 10)
	e.slack(t, "events_api", map[string]any{"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
		"event_id": "Ev" + n, "event_time": time.Now().Unix(),
		"event": map[string]any{"type": "app_home_opened", "user": uid(user), "channel": slacktest.DMChannel(uid(user)), "tab": "home", "event_ts": n + ".1"}})
	return e.slackView(t, "views.publish", uid(user))
}

// slackView is the JSON of the newest view call of method (for user, when publishing).
func (e *env) slackView(t *testing.T, method, user string) string {
	t.Helper()
	vs := e.sl.Views()
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Method == method && (method != "views.publish" || vs[i].UserID == user) {
			return string(vs[i].JSON)
		}
	}
	t.Fatalf("no %s view", method)
	return ""
}

// Erin is outside the pilot. In Teams (which vouches for who she is) and in Slack (after the
// sign-in of her first request told Elevate who she is), everything that is using Elevate for
// herself answers with the pilot's polite words: `roles`, `status`, `extend`, the request form
// and her home (Slack's App Home, the Teams home card). `help` still answers and says Elevate is
// in a pilot; `cancel` (giving access back) still works.
func TestPilotCoversEverySurfaceOnBoth(t *testing.T) {
	e := startWith(t, pilotConfig(t))
	e.slackSays(t, "erin", "teams 1h fix a meeting policy")
	e.signIn(t, e.slackLink(t, "erin"), "erin")
	has(t, "erin's request in Slack", e.slackLast("erin"), polite)

	for _, cmd := range []string{"roles", "status", "extend 1h"} {
		e.teamsSays(t, "erin", cmd)
		has(t, "erin's "+cmd+" in Teams", e.teamsLast("erin"), polite)
		e.slackSays(t, "erin", cmd)
		has(t, "erin's "+cmd+" in Slack", e.slackLast("erin"), polite)
	}
	e.teamsSays(t, "erin", "help")
	has(t, "erin's help in Teams", e.teamsLast("erin"), "Elevate is in a pilot with a few people for now")
	has(t, "erin's help in Teams", e.teamsLast("erin"), "`elevate roles`")
	e.slackSays(t, "erin", "help")
	has(t, "erin's help in Slack", e.slackLast("erin"), "Elevate is in a pilot with a few people for now")
	e.teamsSays(t, "erin", "cancel")
	has(t, "erin's cancel in Teams", e.teamsLast("erin"), "You have no pending requests to cancel.")

	// The Teams home card and the request form.
	e.teamsSays(t, "erin", "home")
	home := e.teamsLast("erin")
	has(t, "erin's home in Teams", home, polite)
	for _, no := range []string{"Active now", "Exchange Administrator"} {
		if strings.Contains(home, no) {
			t.Errorf("erin's Teams home shows %q:\n%s", no, home)
		}
	}
	has(t, "erin's refreshed home in Teams", e.teamsRefresh(t, "erin"), polite)
	// Installed for her personally: the welcome is the pilot's words, not an invitation to ask.
	e.teams(t, map[string]any{"type": "installationUpdate", "action": "add", "from": e.from("erin"),
		"conversation": map[string]any{"id": e.tm.OpenPersonal(chatID("erin")), "conversationType": "personal", "tenantId": e.tenant},
		"channelData":  map[string]any{"tenant": map[string]any{"id": e.tenant}}})
	welcome := e.teamsLast("erin")
	has(t, "erin's welcome in Teams", welcome, polite)
	if strings.Contains(welcome, "Hi! I activate your eligible admin roles") {
		t.Errorf("erin's welcome invites her to ask:\n%s", welcome)
	}
	e.teamsSays(t, "erin", "")
	form := e.teamsLast("erin")
	has(t, "erin's request form in Teams", form, polite)
	if strings.Contains(form, "Exchange Administrator") {
		t.Errorf("erin's Teams form lists roles:\n%s", form)
	}

	// Slack's App Home and the request form.
	home = e.slackHome(t, "erin")
	has(t, "erin's App Home", home, "It is in a pilot with a few people for now")
	if strings.Contains(home, "Exchange Administrator") || strings.Contains(home, "Roles you can request") {
		t.Errorf("erin's App Home lists roles:\n%s", home)
	}
	e.slackSays(t, "erin", "")
	form = e.slackView(t, "views.open", "")
	has(t, "erin's request form in Slack", form, "It is in a pilot with a few people for now")
	if strings.Contains(form, "Exchange Administrator") {
		t.Errorf("erin's Slack form lists roles:\n%s", form)
	}

	// Alice, in the pilot, sees her roles and her home on both.
	e.teamsSays(t, "alice", "home")
	has(t, "alice's home in Teams", e.teamsLast("alice"), "Active now")
	has(t, "alice's App Home", e.slackHome(t, "alice"), "Roles you can request")
}

// Bob and Carol approve Exchange Administrator but are not in the pilot: deciding on a pilot
// user's request is their job, not their own use of Elevate. Bob sees Alice's request on his
// Teams home, which otherwise holds the pilot's words, and approves it from the Teams card; Carol
// approves Dave's from the Slack card, and once Elevate knows her, her App Home shows Alice's next
// request waiting for her under the pilot's words.
func TestPilotApproversOutsideItOnBoth(t *testing.T) {
	e := startWith(t, pilotConfig(t))
	e.slackSays(t, "alice", "exchange 1h fixing mail flow")
	e.signIn(t, e.slackLink(t, "alice"), "alice")
	r := e.latest(t, "alice")
	if r.State != store.StateAwaitingApproval {
		t.Fatalf("alice's request: %s (%s), want awaiting approval", r.State, r.FailureMessage)
	}
	e.teamsSays(t, "bob", "home")
	home := e.teamsLast("bob")
	has(t, "bob's home in Teams", home, polite)
	has(t, "bob's home in Teams", home, "Waiting for your approval")
	has(t, "bob's home in Teams", home, "asks for **Exchange Administrator**")
	e.teamsApprove(t, "bob", r.ID)
	if got, _ := e.w.Store.Request(r.ID); got.State != store.StateActive {
		t.Fatalf("alice's request after bob's approval in Teams: %s (%s)", got.State, got.FailureMessage)
	}
	has(t, "the Teams card after bob", func() string { _, s := e.teamsCard(t); return s }(), "Approved by bob")

	e.teamsSays(t, "dave", "exchange 1h migrate public folders")
	e.signIn(t, e.teamsLink(t, "dave"), "dave")
	d := e.latest(t, "dave")
	if d.State != store.StateAwaitingApproval {
		t.Fatalf("dave's request: %s (%s), want awaiting approval", d.State, d.FailureMessage)
	}
	e.slackClick(t, "carol", slackApprov, bot.ActionApprove)
	if got, _ := e.w.Store.Request(d.ID); got.State != store.StateAwaitingApproval || len(got.Approvals) != 0 {
		// Slack does not vouch for who Carol is: her approval waits for her sign-in.
		t.Fatalf("dave's request after carol's click, before her sign-in: %s %+v", got.State, got.Approvals)
	}
	e.signIn(t, e.slackLink(t, "carol"), "carol")
	if got, _ := e.w.Store.Request(d.ID); got.State != store.StateActive {
		t.Fatalf("dave's request after carol's approval in Slack: %s (%s)", got.State, got.FailureMessage)
	}
	// Carol is known now: her own use is refused, her queue is not. Alice, done with Exchange,
	// asks for it again: it waits for Carol on her App Home, under the pilot's words.
	e.slackSays(t, "carol", "status")
	has(t, "carol's status in Slack", e.slackLast("carol"), polite)
	e.w.Tenant.Advance(6 * time.Minute) // PIM refuses to end an activation in its first 5 minutes
	e.slackSays(t, "alice", "done exchange")
	e.slackSays(t, "alice", "exchange 1h mail flow again")
	again := e.latest(t, "alice")
	if again.ID == r.ID || again.State != store.StateAwaitingApproval {
		t.Fatalf("alice's second request: #%d %s (%s), want a new one awaiting approval", again.ID, again.State, again.FailureMessage)
	}
	home = e.slackHome(t, "carol")
	has(t, "carol's App Home", home, "It is in a pilot with a few people for now")
	has(t, "carol's App Home", home, "Waiting for your approval")
	has(t, "carol's App Home", home, "mail flow again")
}
