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

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph"
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
			Getenv: func(k string) string { return vars[k] }, Core: core}
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
