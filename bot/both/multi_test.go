package both_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
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
		for _, want := range []string{"Elevation request #", "asks for Exchange Administrator, SharePoint Administrator and Tier1 Admins for 1h", "Exchange Administrator; SharePoint Administrator; Tier1 Admins", "0 of 2", "the strictest of its roles: 2 approvals", "UTC. The requester cannot approve their own request."} {
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

// pimApproval makes PIM itself require approval for role (PIM Approvers: bob and carol decide).
func (e *env) pimApproval(t *testing.T, role string) {
	t.Helper()
	ap := &struct {
		Approvers []string `yaml:"approvers"`
	}{Approvers: []string{"PIM Approvers"}}
	if err := e.w.Tenant.SetPolicy(graphtest.PolicyConfig{Role: role, MaxDuration: graphtest.Duration(2 * time.Hour), Approval: ap}); err != nil {
		t.Fatal(err)
	}
}

// teamsDecide presses the button titled title of the newest card in Teams' approvals channel,
// with inputs filled in (a Deny's reason) as a Teams client sends them.
func (e *env) teamsDecide(t *testing.T, user, title string, inputs map[string]string) {
	t.Helper()
	card, _ := e.teamsCard(t)
	if err := teamstest.CheckActivity(card.Body); err != nil {
		t.Fatalf("the card %s pressed: %v", user, err)
	}
	content := card.Body["attachments"].([]any)[0].(map[string]any)["content"].(map[string]any)
	verb, data, err := teamstest.Press(content, title, inputs)
	if err != nil {
		t.Fatalf("%s presses %q: %v", user, title, err)
	}
	body := e.teams(t, map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": e.from(user),
		"conversation": map[string]any{"id": approvalsID + ";messageid=" + card.ID, "conversationType": "channel", "tenantId": e.tenant, "isGroup": true},
		"replyToId":    card.ID, "channelData": map[string]any{"tenant": map[string]any{"id": e.tenant}},
		"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}})
	var resp struct{ StatusCode int }
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode != 200 {
		t.Fatalf("invoke response %s (%v)", body, err)
	}
}

// Dave asks in Slack for Exchange and SharePoint, neither needing Elevate's approval; PIM itself
// requires approval for SharePoint. Exchange is activated; SharePoint's PIM step is decided on its
// own, as a single role's is: its own buttons on the card (both platforms), its own lines to dave.
// Dave hears one account of the request: one "Activating …", one line for both roles, one
// "usable" line, then SharePoint's own steps.
func TestMultiRolePIMApprovalOnBoth(t *testing.T) {
	e := startWith(t, examples.Config)
	e.pimApproval(t, "SharePoint Administrator")
	e.slackSays(t, "dave", "exchange,sharepoint 1h fixing mail flow")
	e.signIn(t, e.slackLink(t, "dave"), "dave")
	time.Sleep(100 * time.Millisecond) // the tenant's provisioning delay
	e.settle()
	items := e.items(t, 1)
	if items[0].State != store.StateActive || items[1].State != store.StateAwaitingApproval || items[1].GraphStatus != "PendingApproval" {
		t.Fatalf("after sign-in: Exchange %s, SharePoint %s %s", items[0].State, items[1].State, items[1].GraphStatus)
	}
	dave := e.slackDM("dave")
	for want, n := range map[string]int{
		"Activating Exchange Administrator and SharePoint Administrator for 1h in PIM…": 1,
		"Activating Exchange Administrator for":                                         0,
		"Activating SharePoint Administrator for":                                       0,
		"PIM itself requires approval for SharePoint Administrator":                     1,
		"Exchange Administrator active until":                                           1, // in the request's line only
		"; SharePoint Administrator waiting for PIM's own approval. PIM is applying Exchange Administrator; I'll tell you when it is usable.": 1,
		"Exchange Administrator is usable now (until": 1,
	} {
		if got := strings.Count(dave, want); got != n {
			t.Errorf("dave hears %q %d times, want %d:\n%s", want, got, n, dave)
		}
	}
	sc := e.slackCard(t)
	_, tc := e.teamsCard(t)
	for name, card := range map[string]string{"Slack": sc.Plain(), "Teams": tc} {
		for _, want := range []string{"Exchange Administrator active until", "SharePoint Administrator waiting for PIM's own approval",
			"SharePoint Administrator: waiting for one of PIM's approvers", "Approve SharePoint Administrator in PIM", "Deny SharePoint Administrator in PIM"} {
			has(t, name+" card", card, want)
		}
		if strings.Contains(card, "0 of 0") || strings.Contains(card, "  ") {
			t.Errorf("%s card: an empty approval count or a double space:\n%s", name, card)
		}
	}
	for _, b := range sc.Buttons() {
		if b.Value != strconv.FormatUint(items[1].ID, 10) {
			t.Errorf("Slack button %q acts on #%s, want SharePoint's #%d", b.Text, b.Value, items[1].ID)
		}
	}

	// Bob approves SharePoint in Teams, with his own sign-in: PIM's approval, as for one role.
	e.teamsDecide(t, "bob", "Approve SharePoint Administrator in PIM", nil)
	has(t, "bob is asked to sign in", e.teamsLast("bob"), "your decision is made in PIM with your own Microsoft account")
	e.signIn(t, e.teamsLink(t, "bob"), "bob")
	time.Sleep(100 * time.Millisecond)
	e.settle()
	has(t, "bob", e.teamsDM("bob"), "You approved dave@contoso.example's request for SharePoint Administrator in PIM.")
	if r := e.items(t, 1)[1]; r.State != store.StateActive {
		t.Fatalf("SharePoint after bob: %s", r.State)
	}
	dave = e.slackDM("dave")
	after := dave[strings.Index(dave, "Exchange Administrator is usable now"):]
	for _, want := range []string{"bob@contoso.example approved your request for SharePoint Administrator in PIM.",
		"SharePoint Administrator active until", "SharePoint Administrator is usable now"} {
		has(t, "dave after bob", after, want)
	}
	if strings.Count(dave, "Exchange Administrator active until") != 1 {
		t.Errorf("dave hears of Exchange again after SharePoint's approval:\n%s", after)
	}
	for name, card := range map[string]string{"Slack": e.slackCard(t).Plain(), "Teams": e.teamsCardText(t)} {
		has(t, name+" card at the end", card, "SharePoint Administrator active until")
		has(t, name+" card at the end", card, "SharePoint Administrator: approved by bob@contoso.example")
	}
	if len(e.slackCard(t).Buttons()) != 0 {
		t.Error("the decided Slack card still has buttons")
	}
}

// PIM itself requires approval for two of the three roles of dave's request: each has its own
// buttons; the request's number alone does not say which, and the answer says how to; carol
// denies SharePoint on the Teams card, bob approves Exchange in chat, each in PIM.
func TestMultiRoleTwoPIMApprovalsOnBoth(t *testing.T) {
	e := startWith(t, examples.Config)
	e.pimApproval(t, "Exchange Administrator")
	e.pimApproval(t, "SharePoint Administrator")
	e.teamsSays(t, "dave", "tier1,exchange,sharepoint 1h fixing mail flow")
	e.signIn(t, e.teamsLink(t, "dave"), "dave")
	time.Sleep(100 * time.Millisecond)
	e.settle()
	items := e.items(t, 1)
	if items[0].State != store.StateActive {
		t.Fatalf("Tier1 Admins after sign-in: %s", items[0].State)
	}
	for _, r := range items[1:] {
		if r.State != store.StateAwaitingApproval || r.GraphStatus != "PendingApproval" {
			t.Fatalf("after sign-in: %s %s %s", r.RoleName, r.State, r.GraphStatus)
		}
	}
	dave := e.teamsDM("dave")
	for _, role := range []string{"Exchange Administrator", "SharePoint Administrator"} {
		if n := strings.Count(dave, "PIM itself requires approval for "+role); n != 1 {
			t.Errorf("dave hears %d times that PIM requires approval for %s:\n%s", n, role, dave)
		}
	}
	has(t, "dave's line for the request", dave, "Tier1 Admins active until")
	has(t, "dave's line for the request", dave, "; Exchange Administrator waiting for PIM's own approval; SharePoint Administrator waiting for PIM's own approval. PIM is applying Tier1 Admins;")
	if sc := e.slackCard(t); len(sc.Buttons()) != 4 {
		t.Fatalf("Slack card buttons %+v, want approve and deny for each role waiting for PIM", sc.Buttons())
	}
	e.teamsSays(t, "carol", "approve 1")
	has(t, "the request's number", e.teamsLast("carol"), "use that role's buttons on the card, or `approve 2` for Exchange Administrator, `approve 3` for SharePoint Administrator")
	// Carol denies SharePoint on the card: the second Deny on it, with its own reason input.
	e.teamsDecide(t, "carol", "Deny SharePoint Administrator in PIM", map[string]string{"reason-3": "not during the freeze"})
	has(t, "carol is asked to sign in", e.teamsLast("carol"), "your decision is made in PIM with your own Microsoft account")
	e.signIn(t, e.teamsLink(t, "carol"), "carol")
	if r := e.items(t, 1)[2]; r.State != store.StateDenied {
		t.Fatalf("SharePoint after carol's denial: %s", r.State)
	}
	e.teamsSays(t, "bob", "approve 2")
	e.signIn(t, e.teamsLink(t, "bob"), "bob")
	time.Sleep(100 * time.Millisecond)
	e.settle()
	if r := e.items(t, 1)[1]; r.State != store.StateActive {
		t.Fatalf("Exchange after bob: %s", r.State)
	}
	dave = e.teamsDM("dave")
	for _, want := range []string{"carol@contoso.example denied your request for SharePoint Administrator in PIM: not during the freeze",
		"bob@contoso.example approved your request for Exchange Administrator in PIM.", "Exchange Administrator active until", "Exchange Administrator is usable now"} {
		has(t, "dave", dave, want)
	}
	has(t, "Slack card at the end", e.slackCard(t).Plain(), "Exchange Administrator: approved by bob@contoso.example")
	has(t, "Slack card at the end", e.slackCard(t).Plain(), "SharePoint Administrator: denied by carol@contoso.example")
}

// teamsPress is user pressing the button titled title on card in their personal chat, with
// inputs filled in as a Teams client sends them; it returns the card the invoke answered with.
func (e *env) teamsPress(t *testing.T, user string, card map[string]any, title string, inputs map[string]string) map[string]any {
	t.Helper()
	verb, data, err := teamstest.Press(card, title, inputs)
	if err != nil {
		t.Fatalf("%s presses %q: %v", user, title, err)
	}
	c, _ := e.tm.Personal(chatID(user))
	body := e.teams(t, map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": e.from(user),
		"conversation": map[string]any{"id": c.ID, "conversationType": "personal", "tenantId": e.tenant},
		"channelData":  map[string]any{"tenant": map[string]any{"id": e.tenant}},
		"value":        map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}})
	var resp struct {
		StatusCode int
		Type       string
		Value      map[string]any
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode != 200 || resp.Type != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("%q answered %s (%v)", title, body, err)
	}
	if err := teamstest.CheckCard(resp.Value); err != nil {
		t.Fatalf("the card %q answered with: %v", title, err)
	}
	return resp.Value
}

