package forward

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/internal/pgconn"
	"github.com/elevate-pim/elevate/internal/pgconn/pgconntest"
	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/elevate-pim/elevate/lead"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type env struct {
	cred azcore.TokenCredential
	url  string
	db   *DB
	logs *logbuf.Buffer
	conn *pgx.Conn
}

func setup(t *testing.T, opt Options) *env {
	t.Helper()
	return setupAt(t, pgtest.URL(t), opt)
}

// setupAt is setup on the database at url, logging in as opt.Credential says.
func setupAt(t *testing.T, url string, opt Options) *env {
	t.Helper()
	logs := &logbuf.Buffer{}
	opt.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The lease table is lead's: an elector that connects creates it.
	el := lead.New(url, lead.Config{Holder: "setup", Credential: opt.Credential})
	if _, err := el.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := el.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	el.Close()
	db, err := Open(ctx, url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	conn, err := pgconn.Connect(ctx, url, opt.Credential, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &env{url: url, db: db, logs: logs, conn: conn, cred: opt.Credential}
}

// leader wins the lease as holder and, when serve is set, registers and runs a Worker with h.
func (e *env) leader(t *testing.T, holder string, h http.Handler, serve bool) (*lead.Elector, *Worker, context.CancelFunc) {
	t.Helper()
	el := lead.New(e.url, lead.Config{Holder: holder, TTL: 2 * time.Second, RenewEvery: 200 * time.Millisecond, Credential: e.cred})
	t.Cleanup(el.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := el.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	if !serve {
		return el, nil, func() {}
	}
	if err := e.db.Register(ctx, holder, el.Epoch()); err != nil {
		t.Fatal(err)
	}
	w := e.db.Worker(context.Background(), h, holder, el.Epoch())
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	t.Cleanup(func() { stop(); <-done; w.Wait() })
	return el, w, func() { stop(); <-done }
}

// standby runs a Standby behind a real HTTP server forwarding everything with a 1 kB limit.
func (e *env) standby(t *testing.T) (*Standby, *httptest.Server) {
	t.Helper()
	sb := e.db.Standby()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sb.Run(ctx); close(done) }()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sb.Forward(w, r, 1<<10) }))
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return sb, srv
}

func (e *env) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.conn.QueryRow(context.Background(), `SELECT count(*) FROM elevate_inbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func post(t *testing.T, url, body string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A request sent to a standby reaches the leader's handler as it was sent (method, path, query,
// headers, Host, body, remote address) and its answer comes back as the handler wrote it; an
// answer flushed before the handler returns (Slack's acknowledgement) arrives at once; nothing
// the request carried is logged.
func TestForwardRoundTrip(t *testing.T) {
	e := setup(t, Options{})
	type seen struct {
		method, uri, host, sig, body, remote string
		length                               int64
		marked                               bool
	}
	got := make(chan seen, 1)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, r.Header.Get("X-Slack-Signature"), string(b), r.RemoteAddr, r.ContentLength, Forwarded(r.Context())}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Twice", "a")
		w.Header().Add("X-Twice", "b")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"ok":true}`)
		w.(http.Flusher).Flush()
		<-release // work after the acknowledgement
		io.WriteString(w, "dropped: after the answer")
	})
	e.leader(t, "leader-1", h, true)
	_, srv := e.standby(t)

	resp, body := post(t, srv.URL+"/slack/commands?code=secret-code&x=1", "token=body-marker&text=hi",
		http.Header{"X-Slack-Signature": {"v0=signature-marker"}, "Content-Type": {"application/x-www-form-urlencoded"}})
	close(release)
	s := <-got
	if s.method != "POST" || s.uri != "/slack/commands?code=secret-code&x=1" || s.sig != "v0=signature-marker" ||
		s.body != "token=body-marker&text=hi" || s.length != int64(len(s.body)) || !s.marked || s.host != strings.TrimPrefix(srv.URL, "http://") {
		t.Errorf("the leader's handler saw %+v", s)
	}
	if !strings.HasPrefix(s.remote, "127.0.0.1:") {
		t.Errorf("remote address %q, want the standby's client", s.remote)
	}
	if resp.StatusCode != http.StatusAccepted || body != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" ||
		strings.Join(resp.Header.Values("X-Twice"), ",") != "a,b" {
		t.Errorf("answer %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if n := e.rows(t); n != 0 {
		t.Errorf("%d rows left after the answer, want 0", n)
	}
	logs := e.logs.String()
	for _, secret := range []string{"secret-code", "signature-marker", "body-marker"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "forwarded to the leader") {
		t.Errorf("the log does not say the request was forwarded:\n%s", logs)
	}
}

