package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

func TestManifestSlack(t *testing.T) {
	out, err := runCLI(t, "manifest", "slack", "-url", "https://elevate.example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"https://elevate.example.org/slack/commands", "https://elevate.example.org/slack/interactivity",
		"https://elevate.example.org/slack/events", "users:read.email", "socket_mode_enabled: false"} {
		if !strings.Contains(out, want) {
			t.Errorf("manifest lacks %q:\n%s", want, out)
		}
	}
	out, err = runCLI(t, "manifest", "slack", "-socket")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "socket_mode_enabled: true") || strings.Contains(out, "/slack/commands") {
		t.Errorf("socket mode manifest:\n%s", out)
	}
	// Without a URL, the host of the config's redirect URL.
	out, err = runCLI(t, "manifest", "slack")
	if err != nil || !strings.Contains(out, "https://elevate.contoso.example/slack/commands") {
		t.Errorf("default manifest (%v):\n%s", err, out)
	}
}

func TestStartSlack(t *testing.T) {
	cfg, err := policy.Parse("examples/elevate.yaml", examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(filepath.Join(t.TempDir(), "elevate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Starting makes no Graph call: a typed nil client is enough for the wiring.
	core, err := bot.New(bot.Options{Config: cfg, Graph: (*graph.Client)(nil), Store: s})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	env := func(vars map[string]string) serveEnv {
		return serveEnv{Config: cfg, Mux: http.NewServeMux(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Getenv: func(k string) string { return vars[k] }, Core: core,
			AtShutdown: func(wait, stop func()) { t.Cleanup(func() { wait(); stop() }) }}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, ok, err := startSlack(ctx, env(nil)); ok || err != nil {
		t.Fatalf("without tokens: started %v, %v", ok, err)
	}
	if _, _, err := startSlack(ctx, env(map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"})); err == nil {
		t.Fatal("a bot token alone started Slack")
	}
	e := env(map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
	if _, ok, err := startSlack(ctx, e); !ok || err != nil {
		t.Fatalf("with tokens: started %v, %v", ok, err)
	}
	for _, path := range []string{"/slack/commands", "/slack/interactivity", "/slack/events"} {
		rec := httptest.NewRecorder()
		e.Mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader("x=1")))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("unsigned POST %s: %d, want 401", path, rec.Code)
		}
	}
}

// TestServeSandboxSlack runs `elevate serve -sandbox` with Slack tokens against the fake Slack
// over Socket Mode: a slash command gets its sign-in DM with a link to the sandbox sign-in page.
func TestServeSandboxSlack(t *testing.T) {
	fake := slacktest.New()
	defer fake.Close()
	fake.AddUser(slacktest.User{ID: "UALICE", Name: "alice", Email: "alice@contoso.example"})
	fake.AddChannel("C1", "general")
	fake.AddChannel("C2", "pim-approvals")
	fake.AddChannel("C3", "security")
	t.Setenv("SLACK_BOT_TOKEN", slacktest.BotToken)
	t.Setenv("SLACK_APP_TOKEN", slacktest.AppToken)
	t.Setenv("SLACK_SIGNING_SECRET", "")
	t.Setenv("SLACK_API_URL", strings.TrimSuffix(fake.APIURL(), "/"))
	addr := freePort(t)
	t.Setenv("ELEVATE_PUBLIC_URL", "http://"+addr)
	ctx, cancel := context.WithCancel(context.Background())
	var logs logbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-sandbox", "-listen", addr, "-db", filepath.Join(t.TempDir(), "elevate.db")},
			strings.NewReader(""), io.Discard, &logs)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := fake.WaitSocket(wctx); err != nil {
		t.Fatalf("no socket mode connection: %v\n%s", err, logs.String())
	}
	if _, err := fake.Deliver(wctx, "slash_commands", map[string]string{"command": "/elevate", "text": "exchange 2h fixing mail flow",
		"user_id": "UALICE", "user_name": "alice", "channel_id": "C1", "trigger_id": "t1",
		"response_url": fake.ResponseURL("UALICE", "C1", "")}); err != nil {
		t.Fatal(err)
	}
	var link string
	for deadline := time.Now().Add(10 * time.Second); link == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range fake.Private("UALICE") {
			for _, b := range m.Buttons() {
				if b.URL != "" {
					link = b.URL
				}
			}
		}
	}
	if !strings.HasPrefix(link, "http://"+addr+"/sandbox/sign-in?to=") {
		t.Fatalf("sign-in link %q\n%s", link, logs.String())
	}
	if code, body := get(t, link); code != http.StatusOK || !strings.Contains(body, "Alice Admin") {
		t.Fatalf("sign-in page: %d %s", code, body)
	}
	// The socket is connected (the command came through it): ready, with Slack among the checks.
	if code, body := get(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q with the socket connected", code, body)
	}
}