// Dave picks Exchange and SharePoint together on his Teams home: the form opens with both picked,
// and its submission is one request for both roles; Carol approves it in Slack.
func TestTeamsHomeRequestsSeveralOnBoth(t *testing.T) {
	e := startWith(t, multiConfig(t))
	e.teamsSays(t, "dave", "home")
	c, _ := e.tm.Personal(chatID("dave"))
	last := c.Activities[len(c.Activities)-1]
	if err := teamstest.CheckActivity(last.Body); err != nil {
		t.Fatalf("dave's home card: %v", err)
	}
	home := last.Body["attachments"].([]any)[0].(map[string]any)["content"].(map[string]any)
	// A role's one-click button still opens the form with that role alone, whatever is picked.
	if _, _, err := teamstest.Press(home, "Exchange Administrator", map[string]string{"home_roles": "sharepoint"}); err == nil {
		t.Fatal("a role's one-click button sends the roles picked for several")
	}
	form := e.teamsPress(t, "dave", home, "Exchange Administrator", nil)
	if v := roleInput(t, form)["value"]; v != "exchange" {
		t.Fatalf("the form from Exchange's button picks %q", v)
	}
	form = e.teamsPress(t, "dave", home, "Request these together", map[string]string{"home_roles": "exchange,sharepoint"})
	if v := roleInput(t, form)["value"]; v != "exchange,sharepoint" {
		t.Fatalf("the form from the home's picks picks %q", v)
	}
	sent := e.teamsPress(t, "dave", form, "Request", map[string]string{bot.FieldDuration: "1h", bot.FieldJustification: "fixing mail flow"})
	has(t, "the form's answer", teamstest.CardText(sent), "Request sent")
	e.settle()
	has(t, "dave's sign-in link", e.teamsLast("dave"), "Exchange Administrator and SharePoint Administrator for 1h")
	e.signIn(t, e.teamsLink(t, "dave"), "dave")
	items := e.items(t, 1)
	if len(items) != 2 || items[0].RoleName != "Exchange Administrator" || items[1].RoleName != "SharePoint Administrator" || items[0].State != store.StateAwaitingApproval {
		t.Fatalf("dave's request: %+v", items)
	}
	e.slackClick(t, "carol", slackApprov, bot.ActionApprove)
	e.signIn(t, e.slackLink(t, "carol"), "carol")
	time.Sleep(100 * time.Millisecond)
	e.settle()
	for _, r := range e.items(t, 1) {
		if r.State != store.StateActive {
			t.Fatalf("%s after carol's approval: %s (%s)", r.RoleName, r.State, r.FailureMessage)
		}
	}
	has(t, "dave", e.teamsDM("dave"), "Exchange Administrator and SharePoint Administrator are usable now")
}

