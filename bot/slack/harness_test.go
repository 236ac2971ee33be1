package slack_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

// users are the simulated tenant's people, with their Slack ids.
var users = []string{"alice", "bob", "carol", "dave", "erin"}

func uid(user string) string { return "U" + strings.ToUpper(user) }

// general is where people type /elevate in these tests.
const general = "C0GENERAL"

// env is a running Slack adapter against the fake Slack and the simulated tenant.
type env struct {
	fake    *slacktest.Server
	a       *slack.Adapter
	w       *demo.World
	srv     *httptest.Server // the adapter's HTTP endpoints
	socket  bool
	seq     atomic.Int64
	timeout time.Duration
}

func start(t *testing.T, socket bool) *env {
	t.Helper()
	return startWith(t, socket, examples.Tenant)
}

// startWith is start against the simulated tenant seeded from tenant.
func startWith(t *testing.T, socket bool, tenant []byte) *env {
	t.Helper()
	return startEnv(t, socket, tenant, examples.Config)
}

// startConfig is start with another Elevate config.
func startConfig(t *testing.T, socket bool, config []byte) *env {
	t.Helper()
	return startEnv(t, socket, examples.Tenant, config)
}

func startEnv(t *testing.T, socket bool, tenant, config []byte, opts ...func(*demo.Options)) *env {
	t.Helper()
	return startEnvSlack(t, socket, tenant, config, nil, opts...)
}

// startEnvSlack is startEnv with the adapter's options changed by so (when not nil).
func startEnvSlack(t *testing.T, socket bool, tenant, config []byte, so func(*slack.Options), opts ...func(*demo.Options)) *env {
	t.Helper()
	e := &env{socket: socket, fake: slacktest.New(), timeout: 10 * time.Second}
	t.Cleanup(e.fake.Close)
	for _, u := range users {
		e.fake.AddUser(slacktest.User{ID: uid(u), Name: u, Email: u + "@contoso.example"})
	}
	e.fake.AddChannel(general, "general")
	e.fake.AddChannel("C0APPROVALS", "pim-approvals")
	e.fake.AddChannel("C0SECURITY", "security")
	e.fake.AddChannel("C0ITADMINS", "it-admins")
	replays := &lateReplays{}
	o := slack.Options{BotToken: slacktest.BotToken, SigningSecret: secret, APIURL: e.fake.APIURL(), HomeDelay: 20 * time.Millisecond,
		Replays: replays}
	if socket {
		o.AppToken = slacktest.AppToken
	}
	if so != nil {
		so(&o)
	}
	a, err := slack.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	do := demo.Options{Config: config, ConfigName: "examples/elevate.yaml", Tenant: tenant,
		ActivationDelay: 30 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		StorePath: filepath.Join(t.TempDir(), "elevate.db"), Messengers: []bot.Messenger{a}}
	for _, o := range opts {
		o(&do)
	}
	w, err := demo.Start(do)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	e.w = w
	replays.r.Store(w.Core)
	a.Use(w.Core)
	mux := http.NewServeMux()
	mux.Handle("/slack/commands", a.Commands())
	mux.Handle("/slack/interactivity", a.Interactivity())
	mux.Handle("/slack/events", a.Events())
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if socket {
		go func() { defer close(done); a.RunSocket(ctx) }()
		wctx, wcancel := context.WithTimeout(ctx, e.timeout)
		defer wcancel()
		if err := e.fake.WaitSocket(wctx); err != nil {
			t.Fatalf("socket mode did not connect: %v", err)
		}
	} else {
		close(done)
	}
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	return e
}

// lateReplays is the world's core as the adapter's Replays: the world starts after the adapter.
type lateReplays struct{ r atomic.Pointer[bot.Core] }

func (l *lateReplays) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
	return l.r.Load().FirstSeen(key, at, window)
}

func (e *env) next() string { return strconv.FormatInt(e.seq.Add(1), 10) }

