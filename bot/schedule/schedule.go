// Package schedule is Elevate's scheduled work (DESIGN §4): the weekly digest, the quarterly
// self-review, expiry reminders, the break-glass watch and the drift watch.
//
// Time is a dependency: the Scheduler reads its clock through Options.Now, and everything due is
// done by Tick, which tests call after advancing a fake clock through weeks and quarters. Run
// calls Tick on a real timer. Cron expressions are parsed by robfig/cron in the configured time
// zone; the quarterly review's calendar ("first Monday of Jan, Apr, Jul, Oct") is a cron.Schedule
// of its own.
//
// Every run is claimed in the store before it posts anything (store.ClaimRun, store.Once,
// store.SetAlert), so a restart or a second replica never posts twice, and a run missed while
// Elevate was down happens once when it starts again.
package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Graph is what scheduled work reads from (and, for review removals, writes to) Microsoft Graph.
// *graph.Client implements it.
type Graph interface {
	StandingAssignments(ctx context.Context) ([]graph.StandingAssignment, error)
	TenantEligibilities(ctx context.Context) ([]graph.RoleEligibility, error)
	GroupUsers(ctx context.Context, groupID string) ([]graph.User, error)
	DirectoryAudits(ctx context.Context, activity string, since time.Time) ([]graph.AuditEvent, error)
	BreakGlassSignIns(ctx context.Context, ids []string, since time.Time) ([]graph.SignIn, error)
	RolePolicy(ctx context.Context, roleID string) (graph.RolePolicy, error)
	User(ctx context.Context, idOrUPN string) (graph.User, error)
	RemoveEligibility(ctx context.Context, tok graph.UserToken, principalID, roleID, justification string) error
}

// Options configure a Scheduler.
type Options struct {
	Config *policy.Config
	Core   *bot.Core
	Graph  Graph
	Store  *store.Store
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// AdminToken returns the clicking admin's fresh delegated token, for applying review
	// removals. nil, or ok false: the admin is asked to sign in first.
	AdminToken func(ctx context.Context, a bot.Actor) (graph.UserToken, bool)
	// Every is how often Run calls Tick; default 30s.
	Every time.Duration
}

// Scheduler runs Elevate's scheduled work.
type Scheduler struct {
	cfg    *policy.Config
	core   *bot.Core
	graph  Graph
	store  *store.Store
	log    *slog.Logger
	now    func() time.Time
	loc    *time.Location
	token  func(ctx context.Context, a bot.Actor) (graph.UserToken, bool)
	every  time.Duration
	digest cron.Schedule
	review cron.Schedule

	mu sync.Mutex // one Tick at a time
}

// Job names, as kept in the store.
const (
	jobDigest  = "digest"
	jobReview  = "review"
	jobWatch   = "break_glass"
	jobDrift   = "drift"
	jobCollect = "collect"
)

// Buttons scheduled work adds. The core handles ActionExtend and ActionDone itself.
const (
	ActionReviewKeep   bot.Action = "review_keep"
	ActionReviewRemove bot.Action = "review_remove"
	ActionReviewApply  bot.Action = "review_apply"
	ActionExtend                  = bot.ActionExtend
	ActionDone                    = bot.ActionDone
)

// Message kinds for renderers.
const (
	KindDigest bot.Kind = "digest"
	KindReview bot.Kind = "review"
)

// New builds a Scheduler and installs its admin commands (digest, review, drift) and buttons on
// the core.
func New(o Options) (*Scheduler, error) {
	if o.Config == nil || o.Core == nil || o.Graph == nil || o.Store == nil {
		return nil, errors.New("schedule: config, core, graph and store are required")
	}
	s := &Scheduler{cfg: o.Config, core: o.Core, graph: o.Graph, store: o.Store, log: o.Logger, now: o.Now,
		token: o.AdminToken, every: o.Every, loc: o.Config.Schedules.Location}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.every <= 0 {
		s.every = 30 * time.Second
	}
	spec, err := cron.ParseStandard(o.Config.Schedules.Digest.Cron)
	if err != nil {
		return nil, fmt.Errorf("schedule: digest cron %q: %w", o.Config.Schedules.Digest.Cron, err)
	}
	if ss, ok := spec.(*cron.SpecSchedule); ok {
		ss.Location = s.loc
	}
	s.digest = spec
	s.review = reviewCalendar{r: o.Config.Schedules.Review, loc: s.loc}

	s.core.HandleAdmin(policy.KindDigest, s.digestCommand)
	s.core.HandleAdmin(policy.KindReview, s.reviewCommand)
	s.core.HandleAdmin(policy.KindDrift, s.driftCommand)
	s.core.HandleAction(ActionReviewKeep, s.answer(store.DecisionKeep))
	s.core.HandleAction(ActionReviewRemove, s.answer(store.DecisionRemove))
	s.core.HandleAction(ActionReviewApply, s.applyClick)
	return s, nil
}

// reviewCalendar is the review's start calendar as a cron.Schedule.
type reviewCalendar struct {
	r   policy.ReviewSchedule
	loc *time.Location
}

func (c reviewCalendar) Next(t time.Time) time.Time { return c.r.NextStart(t, c.loc) }

// Run calls Tick every Options.Every until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduled work failed", "err", err)
		}
		t.Reset(s.every)
	}
}