// roleInput is the request form's roles input.
func roleInput(t *testing.T, form map[string]any) map[string]any {
	t.Helper()
	body, _ := form["body"].([]any)
	for _, e := range body {
		if m, _ := e.(map[string]any); m["id"] == bot.FieldRole {
			return m
		}
	}
	t.Fatalf("no roles input on the form: %v", form)
	return nil
}

// Dave signs in without MFA for SharePoint and Exchange: SharePoint is activated, PIM wants MFA
// for Exchange and dave never signs in again. When Exchange's request expires, dave hears of
// SharePoint's activation in the request's line (it had no line of its own).
func TestMultiRoleActiveToldWhenTheRestExpiresOnBoth(t *testing.T) {
	e := startWith(t, examples.Config)
	no := false
	if err := e.w.Tenant.SetPolicy(graphtest.PolicyConfig{Role: "SharePoint Administrator", MaxDuration: graphtest.Duration(4 * time.Hour), MFA: &no}); err != nil {
		t.Fatal(err)
	}
	e.slackSays(t, "dave", "sharepoint,exchange 2h fixing mail flow")
	if status, page, err := e.w.SignIn(context.Background(), e.slackLink(t, "dave"), "dave@"+e.w.Domain(), false); err != nil || status != http.StatusOK {
		t.Fatalf("dave signs in: %d %v: %s", status, err, page)
	}
	time.Sleep(100 * time.Millisecond)
	e.settle()
	items := e.items(t, 1)
	if items[0].State != store.StateActive || items[1].State != store.StateAwaitingSignIn {
		t.Fatalf("after the sign-in without MFA: SharePoint %s, Exchange %s\n%s", items[0].State, items[1].State, e.slackDM("dave"))
	}
	has(t, "dave is asked for MFA", e.slackLast("dave"), "PIM needs a sign-in with multi-factor authentication for Exchange Administrator. Sign in with your Microsoft account to activate Exchange Administrator for 2h.")
	if strings.Contains(e.slackDM("dave"), "SharePoint Administrator active until") {
		t.Fatalf("dave hears of SharePoint before the request settles:\n%s", e.slackDM("dave"))
	}
	e.clock.advance(e.w.Config.RequestExpiry + time.Minute)
	e.sweep(t)
	if r := e.items(t, 1)[1]; r.State != store.StateExpired {
		t.Fatalf("Exchange after its expiry: %s", r.State)
	}
	dave := e.slackDM("dave")
	has(t, "dave's line for the request", dave, "SharePoint Administrator active until")
	has(t, "dave's line for the request", dave, "; Exchange Administrator expired")
	has(t, "dave's usable line", dave, "SharePoint Administrator is usable now")
	if n := strings.Count(dave, "SharePoint Administrator active until"); n != 1 {
		t.Errorf("dave hears %d times of SharePoint's activation, want once:\n%s", n, dave)
	}
}
