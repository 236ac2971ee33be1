package teams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/bottest"
	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
)

const (
	approvalsID = "19:approvals0000@thread.tacv2"
	digestID    = "19:itadmins0000@thread.tacv2" // #it-admins, the digest channel
	securityID  = "19:security0000@thread.tacv2" // #security, mapped only where a test needs it
)

// world is the demo world with the Teams adapter registered, its /api/messages served, and the
// fake Bot Connector behind it.
type world struct {
	*demo.World
	fake     *teamstest.Server
	adapter  *teams.Adapter
	endpoint string
	tenant   string

	mu  sync.Mutex
	seq int
}

func startWorld(t *testing.T) *world { return startWorldWith(t, examples.Config) }

func startWorldWith(t testing.TB, config []byte) *world { return startWorldLog(t, config, nil) }

// startWorldLog is startWorldWith with the adapter logging to logger.
func startWorldLog(t testing.TB, config []byte, logger *slog.Logger) *world {
	t.Helper()
	return startWorldFull(t, config, logger, map[string]string{"#pim-approvals": approvalsID, "#it-admins": digestID}, nil)
}

// startWorldFull is startWorldLog with TEAMS_CHANNELS set to channels, and setup run on the
// fake Bot Connector before the app is installed.
func startWorldFull(t testing.TB, config []byte, logger *slog.Logger, channels map[string]string, setup func(*teamstest.Server)) *world {
	t.Helper()
	return startWorldOpts(t, config, logger, channels, setup)
}

// startWorldOpts is startWorldFull with opts changing the World's options.
func startWorldOpts(t testing.TB, config []byte, logger *slog.Logger, channels map[string]string, setup func(*teamstest.Server), opts ...func(*demo.Options)) *world {
	t.Helper()
	tenant := examplesTenantID(t)
	fake := teamstest.New(teamstest.Options{AppID: appID, AppSecret: secret, TenantID: tenant})
	t.Cleanup(fake.Close)
	if setup != nil {
		setup(fake)
	}
	var convs lateStore
	var replays lateReplays
	a, err := teams.New(teams.Options{AppID: appID, AppPassword: secret, TenantID: tenant,
		OpenIDMetadataURL: fake.MetadataURL(), AuthorityHost: fake.AuthorityHost(),
		Channels: channels, Conversations: &convs,
		InvokeWait: 10 * time.Second, HintWait: 5 * time.Second, Logger: logger,
		HTTPClient: fake.Client(), ServiceURLHosts: []string{fake.Host()}, Replays: &replays})
	if err != nil {
		t.Fatal(err)
	}
	do := demo.Options{Config: config, ConfigName: "examples/elevate.yaml", Tenant: examples.Tenant,
		ActivationDelay: 30 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		StorePath: filepath.Join(t.TempDir(), "elevate.db"), Messengers: []bot.Messenger{a}}
	for _, o := range opts {
		o(&do)
	}
	w, err := demo.Start(do)
	if err != nil {
		t.Fatal(err)
	}
	convs.s = w.Store
	replays.s = w.Store
	a.Use(w.Core)
	srv := httptest.NewServer(a)
	t.Cleanup(func() { srv.Close(); a.Close(); w.Close() })
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		fake.AddMember(teamstest.Member{ID: chatID(u), Name: u, AadObjectID: w.Tenant.UserID(u + "@" + w.Domain()), UserPrincipalName: u + "@" + w.Domain()})
	}
	tw := &world{World: w, fake: fake, adapter: a, endpoint: srv.URL + "/api/messages", tenant: tenant}
	// The app is installed in the team of the approvals channel.
	tw.deliver(t, map[string]any{"type": "installationUpdate", "action": "add",
		"from":         map[string]any{"id": chatID("erin"), "aadObjectId": w.Tenant.UserID("erin@" + w.Domain())},
		"conversation": map[string]any{"id": approvalsID, "conversationType": "channel", "tenantId": tenant, "isGroup": true},
		"channelData":  map[string]any{"tenant": map[string]any{"id": tenant}, "team": map[string]any{"id": approvalsID, "name": "PIM approvals"}},
	}, http.StatusOK)
	return tw
}

func chatID(user string) string { return "29:1" + user + "-teams-id" }

