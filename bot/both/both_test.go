// Package both_test runs one Elevate with both chat adapters registered to one core, each against
// its platform's fake (Slack over Socket Mode, Teams through /api/messages with signed activities),
// and plays requests on one platform with approvers on the other.
package both_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/store"
)

const (
	appID       = "b07e0000-0000-4000-8000-0000000000b1"
	appSecret   = "bot-secret"
	approvalsID = "19:approvals0000@thread.tacv2"
	securityID  = "19:security0000@thread.tacv2"
	digestID    = "19:itadmins0000@thread.tacv2"
	slackApprov = "C0APPROVALS"
	slackSec    = "C0SECURITY"
	general     = "C0GENERAL"
)

var people = []string{"alice", "bob", "carol", "dave", "erin"}

func uid(user string) string    { return "U" + strings.ToUpper(user) }
func chatID(user string) string { return "29:1" + user + "-teams-id" }

// clock is the core's settable clock; the tenant keeps real time.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

type env struct {
	clock   clock
	w       *demo.World
	sl      *slacktest.Server
	slackA  *slack.Adapter
	tm      *teamstest.Server
	teamsA  *teams.Adapter
	api     string
	tenant  string
	seq     atomic.Int64
	stopped chan struct{}
}

type stores struct{ s atomic.Pointer[store.Store] }

func (l *stores) PutConversation(c store.Conversation) error { return l.s.Load().PutConversation(c) }
func (l *stores) Conversation(p, k string) (store.Conversation, error) {
	return l.s.Load().Conversation(p, k)
}
func (l *stores) Conversations(p string) ([]store.Conversation, error) {
	return l.s.Load().Conversations(p)
}
func (l *stores) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
	return l.s.Load().FirstSeen(key, at, window)
}