// A body over the limit is refused before anything is written to the database.
func TestForwardBodyLimit(t *testing.T) {
	e := setup(t, Options{})
	var calls atomic.Int32
	e.leader(t, "leader-1", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }), true)
	_, srv := e.standby(t)
	resp, _ := post(t, srv.URL+"/x", strings.Repeat("a", 1<<10+1), nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the limit: %d, want 413", resp.StatusCode)
	}
	resp, _ = post(t, srv.URL+"/x", strings.Repeat("a", 1<<10), nil)
	if resp.StatusCode != http.StatusOK || calls.Load() != 1 {
		t.Errorf("a body at the limit: %d (%d calls), want 200 and one call", resp.StatusCode, calls.Load())
	}
}

// Headers and target over 64 KiB together are refused before anything is written (the listener
// takes up to 1 MB); a request just under is forwarded.
func TestForwardHeadLimit(t *testing.T) {
	e := setup(t, Options{})
	var calls atomic.Int32
	e.leader(t, "leader-1", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }), true)
	_, srv := e.standby(t)
	resp, _ := post(t, srv.URL+"/auth/callback?code="+strings.Repeat("c", 40<<10), "", http.Header{"Cookie": {strings.Repeat("k", 30<<10)}})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || calls.Load() != 0 {
		t.Errorf("headers over the limit: %d with %d calls, want 431 and none", resp.StatusCode, calls.Load())
	}
	resp, _ = post(t, srv.URL+"/auth/callback?code="+strings.Repeat("c", 30<<10), "", http.Header{"Cookie": {strings.Repeat("k", 30<<10)}})
	if resp.StatusCode != http.StatusOK || calls.Load() != 1 {
		t.Errorf("headers under the limit: %d with %d calls, want 200 and one", resp.StatusCode, calls.Load())
	}
}

// With no leader, the sender answers 503 at its deadline and withdraws the row: a leader that
// starts afterwards never processes it (it does process what is sent then).
func TestForwardDeadlineWithoutLeader(t *testing.T) {
	e := setup(t, Options{Deadline: 300 * time.Millisecond, Poll: 50 * time.Millisecond})
	sb, srv := e.standby(t)
	if err := sb.Ready(context.Background()); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Ready with no leader: %v, want ErrNoLeader", err)
	}
	resp, _ := post(t, srv.URL+"/x", "first", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("no leader: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := e.rows(t); n != 0 {
		t.Fatalf("%d rows left after the deadline, want 0", n)
	}
	if !strings.Contains(e.logs.String(), "deadline passed with no leader") {
		t.Errorf("the log does not name the deadline:\n%s", e.logs.String())
	}
	var mu sync.Mutex
	var bodies []string
	e.leader(t, "leader-1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}), true)
	if err := sb.Ready(context.Background()); err != nil {
		t.Errorf("Ready with a registered leader: %v", err)
	}
	resp, _ = post(t, srv.URL+"/x", "second", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with a leader: %d, want 200", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(bodies, ",") != "second" {
		t.Errorf("the leader handled %q, want only the request sent while it led", bodies)
	}
}

// A request the leader claimed before the sender's deadline is answered after it: the sender
// waits for it rather than giving up on work being done.
func TestForwardClaimedAnswerArrives(t *testing.T) {
	e := setup(t, Options{Deadline: 300 * time.Millisecond, Grace: 20 * time.Second, Poll: 50 * time.Millisecond})
	e.leader(t, "leader-1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * 300 * time.Millisecond) // well past the sender's deadline
		io.WriteString(w, "slow but done")
	}), true)
	_, srv := e.standby(t)
	resp, body := post(t, srv.URL+"/x", "", nil)
	if resp.StatusCode != http.StatusOK || body != "slow but done" {
		t.Errorf("claimed request: %d %q, want the leader's answer", resp.StatusCode, body)
	}
}

