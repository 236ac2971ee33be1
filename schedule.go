package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// startSchedules starts Elevate's scheduled work (digest, review, reminders, break-glass and
// drift watches) in the background until ctx ends; serve calls it once the core exists. A Graph
// that cannot do tenant-wide reads leaves scheduled work off, with a warning.
func startSchedules(ctx context.Context, bg *sync.WaitGroup, cfg *policy.Config, core *bot.Core, g bot.Graph, s *store.Store, log *slog.Logger) error {
	sg, ok := g.(schedule.Graph)
	if !ok {
		log.Warn("scheduled work is off: this Graph client cannot read the tenant's audits and assignments")
		return nil
	}
	sch, err := schedule.New(schedule.Options{Config: cfg, Core: core, Graph: sg, Store: s, Logger: log.With("component", "schedule"),
		AdminToken: func(_ context.Context, a bot.Actor) (graph.UserToken, bool) { return core.FreshToken(a) }})
	if err != nil {
		return err
	}
	bg.Go(func() {
		if err := sch.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("scheduler stopped", "err", err)
		}
	})
	bg.Go(func() { syncPIM(ctx, core, time.Minute, log) })
	return nil
}

// syncPIM brings what happened in PIM outside Elevate into chat every interval: activations
// made in the portal (to the security channel) and approvals requested there (cards on the
// approvals channel). Both remember what they posted, in the store.
func syncPIM(ctx context.Context, core *bot.Core, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := core.SyncOutsideActivations(ctx, time.Now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
			log.Warn("syncing activations made outside Elevate", "err", err)
		}
		if _, err := core.SyncPIMApprovals(ctx); err != nil && ctx.Err() == nil {
			log.Warn("syncing PIM approvals requested outside Elevate", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
