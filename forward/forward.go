// Package forward carries HTTP requests from the `elevate serve` processes that do not serve
// (standbys, and a leader still starting) to the one that does, through the PostgreSQL database
// they already share: no process needs another's address (Azure Container Apps gives replicas
// none), and every replica can be ready while a leader serves, so rolling upgrades complete.
//
// # Tables
//
// Created if missing (like lead's elevate_leader), outside the store's migrations: a standby
// creates them too, and a standby never opens the store.
//
//	elevate_inbox (UNLOGGED: a row lives only while its sender waits)
//	  id bigint primary key          random, chosen by the sender
//	  method, target, headers, body, remote_addr    the request (target: path and query)
//	  created_at, deadline           database clock; unclaimed after deadline: never taken
//	  claimed_by, claimed_epoch      the leader's term that took it
//	  status, resp_headers, resp_body, done_at      its answer
//	elevate_inbox_leaders (holder, epoch)   the terms whose leader runs a Worker
//
// # Flow
//
// A Standby inserts the request and waits for its answer: a NOTIFY on elevate_inbox_done from
// the leader, with a poll as a fallback. The leader's Worker, woken by a NOTIFY on elevate_inbox
// (or its own poll), claims the oldest unclaimed row with FOR UPDATE SKIP LOCKED, runs it through
// the same http.Handler its listener serves, stores the answer and notifies. The sender reads
// the answer and deletes the row in one statement: two round trips per forwarded request beyond
// what the leader does anyway.
//
// At its deadline the sender deletes its row if it is still unclaimed and answers 503: the
// request was never processed, so the chat service may retry it. A claimed row is being handled:
// the sender waits Grace more for its answer, then answers 504 (it may have been handled).
// A leader claims only rows whose deadline has not passed, so a row its sender gave up on is
// never processed.
//
// Only a leader whose term is registered in elevate_inbox_leaders is forwarded to: a leader of a
// version without forwarding never claims a row, so while one holds the lease the sender answers
// 503 at once instead of waiting out the deadline, and /readyz says not ready.
//
// During a rolling upgrade one version's standby forwards to another version's leader: the
// tables are a wire format between versions. Add columns with defaults; never rename, retype or
// drop one while a version that uses it may still run.
package forward

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/elevate-pim/elevate/internal/pgconn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tunes forwarding. Zero values take the defaults.
type Options struct {
	// Deadline is how long a sender waits for a leader to take its request (default 16 s: a
	// little over the 15 s the Bot Connector waits for a Teams bot; Slack waits 3 s).
	Deadline time.Duration
	// Grace is how much longer a sender waits for the answer to a request a leader took
	// (default 10 s).
	Grace time.Duration
	// MaxInFlight bounds the requests a Standby forwards at once (default 64); more get 503.
	MaxInFlight int
	// Workers bounds the forwarded requests a Worker handles at once (default 32).
	Workers int
	// Poll is how often both sides look without a notification (default 500 ms).
	Poll   time.Duration
	Logger *slog.Logger
	// Credential, when set, logs in with Microsoft Entra authentication (see internal/pgconn).
	Credential azcore.TokenCredential
}