// sign returns the headers Slack sends with body, signed at ts.
func sign(body []byte, ts time.Time) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", stamp)
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// post sends body to the adapter's path with headers h; it returns the status and body.
func (e *env) post(t *testing.T, path, contentType string, body []byte, h http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("%s acknowledged after %v; Slack gives up after 3s", path, d)
	}
	return resp.StatusCode, out
}

func (e *env) postSigned(t *testing.T, path, contentType string, body []byte) []byte {
	t.Helper()
	status, out := e.post(t, path, contentType, body, sign(body, time.Now()))
	if status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", path, status, out)
	}
	return out
}

// command delivers /elevate text from user in channel; it returns the acknowledgement's body.
func (e *env) command(t *testing.T, user, channel, text string) []byte {
	t.Helper()
	f := map[string]string{
		"token": "legacy", "team_id": "T1", "team_domain": "contoso", "channel_id": channel, "channel_name": "general",
		"user_id": uid(user), "user_name": user, "command": "/elevate", "text": text, "api_app_id": "A1",
		"response_url": e.fake.ResponseURL(uid(user), channel, ""), "trigger_id": "trig-" + e.next(),
	}
	if e.socket {
		return e.deliver(t, "slash_commands", f)
	}
	v := url.Values{}
	for k, s := range f {
		v.Set(k, s)
	}
	return e.postSigned(t, "/slack/commands", "application/x-www-form-urlencoded", []byte(v.Encode()))
}

// interact delivers an interaction payload.
func (e *env) interact(t *testing.T, payload map[string]any) []byte {
	t.Helper()
	if e.socket {
		return e.deliver(t, "interactive", payload)
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(url.Values{"payload": {string(raw)}}.Encode())
	return e.postSigned(t, "/slack/interactivity", "application/x-www-form-urlencoded", body)
}

// homeOpened delivers an app_home_opened event for user.
func (e *env) homeOpened(t *testing.T, user string) {
	t.Helper()
	ev := map[string]any{"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
		"event_id": "Ev" + e.next(), "event_time": time.Now().Unix(),
		"event": map[string]any{"type": "app_home_opened", "user": uid(user), "channel": slacktest.DMChannel(uid(user)), "tab": "home", "event_ts": "1.1"}}
	if e.socket {
		e.deliver(t, "events_api", ev)
		return
	}
	raw, _ := json.Marshal(ev)
	e.postSigned(t, "/slack/events", "application/json", raw)
}

func (e *env) deliver(t *testing.T, typ string, payload any) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, err := e.fake.Deliver(ctx, typ, payload)
	if err != nil {
		t.Fatalf("socket mode %s: %v", typ, err)
	}
	return out
}

// settle waits until the adapter's jobs and the core's sign-in continuations are done.
func (e *env) settle() {
	for range 3 {
		e.a.Wait()
		e.w.Core.Wait()
	}
}

// visible are the messages user can see, oldest first.
func (e *env) visible(user string) []slacktest.Message {
	var out []slacktest.Message
	for _, m := range e.fake.Messages() {
		dm := strings.HasPrefix(m.Channel, "D")
		if (m.Ephemeral && m.User == uid(user)) || (!m.Ephemeral && (!dm || m.Channel == slacktest.DMChannel(uid(user)))) {
			out = append(out, m)
		}
	}
	return out
}

// newestButton finds the newest button with action that user can see.
func (e *env) newestButton(t *testing.T, user string, a bot.Action) (slacktest.Message, slacktest.Button) {
	t.Helper()
	vis := e.visible(user)
	for i := len(vis) - 1; i >= 0; i-- {
		bs := vis[i].Buttons()
		for j := len(bs) - 1; j >= 0; j-- {
			if aid, _, _ := strings.Cut(bs[j].ActionID, ":"); aid == string(a) {
				return vis[i], bs[j]
			}
		}
	}
	t.Fatalf("%s sees no %q button", user, a)
	return slacktest.Message{}, slacktest.Button{}
}

