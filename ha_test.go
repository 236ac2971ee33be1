package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/forward"
	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/elevate-pim/elevate/lead"
	"github.com/elevate-pim/elevate/store"
	"github.com/jackc/pgx/v5"
)

// serveProc is one `elevate serve` on a PostgreSQL database, in this test process.
type serveProc struct {
	addr   string
	cancel context.CancelFunc
	exited chan struct{} // closed when run returned, with err
	err    error
	logs   *logbuf.Buffer
}

func startServe(t *testing.T, db string, flags ...string) *serveProc {
	t.Helper()
	p := &serveProc{addr: freePort(t), exited: make(chan struct{}), logs: &logbuf.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
		}
	})
	go func() {
		defer close(p.exited)
		args := append([]string{"serve", "-sandbox", "-listen", p.addr, "-db", db, "-leader-ttl", "2s", "-leader-renew", "200ms"}, flags...)
		p.err = run(ctx, args, strings.NewReader(""), io.Discard, p.logs)
	}()
	p.waitFor(t, "/healthz", http.StatusOK)
	return p
}

// waitFor waits until path answers code.
func (p *serveProc) waitFor(t *testing.T, path string, code int) {
	t.Helper()
	var last int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + p.addr + path)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if last = resp.StatusCode; last == code {
			return
		}
	}
	t.Fatalf("%s%s: %d, want %d\n%s", p.addr, path, last, code, p.logs.String())
}

func (p *serveProc) status(t *testing.T, method, path string) int {
	t.Helper()
	code, _ := p.do(t, method, path, nil)
	return code
}

// do sends a small form with the extra headers h and returns the status and body.
func (p *serveProc) do(t *testing.T, method, path string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.addr+path, strings.NewReader("token=x"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Headers that pass a standby's cheap checks; the leader still verifies them (and refuses these).
var (
	slackSigned = http.Header{"X-Slack-Signature": {"v0=00"}, "X-Slack-Request-Timestamp": {"1"}}
	bearer      = http.Header{"Authorization": {"Bearer x"}}
)

// forwards checks what a standby under a leader that takes forwarded requests answers: alive,
// ready (as a standby), the cheap refusals itself, the rest exactly as the leader answers it.
func (p *serveProc) forwards(t *testing.T, leader *serveProc) {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code := p.status(t, "GET", path); code != http.StatusOK {
			t.Errorf("standby %s = %d, want 200", path, code)
		}
	}
	if role := p.role(t); role != "standby" {
		t.Errorf("standby's /readyz says it is %q", role)
	}
	if role := leader.role(t); role != "leader" {
		t.Errorf("leader's /readyz says it is %q", role)
	}
	for _, r := range []struct {
		method, path string
		h            http.Header
		code         int // refused by the standby itself; 0: as the leader answers
	}{
		// Neither chat platform is configured here: the leader has no such routes (404), and a
		// standby writes nothing for them (TestForwardChecks has the configured case).
		{"POST", "/slack/commands", nil, http.StatusNotFound},
		{"POST", "/api/messages", nil, http.StatusNotFound},
		{"POST", "/slack/commands", slackSigned, 0},
		{"POST", "/api/messages", bearer, 0},
		{"GET", "/auth/callback?state=x&code=y", nil, 0},
		{"GET", "/sandbox/sign-in?to=https://evil.example/", nil, 0},
	} {
		code, body := p.do(t, r.method, r.path, r.h)
		if r.code != 0 {
			if code != r.code {
				t.Errorf("standby %s %s = %d, want %d", r.method, r.path, code, r.code)
			}
			continue
		}
		lcode, lbody := leader.do(t, r.method, r.path, r.h)
		if code != lcode || body != lbody {
			t.Errorf("standby %s %s = %d %q, the leader answers %d %q", r.method, r.path, code, body, lcode, lbody)
		}
	}
}

// waitRole waits until p's /readyz names role: "leader" once it leads and serves.
func (p *serveProc) waitRole(t *testing.T, role string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if p.role(t) == role {
			return
		}
	}
	t.Fatalf("%s never became %s\n%s", p.addr, role, p.logs.String())
}

