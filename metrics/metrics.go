// Package metrics is Elevate's observability: Prometheus metrics for requests, activations,
// approvals, Graph calls and HTTP traffic, request ids for logs, and the readiness checks behind
// /readyz. It watches the core from outside (bot.Watcher) and wraps transports and handlers, so
// no other package needs to know it exists.
package metrics

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elevate-pim/elevate/store"
)

// Metrics holds Elevate's metrics and serves them in the Prometheus text format.
type Metrics struct {
	reg registry

	requests     *vec       // by final outcome
	transitions  *vec       // by state entered
	activation   *histogram // request → active
	approval     *histogram // awaiting approval → decided
	graphCalls   *vec       // by method, status class
	graphLatency *histogram // by method
	throttled    *vec
	httpReqs     *vec // by handler, code
	httpLatency  *histogram

	mu   sync.Mutex
	seen map[uint64]store.State // last state seen per open request, to count each transition once

	lastMu  sync.Mutex
	lastErr error // the last outbound transport error, nil after a success
}

// New creates Elevate's metrics (and the Go runtime's and the process's). pending, when set,
// is asked at every scrape for the number of open requests by state.
func New(pending func() (map[store.State]int, error)) *Metrics {
	m := &Metrics{seen: map[uint64]store.State{}}
	m.requests = newVec("counter", "elevate_requests_total",
		"Elevation requests that ended, by outcome (ended, denied, expired, cancelled, failed).", "outcome")
	m.transitions = newVec("counter", "elevate_request_transitions_total",
		"Request state changes, by the state entered.", "state")
	m.activation = newHistogram("elevate_activation_seconds",
		"Time from request to active role, including sign-in and approval.", []float64{1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600})
	m.approval = newHistogram("elevate_approval_seconds",
		"Time from the request to the last approval it needed.", []float64{10, 30, 60, 120, 300, 600, 1800, 3600})
	m.graphCalls = newVec("counter", "elevate_graph_requests_total",
		"Requests to Microsoft Graph and Entra sign-in, by method and status class (2xx, 4xx, 429, 5xx, error).", "method", "status")
	m.graphLatency = newHistogram("elevate_graph_request_seconds",
		"Latency of requests to Microsoft Graph and Entra sign-in.", defBuckets, "method")
	m.throttled = newVec("counter", "elevate_graph_throttled_total",
		"Graph answers 429 (Retry-After honoured by the client).")
	m.throttled.add(0) // a plain counter is exposed from the start, at 0
	m.httpReqs = newVec("counter", "elevate_http_requests_total",
		"Inbound HTTP requests, by handler and status code.", "handler", "code")
	m.httpLatency = newHistogram("elevate_http_request_seconds",
		"Inbound HTTP latency (for Slack: the acknowledgement).", []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 3}, "handler")
	// plain histograms are exposed from the start, with zero counts
	m.activation.series[""] = &histSeries{counts: make([]uint64, len(m.activation.buckets)+1)}
	m.approval.series[""] = &histSeries{counts: make([]uint64, len(m.approval.buckets)+1)}
	m.reg.register(m.requests, m.transitions, m.activation, m.approval, m.graphCalls, m.graphLatency,
		m.throttled, m.httpReqs, m.httpLatency, collectFunc(goFamilies), collectFunc(processFamilies))
	if pending != nil {
		m.reg.register(collectFunc(func() ([]family, error) {
			counts, err := pending()
			if err != nil {
				return nil, fmt.Errorf("elevate_requests_open: %w", err)
			}
			f := family{name: "elevate_requests_open", help: "Open requests by state (read from the store at scrape time).", typ: "gauge"}
			for state, n := range counts {
				f.samples = append(f.samples, sample{names: []string{"state"}, values: []string{string(state)}, value: float64(n)})
			}
			return []family{f}, nil
		}))
	}
	return m
}

