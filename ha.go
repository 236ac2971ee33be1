package main

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/elevate-pim/elevate/lead"
)

// High availability (PostgreSQL only): several `elevate serve` processes share one database and
// one leads, through the lead package's lease. A standby listens at once so its probes answer
// (/healthz 200, /readyz 503) and answers everything else 503, so a load balancer that follows
// /readyz sends it nothing and a request that reaches it anyway is neither stored nor
// acknowledged. It does not open the store either: opening creates and migrates the schema, which
// a new version's standby must not do under an old version's leader. Once it leads it opens the
// store and starts what a single process starts (chat adapters, Socket
// Mode, schedules, sweeps, the outbox, Resume). When it loses the lease it stops acting at once
// (the store's writes are fenced, so nothing it still tries commits) and exits non-zero; its
// supervisor restarts it as a standby. Exiting, rather than stepping back to standby in-process,
// leaves no half-stopped adapter or worker behind; Kubernetes controllers' leader election does
// the same.

// gate passes requests to next only while this process serves: it leads and has started.
type gate struct {
	next   http.Handler
	ready  atomic.Pointer[http.Handler] // /readyz's checks while serving; nil otherwise
	closed atomic.Bool                  // for good: leadership was lost
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
		notServing(w)
		return
	}
	g.next.ServeHTTP(w, r)
}

// Ready is /readyz: 503 while standing by or starting, the readiness checks after.
func (g *gate) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := g.ready.Load()
		if h == nil {
			notServing(w)
			return
		}
		(*h).ServeHTTP(w, r)
	})
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