// role is what /readyz says this process is, or "" when it does not answer (it may have exited:
// waitRole then shows its log).
func (p *serveProc) role(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil {
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) while waited for\n%s", p.addr, p.err, p.logs.String())
		default:
		}
		return ""
	}
	resp.Body.Close()
	return resp.Header.Get("X-Elevate-Role")
}

// standsBy checks what a standby answers under a leader that does not take forwarded requests
// (an older version): alive, not ready, nothing forwarded.
func (p *serveProc) standsBy(t *testing.T) {
	t.Helper()
	if code := p.status(t, "GET", "/healthz"); code != http.StatusOK {
		t.Errorf("standby /healthz = %d, want 200", code)
	}
	for _, r := range []struct {
		method, path string
		h            http.Header
	}{
		{"GET", "/readyz", nil}, {"GET", "/auth/callback?state=x&code=y", nil}, {"GET", "/sandbox/sign-in?to=http://localhost/", nil},
	} {
		if code, _ := p.do(t, r.method, r.path, r.h); code != http.StatusServiceUnavailable {
			t.Errorf("standby %s %s = %d, want 503", r.method, r.path, code)
		}
	}
}

// Two `elevate serve` on one PostgreSQL database: one leads and serves, the other stands by and
// forwards to it; a leader that stops hands over, a leader that loses the database exits non-zero and the standby
// takes over.
func TestServeActivePassive(t *testing.T) {
	db := pgtest.URL(t)
	a := startServe(t, db)
	a.waitFor(t, "/readyz", http.StatusOK)
	// The leader serves the rest: the sandbox's sign-in page answers (and refuses a foreign URL).
	if code := a.status(t, "GET", "/sandbox/sign-in?to=https://evil.example/"); code != http.StatusBadRequest {
		t.Errorf("leader's sandbox sign-in page = %d, want 400", code)
	}
	b := startServe(t, db)
	b.forwards(t, a)

	// A clean stop resigns the lease: b takes over and serves.
	a.cancel()
	if <-a.exited; a.err != nil {
		t.Fatalf("the leader's clean stop returned %v", a.err)
	}
	b.waitFor(t, "/readyz", http.StatusOK)
	if code := b.status(t, "GET", "/sandbox/sign-in?to=https://evil.example/"); code != http.StatusBadRequest {
		t.Errorf("new leader's sandbox sign-in page = %d, want 400", code)
	}
	c := startServe(t, db)
	c.forwards(t, b)

	// b loses its lease's session (a network cut, a database failover): it stops acting and
	// exits with an error; c takes over.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a, elevate_leader l
		WHERE a.application_name = 'elevate-lead ' || l.holder`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminating the leader's lease session: %d sessions, %v", n, err)
	}
	select {
	case <-b.exited:
		err := b.err
		if err == nil || !strings.Contains(err.Error(), "lost leadership") {
			t.Fatalf("the leader that lost its lease returned %v, want a lost-leadership error", err)
		}
		if exitStatus(err) == 0 {
			t.Fatalf("exit status 0 after losing leadership")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the leader kept running after losing its lease\n%s", b.logs.String())
	}
	if !strings.Contains(b.logs.String(), "lost leadership") {
		t.Errorf("the log does not say why it stopped:\n%s", b.logs.String())
	}
	c.waitFor(t, "/readyz", http.StatusOK)
	c.cancel()
	if <-c.exited; c.err != nil {
		t.Errorf("the last leader's stop returned %v", c.err)
	}
}

// A gate closed while the process was still starting (leadership lost) stays closed when the
// start-up finishes and opens it.
func TestGateClosedStaysClosed(t *testing.T) {
	g := &gate{next: http.NotFoundHandler()}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	g.close()
	g.open(ok)
	rec := httptest.NewRecorder()
	g.Ready().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after close then open = %d, want 503", rec.Code)
	}
	rec = httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("POST", "/slack/commands", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a chat endpoint after close then open = %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// A gate that does not serve forwards what it gets, except a request that was forwarded already
// (it would go round the inbox for ever).
func TestGateForwardsOnce(t *testing.T) {
	var forwarded int
	g := &gate{next: http.NotFoundHandler(), forward: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { forwarded++ })}
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/slack/commands", nil))
	if forwarded != 1 {
		t.Fatalf("a request to a standby was forwarded %d times, want once", forwarded)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/slack/commands", nil)
	g.ServeHTTP(rec, req.WithContext(forward.WithForwarded(req.Context())))
	if forwarded != 1 || rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a forwarded request reaching a gate that does not serve: forwarded again %d, answered %d; want 503, not forwarded", forwarded-1, rec.Code)
	}
}

// A renewal interval the lease cannot live with is a usage error, before anything starts.
func TestServeLeaseFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-leader-ttl", "2s", "-leader-renew", "1s"},
		{"-leader-ttl", "0s"},
		{"-leader-renew", "-1s"},
	} {
		err := run(context.Background(), append([]string{"serve", "-sandbox", "-db", "postgres://localhost/x"}, args...),
			strings.NewReader(""), io.Discard, io.Discard)
		if exitStatus(err) != 2 {
			t.Errorf("serve %v: %v (exit %d), want a usage error (exit 2)", args, err, exitStatus(err))
		}
	}
}

// A standby creates and migrates nothing: the store is opened once it leads. (A new version's
// standby, starting while the old version leads, would otherwise migrate the schema under it.)
// Its /metrics still answers.
func TestStandbyOpensNoStore(t *testing.T) {
	db := pgtest.URL(t)
	el := lead.New(db, lead.Config{Holder: "old-version"})
	defer el.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := el.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	b := startServe(t, db, "-metrics-on-main")
	b.standsBy(t)
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var kv bool
	if err := conn.QueryRow(context.Background(), `SELECT to_regclass('elevate_kv') IS NOT NULL`).Scan(&kv); err != nil {
		t.Fatal(err)
	}
	if kv {
		t.Fatal("a standby created the store's table while another process leads")
	}
	if code := b.status(t, "GET", "/metrics"); code != http.StatusOK {
		t.Errorf("standby /metrics = %d, want 200", code)
	}
	// Once the old leader hands over, b leads, opens (creates) the store and serves.
	if err := el.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !kv && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := conn.QueryRow(context.Background(), `SELECT to_regclass('elevate_kv') IS NOT NULL`).Scan(&kv); err != nil {
			t.Fatal(err)
		}
	}
	if !kv {
		t.Fatalf("the new leader has no store table\n%s", b.logs.String())
	}
	b.waitFor(t, "/readyz", http.StatusOK)
}

// slackCommand posts a Slack-signed /elevate command from alice to p and returns the answer.
func slackCommand(t *testing.T, p *serveProc, fake *slacktest.Server, text, trigger string) (int, string) {
	t.Helper()
	form := url.Values{"command": {"/elevate"}, "text": {text}, "user_id": {"UALICE"}, "user_name": {"alice"},
		"channel_id": {"C1"}, "team_id": {"T1"}, "trigger_id": {trigger}, "response_url": {fake.ResponseURL("UALICE", "C1", trigger)}}
	body := form.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(haSigningSecret))
	io.WriteString(m, "v0:"+ts+":"+body)
	h := http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {"v0=" + hex.EncodeToString(m.Sum(nil))}}
	req, err := http.NewRequest("POST", "http://"+p.addr+"/slack/commands", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("slash command to %s: %v", p.addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const haSigningSecret = "ha-test-signing-secret"

// slackEnv runs the processes of a test with Slack over HTTP against the fake Slack.
func slackEnv(t *testing.T) *slacktest.Server {
	t.Helper()
	fake := slacktest.New()
	t.Cleanup(fake.Close)
	fake.AddUser(slacktest.User{ID: "UALICE", Name: "alice", Email: "alice@contoso.example"})
	fake.AddChannel("C1", "general")
	fake.AddChannel("C2", "pim-approvals")
	fake.AddChannel("C3", "security")
	t.Setenv("SLACK_BOT_TOKEN", slacktest.BotToken)
	t.Setenv("SLACK_APP_TOKEN", "")
	t.Setenv("SLACK_SIGNING_SECRET", haSigningSecret)
	t.Setenv("SLACK_API_URL", strings.TrimSuffix(fake.APIURL(), "/"))
	return fake
}

// storedJustifications lists the Slack requests in the PostgreSQL store, by justification.
func storedJustifications(t *testing.T, db string) map[string]int {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), db, store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs, err := s.Requests(store.Filter{Platform: "slack"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rs {
		got[r.Justification]++
	}
	return got
}

// A signed Slack command sent to the standby is stored and answered exactly as one sent to the
// leader; both are ready. When the leader dies, a command sent to the survivor while nobody
// leads waits and is answered once the survivor leads.
func TestServeStandbyForwardsSlack(t *testing.T) {
	fake := slackEnv(t)
	db := pgtest.URL(t)
	a := startServe(t, db)
	a.waitRole(t, "leader")
	b := startServe(t, db)
	b.waitFor(t, "/readyz", http.StatusOK)
	if a.role(t) != "leader" || b.role(t) != "standby" {
		t.Fatalf("roles: a %q, b %q", a.role(t), b.role(t))
	}

	lcode, lbody := slackCommand(t, a, fake, "exchange 2h via-leader", "t-leader")
	scode, sbody := slackCommand(t, b, fake, "exchange 2h via-standby", "t-standby")
	if lcode != http.StatusOK || scode != lcode || strings.ReplaceAll(sbody, "via-standby", "via-leader") != lbody {
		t.Errorf("through the standby: %d %q; through the leader: %d %q", scode, sbody, lcode, lbody)
	}
	// The same signed request again (a replay) is acknowledged and dropped by the leader, as
	// it would be if sent to the leader itself: one request stored.
	if code, _ := slackCommand(t, b, fake, "exchange 2h via-standby", "t-standby"); code != http.StatusOK {
		t.Errorf("a replay through the standby: %d, want 200", code)
	}
	// Slack's retry of a command delivered to the leader, reaching a standby: dropped too.
	if code, _ := slackCommand(t, a, fake, "exchange 2h both-ways", "t-both"); code != http.StatusOK {
		t.Errorf("a command to the leader: %d, want 200", code)
	}
	if code, _ := slackCommand(t, b, fake, "exchange 2h both-ways", "t-both"); code != http.StatusOK {
		t.Errorf("the same command again through the standby: %d, want 200", code)
	}
	if !strings.Contains(b.logs.String(), "forwarded to the leader") || strings.Contains(b.logs.String(), "via-standby") {
		t.Errorf("the standby's log should say it forwarded, without the request's text:\n%s", b.logs.String())
	}

	// The leader loses its lease's session and exits; it does not resign, so nobody leads until
	// its lease runs out. A command sent to b meanwhile waits, and b answers it once it leads.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a, elevate_leader l
		WHERE a.application_name = 'elevate-lead ' || l.holder`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the leader kept running after losing its lease\n%s", a.logs.String())
	}
	var live bool
	if err := conn.QueryRow(context.Background(), `SELECT expires_at > clock_timestamp() FROM elevate_leader`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	code, _ := slackCommand(t, b, fake, "exchange 2h during-takeover", "t-takeover")
	if code != http.StatusOK {
		t.Errorf("a command sent during the takeover: %d, want 200 once b leads\n%s", code, b.logs.String())
	}
	if b.role(t) != "leader" {
		t.Errorf("b's role after the takeover: %q", b.role(t))
	}
	if !live {
		t.Log("the lease had expired before the command was sent; it was forwarded to b's own start-up")
	}
	b.cancel()
	<-b.exited
	got := storedJustifications(t, db)
	for _, j := range []string{"via-leader", "via-standby", "both-ways", "during-takeover"} {
		if got[j] != 1 {
			t.Errorf("request %q stored %d times, want once (store: %v)", j, got[j], got)
		}
	}
}

