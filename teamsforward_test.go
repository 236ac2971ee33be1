package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/forward"
	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/elevate-pim/elevate/lead"
	"github.com/elevate-pim/elevate/store"
)

// convStore is the demo world's store, set once the world has started (after the adapter).
type convStore struct{ s *store.Store }

func (c *convStore) PutConversation(v store.Conversation) error { return c.s.PutConversation(v) }
func (c *convStore) Conversation(p, k string) (store.Conversation, error) {
	return c.s.Conversation(p, k)
}
func (c *convStore) Conversations(p string) ([]store.Conversation, error) {
	return c.s.Conversations(p)
}

// TestTeamsInvokeThroughStandby: a Teams invoke (Universal Actions) sent through a standby gets
// the same status and body as sent to the leader itself: the invoke response carries the card
// the person sees, so the standby must pass it on exactly.
func TestTeamsInvokeThroughStandby(t *testing.T) {
	const appID, secret = "b07e0000-0000-4000-8000-0000000000b1", "bot-secret"
	tenant := ""
	for _, line := range strings.Split(string(examples.Tenant), "\n") {
		if v, ok := strings.CutPrefix(line, "tenant_id:"); ok {
			v, _, _ = strings.Cut(v, "#")
			tenant = strings.TrimSpace(v)
		}
	}
	fake := teamstest.New(teamstest.Options{AppID: appID, AppSecret: secret, TenantID: tenant})
	defer fake.Close()
	convs := &convStore{}
	a, err := teams.New(teams.Options{AppID: appID, AppPassword: secret, TenantID: tenant,
		OpenIDMetadataURL: fake.MetadataURL(), AuthorityHost: fake.AuthorityHost(), Conversations: convs,
		HTTPClient: fake.Client(), ServiceURLHosts: []string{fake.Host()}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := demo.Start(demo.Options{Config: examples.Config, ConfigName: "examples/elevate.yaml", Tenant: examples.Tenant,
		StorePath: filepath.Join(t.TempDir(), "elevate.db"), Messengers: []bot.Messenger{a}})
	if err != nil {
		t.Fatal(err)
	}
	convs.s = w.Store
	a.Use(w.Core)
	defer func() { a.Close(); w.Close() }()
	leader := http.NewServeMux()
	leader.Handle("POST /api/messages", a)
	direct := httptest.NewServer(leader)
	defer direct.Close()

	db := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	el := lead.New(db, lead.Config{Holder: "leader-1"})
	defer el.Close()
	if _, err := el.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	fdb, err := forward.Open(ctx, db, forward.Options{Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	if err := fdb.Register(ctx, "leader-1", el.Epoch()); err != nil {
		t.Fatal(err)
	}
	wk := fdb.Worker(context.Background(), leader, "leader-1", el.Epoch())
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { wk.Run(wctx); close(done) }()
	defer func() { stop(); <-done; wk.Wait() }()
	sb := fdb.Standby()
	go sb.Run(wctx)
	v, err := teams.NewValidator(teams.ValidatorOptions{AppID: appID, MetadataURL: fake.MetadataURL(), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	standby := httptest.NewServer(forwarded(sb, forwardChecks{teams: v}, slog.New(slog.DiscardHandler)))
	defer standby.Close()

	user := "alice"
	conv := fake.OpenPersonal("29:1" + user + "-teams-id")
	n := 0
	invoke := func(base, verb, value string) (int, string) {
		t.Helper()
		n++
		act := map[string]any{"id": fmt.Sprintf("inv%d", n), "type": "invoke", "name": "adaptiveCard/action", "channelId": "msteams",
			"serviceUrl": fake.ServiceURL(), "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
			"recipient":    map[string]any{"id": "28:" + appID, "name": "Elevate"},
			"from":         map[string]any{"id": "29:1" + user + "-teams-id", "name": user, "aadObjectId": w.Tenant.UserID(user + "@" + w.Domain())},
			"conversation": map[string]any{"id": conv, "conversationType": "personal", "tenantId": tenant},
			"channelData":  map[string]any{"tenant": map[string]any{"id": tenant}},
			"value":        map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": map[string]any{"elevate": verb, "value": value}}}}
		status, body, err := fake.Deliver(base+"/api/messages", act)
		if err != nil {
			t.Fatal(err)
		}
		return status, string(body)
	}
	for _, tc := range []struct{ verb, value, want string }{
		{"form", "exchange", `"AdaptiveCard"`},                  // the request form, a card
		{"refresh", "999999", "That request no longer exists."}, // a message response
		{"refresh", "x", `"statusCode":400`},                    // not a request id: an error response
		{"home", "", `"AdaptiveCard"`},                          // the home card
	} {
		ds, db := invoke(direct.URL, tc.verb, tc.value)
		ss, sbody := invoke(standby.URL, tc.verb, tc.value)
		if ds != http.StatusOK || !json.Valid([]byte(db)) || !strings.Contains(db, tc.want) {
			t.Fatalf("%s %s to the leader: %d %.300s", tc.verb, tc.value, ds, db)
		}
		if ss != ds || sbody != db {
			t.Errorf("%s %s: through the standby %d %.300s; to the leader %d %.300s", tc.verb, tc.value, ss, sbody, ds, db)
		}
	}
}