// Handler serves /metrics in the Prometheus text format (version 0.0.4). When a metric read at
// scrape time fails (the store, the outbox), it answers 500 with the cause, as the Prometheus
// client did.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs, err := m.reg.gather()
		if err != nil {
			http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		write(&buf, fs)
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes())
	})
}

// RequestChanged implements bot.Watcher: it counts each state a request enters once, and the
// latencies of activation and approval.
func (m *Metrics) RequestChanged(_ context.Context, r store.Request) {
	m.mu.Lock()
	prev, ok := m.seen[r.ID]
	if ok && prev == r.State {
		m.mu.Unlock()
		return
	}
	if r.State.Terminal() {
		delete(m.seen, r.ID)
	} else {
		m.seen[r.ID] = r.State
	}
	m.mu.Unlock()

	m.transitions.inc(string(r.State))
	if r.State.Terminal() {
		m.requests.inc(string(r.State))
	}
	if r.State == store.StateActive && !r.ActivatedAt.IsZero() && !r.CreatedAt.IsZero() {
		m.activation.observe(r.ActivatedAt.Sub(r.CreatedAt).Seconds())
		if r.ApprovalsNeeded > 0 && len(r.Approvals) > 0 {
			m.approval.observe(r.Approvals[len(r.Approvals)-1].At.Sub(r.CreatedAt).Seconds())
		}
	}
}

// Transport counts and times outbound requests to Graph and Entra. It never looks at bodies or
// headers, so no token can end up in a label.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(req)
		m.graphLatency.observe(time.Since(start).Seconds(), req.Method)
		status := "error"
		m.lastMu.Lock()
		m.lastErr = err
		m.lastMu.Unlock()
		if err == nil {
			status = statusClass(resp.StatusCode)
			if resp.StatusCode == http.StatusTooManyRequests {
				m.throttled.inc()
			}
		}
		m.graphCalls.inc(req.Method, status)
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func statusClass(code int) string {
	if code == http.StatusTooManyRequests {
		return "429"
	}
	return strconv.Itoa(code/100) + "xx"
}

type ctxKey struct{}

// RequestID returns the request id Middleware put in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Middleware gives every inbound request an id (X-Request-Id, also in the response and in
// every log line made with the request's context), and counts and times it by the ServeMux
// pattern that served it ("unmatched" for none), so labels stay few whatever the paths.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validID(id) {
			id = newID()
		}
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
		next.ServeHTTP(rec, r)
		name := r.Pattern // set by ServeMux on the request it routes
		if name == "" {
			name = "unmatched"
		}
		m.httpLatency.observe(time.Since(start).Seconds(), name)
		m.httpReqs.inc(name, strconv.Itoa(rec.code))
	})
}

// validID accepts a caller's request id only if it is short and plain, so it is safe in logs.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// LogHandler adds request_id to every record logged with a request's context.
type LogHandler struct{ slog.Handler }

func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(as)}
}
func (h LogHandler) WithGroup(n string) slog.Handler { return LogHandler{h.Handler.WithGroup(n)} }

// Check is one readiness check: nil when ready.
type Check func(ctx context.Context) error

// Ready serves /readyz: 200 when every check passes within a second, else 503 with the names
// of the failing checks (their errors go to the log, not to the caller).
func Ready(log *slog.Logger, checks map[string]Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		var failed []string
		for name, check := range checks {
			if err := check(ctx); err != nil {
				failed = append(failed, name)
				log.WarnContext(ctx, "not ready", "check", name, "err", err)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			slices.Sort(failed)
			_, _ = w.Write([]byte("not ready: " + strings.Join(failed, ", ") + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}

// GraphReachable is a readiness check: it fails while the last outbound request to Graph or
// Entra failed at the transport level (DNS, TLS, connection), and passes before the first one.
func (m *Metrics) GraphReachable(context.Context) error {
	m.lastMu.Lock()
	defer m.lastMu.Unlock()
	return m.lastErr
}
