package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/elevate-pim/elevate/store"
)

// Audit anchors: the audit chain's head (its newest record's sequence number and hash) is logged
// as an "audit anchor" line, at info level, when the chain has moved: once when serve starts
// leading, every -audit-anchor-every, and once more when it stops. The log goes where the
// platform sends it (Log Analytics, the cluster's log store), out of reach of whoever can write
// the store; `elevate audit verify -anchor SEQ:HASH` then shows whether the chain still holds it.
// Each look reads the newest record only.

// anchorer logs the chain's head when it differs from the last one logged.
type anchorer struct {
	head func() (store.Anchor, error)
	log  *slog.Logger
	last store.Anchor
}

func (a *anchorer) check() {
	h, err := a.head()
	if err != nil {
		a.log.Warn("audit anchor: cannot read the audit chain's head", "err", err)
		return
	}
	if h.Seq == 0 || h == a.last {
		return
	}
	a.last = h
	a.log.Info("audit anchor", "seq", h.Seq, "hash", h.Hash, "anchor", h.String())
}

// auditAnchors logs anchors until ctx ends: at once, every every, and a last time at the end.
func auditAnchors(ctx context.Context, s *store.Store, every time.Duration, log *slog.Logger) {
	a := &anchorer{head: s.AuditHead, log: log}
	a.check()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			a.check() // what the last minutes appended; serve waits for this before closing the store
			return
		case <-tick.C:
			a.check()
		}
	}
}