func (o Options) withDefaults() Options {
	if o.Deadline <= 0 {
		o.Deadline = 16 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// maxResponse bounds an answer kept in a row; Elevate's answers are a few kB.
const maxResponse = 1 << 20

// maxHead bounds a forwarded request's target and headers together: Slack's and the Bot
// Connector's requests and a browser's sign-in callback carry a few kB.
const maxHead = 64 << 10

// headSize is the size of q's target and headers, as a row holds them (about).
func headSize(q request) int {
	n := len(q.Method) + len(q.Target)
	for k, vs := range q.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// Notification channels.
const (
	chanInbox = "elevate_inbox"      // a request is waiting (the leader listens)
	chanDone  = "elevate_inbox_done" // payload: the id of an answered request (senders listen)
)

// DB is the forwarding tables on one PostgreSQL database.
type DB struct {
	url  string
	pool *pgxpool.Pool
	opt  Options
	log  *slog.Logger
}

// Open connects to the database at url and creates the forwarding tables if missing.
func Open(ctx context.Context, url string, opt Options) (*DB, error) {
	opt = opt.withDefaults()
	cfg, err := pgconn.PoolConfig(url, opt.Credential)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.RuntimeParams["application_name"] = "elevate-forward"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d := &DB{url: url, pool: pool, opt: opt, log: opt.Logger}
	if err := d.ensure(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("forward: creating the inbox tables: %w", err)
	}
	return d, nil
}

// Close closes the connections.
func (d *DB) Close() { d.pool.Close() }

// ensure creates the tables, serialised on an advisory lock (CREATE … IF NOT EXISTS alone can
// fail on a concurrent create).
func (d *DB) ensure(ctx context.Context) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`SELECT pg_advisory_xact_lock(hashtext('elevate_inbox'))`,
			`CREATE UNLOGGED TABLE IF NOT EXISTS elevate_inbox (
				id bigint PRIMARY KEY,
				method text NOT NULL,
				target text NOT NULL,
				headers json NOT NULL,
				body bytea NOT NULL,
				remote_addr text NOT NULL,
				created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
				deadline timestamptz NOT NULL,
				claimed_by text,
				claimed_epoch bigint,
				status int,
				resp_headers json,
				resp_body bytea,
				done_at timestamptz)`,
			`CREATE INDEX IF NOT EXISTS elevate_inbox_waiting ON elevate_inbox (created_at) WHERE claimed_by IS NULL`,
			// Logged: a registration must survive a database failover, or standbys would stop
			// forwarding to a leader that still serves.
			`CREATE TABLE IF NOT EXISTS elevate_inbox_leaders (
				holder text NOT NULL,
				epoch bigint NOT NULL,
				registered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
				PRIMARY KEY (holder, epoch))`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// Register records that the leader's term (holder, epoch) runs a Worker, so senders forward to
// it; older terms' registrations are dropped. Call it once the term is won: rows sent before the
// Worker starts wait for it. It gives up after the forwarding deadline, or 10 s if that is
// shorter (a new connection may have to be opened first, and a short test deadline must not make a
// slow connect fatal): a leader must not hang before it serves on a statement whose answer was
// lost.
func (d *DB) Register(ctx context.Context, holder string, epoch int64) error {
	ctx, cancel := context.WithTimeout(ctx, max(d.opt.Deadline, registerMinWait))
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO elevate_inbox_leaders (holder, epoch) VALUES ($1, $2) ON CONFLICT DO NOTHING`, holder, epoch)
	b.Queue(`DELETE FROM elevate_inbox_leaders WHERE epoch < $1`, epoch)
	if err := d.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("forward: registering the leader: %w", err)
	}
	return nil
}

// registerMinWait is the least Register waits for its statement.
const registerMinWait = 10 * time.Second

// request is one forwarded HTTP request as a row holds it.
type request struct {
	Method     string
	Target     string      // path and query, as the client sent them
	Header     http.Header // with "Host"
	Body       []byte
	RemoteAddr string
}

// hopByHop are the headers that concern one connection, not the request.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func fromHTTP(r *http.Request, body []byte) request {
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	h.Del("Content-Length")
	if r.Host != "" {
		h.Set("Host", r.Host)
	}
	return request{Method: r.Method, Target: r.URL.RequestURI(), Header: h, Body: body, RemoteAddr: r.RemoteAddr}
}

// toHTTP builds the request a leader's handler serves from a row's columns. It checks what it
// parses: the row was written by another process, perhaps of another version.
func toHTTP(ctx context.Context, method, target string, headers []byte, body []byte, remote string) (*http.Request, error) {
	var h http.Header
	if err := json.Unmarshal(headers, &h); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	if !strings.HasPrefix(target, "/") {
		return nil, fmt.Errorf("target %q is not a path", target)
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, method, "http://forwarded/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.URL = u
	r.RequestURI = target
	if h == nil {
		h = http.Header{}
	}
	r.Host = h.Get("Host")
	h.Del("Host")
	r.Header = h
	r.ContentLength = int64(len(body))
	r.RemoteAddr = remote
	return r, nil
}

// newID is a random positive id: the sender knows it before inserting, so it can wait for the
// answer's notification without a race.
func newID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1
}

// response is a handler's answer, as a row holds it.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// recorder is the http.ResponseWriter a forwarded request is served with. Its answer is
// published once: at the first Flush (Elevate's Slack handlers flush the acknowledgement, then
// go on working) or when the handler returns. Writes after that are dropped, as the sender has
// its answer.
type recorder struct {
	header  http.Header
	resp    response
	wrote   bool
	done    bool
	over    bool // the body passed maxResponse
	publish func(response)
}

func newRecorder(publish func(response)) *recorder {
	return &recorder{header: http.Header{}, publish: publish}
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.wrote || w.done || code < 200 { // informational answers are not kept
		return
	}
	w.wrote = true
	w.resp.Status = code
	w.resp.Header = w.header.Clone()
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if len(w.resp.Body)+len(p) > maxResponse {
		w.over = true
		return 0, errors.New("forward: answer too large")
	}
	w.resp.Body = append(w.resp.Body, p...)
	return len(p), nil
}

func (w *recorder) Flush() { w.finish() }

// finish publishes the answer, once.
func (w *recorder) finish() {
	if w.done {
		return
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	w.done = true
	if w.over {
		w.resp = response{Status: http.StatusBadGateway, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
			Body: []byte("the leader's answer was too large to forward\n")}
	}
	w.publish(w.resp)
}

// write sends a stored answer to the client.
func (resp response) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	h.Del("Content-Length")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// readBody reads at most limit bytes of r's body; too large is errTooLarge.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge
	}
	return body, nil
}

var errTooLarge = errors.New("body too large")

// listen runs a dedicated connection LISTENing on channel and calls got with each payload, and
// with "" after each (re)connection (something may have been missed meanwhile), until ctx ends.
func (d *DB) listen(ctx context.Context, channel string, got func(payload string)) {
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, channel, got)
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("forward: listening for notifications failed; polling until it reconnects", "channel", channel, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.opt.Poll):
		}
	}
}

func (d *DB) listenOnce(ctx context.Context, channel string, got func(string)) error {
	conn, err := pgconn.Connect(ctx, d.url, d.opt.Credential, func(cc *pgx.ConnConfig) {
		cc.RuntimeParams["application_name"] = "elevate-forward-listen"
	})
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	got("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		got(n.Payload)
	}
}

// jsonHeader is h as a row keeps it: a JSON object, never null.
func jsonHeader(h http.Header) ([]byte, error) {
	if h == nil {
		h = http.Header{}
	}
	return json.Marshal(h)
}
