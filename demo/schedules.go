package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/elevate-pim/elevate/bot/schedule"
)

// ScheduleStory plays the scheduled work after the story: the weekly digest (with its chart,
// written to a file) and the quarterly access review's prompt, answered by Dave. Call it after
// Story, with the same World.
func (w *World) ScheduleStory(ctx context.Context) error {
	sch, err := schedule.New(schedule.Options{Config: w.Config, Core: w.Core, Graph: w.Graph, Store: w.Store})
	if err != nil {
		return err
	}
	w.t.say("\n── Monday 09:00: the weekly digest is posted (scheduled; `/elevate digest` shows it on demand).\n")
	now := time.Now()
	d, err := sch.PostDigest(ctx, now.AddDate(0, 0, -7), now.Add(time.Minute))
	if err != nil {
		return err
	}
	if err := w.writeChart(d.Chart, len(d.Weeks)); err != nil {
		return err
	}

	w.t.say("\n── The first Monday of the quarter: the access review asks everyone about each eligible role.\n")
	if _, err := sch.StartReview(ctx, "demo"); err != nil {
		return err
	}
	s, ok := w.t.last("dave", schedule.ActionReviewKeep)
	if !ok {
		return fmt.Errorf("dave got no review prompt")
	}
	w.t.say("\ndave ▸ clicks [%s]\n", s.button.Label)
	if _, err := w.Core.ClickExtra(ctx, w.actor("dave"), s.button.Action, s.button.Value, ""); err != nil {
		return err
	}
	w.Core.Wait()
	return w.Say(ctx, "bob", "review status")
}