func tenantID(t *testing.T) string {
	for _, line := range strings.Split(string(examples.Tenant), "\n") {
		if v, ok := strings.CutPrefix(line, "tenant_id:"); ok {
			v, _, _ = strings.Cut(v, "#")
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no tenant_id in examples/tenant.yaml")
	return ""
}

// startWith starts both adapters against one World on config.
func startWith(t *testing.T, config []byte) *env {
	t.Helper()
	return start(t, func(o *demo.Options) { o.Config = config })
}

// start starts both adapters against one World on the example config; opts change the World's
// options (its config, its on-call service).
func start(t *testing.T, opts ...func(*demo.Options)) *env {
	t.Helper()
	e := &env{sl: slacktest.New(), tenant: tenantID(t)}
	t.Cleanup(e.sl.Close)
	for _, u := range people {
		e.sl.AddUser(slacktest.User{ID: uid(u), Name: u, Email: u + "@contoso.example"})
	}
	e.sl.AddChannel(general, "general")
	e.sl.AddChannel(slackApprov, "pim-approvals")
	e.sl.AddChannel(slackSec, "security")
	e.sl.AddChannel("C0ITADMINS", "it-admins")
	var st stores
	sa, err := slack.New(slack.Options{BotToken: slacktest.BotToken, AppToken: slacktest.AppToken, APIURL: e.sl.APIURL(), Replays: &st})
	if err != nil {
		t.Fatal(err)
	}
	e.slackA = sa
	e.tm = teamstest.New(teamstest.Options{AppID: appID, AppSecret: appSecret, TenantID: e.tenant})
	t.Cleanup(e.tm.Close)
	ta, err := teams.New(teams.Options{AppID: appID, AppPassword: appSecret, TenantID: e.tenant,
		OpenIDMetadataURL: e.tm.MetadataURL(), AuthorityHost: e.tm.AuthorityHost(),
		Channels: map[string]string{"#pim-approvals": approvalsID, "#security": securityID, "#it-admins": digestID}, Conversations: &st,
		InvokeWait: 10 * time.Second, HintWait: 5 * time.Second, HTTPClient: e.tm.Client(), ServiceURLHosts: []string{e.tm.Host()}, Replays: &st})
	if err != nil {
		t.Fatal(err)
	}
	e.teamsA = ta
	do := demo.Options{Config: examples.Config, ConfigName: "examples/elevate.yaml", Tenant: examples.Tenant,
		Now: e.clock.now, ActivationDelay: 30 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		StorePath: filepath.Join(t.TempDir(), "elevate.db"), Messengers: []bot.Messenger{sa, ta}}
	for _, o := range opts {
		o(&do)
	}
	w, err := demo.Start(do)
	if err != nil {
		t.Fatal(err)
	}
	e.w = w
	st.s.Store(w.Store)
	sa.Use(w.Core)
	ta.Use(w.Core)
	srv := httptest.NewServer(ta)
	e.api = srv.URL + "/api/messages"
	ctx, cancel := context.WithCancel(context.Background())
	e.stopped = make(chan struct{})
	go func() { defer close(e.stopped); sa.RunSocket(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-e.stopped
		srv.Close()
		sa.Close()
		ta.Close()
		w.Close()
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := e.sl.WaitSocket(wctx); err != nil {
		t.Fatalf("socket mode: %v", err)
	}
	for _, u := range people {
		e.tm.AddMember(teamstest.Member{ID: chatID(u), Name: u, AadObjectID: w.Tenant.UserID(u + "@" + w.Domain()), UserPrincipalName: u + "@" + w.Domain()})
	}
	// Elevate is added to the team of the approvals channel in Teams.
	e.teams(t, map[string]any{"type": "installationUpdate", "action": "add",
		"from":         map[string]any{"id": chatID("erin"), "aadObjectId": w.Tenant.UserID("erin@" + w.Domain())},
		"conversation": map[string]any{"id": approvalsID, "conversationType": "channel", "tenantId": e.tenant, "isGroup": true},
		"channelData":  map[string]any{"tenant": map[string]any{"id": e.tenant}, "team": map[string]any{"id": approvalsID, "name": "PIM approvals"}},
	})
	return e
}

func (e *env) settle() {
	for range 3 {
		e.slackA.Wait()
		e.teamsA.Wait()
		e.w.Core.Wait()
	}
}

// --- Slack, over Socket Mode ---

func (e *env) slack(t *testing.T, typ string, payload any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.sl.Deliver(ctx, typ, payload); err != nil {
		t.Fatalf("slack %s: %v", typ, err)
	}
	e.settle()
}

func (e *env) slackSays(t *testing.T, user, text string) {
	t.Helper()
	n := strconv.FormatInt(e.seq.Add(1), 10)
	e.slack(t, "slash_commands", map[string]string{"command": "/elevate", "text": text, "user_id": uid(user), "user_name": user,
		"channel_id": general, "team_id": "T1", "trigger_id": "trig-" + n, "response_url": e.sl.ResponseURL(uid(user), general, "")})
}

// slackClick presses the newest button with action a in channel (a channel id, or the user's DM).
func (e *env) slackClick(t *testing.T, user, channel string, a bot.Action) {
	t.Helper()
	msgs := e.sl.InChannel(channel)
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, b := range msgs[i].Buttons() {
			if aid, _, _ := strings.Cut(b.ActionID, ":"); aid != string(a) {
				continue
			}
			m := msgs[i]
			n := strconv.FormatInt(e.seq.Add(1), 10)
			e.slack(t, "interactive", map[string]any{"type": "block_actions", "api_app_id": "A1",
				"user":       map[string]any{"id": uid(user), "username": user, "name": user, "team_id": "T1"},
				"team":       map[string]any{"id": "T1", "domain": "contoso"},
				"container":  map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel},
				"channel":    map[string]any{"id": m.Channel},
				"message":    map[string]any{"type": "message", "ts": m.TS, "text": m.Text},
				"trigger_id": "trig-" + n, "response_url": e.sl.ResponseURL(uid(user), m.Channel, m.TS),
				"actions": []any{map[string]any{"type": "button", "action_id": b.ActionID, "block_id": b.BlockID, "value": b.Value,
					"action_ts": strconv.FormatInt(time.Now().UnixNano(), 10) + n}}})
			return
		}
	}
	t.Fatalf("%s sees no %s button in Slack %s", user, a, channel)
}

func (e *env) slackLink(t *testing.T, user string) string {
	t.Helper()
	msgs := e.sl.Private(uid(user))
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, b := range msgs[i].Buttons() {
			if b.URL != "" {
				return b.URL
			}
		}
	}
	t.Fatalf("%s has no sign-in link in Slack", user)
	return ""
}

func (e *env) slackLast(user string) string {
	msgs := e.sl.Private(uid(user))
	if len(msgs) == 0 {
		return ""
	}
	return msgs[len(msgs)-1].Plain()
}

// slackCard is the newest approval card in Slack's approvals channel.
func (e *env) slackCard(t *testing.T) slacktest.Message {
	t.Helper()
	msgs := e.sl.InChannel(slackApprov)
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.Contains(msgs[i].Plain(), "Elevation request") {
			return msgs[i]
		}
	}
	t.Fatal("no card in Slack's approvals channel")
	return slacktest.Message{}
}

