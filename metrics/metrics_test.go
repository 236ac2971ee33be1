package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/store"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func has(t *testing.T, body, line string) {
	t.Helper()
	if !strings.Contains(body, line+"\n") {
		t.Errorf("metrics lack %q", line)
	}
}

func TestRequestTransitionsCountedOnce(t *testing.T) {
	m := New(func() (map[store.State]int, error) {
		return map[store.State]int{store.StateAwaitingApproval: 2}, nil
	})
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	r := store.Request{ID: 1, State: store.StateReceived, CreatedAt: t0}
	m.RequestChanged(ctx, r)
	m.RequestChanged(ctx, r) // the same state again (a watcher sees every update)
	r.State, r.ApprovalsNeeded = store.StateAwaitingApproval, 1
	m.RequestChanged(ctx, r)
	r.State, r.ActivatedAt = store.StateActive, t0.Add(90*time.Second)
	r.Approvals = []store.Approval{{Decision: "approve", At: t0.Add(60 * time.Second)}}
	m.RequestChanged(ctx, r)
	r.State = store.StateEnded
	m.RequestChanged(ctx, r)
	m.RequestChanged(ctx, store.Request{ID: 2, State: store.StateDenied})

	body := scrape(t, m)
	has(t, body, `elevate_request_transitions_total{state="received"} 1`)
	has(t, body, `elevate_request_transitions_total{state="active"} 1`)
	has(t, body, `elevate_requests_total{outcome="ended"} 1`)
	has(t, body, `elevate_requests_total{outcome="denied"} 1`)
	has(t, body, `elevate_activation_seconds_sum 90`)
	has(t, body, `elevate_approval_seconds_sum 60`)
	has(t, body, `elevate_requests_open{state="awaiting_approval"} 2`)
}

func TestTransportCountsGraphCalls(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	m := New(nil)
	hc := &http.Client{Transport: m.Transport(nil)}
	for range 2 {
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if err := m.GraphReachable(context.Background()); err != nil {
		t.Errorf("reachable after answers: %v", err)
	}
	srv.Close()
	if _, err := hc.Get(srv.URL); err == nil {
		t.Fatal("a closed server answered")
	}
	if err := m.GraphReachable(context.Background()); err == nil {
		t.Error("reachable although the last call failed to connect")
	}
	body := scrape(t, m)
	has(t, body, `elevate_graph_requests_total{method="GET",status="429"} 1`)
	has(t, body, `elevate_graph_requests_total{method="GET",status="2xx"} 1`)
	has(t, body, `elevate_graph_requests_total{method="GET",status="error"} 1`)
	has(t, body, `elevate_graph_throttled_total 1`)
}

func TestMiddlewareRequestIDs(t *testing.T) {
	m := New(nil)
	var logs bytes.Buffer
	log := slog.New(LogHandler{slog.NewJSONHandler(&logs, nil)})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "handled")
		w.WriteHeader(http.StatusAccepted)
	})
	h := m.Middleware(mux)
	tests := []struct {
		in      string
		keepsIt bool
	}{
		{"abc-123", true},
		{"", false},
		{"bad id\nwith newline", false},
		{strings.Repeat("x", 65), false},
	}
	for _, tt := range tests {
		logs.Reset()
		req := httptest.NewRequest(http.MethodPost, "/slack/commands", nil)
		if tt.in != "" {
			req.Header.Set("X-Request-Id", tt.in)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if (got == tt.in) != tt.keepsIt || got == "" {
			t.Errorf("X-Request-Id %q → %q", tt.in, got)
		}
		if !strings.Contains(logs.String(), `"request_id":"`+got+`"`) {
			t.Errorf("log line lacks the request id %q: %s", got, logs.String())
		}
	}
	has(t, scrape(t, m), `elevate_http_requests_total{code="202",handler="POST /slack/commands"} 4`)
}

func TestReady(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		checks map[string]Check
		code   int
		body   string
	}{
		{map[string]Check{"store": ok, "graph": ok}, http.StatusOK, "ready\n"},
		{map[string]Check{"store": ok, "slack": down, "graph": down}, http.StatusServiceUnavailable, "not ready: graph, slack\n"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		Ready(log, tt.checks).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != tt.code || rec.Body.String() != tt.body {
			t.Errorf("readyz = %d %q, want %d %q", rec.Code, rec.Body.String(), tt.code, tt.body)
		}
	}
}

func TestBuildInfo(t *testing.T) {
	m := New(nil)
	b := ReadBuild("v9.8.7")
	m.SetBuild(b)
	if b.GoVersion == "" || b.Commit == "" {
		t.Fatalf("ReadBuild = %+v", b)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := `elevate_build_info{commit="` + b.Commit + `",goversion="` + b.GoVersion + `",version="v9.8.7"} 1`
	if !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if got := ReadBuild("").Version; got == "" {
		t.Error("ReadBuild(\"\").Version is empty")
	}
}