// A leader that did not register its term (an older version, which never claims) is not
// forwarded to: 503 at once, nothing written; /readyz's check says no.
func TestForwardUnregisteredLeader(t *testing.T) {
	e := setup(t, Options{Deadline: time.Minute})
	el, _, _ := e.leader(t, "old-version", nil, false)
	sb, srv := e.standby(t)
	if err := sb.Ready(context.Background()); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Ready under an unregistered leader: %v, want ErrNoLeader", err)
	}
	resp, _ := post(t, srv.URL+"/x", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unregistered leader: %d, want 503", resp.StatusCode)
	}
	if n := e.rows(t); n != 0 {
		t.Errorf("%d rows written for an unregistered leader, want 0", n)
	}
	if !strings.Contains(e.logs.String(), "old-version") {
		t.Errorf("the log does not name the leader:\n%s", e.logs.String())
	}
	// A registration of an earlier term of the same holder does not count either.
	if err := e.db.Register(context.Background(), "old-version", el.Epoch()-1); err != nil {
		t.Fatal(err)
	}
	if err := sb.Ready(context.Background()); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Ready with another term registered: %v, want ErrNoLeader", err)
	}
}

// A worker whose term is over claims nothing, even registered.
func TestWorkerOfAnEndedTermClaimsNothing(t *testing.T) {
	e := setup(t, Options{Deadline: 400 * time.Millisecond, Poll: 50 * time.Millisecond})
	el, _, _ := e.leader(t, "leader-1", nil, false)
	epoch := el.Epoch()
	if err := e.db.Register(context.Background(), "leader-1", epoch); err != nil {
		t.Fatal(err)
	}
	if err := el.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	w := e.db.Worker(context.Background(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }), "leader-1", epoch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	_, srv := e.standby(t)
	resp, _ := post(t, srv.URL+"/x", "", nil)
	cancel()
	<-done
	w.Wait()
	if resp.StatusCode != http.StatusServiceUnavailable || calls.Load() != 0 {
		t.Errorf("ended term: %d with %d calls, want 503 and none", resp.StatusCode, calls.Load())
	}
}

// At most MaxInFlight requests wait on a standby; the next is refused with 503 and Retry-After.
// A worker stopped gracefully finishes what it claimed.
func TestForwardInFlightBound(t *testing.T) {
	e := setup(t, Options{MaxInFlight: 2, Poll: 50 * time.Millisecond})
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	_, w, stop := e.leader(t, "leader-1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	}), true)
	_, srv := e.standby(t)
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Post(srv.URL+"/x", "text/plain", nil)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	<-entered
	<-entered
	resp, _ := post(t, srv.URL+"/x", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the bound: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	stop() // graceful: no more claims, but the two in hand are answered
	close(release)
	w.Wait()
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("a request within the bound: %d, want 200", c)
		}
	}
}

// Rows become requests only when what they hold parses; whatever they hold, toHTTP never panics
// and what it builds is what the row said.
func FuzzToHTTP(f *testing.F) {
	f.Add("POST", "/slack/commands?x=1", []byte(`{"Host":["h"],"X-A":["1","2"]}`), []byte("body"), "1.2.3.4:5")
	f.Add("GET", "/auth/callback?code=a&state=b", []byte(`{}`), []byte(nil), "")
	f.Add("BAD METHOD", "http://x/", []byte(`null`), []byte{}, "x")
	f.Add("GET", "//x", []byte(`[`), []byte{}, "x")
	f.Fuzz(func(t *testing.T, method, target string, headers, body []byte, remote string) {
		r, err := toHTTP(context.Background(), method, target, headers, body, remote)
		if err != nil {
			return
		}
		if r.Method != method || r.RequestURI != target || r.RemoteAddr != remote || r.ContentLength != int64(len(body)) {
			t.Fatalf("built %s %s from %s %s", r.Method, r.RequestURI, method, target)
		}
		if !strings.HasPrefix(target, "/") {
			t.Fatalf("target %q accepted without a path", target)
		}
		if r.Header.Get("Host") != "" {
			t.Fatalf("Host left in the header map")
		}
		got, _ := io.ReadAll(r.Body)
		if !bytes.Equal(got, body) {
			t.Fatalf("body %q, want %q", got, body)
		}
	})
}