func examplesTenantID(t testing.TB) string {
	t.Helper()
	for _, line := range strings.Split(string(examples.Tenant), "\n") {
		if v, ok := strings.CutPrefix(line, "tenant_id:"); ok {
			v, _, _ = strings.Cut(v, "#")
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no tenant_id in examples/tenant.yaml")
	return ""
}

// activity fills in what the Bot Connector puts in every activity.
func (w *world) activity(a map[string]any) map[string]any {
	w.mu.Lock()
	w.seq++
	id := fmt.Sprintf("f%d", w.seq)
	w.mu.Unlock()
	base := map[string]any{"id": id, "channelId": "msteams", "serviceUrl": w.fake.ServiceURL(), "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"recipient": map[string]any{"id": "28:" + appID, "name": "Elevate"}}
	for k, v := range a {
		base[k] = v
	}
	return base
}

func (w *world) deliver(t testing.TB, a map[string]any, wantStatus int) []byte {
	t.Helper()
	status, body, err := w.fake.Deliver(w.endpoint, w.activity(a))
	if err != nil {
		t.Fatal(err)
	}
	if status != wantStatus {
		t.Fatalf("delivering %v: status %d, want %d: %s", a["type"], status, wantStatus, body)
	}
	return body
}

func (w *world) from(user string) map[string]any {
	return map[string]any{"id": chatID(user), "name": user, "aadObjectId": w.Tenant.UserID(user + "@" + w.Domain())}
}

func (w *world) personal(user string) map[string]any {
	return map[string]any{"id": w.fake.OpenPersonal(chatID(user)), "conversationType": "personal", "tenantId": w.tenant}
}

func (w *world) tenantData() map[string]any {
	return map[string]any{"tenant": map[string]any{"id": w.tenant}}
}

// platform is bottest.Platform over the Teams wire format.
type platform struct{ w *world }

func (platform) Name() string { return "teams" }

func (p platform) Type(t *testing.T, user, text string) {
	t.Helper()
	p.w.deliver(t, map[string]any{"type": "message", "text": text, "from": p.w.from(user),
		"conversation": p.w.personal(user), "channelData": p.w.tenantData()}, http.StatusOK)
}

// button is an action on a card the user can see.
type button struct {
	conv, activity string
	channel        bool
	seq            int
	verb, value    string
}

func (p platform) buttons(user string) []button {
	var out []button
	for _, c := range p.w.fake.Conversations() {
		if c.Personal && c.Member != chatID(user) {
			continue
		}
		for _, a := range c.Activities {
			var walk func(v any)
			walk = func(v any) {
				switch x := v.(type) {
				case []any:
					for _, e := range x {
						walk(e)
					}
				case map[string]any:
					if x["type"] == "Action.Execute" && x["verb"] != "refresh" {
						d, _ := x["data"].(map[string]any)
						val, _ := d["value"].(string)
						out = append(out, button{conv: c.ID, activity: a.ID, channel: !c.Personal, seq: a.Seq, verb: x["verb"].(string), value: val})
					}
					for _, k := range []string{"attachments", "content", "actions", "card", "body"} {
						walk(x[k])
					}
				}
			}
			walk(a.Body)
		}
	}
	slices.SortStableFunc(out, func(a, b button) int { return a.seq - b.seq })
	return out
}

func (p platform) Click(t *testing.T, user string, action bot.Action, reason string) {
	t.Helper()
	bs := p.buttons(user)
	for i := len(bs) - 1; i >= 0; i-- {
		b := bs[i]
		if b.verb != string(action) {
			continue
		}
		conv := map[string]any{"id": b.conv, "conversationType": "personal", "tenantId": p.w.tenant}
		if b.channel {
			conv = map[string]any{"id": b.conv + ";messageid=" + b.activity, "conversationType": "channel", "tenantId": p.w.tenant, "isGroup": true}
		}
		data := map[string]any{"elevate": b.verb, "value": b.value}
		if reason != "" {
			data["reason"] = reason
		}
		body := p.w.deliver(t, map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": p.w.from(user), "conversation": conv,
			"replyToId": b.activity, "channelData": p.w.tenantData(),
			"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": b.verb, "data": data}, "trigger": "manual"}}, http.StatusOK)
		var resp struct {
			StatusCode int
			Type       string
			Value      any
		}
		if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode != 200 {
			t.Fatalf("invoke response %s (%v)", body, err)
		}
		if resp.Type == "application/vnd.microsoft.card.adaptive" {
			// The card Teams shows the clicker in place of the one clicked: checked like every other.
			if err := teamstest.CheckCard(resp.Value); err != nil {
				t.Errorf("the card answering %s's %s: %v", user, action, err)
			}
		}
		return
	}
	t.Fatalf("%s sees no %q button", user, action)
}

func (p platform) Link(t *testing.T, user string) string {
	t.Helper()
	c, ok := p.w.fake.Personal(chatID(user))
	if ok {
		for i := len(c.Activities) - 1; i >= 0; i-- {
			if u := teamstest.OpenURL(c.Activities[i].Body); u != "" {
				return u
			}
		}
	}
	t.Fatalf("%s was shown no link", user)
	return ""
}

func (p platform) Seen(_ *testing.T, user string) []string {
	c, _ := p.w.fake.Personal(chatID(user))
	var out []string
	for _, a := range c.Activities {
		if !a.Deleted {
			out = append(out, teamstest.Text(a.Body))
		}
	}
	return out
}

