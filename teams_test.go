package main

import (
	"archive/zip"
	"bytes"
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

func TestManifestTeams(t *testing.T) {
	t.Setenv("MICROSOFT_APP_ID", "b07e0000-0000-4000-8000-0000000000b1")
	path := filepath.Join(t.TempDir(), "app.zip")
	out, err := runCLI(t, "manifest", "teams", "-o", path, "-url", "https://elevate.contoso.example", "-version", "1.0.3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "wrote "+path) {
		t.Errorf("output %q", out)
	}
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var names []string
	for _, f := range z.File {
		names = append(names, f.Name)
		if f.Name == "manifest.json" {
			rc, _ := f.Open()
			m, _ := io.ReadAll(rc)
			rc.Close()
			for _, want := range []string{`"botId": "b07e0000-0000-4000-8000-0000000000b1"`, `"version": "1.0.3"`, `"elevate.contoso.example"`} {
				if !strings.Contains(string(m), want) {
					t.Errorf("manifest.json lacks %s:\n%s", want, m)
				}
			}
		}
	}
	if strings.Join(names, ",") != "manifest.json,color.png,outline.png" {
		t.Errorf("package holds %v", names)
	}
	t.Setenv("MICROSOFT_APP_ID", "")
	if _, err := runCLI(t, "manifest", "teams", "-print"); err == nil {
		t.Error("a manifest without bot id")
	}
}

func TestStartTeams(t *testing.T) {
	cfg, err := policy.Parse("examples/elevate.yaml", examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(filepath.Join(t.TempDir(), "elevate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	if _, ok, err := startTeams(ctx, env(nil)); ok || err != nil {
		t.Fatalf("without credentials: started %v, %v", ok, err)
	}
	if _, _, err := startTeams(ctx, env(map[string]string{"MICROSOFT_APP_ID": "b07e0000-0000-4000-8000-0000000000b1"})); err == nil {
		t.Fatal("an app id alone started Teams")
	}
	if _, _, err := startTeams(ctx, env(map[string]string{"MICROSOFT_APP_ID": "x", "MICROSOFT_APP_PASSWORD": "p", "TEAMS_CHANNELS": "#a=general"})); err == nil {
		t.Fatal("a malformed TEAMS_CHANNELS was accepted")
	}
	if _, _, err := startTeams(ctx, env(map[string]string{"MICROSOFT_APP_ID": "x", "MICROSOFT_APP_PASSWORD": "p",
		"TEAMS_SERVICE_URL_HOSTS": "https://smba.trafficmanager.net/amer/"})); err == nil {
		t.Fatal("a TEAMS_SERVICE_URL_HOSTS entry that is a URL, not a host, was accepted")
	}
	e := env(map[string]string{"MICROSOFT_APP_ID": "b07e0000-0000-4000-8000-0000000000b1", "MICROSOFT_APP_PASSWORD": "p",
		"TEAMS_CHANNELS": "#pim-approvals=19:abc@thread.tacv2", "TEAMS_SERVICE_URL_HOSTS": "smba.trafficmanager.net, smba.example.cloud:8443"})
	if _, ok, err := startTeams(ctx, e); !ok || err != nil {
		t.Fatalf("with credentials: started %v, %v", ok, err)
	}
	// The bot's identity without a secret: a user-assigned managed identity starts Teams; a
	// secret besides it is refused as ambiguous.
	var logs bytes.Buffer
	msi := env(map[string]string{"MICROSOFT_APP_ID": "5e1f0000-0000-4000-8000-0000000000e1", "MICROSOFT_APP_TYPE": "UserAssignedMSI"})
	msi.Log = slog.New(slog.NewTextHandler(&logs, nil))
	if _, ok, err := startTeams(ctx, msi); !ok || err != nil {
		t.Fatalf("with a managed identity: started %v, %v", ok, err)
	}
	if !strings.Contains(logs.String(), `credential="managed identity, UserAssignedMSI`) {
		t.Errorf("the start log does not say which credential the bot uses:\n%s", logs.String())
	}
	if _, _, err := startTeams(ctx, env(map[string]string{"MICROSOFT_APP_ID": "x", "MICROSOFT_APP_TYPE": "UserAssignedMSI", "MICROSOFT_APP_PASSWORD": "p"})); err == nil || !strings.Contains(err.Error(), "unset MICROSOFT_APP_PASSWORD") {
		t.Errorf("a managed identity with a secret: %v", err)
	}
	rec := httptest.NewRecorder()
	e.Mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", strings.NewReader(`{"type":"message"}`)))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("unsigned POST /api/messages: %d, want 401", rec.Code)
	}
}
