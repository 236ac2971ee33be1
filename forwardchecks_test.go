package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/forward"
	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/elevate-pim/elevate/lead"
	"github.com/jackc/pgx/v5"
)

// TestForwardChecks: a standby writes a chat request to the database for the leader only when
// it passes the platform's own authentication (a Slack signature made with the signing secret, a
// Bot Connector token for the activity's service URL and channel), as the leader would check it;
// anything else from the internet is refused with the leader's answer and writes nothing. What
// passes is forwarded and answered by the leader. A platform not configured is 404, as on the
// leader.
func TestForwardChecks(t *testing.T) {
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
	// Every row a standby writes is counted, whatever becomes of it afterwards.
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{
		`CREATE TABLE inbox_inserts (id bigint)`,
		`CREATE FUNCTION count_inbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO inbox_inserts VALUES (NEW.id); RETURN NEW; END $$`,
		`CREATE TRIGGER count_inbox AFTER INSERT ON elevate_inbox FOR EACH ROW EXECUTE FUNCTION count_inbox()`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	written := func() int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM inbox_inserts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var handled atomic.Int32
	if err := fdb.Register(ctx, "leader-1", el.Epoch()); err != nil {
		t.Fatal(err)
	}
	w := fdb.Worker(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		io.WriteString(w, "leader: "+r.URL.Path)
	}), "leader-1", el.Epoch())
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { stop(); <-done; w.Wait() }()
	sb := fdb.Standby()
	go sb.Run(wctx)

	fake := teamstest.New(teamstest.Options{AppID: "b07e0000-0000-4000-8000-0000000000b1"})
	defer fake.Close()
	v, err := teams.NewValidator(teams.ValidatorOptions{AppID: "b07e0000-0000-4000-8000-0000000000b1", MetadataURL: fake.MetadataURL(), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	srv := httptest.NewServer(forwarded(sb, forwardChecks{slackSecret: haSigningSecret, teams: v}, slog.New(slog.NewTextHandler(logs, nil))))
	defer srv.Close()
	off := httptest.NewServer(forwarded(sb, forwardChecks{}, slog.New(slog.DiscardHandler)))
	defer off.Close()

	send := func(base, path string, h http.Header, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sign := func(body string, at time.Time) http.Header {
		ts := strconv.FormatInt(at.Unix(), 10)
		m := hmac.New(sha256.New, []byte(haSigningSecret))
		io.WriteString(m, "v0:"+ts+":"+body)
		return http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {"v0=" + hex.EncodeToString(m.Sum(nil))}}
	}
	activity := func(serviceURL string) string {
		b, _ := json.Marshal(map[string]any{"type": "message", "id": "a1", "channelId": "msteams", "serviceUrl": serviceURL, "text": "hi"})
		return string(b)
	}
	forged := sign("text=forged", time.Now())
	forged.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64))
	for _, tc := range []struct {
		name, path string
		h          http.Header
		body       string
		code       int
	}{
		{"slack, made-up signature", "/slack/commands", forged, "text=forged", http.StatusUnauthorized},
		{"slack, signed with another body", "/slack/events", sign("a", time.Now()), "b", http.StatusUnauthorized},
		{"slack, signed an hour ago", "/slack/interactivity", sign("payload=x", time.Now().Add(-time.Hour)), "payload=x", http.StatusUnauthorized},
		{"slack, over the limit", "/slack/commands", sign("", time.Now()), strings.Repeat("a", 1<<20+1), http.StatusRequestEntityTooLarge},
		{"teams, made-up token", "/api/messages", http.Header{"Authorization": {"Bearer x"}}, activity(fake.ServiceURL()), http.StatusUnauthorized},
		{"teams, no token", "/api/messages", nil, activity(fake.ServiceURL()), http.StatusUnauthorized},
		{"teams, token for another service URL", "/api/messages", http.Header{"Authorization": {"Bearer " + fake.Token("https://evil.example/")}}, activity(fake.ServiceURL()), http.StatusUnauthorized},
		{"teams, not JSON", "/api/messages", http.Header{"Authorization": {"Bearer " + fake.Token(fake.ServiceURL())}}, "{", http.StatusBadRequest},
	} {
		if code, body := send(srv.URL, tc.path, tc.h, tc.body); code != tc.code {
			t.Errorf("%s: %d %q, want %d", tc.name, code, body, tc.code)
		}
	}
	if n := written(); n != 0 || handled.Load() != 0 {
		t.Fatalf("unauthenticated requests wrote %d rows and reached the leader %d times, want none", n, handled.Load())
	}
	if l := logs.String(); !strings.Contains(l, "not forwarded") || strings.Contains(l, "forged") {
		t.Errorf("the log should say what was refused, without the request's text:\n%s", l)
	}

	// Authenticated requests go through, to the leader's answer.
	if code, body := send(srv.URL, "/slack/commands", sign("text=hi", time.Now()), "text=hi"); code != http.StatusOK || body != "leader: /slack/commands" {
		t.Errorf("a signed Slack request: %d %q, want the leader's answer", code, body)
	}
	if code, body := send(srv.URL, "/api/messages", http.Header{"Authorization": {"Bearer " + fake.Token(fake.ServiceURL())}}, activity(fake.ServiceURL())); code != http.StatusOK || body != "leader: /api/messages" {
		t.Errorf("a Teams activity with the Bot Connector's token: %d %q, want the leader's answer", code, body)
	}
	// What follows the activity's JSON is left, as the leader's parser leaves it.
	if code, body := send(srv.URL, "/api/messages", http.Header{"Authorization": {"Bearer " + fake.Token(fake.ServiceURL())}}, activity(fake.ServiceURL())+" trailing"); code != http.StatusOK || body != "leader: /api/messages" {
		t.Errorf("an activity followed by more text: %d %q, want the leader's answer", code, body)
	}
	if n := written(); n != 3 || handled.Load() != 3 {
		t.Errorf("authenticated requests: %d rows, %d handled; want 3 and 3", n, handled.Load())
	}

	// Not configured: 404 like the leader's mux, nothing written.
	for _, path := range []string{"/slack/commands", "/api/messages"} {
		if code, _ := send(off.URL, path, sign("x", time.Now()), "x"); code != http.StatusNotFound {
			t.Errorf("%s with its platform off: %d, want 404", path, code)
		}
	}
	if n := written(); n != 3 {
		t.Errorf("requests for platforms that are off wrote %d rows", n-3)
	}
}