func (p platform) Channel(t *testing.T, channel string) []string {
	id, ok := map[string]string{"#pim-approvals": approvalsID, "#security": securityID, "#it-admins": digestID}[channel]
	if !ok {
		t.Fatalf("channel %s is not mapped in this test", channel)
	}
	c, _ := p.w.fake.Conversation(id)
	var out []string
	for _, a := range c.Activities {
		out = append(out, teamstest.Text(a.Body))
	}
	return out
}

func (p platform) Settle(*testing.T) {
	for range 3 {
		p.w.adapter.Wait()
		p.w.Core.Wait()
	}
}

// TestConformance plays the bottest story through /api/messages: signed activities in, the
// fake Bot Connector's recorded activities out.
func TestConformance(t *testing.T) {
	w := startWorld(t)
	bottest.Run(t, w.World, platform{w})
	// Every approval card was updated in place, never posted twice.
	c, _ := w.fake.Conversation(approvalsID)
	if len(c.Activities) != 1 || c.Activities[0].Updates == 0 {
		t.Errorf("approvals channel: %d cards, first updated %d times; want 1 card updated in place", len(c.Activities), c.Activities[0].Updates)
	}
}

// TestChannelByName: the requester is told where the card went by the channel's name as Teams
// reported it, never its 19:… id.
func TestChannelByName(t *testing.T) {
	w := startWorld(t)
	p := platform{w}
	p.Type(t, "alice", "ga 1h INC-1234 restore tenant")
	p.Settle(t)
	if status, page, err := w.SignIn(context.Background(), p.Link(t, "alice"), "alice@"+w.Domain(), true); err != nil || status != http.StatusOK {
		t.Fatalf("sign-in: %d %v %s", status, err, page)
	}
	p.Settle(t)
	var told string
	for _, m := range p.Seen(t, "alice") {
		if strings.Contains(m, "I've asked in") {
			told = m
		}
	}
	// A channel id looks like 19:…@thread.tacv2; the message's expiry time may contain "19:" too
	// (19:18 UTC), so the id is what is looked for.
	if !strings.Contains(told, "I've asked in the PIM approvals channel.") || strings.Contains(told, "@thread") || strings.Contains(told, approvalsID) {
		t.Fatalf("alice was told %q, want the channel's name", told)
	}
}

// TestChannelsListedOnInstall: without TEAMS_CHANNELS, Elevate lists the team's channels when it
// is added to the team (Bot Connector GET /v3/teams/{teamId}/conversations), so the configured
// "#pim-approvals" is found by name; a channel created later is found on demand.
func TestChannelsListedOnInstall(t *testing.T) {
	const team = "19:team0000@thread.tacv2"
	w := startWorldFull(t, examples.Config, nil, nil, func(f *teamstest.Server) {
		f.AddTeam(team, teamstest.Channel{ID: approvalsID, Name: "PIM Approvals"})
	})
	w.deliver(t, map[string]any{"type": "conversationUpdate", "membersAdded": []any{map[string]any{"id": "28:" + appID}},
		"from":         map[string]any{"id": chatID("erin"), "aadObjectId": w.Tenant.UserID("erin@" + w.Domain())},
		"conversation": map[string]any{"id": team, "conversationType": "channel", "tenantId": w.tenant, "isGroup": true},
		"channelData":  map[string]any{"tenant": map[string]any{"id": w.tenant}, "team": map[string]any{"id": team, "name": "IT"}, "eventType": "teamMemberAdded"},
	}, http.StatusOK)
	w.adapter.Wait()
	p := platform{w}
	p.Type(t, "alice", "ga 1h INC-1234 restore tenant")
	p.Settle(t)
	signIn(t, w, p, "alice")
	c, _ := w.fake.Conversation(approvalsID)
	if len(c.Activities) != 1 || !strings.Contains(teamstest.Text(c.Activities[0].Body), "Global Administrator") {
		t.Fatalf("approvals channel after install: %d activities", len(c.Activities))
	}
	seen := p.Seen(t, "alice")
	if got := seen[len(seen)-1]; !strings.Contains(got, "I've asked in the PIM Approvals channel") {
		t.Fatalf("alice was told %q", got)
	}

	// #security was created after the install: the first post to it lists the channels again.
	const security = "19:security0000@thread.tacv2"
	w.fake.AddTeam(team, teamstest.Channel{ID: approvalsID, Name: "PIM Approvals"}, teamstest.Channel{ID: security, Name: "security"})
	if _, err := w.adapter.Send(context.Background(), bot.Address{Channel: "#security"}, bot.Message{Kind: bot.KindAlert, Text: "drift"}); err != nil {
		t.Fatalf("posting to #security created after the install: %v", err)
	}
	if c, _ := w.fake.Conversation(security); len(c.Activities) != 1 {
		t.Fatalf("#security has %d posts", len(c.Activities))
	}
}