// --- Teams, through /api/messages ---

func (e *env) teams(t *testing.T, a map[string]any) []byte {
	t.Helper()
	n := e.seq.Add(1)
	base := map[string]any{"id": "act-" + strconv.FormatInt(n, 10), "channelId": "msteams", "serviceUrl": e.tm.ServiceURL(),
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "recipient": map[string]any{"id": "28:" + appID, "name": "Elevate"}}
	for k, v := range a {
		base[k] = v
	}
	status, body, err := e.tm.Deliver(e.api, base)
	if err != nil || status != http.StatusOK {
		t.Fatalf("teams %v: %d %v %s", a["type"], status, err, body)
	}
	e.settle()
	return body
}

func (e *env) from(user string) map[string]any {
	return map[string]any{"id": chatID(user), "name": user, "aadObjectId": e.w.Tenant.UserID(user + "@" + e.w.Domain())}
}

func (e *env) teamsSays(t *testing.T, user, text string) {
	t.Helper()
	e.teams(t, map[string]any{"type": "message", "text": text, "from": e.from(user),
		"conversation": map[string]any{"id": e.tm.OpenPersonal(chatID(user)), "conversationType": "personal", "tenantId": e.tenant},
		"channelData":  map[string]any{"tenant": map[string]any{"id": e.tenant}}})
}

// teamsCard is the newest card activity in Teams' approvals channel and its text.
func (e *env) teamsCard(t *testing.T) (*teamstest.Activity, string) {
	t.Helper()
	c, ok := e.tm.Conversation(approvalsID)
	for i := len(c.Activities) - 1; ok && i >= 0; i-- {
		if text := teamstest.Text(c.Activities[i].Body); strings.Contains(text, "Elevation request") {
			return c.Activities[i], text
		}
	}
	t.Fatal("no card in Teams' approvals channel")
	return nil, ""
}

// verbs lists the Action.Execute verbs on an activity's card.
func verbs(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, verbs(e)...)
		}
	case map[string]any:
		if x["type"] == "Action.Execute" && x["verb"] != "refresh" {
			out = append(out, x["verb"].(string))
		}
		for _, k := range []string{"attachments", "content", "actions", "card", "body"} {
			out = append(out, verbs(x[k])...)
		}
	}
	return out
}

func (e *env) teamsApprove(t *testing.T, user string, id uint64) {
	t.Helper()
	card, _ := e.teamsCard(t)
	data := map[string]any{"elevate": string(bot.ActionApprove), "value": strconv.FormatUint(id, 10)}
	body := e.teams(t, map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": e.from(user),
		"conversation": map[string]any{"id": approvalsID + ";messageid=" + card.ID, "conversationType": "channel", "tenantId": e.tenant, "isGroup": true},
		"replyToId":    card.ID, "channelData": map[string]any{"tenant": map[string]any{"id": e.tenant}},
		"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": string(bot.ActionApprove), "data": data}, "trigger": "manual"}})
	var resp struct{ StatusCode int }
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode != 200 {
		t.Fatalf("invoke response %s (%v)", body, err)
	}
}

func (e *env) teamsLink(t *testing.T, user string) string {
	t.Helper()
	c, _ := e.tm.Personal(chatID(user))
	for i := len(c.Activities) - 1; i >= 0; i-- {
		if u := teamstest.OpenURL(c.Activities[i].Body); u != "" {
			return u
		}
	}
	t.Fatalf("%s has no sign-in link in Teams", user)
	return ""
}

