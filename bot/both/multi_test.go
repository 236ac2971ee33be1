package both_test

import (
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

// multiConfig gives the roles of the multi-role scenes different approval rules: Exchange none,
// SharePoint one of bob and carol, Tier1 Admins two of bob, carol and erin; Exchange and Tier1
// Admins may be extended.
func multiConfig(t *testing.T) []byte {
	t.Helper()
	cfg := string(examples.Config)
	for _, r := range [][2]string{
		{"  - name: Exchange Administrator      # aliases: exchange, exo\n    max_duration: 8h\n",
			"  - name: Exchange Administrator      # aliases: exchange, exo\n    max_duration: 8h\n    extension_budget: 2h\n"},
		{"  - name: SharePoint Administrator    # aliases: sharepoint, spo\n    max_duration: 2h\n",
			"  - name: SharePoint Administrator    # aliases: sharepoint, spo\n    max_duration: 2h\n    approval: {required: 1, approvers: [bob@contoso.example, carol@contoso.example]}\n"},
		{"    aliases: [tier1-admins, tier1]\n    max_duration: 4h\n",
			"    aliases: [tier1-admins, tier1]\n    max_duration: 4h\n    extension_budget: 2h\n    approval: {required: 2, approvers: [bob@contoso.example, carol@contoso.example, erin@contoso.example]}\n"},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("examples/elevate.yaml changed: no %q", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	return []byte(cfg)
}

// Dave asks in Slack for three roles at once. One sign-in; the strictest rule (Tier1 Admins' two
// approvals) applies to the whole request, shown on one card per platform listing every role. Bob
// approves in Teams, Carol in Slack; meanwhile an administrator tightened SharePoint's PIM setting,
// so PIM refuses that role alone: dave hears one line per role, the cards on both platforms show
// each role's outcome. In Teams he extends all his roles, then ends Exchange alone in Slack.
func TestMultiRoleRequestAcrossPlatforms(t *testing.T) {
	e := startWith(t, multiConfig(t))
	e.slackSays(t, "dave", "exchange,sharepoint,tier1 1h fixing mail flow INC-4521")
	has(t, "dave's sign-in link", e.slackLast("dave"), "Exchange Administrator, SharePoint Administrator and Tier1 Admins for 1h")
	e.signIn(t, e.slackLink(t, "dave"), "dave")
	rs, err := e.w.Store.Requests(store.Filter{OpenOnly: true})
	if err != nil || len(rs) != 3 {
		t.Fatalf("after dave's sign-in: %d open requests, %v", len(rs), err)
	}
	head := rs[0].ID
	for _, r := range rs {
		if r.State != store.StateAwaitingApproval || r.ApprovalsNeeded != 2 || r.Group != head || r.Justification != "fixing mail flow INC-4521" {
			t.Fatalf("item #%d %s: %s, needs %d, group %d, %q", r.ID, r.RoleName, r.State, r.ApprovalsNeeded, r.Group, r.Justification)
		}
	}
	has(t, "dave is told the rule", e.slackLast("dave"), "needs 2 approvals (the strictest rule of its roles)")
	// One card per platform, listing every role.
	sc := e.slackCard(t)
	_, tc := e.teamsCard(t)
	for name, card := range map[string]string{"Slack": sc.Plain(), "Teams": tc} {
		for _, want := range []string{"Elevation request #", "asks for Exchange Administrator, SharePoint Administrator and Tier1 Admins for 1h", "Exchange Administrator; SharePoint Administrator; Tier1 Admins", "0 of 2", "the strictest of its roles: 2 approvals"} {
			has(t, name+" card", card, want)
		}
	}
	if n := strings.Count(e.slackChannel(slackApprov), "Elevation request #"); n != 1 {
		t.Fatalf("%d cards in Slack's approvals channel, want one for the request", n)
	}
	if len(sc.Buttons()) != 2 {
		t.Fatalf("Slack card buttons: %+v", sc.Buttons())
	}

	// An administrator makes SharePoint's PIM setting stricter after PIM's dry run.
	if err := e.w.Tenant.SetPolicy(graphtest.PolicyConfig{Role: "SharePoint Administrator", MaxDuration: graphtest.Duration(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}

	e.teamsApprove(t, "bob", head)
	has(t, "bob in Teams", e.teamsLast("bob"), "You approved dave@contoso.example's request for Exchange Administrator, SharePoint Administrator and Tier1 Admins for 1h (1 of 2)")
	for _, r := range e.items(t, head) {
		if len(r.Approvals) != 1 || r.Approvals[0].Platform != "teams" || r.State != store.StateAwaitingApproval {
			t.Fatalf("after bob: #%d %s %+v", r.ID, r.State, r.Approvals)
		}
	}
	has(t, "Slack card after bob", e.slackCard(t).Plain(), "1 of 2")
	e.slackClick(t, "carol", slackApprov, bot.ActionApprove)
	e.signIn(t, e.slackLink(t, "carol"), "carol")
	time.Sleep(100 * time.Millisecond) // the tenant's provisioning delay
	e.settle()

	items := e.items(t, head)
	if items[0].State != store.StateActive || items[2].State != store.StateActive {
		t.Fatalf("Exchange %s, Tier1 Admins %s: want both active (%s / %s)", items[0].State, items[2].State, items[0].FailureMessage, items[2].FailureMessage)
	}
	if items[1].State != store.StateFailed || !strings.Contains(items[1].FailureMessage, "PIM allows less than 1h for SharePoint Administrator") {
		t.Fatalf("SharePoint: %s %q, want refused by PIM", items[1].State, items[1].FailureMessage)
	}
	dave := e.slackDM("dave")
	has(t, "dave's line for the request", dave, "Exchange Administrator active until")
	has(t, "dave's line for the request", dave, "; SharePoint Administrator refused by PIM: PIM allows less than 1h for SharePoint Administrator")
	has(t, "dave's line for the request", dave, "; Tier1 Admins active until")
	for name, card := range map[string]string{"Slack": e.slackCard(t).Plain(), "Teams": e.teamsCardText(t)} {
		has(t, name+" card at the end", card, "Exchange Administrator active until")
		has(t, name+" card at the end", card, "SharePoint Administrator refused by PIM")
	}
	if len(e.slackCard(t).Buttons()) != 0 {
		t.Error("the decided Slack card still has buttons")
	}

	// In Teams: status shows each role; `extend all` extends both active roles.
	e.teamsSays(t, "dave", "status")
	has(t, "dave's status in Teams", e.teamsLast("dave"), "Tier1 Admins: active until")
	has(t, "dave's status in Teams", e.teamsLast("dave"), "one request")
	e.teamsSays(t, "dave", "extend all 30m")
	for _, i := range []int{0, 2} {
		if r := e.items(t, head)[i]; r.Extension == nil || r.Extension.By != 30*time.Minute {
			t.Fatalf("%s after extend all: %+v", r.RoleName, r.Extension)
		}
	}
	// `done` alone, with the roles of one request active, ends all of them; here dave ends one.
	e.w.Tenant.Advance(6 * time.Minute) // past PIM's first five minutes, when it refuses to end one
	e.clock.advance(6 * time.Minute)
	e.slackSays(t, "dave", "done exchange")
	items = e.items(t, head)
	if items[0].State != store.StateEnded || items[2].State != store.StateActive {
		t.Fatalf("after done exchange: Exchange %s, Tier1 Admins %s", items[0].State, items[2].State)
	}
	e.slackSays(t, "dave", "done")
	if r := e.items(t, head)[2]; r.State != store.StateEnded {
		t.Fatalf("after done: Tier1 Admins %s", r.State)
	}
}

// The refusals of a multi-role request, in the user's words, on both platforms: a role already active, a misspelt role, roles without commas.
func TestMultiRoleWords(t *testing.T) {
	e := startWith(t, multiConfig(t))
	e.teamsSays(t, "alice", "exchange 1h mail")
	e.signIn(t, e.teamsLink(t, "alice"), "alice")
	e.teamsSays(t, "alice", "exchange,sharepoint 1h more mail")
	has(t, "a role already active", e.teamsLast("alice"), "Exchange Administrator is already active for you")
	has(t, "a role already active", e.teamsLast("alice"), "Ask again without Exchange Administrator")
	e.teamsSays(t, "alice", "exchange,sharepint 1h more mail")
	has(t, "did you mean", e.teamsLast("alice"), `"sharepint" isn't a role I know — did you mean`)
	e.teamsSays(t, "alice", "sharepoint,teams 4h more mail")
	has(t, "one role's limit", e.teamsLast("alice"), "Nothing was requested: SharePoint Administrator allows at most 2h; ask again for 2h or less.")
	e.slackSays(t, "alice", "exchange sharepoint 1h mail")
	has(t, "roles without a comma", e.slackLast("alice"), `did you mean "exchange,sharepoint 1h mail"?`)
}

// items are the items of the multi-role request head, in order.
func (e *env) items(t *testing.T, head uint64) []store.Request {
	t.Helper()
	rs, err := e.w.Store.GroupRequests(head)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (e *env) slackDM(user string) string {
	var out []string
	for _, m := range e.sl.Private(uid(user)) {
		out = append(out, m.Plain())
	}
	return strings.Join(out, "\n")
}

func (e *env) teamsDM(user string) string {
	c, _ := e.tm.Personal(chatID(user))
	var out []string
	for _, a := range c.Activities {
		out = append(out, teamstest.Text(a.Body))
	}
	return strings.Join(out, "\n")
}

func (e *env) teamsCardText(t *testing.T) string {
	t.Helper()
	_, text := e.teamsCard(t)
	return text
}

// A multi-role request nobody decides is reminded once, on both platforms, through its strictest
// role (Tier1 Admins' approvers), naming every role; then it expires as one.
func TestMultiRoleRemindedOnce(t *testing.T) {
	e := startWith(t, multiConfig(t))
	e.teamsSays(t, "dave", "exchange,sharepoint,tier1 1h fixing mail flow")
	e.signIn(t, e.teamsLink(t, "dave"), "dave")
	e.clock.advance(e.w.Config.RequestExpiry - 14*time.Minute)
	e.sweep(t)
	e.sweep(t)
	for name, got := range map[string]string{"Slack": e.slackChannel(slackApprov), "Teams": e.teamsChannel(approvalsID)} {
		if n := strings.Count(got, "Reminder — request #"); n != 1 {
			t.Errorf("%s approvals channel: %d reminders, want 1:\n%s", name, n, got)
		}
		has(t, name+" reminder", got, "asks for Exchange Administrator, SharePoint Administrator and Tier1 Admins for 1h")
	}
	has(t, "dave hears of the reminder in Teams", e.teamsLast("dave"), "I've reminded the approvers of your request for Exchange Administrator, SharePoint Administrator and Tier1 Admins for 1h")
	e.clock.advance(15 * time.Minute)
	e.sweep(t)
	rs, err := e.w.Store.Requests(store.Filter{OpenOnly: true})
	if err != nil || len(rs) != 0 {
		t.Fatalf("after expiry: %d open items, %v", len(rs), err)
	}
	has(t, "Slack card after expiry", e.slackCard(t).Plain(), "Expired.")
	has(t, "dave hears once", e.teamsLast("dave"), "Your request for Exchange Administrator, SharePoint Administrator and Tier1 Admins expired without a decision")
	if n := strings.Count(e.teamsDM("dave"), "expired"); n != 1 {
		t.Errorf("dave heard %d times of the expiry, want once:\n%s", n, e.teamsDM("dave"))
	}
}
