package main

import (
	"context"
	"log/slog"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// startSchedules starts Elevate's scheduled work (digest, review, reminders, break-glass and
// drift watches) in the background until ctx ends; serve calls it once the core exists. A Graph
// that cannot do tenant-wide reads leaves scheduled work off, with a warning.
func startSchedules(ctx context.Context, cfg *policy.Config, core *bot.Core, g bot.Graph, s *store.Store, log *slog.Logger) error {
	sg, ok := g.(schedule.Graph)
	if !ok {
		log.Warn("scheduled work is off: this Graph client cannot read the tenant's audits and assignments")
		return nil
	}
	sch, err := schedule.New(schedule.Options{Config: cfg, Core: core, Graph: sg, Store: s, Logger: log.With("component", "schedule")})
	if err != nil {
		return err
	}
	go func() {
		if err := sch.Run(ctx); err != nil {
			log.Error("scheduler stopped", "err", err)
		}
	}()
	return nil
}
