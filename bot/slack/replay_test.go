package slack_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/store"
)

// commandForm is a slash command as Slack posts it.
func (e *env) commandForm(user, text, trigger string) []byte {
	v := url.Values{"command": {"/elevate"}, "text": {text}, "user_id": {uid(user)}, "user_name": {user},
		"channel_id": {general}, "response_url": {e.fake.ResponseURL(uid(user), general, "")}}
	if trigger != "" {
		v.Set("trigger_id", trigger)
	}
	return []byte(v.Encode())
}

// TestReplayUpperCaseSignature: a captured request sent again with its signature's hex in upper
// case (which the verifier accepts: it is the same signature) is a replay, and ignored. The
// command carries no trigger_id, so only the request itself can tell the replay.
func TestReplayUpperCaseSignature(t *testing.T) {
	e := start(t, false)
	const ct = "application/x-www-form-urlencoded"
	body := e.commandForm("alice", "exchange 1h fixing mail flow", "")
	h := sign(body, time.Now())
	if status, out := e.post(t, "/slack/commands", ct, body, h); status != http.StatusOK {
		t.Fatalf("signed: status %d %s", status, out)
	}
	e.settle()
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after a signed command, want 1", n)
	}
	upper := h.Clone()
	upper.Set("X-Slack-Signature", "v0="+strings.ToUpper(strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0=")))
	if upper.Get("X-Slack-Signature") == h.Get("X-Slack-Signature") {
		t.Fatal("the upper-case signature is the same string")
	}
	if status, _ := e.post(t, "/slack/commands", ct, body, upper); status != http.StatusOK {
		t.Fatalf("upper-case replay: status %d, want 200 (acknowledged, ignored)", status)
	}
	e.settle()
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after an upper-case replay, want 1", n)
	}
}

// TestReplayAcrossRestart: what one adapter handled, a new adapter on the same store file (a
// restart) still refuses as a replay.
func TestReplayAcrossRestart(t *testing.T) {
	e := start(t, false)
	path := filepath.Join(t.TempDir(), "replays.db")
	const ct = "application/x-www-form-urlencoded"
	body := e.commandForm("alice", "exchange 1h fixing mail flow", "trig-restart")
	h := sign(body, time.Now())

	// run starts an adapter on the store at path, posts the captured request and stops it all.
	run := func() int {
		t.Helper()
		s, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a, err := slack.New(slack.Options{Core: e.w.Core, BotToken: slacktest.BotToken, SigningSecret: secret,
			APIURL: e.fake.APIURL(), HomeDelay: 20 * time.Millisecond, Replays: s})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		srv := httptest.NewServer(a.Commands())
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header = h.Clone()
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		a.Wait()
		e.settle()
		return resp.StatusCode
	}
	if status := run(); status != http.StatusOK {
		t.Fatalf("first delivery: status %d", status)
	}
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after the first delivery, want 1", n)
	}
	if status := run(); status != http.StatusOK {
		t.Fatalf("replay after a restart: status %d, want 200 (acknowledged, ignored)", status)
	}
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after a replay across a restart, want 1", n)
	}
}

// TestSocketRedelivery: Slack redelivers over Socket Mode what it thinks was lost, under a new
// envelope id (as on a reconnect): the same slash command (same trigger_id) makes one request,
// the same click one decision, while a new command from the same user is handled.
func TestSocketRedelivery(t *testing.T) {
	e := start(t, true)
	f := map[string]string{
		"token": "legacy", "team_id": "T1", "team_domain": "contoso", "channel_id": general, "channel_name": "general",
		"user_id": uid("alice"), "user_name": "alice", "command": "/elevate", "text": "exchange 1h fixing mail flow", "api_app_id": "A1",
		"response_url": e.fake.ResponseURL(uid("alice"), general, ""), "trigger_id": "trig-redelivered",
	}
	e.deliver(t, "slash_commands", f)
	e.settle()
	e.deliver(t, "slash_commands", f)
	e.settle()
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after one slash command delivered twice, want 1", n)
	}
	f["trigger_id"] = "trig-another"
	e.deliver(t, "slash_commands", f)
	e.settle()
	if n := len(e.requests(t)); n != 2 {
		t.Fatalf("%d requests after a second command, want 2", n)
	}
}

// A request-creating command replayed to an adapter whose Replays is the core itself (as in
// production: the replay key goes into the request's own transaction) creates nothing more.
func TestReplayedRequestCommandCreatesNothing(t *testing.T) {
	e := start(t, false)
	a, err := slack.New(slack.Options{Core: e.w.Core, BotToken: slacktest.BotToken, SigningSecret: secret,
		APIURL: e.fake.APIURL(), HomeDelay: 20 * time.Millisecond, Replays: e.w.Core})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Commands())
	defer srv.Close()
	body := e.commandForm("alice", "exchange 1h fixing mail flow", "trig-once")
	h := sign(body, time.Now())
	post := func() int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header = h.Clone()
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		a.Wait()
		e.settle()
		return resp.StatusCode
	}
	if status := post(); status != http.StatusOK {
		t.Fatalf("first delivery: status %d", status)
	}
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after the first delivery, want 1", n)
	}
	for range 2 {
		if status := post(); status != http.StatusOK {
			t.Fatalf("replay: status %d, want 200", status)
		}
	}
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after replays, want 1", n)
	}
}