// What a standby stores is what toHTTP rebuilds.
func TestRequestRoundTrip(t *testing.T) {
	in := httptest.NewRequest("PUT", "http://elevate.example/auth/callback?state=s&code=c", strings.NewReader("x"))
	in.Header.Set("Cookie", "a=b")
	in.Header.Set("Connection", "close")
	in.RemoteAddr = "10.0.0.1:1234"
	q := fromHTTP(in, []byte("x"))
	h, err := jsonHeader(q.Header)
	if err != nil {
		t.Fatal(err)
	}
	out, err := toHTTP(context.Background(), q.Method, q.Target, h, q.Body, q.RemoteAddr)
	if err != nil {
		t.Fatal(err)
	}
	if out.Method != "PUT" || out.URL.Path != "/auth/callback" || out.URL.Query().Get("code") != "c" || out.Host != "elevate.example" ||
		out.Header.Get("Cookie") != "a=b" || out.Header.Get("Connection") != "" || out.RemoteAddr != "10.0.0.1:1234" {
		t.Errorf("rebuilt %s %s host %q header %v remote %q", out.Method, out.URL, out.Host, out.Header, out.RemoteAddr)
	}
}

// With Microsoft Entra authentication every connection forwarding opens (the pool's, and each
// side's LISTEN session) logs in with the credential's token, never logged.
func TestForwardEntraToken(t *testing.T) {
	token := pgconntest.Token()
	_, roleURL := pgtest.Role(t, pgtest.URL(t), token)
	cred := pgconntest.New(token)
	e := setupAt(t, roleURL, Options{Credential: cred, Poll: time.Hour}) // answers only by notification
	e.leader(t, "leader-1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "via entra") }), true)
	_, srv := e.standby(t)
	resp, body := post(t, srv.URL+"/x", "", nil)
	if resp.StatusCode != http.StatusOK || body != "via entra" {
		t.Errorf("forwarded with Entra authentication: %d %q", resp.StatusCode, body)
	}
	if strings.Contains(e.logs.String(), token) {
		t.Error("the token is in the log")
	}
	// Without the credential the role cannot log in: the connections above did use it.
	if _, err := Open(context.Background(), roleURL, Options{}); err == nil {
		t.Error("Open without the credential succeeded; the server does not check the role's password")
	}
}

// A client that gives up before any leader took its request withdraws it: no leader that comes
// later processes it.
func TestForwardClientGoneWithdraws(t *testing.T) {
	e := setup(t, Options{Deadline: time.Minute, Poll: 50 * time.Millisecond})
	_, srv := e.standby(t)
	c := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := c.Post(srv.URL+"/x", "text/plain", strings.NewReader("gone")); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d with no leader within the client's patience", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); e.rows(t) != 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	if n := e.rows(t); n != 0 {
		t.Fatalf("%d rows left after the client went away, want 0", n)
	}
	var calls atomic.Int32
	e.leader(t, "leader-1", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }), true)
	if resp, _ := post(t, srv.URL+"/x", "later", nil); resp.StatusCode != http.StatusOK || calls.Load() != 1 {
		t.Errorf("after the leader came: %d with %d calls, want 200 and only the later request handled", resp.StatusCode, calls.Load())
	}
	if !strings.Contains(e.logs.String(), "withdrawn, nothing was done") {
		t.Errorf("the log does not say the request was withdrawn:\n%s", e.logs.String())
	}
}