// Tick does everything due at the clock's time: index new events, expiry reminders, the
// break-glass and drift watches, the weekly digest, the review's start, reminders and deadline.
// Each part is claimed in the store first, so calling Tick again (or after a restart) repeats
// nothing. Errors of one part do not stop the others; they are joined.
func (s *Scheduler) Tick(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var errs []error
	run := func(name string, fn func() error) {
		if err := fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	sch := s.cfg.Schedules
	run("events", func() error { _, err := s.store.SyncEvents(); return err })
	if due, _, err := s.dueEvery(jobCollect, sch.BreakGlassPoll, now); err != nil {
		errs = append(errs, err)
	} else if due {
		run("outside activations", func() error { return s.collect(ctx, now) })
	}
	if sch.ExpiryReminder > 0 {
		run("expiry reminders", func() error { return s.remindExpiry(ctx, now) })
	}
	if due, _, err := s.dueEvery(jobWatch, sch.BreakGlassPoll, now); err != nil {
		errs = append(errs, err)
	} else if due {
		run("break-glass watch", func() error { return s.watchBreakGlass(ctx, now) })
	}
	if due, _, err := s.dueEvery(jobDrift, sch.DriftEvery, now); err != nil {
		errs = append(errs, err)
	} else if due {
		run("drift watch", func() error { _, err := s.checkDrift(ctx, now, true); return err })
	}
	if sch.Digest.Enabled {
		if due, slot, err := s.dueCron(jobDigest, s.digest, now); err != nil {
			errs = append(errs, err)
		} else if due {
			run("digest", func() error { return s.postDigest(ctx, slot) })
		}
	}
	if sch.Review.Enabled {
		if due, slot, err := s.dueCron(jobReview, s.review, now); err != nil {
			errs = append(errs, err)
		} else if due {
			run("review start", func() error { _, _, err := s.startReview(ctx, slot, "schedule"); return err })
		}
	}
	run("reviews", func() error { return s.advanceReviews(ctx, now) })
	run("review removals", func() error { return s.reconcileRemovals(ctx, now) })
	return errors.Join(errs...)
}

// dueCron claims the latest slot of sched at or before now, if it is newer than the last run.
// Several slots missed while Elevate was down make one run, for the latest. The first time a job
// is seen, its latest past slot is recorded without running: installing Elevate on a Tuesday
// does not post Monday's digest.
func (s *Scheduler) dueCron(job string, sched cron.Schedule, now time.Time) (bool, time.Time, error) {
	last, ok, err := s.store.LastRun(job)
	if err != nil {
		return false, time.Time{}, err
	}
	from := last.Slot
	if !ok {
		from = now.AddDate(-1, 0, -1)
	}
	var slot time.Time
	for t, i := sched.Next(from), 0; !t.IsZero() && !t.After(now) && i < 100_000; t, i = sched.Next(t), i+1 {
		slot = t
	}
	if slot.IsZero() {
		if !ok {
			// Nothing in the past year (a schedule that never fires yet): start counting now.
			_, err := s.store.ClaimRun(job, now, now)
			return false, time.Time{}, err
		}
		return false, time.Time{}, nil
	}
	claimed, err := s.store.ClaimRun(job, slot, now)
	if err != nil || !claimed {
		return false, time.Time{}, err
	}
	if !ok {
		s.log.Info("scheduled job first seen; its next run is the first one", "job", job, "skipped_slot", slot)
		return false, time.Time{}, nil
	}
	if now.Sub(slot) > time.Minute {
		s.log.Info("running a scheduled job missed while down", "job", job, "slot", slot)
	}
	return true, slot, nil
}

// dueEvery claims the current period of an interval job (periods are aligned to the Unix epoch).
func (s *Scheduler) dueEvery(job string, every time.Duration, now time.Time) (bool, time.Time, error) {
	if every <= 0 {
		return false, time.Time{}, nil
	}
	slot := now.Truncate(every)
	claimed, err := s.store.ClaimRun(job, slot, now)
	return claimed, slot, err
}

// when shows a time in the configured zone.
func (s *Scheduler) when(t time.Time) string {
	t = t.In(s.loc)
	if s.loc == time.UTC {
		return t.Format("15:04") + " UTC"
	}
	return t.Format("15:04 MST")
}

func (s *Scheduler) day(t time.Time) string { return t.In(s.loc).Format("Mon 2 Jan") }

func (s *Scheduler) security(ctx context.Context, m bot.Message) {
	if ch := s.cfg.Channels.Security; ch != "" {
		s.core.Post(ctx, ch, m)
	}
}

func (s *Scheduler) admins(ctx context.Context, m bot.Message) {
	ch := s.cfg.Schedules.AdminsChannel
	if ch == "" {
		ch = s.cfg.Channels.Security
	}
	if ch != "" {
		s.core.Post(ctx, ch, m)
	}
}

// PostDigest posts the digest of [from, to) to the digest channel now, as the weekly run does,
// and returns it (the demo shows the chart).
func (s *Scheduler) PostDigest(ctx context.Context, from, to time.Time) (Digest, error) {
	if err := s.collect(ctx, s.now()); err != nil {
		s.log.Warn("digest: reading activations outside Elevate", "err", err)
	}
	d, err := s.BuildDigest(ctx, from, to)
	if err != nil {
		return d, err
	}
	if ch := cmp.Or(s.cfg.Channels.Digest, s.cfg.Channels.Security); ch != "" {
		var files []bot.Attachment
		if len(d.Chart) > 0 {
			files = append(files, bot.Attachment{Name: "elevate-digest.png", MIME: "image/png", Alt: "Bar chart of activations per role", Data: d.Chart})
		}
		s.core.Post(ctx, ch, d.Message(s.loc), files...)
	}
	return d, nil
}

// StartReview opens this quarter's access review now (as `/elevate review start` does); created
// is false when the quarter has one already.
func (s *Scheduler) StartReview(ctx context.Context, by string) (created bool, err error) {
	_, created, err = s.startReview(ctx, s.now(), by)
	return created, err
}