// A request nobody takes within the deadline (the leader holds the lease but has stopped
// serving) is answered 503 and never processed, not even by the next leader.
func TestServeForwardDeadline(t *testing.T) {
	fake := slackEnv(t)
	db := pgtest.URL(t)
	// A leader of this version that registered its term and then hung: it never claims.
	el := lead.New(db, lead.Config{Holder: "hung"})
	defer el.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := el.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	fdb, err := forward.Open(ctx, db, forward.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	if err := fdb.Register(ctx, "hung", el.Epoch()); err != nil {
		t.Fatal(err)
	}
	b := startServe(t, db, "-forward-deadline", "500ms")
	b.waitFor(t, "/readyz", http.StatusOK)
	code, _ := slackCommand(t, b, fake, "exchange 2h never-taken", "t-never")
	if code != http.StatusServiceUnavailable {
		t.Errorf("a command nobody took: %d, want 503", code)
	}
	if !strings.Contains(b.logs.String(), "deadline passed with no leader") {
		t.Errorf("the log does not name the deadline:\n%s", b.logs.String())
	}
	// The hung leader goes; b leads and serves what is sent now, never what it answered 503.
	if err := el.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	b.waitRole(t, "leader")
	if code, _ := slackCommand(t, b, fake, "exchange 2h after", "t-after"); code != http.StatusOK {
		t.Errorf("a command to the new leader: %d, want 200", code)
	}
	b.cancel()
	<-b.exited
	got := storedJustifications(t, db)
	if got["after"] != 1 || got["never-taken"] != 0 {
		t.Errorf("stored %v, want the later command once and the 503'd one never", got)
	}
}

// A forwarded request shows in elevate_http_requests_total on the standby as "forwarded <route>"
// (what the client got) and on the leader under its route (the handling), as docs/deploy.md
// says: summing a route's series across replicas counts it once.
func TestForwardedRequestMetrics(t *testing.T) {
	fake := slackEnv(t)
	db := pgtest.URL(t)
	a := startServe(t, db, "-metrics-on-main")
	a.waitRole(t, "leader")
	b := startServe(t, db, "-metrics-on-main")
	b.waitFor(t, "/readyz", http.StatusOK)
	if code, _ := slackCommand(t, b, fake, "exchange 2h counted", "t-counted"); code != http.StatusOK {
		t.Fatalf("a command through the standby: %d", code)
	}
	scrape := func(p *serveProc) string {
		code, body := p.do(t, "GET", "/metrics", nil)
		if code != http.StatusOK {
			t.Fatalf("%s /metrics: %d", p.addr, code)
		}
		return body
	}
	const route = `elevate_http_requests_total{code="200",handler="POST /slack/commands"} 1`
	const standby = `elevate_http_requests_total{code="200",handler="forwarded POST /slack/commands"} 1`
	if m := scrape(b); !strings.Contains(m, standby) || strings.Contains(m, `handler="POST /slack/commands"`) {
		t.Errorf("the standby's metrics should count the command as forwarded only:\n%s", grepLines(m, "elevate_http_requests_total"))
	}
	if m := scrape(a); !strings.Contains(m, route) {
		t.Errorf("the leader's metrics should count the command under its route:\n%s", grepLines(m, "elevate_http_requests_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