// blockActions is the payload Slack sends when user clicks b on m.
func (e *env) blockActions(user string, m slacktest.Message, b slacktest.Button) map[string]any {
	return map[string]any{
		"type": "block_actions", "api_app_id": "A1", "token": "legacy",
		"user":       map[string]any{"id": uid(user), "username": user, "name": user, "team_id": "T1"},
		"team":       map[string]any{"id": "T1", "domain": "contoso"},
		"container":  map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": m.Ephemeral},
		"channel":    map[string]any{"id": m.Channel, "name": "x"},
		"message":    map[string]any{"type": "message", "ts": m.TS, "text": m.Text},
		"trigger_id": "trig-" + e.next(), "response_url": e.fake.ResponseURL(uid(user), m.Channel, m.TS),
		"actions": []any{map[string]any{"type": "button", "action_id": b.ActionID, "block_id": b.BlockID, "value": b.Value,
			"text": map[string]any{"type": "plain_text", "text": b.Text}, "action_ts": strconv.FormatInt(time.Now().UnixNano(), 10) + e.next()}},
	}
}

// viewFor is the newest view opened with trigger.
func (e *env) viewFor(t *testing.T, trigger string) slacktest.View {
	t.Helper()
	vs := e.fake.Views()
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].TriggerID == trigger {
			return vs[i]
		}
	}
	t.Fatalf("no view was opened with trigger %s", trigger)
	return slacktest.View{}
}

// submit is the payload of user submitting view v with values (block id → value; a select
// when the block is "role").
func (e *env) submit(user string, v slacktest.View, values map[string]string) map[string]any {
	state := map[string]any{}
	for block, val := range values {
		if block == bot.FieldRole {
			var picked []any
			for _, v := range strings.Split(val, ",") {
				picked = append(picked, map[string]any{"value": v, "text": map[string]any{"type": "plain_text", "text": v}})
			}
			state[block] = map[string]any{block: map[string]any{"type": "multi_static_select", "selected_options": picked}}
			continue
		}
		state[block] = map[string]any{block: map[string]any{"type": "plain_text_input", "value": val}}
	}
	return map[string]any{
		"type": "view_submission", "api_app_id": "A1", "token": "legacy",
		"user":       map[string]any{"id": uid(user), "username": user, "name": user, "team_id": "T1"},
		"team":       map[string]any{"id": "T1"},
		"trigger_id": "trig-" + e.next(),
		"view": map[string]any{"id": v.ID, "type": "modal", "callback_id": v.CallbackID, "private_metadata": v.Metadata,
			"hash": v.Hash, "state": map[string]any{"values": state}},
	}
}

// platform implements bottest.Platform over the fake Slack.
type platform struct{ e *env }

func (platform) Name() string { return slack.Platform }

func (p platform) Type(t *testing.T, user, text string) { p.e.command(t, user, general, text) }

func (p platform) Click(t *testing.T, user string, a bot.Action, reason string) {
	t.Helper()
	e := p.e
	m, b := e.newestButton(t, user, a)
	payload := e.blockActions(user, m, b)
	e.interact(t, payload)
	if a != bot.ActionDeny {
		return
	}
	e.settle()
	v := e.viewFor(t, payload["trigger_id"].(string))
	e.interact(t, e.submit(user, v, map[string]string{"reason": reason}))
}

func (p platform) Link(t *testing.T, user string) string {
	t.Helper()
	m, b := p.e.newestButton(t, user, bot.ActionOpenURL)
	if b.URL == "" || !(m.Ephemeral || strings.HasPrefix(m.Channel, "D")) {
		t.Fatalf("%s's newest link is not private: %+v", user, m)
	}
	return b.URL
}

func (p platform) Seen(_ *testing.T, user string) []string {
	var out []string
	for _, m := range p.e.fake.Private(uid(user)) {
		out = append(out, m.Plain())
	}
	return out
}

func (p platform) Channel(_ *testing.T, channel string) []string {
	var out []string
	for _, m := range p.e.fake.InChannel(channel) {
		out = append(out, m.Plain())
	}
	return out
}

func (p platform) Settle(*testing.T) { p.e.settle() }