func (e *env) teamsLast(user string) string {
	c, _ := e.tm.Personal(chatID(user))
	if len(c.Activities) == 0 {
		return ""
	}
	return teamstest.Text(c.Activities[len(c.Activities)-1].Body)
}

func (e *env) signIn(t *testing.T, link, user string) {
	t.Helper()
	status, page, err := e.w.SignIn(context.Background(), link, user+"@"+e.w.Domain(), true)
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s signs in: %d %v: %s", user, status, err, page)
	}
	e.settle()
}

func has(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%s: got %q, want it to contain %q", what, got, want)
	}
}

// Alice asks in Slack for Global Administrator (two approvals, tier 0). The card is posted in
// the approvals channel on both platforms; Bob approves in Teams, Carol in Slack; both cards follow
// every decision; the security channel on both hears of the activation; and in Teams Alice sees
// the same request and cannot open a duplicate.
func TestRequestInSlackApprovedFromTeams(t *testing.T) {
	e := start(t)
	e.slackSays(t, "alice", "ga 1h INC-1234 restore tenant")
	e.signIn(t, e.slackLink(t, "alice"), "alice")
	rs, err := e.w.Store.Requests(store.Filter{OpenOnly: true})
	if err != nil || len(rs) != 1 || rs[0].State != store.StateAwaitingApproval {
		t.Fatalf("after alice's sign-in: %+v, %v", rs, err)
	}
	r := rs[0]

	if bs := e.slackCard(t).Buttons(); len(bs) != 2 {
		t.Fatalf("Slack card buttons: %+v", bs)
	}
	tc, text := e.teamsCard(t)
	has(t, "Teams card", text, "Global Administrator")
	if v := verbs(tc.Body); !slices.Contains(v, string(bot.ActionApprove)) {
		t.Fatalf("Teams card has no Approve: %v", v)
	}

	// Bob, in Teams: Teams vouches for who he is; a tier-0 approval still wants a sign-in made for it.
	e.teamsApprove(t, "bob", r.ID)
	e.signIn(t, e.teamsLink(t, "bob"), "bob")
	if got, _ := e.w.Store.Request(r.ID); len(got.Approvals) != 1 || got.Approvals[0].Platform != "teams" {
		t.Fatalf("after bob's approval in Teams: %+v", got.Approvals)
	}
	has(t, "Slack card after bob", e.slackCard(t).Plain(), "Approved by bob@")
	_, text = e.teamsCard(t)
	has(t, "Teams card after bob", text, "Approved by bob@")

	// Carol, in Slack.
	e.slackClick(t, "carol", slackApprov, bot.ActionApprove)
	e.signIn(t, e.slackLink(t, "carol"), "carol")
	got, _ := e.w.Store.Request(r.ID)
	if got.State != store.StateActive {
		t.Fatalf("after two approvals on two platforms: %s (%s)", got.State, got.FailureMessage)
	}
	sc := e.slackCard(t)
	has(t, "Slack card at the end", sc.Plain(), "active until")
	if len(sc.Buttons()) != 0 {
		t.Errorf("the decided Slack card still has buttons")
	}
	tc, text = e.teamsCard(t)
	has(t, "Teams card at the end", text, "active until")
	if v := verbs(tc.Body); slices.Contains(v, string(bot.ActionApprove)) {
		t.Errorf("the decided Teams card still has Approve")
	}

	// The security channel on both platforms hears of the activation.
	var slackSecurity []string
	for _, m := range e.sl.InChannel(slackSec) {
		slackSecurity = append(slackSecurity, m.Plain())
	}
	has(t, "Slack #security", strings.Join(slackSecurity, "\n"), "Global Administrator")
	sec, _ := e.tm.Conversation(securityID)
	var teamsSecurity []string
	for _, a := range sec.Activities {
		teamsSecurity = append(teamsSecurity, teamstest.Text(a.Body))
	}
	has(t, "Teams #security", strings.Join(teamsSecurity, "\n"), "Global Administrator")

	// One person, one state: Alice in Teams sees her Slack request and cannot ask for it twice.
	e.teamsSays(t, "alice", "status")
	has(t, "alice's status in Teams", e.teamsLast("alice"), "Global Administrator: active until")
	e.teamsSays(t, "alice", "ga 1h INC-1234 again")
	has(t, "alice's duplicate in Teams", e.teamsLast("alice"), "already active for you")
	if rs, _ := e.w.Store.Requests(store.Filter{}); len(rs) != 1 {
		t.Errorf("%d requests stored, want 1", len(rs))
	}
}