// When the leader's term ends (its lease lost) the forwarded requests its Worker is handling are
// cancelled, as a listener's requests are when the process closes it: a handler waiting on its
// request's context stops, and what it answered then still reaches the sender.
func TestWorkerTermEndCancels(t *testing.T) {
	e := setup(t, Options{Deadline: time.Minute, Grace: time.Minute, Poll: 50 * time.Millisecond})
	el, _, _ := e.leader(t, "leader-1", nil, false)
	if err := e.db.Register(context.Background(), "leader-1", el.Epoch()); err != nil {
		t.Fatal(err)
	}
	term, end := context.WithCancel(context.Background())
	entered := make(chan struct{})
	cancelled := make(chan bool, 1)
	w := e.db.Worker(term, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-r.Context().Done():
			cancelled <- true
			http.Error(w, "stopped: no longer the leader", http.StatusServiceUnavailable)
		case <-time.After(30 * time.Second):
			cancelled <- false
			io.WriteString(w, "finished after the term ended")
		}
	}), "leader-1", el.Epoch())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done; w.Wait() })
	_, srv := e.standby(t)
	codes := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/x", "text/plain", nil)
		if err != nil {
			codes <- 0
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}()
	<-entered
	end()
	if !<-cancelled {
		t.Error("the handler ran on after the term ended")
	}
	if c := <-codes; c != http.StatusServiceUnavailable {
		t.Errorf("the sender got %d, want the handler's answer (503)", c)
	}
}

// The leader's handler sees the request id the standby gave the request (its middleware's,
// which replaced a client's id unfit for logs), so both processes' log lines and the answer's
// X-Request-Id agree.
func TestForwardRequestID(t *testing.T) {
	e := setup(t, Options{})
	got := make(chan string, 1)
	e.leader(t, "leader-1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("X-Request-Id") }), true)
	sb := e.db.Standby()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sb.Run(ctx)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "standby-id") // as metrics.Middleware does
		sb.Forward(w, r, 1<<10)
	}))
	defer srv.Close()
	post(t, srv.URL+"/x", "", http.Header{"X-Request-Id": {"not fit for logs!"}})
	if id := <-got; id != "standby-id" {
		t.Errorf("the leader saw request id %q, want the standby's", id)
	}
}

// Rows their senders left (a standby that died while it waited) are deleted by the leader once
// their deadline is Grace plus a minute past, the first time as its Worker starts; a row within
// that time is left alone (its sender may still read the answer), and neither is processed.
func TestWorkerSweepsAbandonedRows(t *testing.T) {
	e := setup(t, Options{Grace: time.Second, Poll: 50 * time.Millisecond})
	ctx := context.Background()
	for id, past := range map[int64]string{1: "62 seconds", 2: "30 seconds"} {
		if _, err := e.conn.Exec(ctx, `INSERT INTO elevate_inbox (id, method, target, headers, body, remote_addr, deadline)
			VALUES ($1, 'POST', '/x', '{}', '', '', clock_timestamp() - $2::interval)`, id, past); err != nil {
			t.Fatal(err)
		}
	}
	var calls atomic.Int32
	e.leader(t, "leader-1", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }), true)
	ids := func() []int64 {
		rows, err := e.conn.Query(ctx, `SELECT id FROM elevate_inbox ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for deadline := time.Now().Add(20 * time.Second); len(ids()) == 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	if got := ids(); len(got) != 1 || got[0] != 2 {
		t.Errorf("rows left %v, want only the one whose deadline is not yet a minute and Grace past", got)
	}
	if calls.Load() != 0 {
		t.Errorf("abandoned rows past their deadline were processed %d times", calls.Load())
	}
}

// A client that sends its body slowly (or never finishes it) does not hold one of the standby's
// places for requests waiting on the leader: they are taken once the request is read, so others
// are still forwarded.
func TestForwardSlowBodyTakesNoPlace(t *testing.T) {
	e := setup(t, Options{MaxInFlight: 2, Poll: 50 * time.Millisecond})
	e.leader(t, "leader-1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "done") }), true)
	_, srv := e.standby(t)
	var slow []*io.PipeWriter
	for range 2 {
		pr, pw := io.Pipe()
		slow = append(slow, pw)
		req, err := http.NewRequest("POST", srv.URL+"/auth/callback", pr)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		if _, err := pw.Write([]byte("a")); err != nil { // the request reached the standby
			t.Fatal(err)
		}
	}
	defer func() {
		for _, pw := range slow {
			pw.Close()
		}
	}()
	resp, body := post(t, srv.URL+"/slack/commands", "x", nil)
	if resp.StatusCode != http.StatusOK || body != "done" {
		t.Errorf("with two bodies still arriving: %d %q, want the leader's answer", resp.StatusCode, body)
	}
}
