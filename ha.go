package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/forward"
	"github.com/elevate-pim/elevate/lead"
)

// High availability (PostgreSQL only): several `elevate serve` processes share one database and
// one leads, through the lead package's lease. A standby listens at once and forwards the chat
// endpoints' requests to the leader through the database (the forward package): the leader
// handles them with the same handler as its own listener's, so every replica is ready while a
// registered leader serves, and a request that reaches a standby (a load balancer's choice, or
// its lag after a takeover) is answered, not refused. A standby does not open the store: opening
// creates and migrates the schema, which a new version's standby must not do under an old
// version's leader; an old version's leader does not take forwarded requests, so under it a
// standby answers 503 and is not ready, as before. Once it leads it opens the store and starts
// what a single process starts (chat adapters, Socket Mode, schedules, sweeps, the outbox,
// Resume), then the forwarding worker. When it loses the lease it stops acting at once (the
// store's writes are fenced, so nothing it still tries commits) and exits non-zero; its
// supervisor restarts it as a standby. Exiting, rather than stepping back to standby in-process,
// leaves no half-stopped adapter or worker behind; Kubernetes controllers' leader election does
// the same.

// gate passes requests to next only while this process serves: it leads and has started.
// Before that (a standby, a leader starting) requests go to forward when set, else 503.
type gate struct {
	next   http.Handler
	ready  atomic.Pointer[http.Handler] // /readyz's checks while serving; nil otherwise
	closed atomic.Bool                  // for good: leadership was lost

	forward      http.Handler                    // nil with bbolt
	forwardReady func(ctx context.Context) error // /readyz while forwarding
}

// open starts serving, with ready as /readyz, unless close came first (leadership lost while
// starting): whatever the interleaving, a closed gate stays closed.
func (g *gate) open(ready http.Handler) {
	g.ready.Store(&ready)
	if g.closed.Load() {
		g.ready.Store(nil)
	}
}

// close stops serving at once, for good.
func (g *gate) close() {
	g.closed.Store(true)
	g.ready.Store(nil)
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.ready.Load() == nil {
		if g.forward != nil && !g.closed.Load() && !forward.Forwarded(r.Context()) {
			g.forward.ServeHTTP(w, r)
			return
		}
		notServing(w)
		return
	}
	g.next.ServeHTTP(w, r)
}

// Ready is /readyz: the readiness checks while serving; while forwarding, 200 when a leader that
// takes forwarded requests holds the lease; else 503.
func (g *gate) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := g.ready.Load()
		if h != nil {
			w.Header().Set(roleHeader, "leader")
			(*h).ServeHTTP(w, r)
			return
		}
		w.Header().Set(roleHeader, "standby")
		if g.forwardReady == nil || g.closed.Load() {
			notServing(w)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := g.forwardReady(ctx); err != nil {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "not ready: this Elevate process is a standby and no leader that takes forwarded requests holds the lease", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok: standby, forwarding to the leader\n")
	})
}

// roleHeader on /readyz's answers says which this process is now: "leader" (it serves) or
// "standby" (it forwards, or waits). Both are ready while a leader serves; operators and the
// failover bench tell them apart by it.
const roleHeader = "X-Elevate-Role"

// forwarded is what a process that does not serve does with a request: the leader's routes are
// forwarded to it, after the cheap checks the leader's handlers make first (the same refusal,
// without a database write); anything else is 404, as the leader's mux answers.
func forwarded(sb *forward.Standby, sandbox bool) http.Handler {
	mux := http.NewServeMux()
	slackRoute := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Slack-Signature") == "" || r.Header.Get("X-Slack-Request-Timestamp") == "" {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		sb.Forward(w, r, slack.MaxBody)
	}
	for _, p := range []string{"/slack/commands", "/slack/interactivity", "/slack/events"} {
		mux.HandleFunc("POST "+p, slackRoute)
	}
	mux.HandleFunc("POST /api/messages", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		sb.Forward(w, r, teams.MaxBody)
	})
	mux.HandleFunc("/auth/callback", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		sb.Forward(w, r, bot.MaxCallbackBody)
	})
	if sandbox {
		mux.HandleFunc("/sandbox/sign-in", func(w http.ResponseWriter, r *http.Request) { sb.Forward(w, r, 64<<10) })
	}
	return mux
}

func notServing(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "not ready: this Elevate process is a standby or still starting", http.StatusServiceUnavailable)
}

// campaign waits for leadership, or for the listener to fail.
func campaign(ctx context.Context, el *lead.Elector, errc <-chan error) (context.Context, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		ctx context.Context
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := el.Campaign(ctx)
		done <- result{l, err}
	}()
	select {
	case r := <-done:
		return r.ctx, r.err
	case err := <-errc:
		cancel()
		<-done // a lease won meanwhile ends with the elector (Close)
		return nil, err
	}
}