func (e *env) teamsChannel(id string) string {
	c, _ := e.tm.Conversation(id)
	var out []string
	for _, a := range c.Activities {
		out = append(out, teamstest.Text(a.Body))
	}
	return strings.Join(out, "\n")
}

func (e *env) slackChannel(id string) string {
	var out []string
	for _, m := range e.sl.InChannel(id) {
		out = append(out, m.Plain())
	}
	return strings.Join(out, "\n")
}

func (e *env) sweep(t *testing.T) {
	t.Helper()
	if err := e.w.Core.Expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.settle()
}

// Alice asks in Teams; nobody decides. A second request from her Slack account is refused as a
// duplicate. Fifteen minutes before expiry the approvers are reminded in the approvals channel on
// both platforms, and five minutes before it the tier-0 request is escalated to the security
// channel on both; Alice hears of each where she asked.
func TestRequestInTeamsRemindedOnBoth(t *testing.T) {
	e := start(t)
	e.teamsSays(t, "alice", "ga 1h INC-1234 restore tenant")
	e.signIn(t, e.teamsLink(t, "alice"), "alice")
	rs, err := e.w.Store.Requests(store.Filter{OpenOnly: true})
	if err != nil || len(rs) != 1 || rs[0].State != store.StateAwaitingApproval || rs[0].Platform != "teams" {
		t.Fatalf("after alice's sign-in in Teams: %+v, %v", rs, err)
	}
	if bs := e.slackCard(t).Buttons(); len(bs) != 2 {
		t.Fatalf("Slack has no live card for a Teams request: %+v", bs)
	}

	// Her Slack account is linked to the same person by a sign-in (not yet: she signs in once).
	e.slackSays(t, "alice", "ga 2h INC-1234 again")
	if link := e.slackLast("alice"); strings.Contains(link, "already") {
		t.Fatalf("refused before Elevate knew who the Slack account was: %q", link)
	}
	e.signIn(t, e.slackLink(t, "alice"), "alice")
	e.slackSays(t, "alice", "ga 2h INC-1234 again")
	has(t, "alice's duplicate in Slack", e.slackLast("alice"), "You already have a pending request for Global Administrator")
	has(t, "where it was made", e.slackLast("alice"), "made in Teams")
	open, _ := e.w.Store.Requests(store.Filter{OpenOnly: true})
	if len(open) != 1 {
		t.Fatalf("%d open requests, want 1: %+v", len(open), open)
	}

	e.clock.advance(e.w.Config.RequestExpiry - 14*time.Minute)
	e.sweep(t)
	e.sweep(t)
	for name, got := range map[string]string{"Slack": e.slackChannel(slackApprov), "Teams": e.teamsChannel(approvalsID)} {
		if n := strings.Count(got, "Reminder — request #"); n != 1 {
			t.Errorf("%s approvals channel: %d reminders, want 1:\n%s", name, n, got)
		}
	}
	has(t, "alice hears of the reminder in Teams", e.teamsLast("alice"), "I've reminded the approvers")

	e.clock.advance(10 * time.Minute)
	e.sweep(t)
	for name, got := range map[string]string{"Slack": e.slackChannel(slackSec), "Teams": e.teamsChannel(securityID)} {
		if n := strings.Count(got, "Escalation — request #"); n != 1 {
			t.Errorf("%s security channel: %d escalations, want 1:\n%s", name, n, got)
		}
	}
	has(t, "alice hears of the escalation in Teams", e.teamsLast("alice"), "I've escalated it")
	_, text := e.teamsCard(t)
	has(t, "Teams card", text, "Escalated at")
	has(t, "Slack card", e.slackCard(t).Plain(), "Escalated at")
}
