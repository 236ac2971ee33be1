package schedule

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Counts is the part of a digest computed from the store's events index alone.
type Counts struct {
	Activations, Outside    int // Outside: made in the portal, PowerShell, …
	Denied, Failed, Expired int
	TotalDuration, Longest  time.Duration
	LongestBy, LongestRole  string
	Latencies               []time.Duration // request to decision, where approval was needed
	ByRole, ByPerson        []Count         // activations, most first
}

// Count is activations of one role or by one person.
type Count struct {
	Name             string
	Elevate, Outside int
}

// Total is the count through Elevate and outside it.
func (c Count) Total() int { return c.Elevate + c.Outside }

// CountEvents reads the events of [from, to) from the store: one cursor over a time range, with
// aggregation in maps keyed by the dictionary's strings, which the store shares between events.
func CountEvents(st *store.Store, from, to time.Time) (Counts, error) {
	var c Counts
	type tally struct{ in, out int }
	roles, people := map[string]*tally{}, map[string]*tally{}
	bump := func(m map[string]*tally, k string, outside bool) {
		t := m[k]
		if t == nil {
			t = &tally{}
			m[k] = t
		}
		if outside {
			t.out++
		} else {
			t.in++
		}
	}
	err := st.Events(from, to, func(e *store.Event) error {
		switch e.Kind {
		case store.EventActivated, store.EventActivatedOutside:
			outside := e.Kind == store.EventActivatedOutside
			c.Activations++
			if outside {
				c.Outside++
			}
			c.TotalDuration += e.Duration
			if e.Duration > c.Longest {
				c.Longest, c.LongestBy, c.LongestRole = e.Duration, e.User, e.RoleName
			}
			bump(roles, e.RoleName, outside)
			bump(people, cmp.Or(e.User, e.UserID), outside)
		case store.EventDenied:
			c.Denied++
		case store.EventFailed:
			c.Failed++
		case store.EventExpired:
			c.Expired++
		}
		if e.ApprovalLatency > 0 {
			c.Latencies = append(c.Latencies, e.ApprovalLatency)
		}
		return nil
	})
	list := func(m map[string]*tally) []Count {
		out := make([]Count, 0, len(m))
		for k, t := range m {
			out = append(out, Count{Name: k, Elevate: t.in, Outside: t.out})
		}
		slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.Total(), a.Total()), cmp.Compare(a.Name, b.Name)) })
		return out
	}
	c.ByRole, c.ByPerson = list(roles), list(people)
	slices.Sort(c.Latencies)
	return c, err
}

// Digest is the weekly digest's data.
type Digest struct {
	From, To time.Time
	Counts
	Standing, StandingBefore int  // permanent assignments (break-glass excluded); Before: last week's snapshot
	HaveBefore               bool // a snapshot from the week before exists
	GlobalAdmins             int
	GlobalAdminsMax          int
	BreakGlassSignIns        int
	BreakGlassLast           string
	Review                   string // the latest review's completion, "" when there is none
	Problems                 []string
	Chart                    []byte // PNG
	// The PIM rollout guide's four numbers as trends: this week's (Snapshot), last week's, and
	// up to 12 weeks of them for the chart, from the weekly snapshots in the store.
	Prev       store.Snapshot   // Prev.Weekly is false when there is none
	Weeks      []store.Snapshot // oldest first, this week last
	ReviewPct  int
	HaveReview bool
	Pilot      bool           // the config names a pilot
	Feedback   []bot.Feedback // pilot feedback notes left this week
}

// BuildDigest computes the digest of [from, to): events from the store, standing access and sign-ins
// from Graph (a Graph failure leaves a note rather than no digest).
func (s *Scheduler) BuildDigest(ctx context.Context, from, to time.Time) (Digest, error) {
	if _, err := s.store.SyncEvents(); err != nil {
		return Digest{}, err
	}
	d := Digest{From: from, To: to, GlobalAdminsMax: s.cfg.Schedules.Baseline.MaxGlobalAdmins}
	var err error
	if d.Counts, err = CountEvents(s.store, from, to); err != nil {
		return Digest{}, err
	}
	standing, err := s.graph.StandingAssignments(ctx)
	if err != nil {
		d.Problems = append(d.Problems, "standing assignments could not be read from Graph")
	}
	ga := map[string]bool{}
	for _, a := range standing {
		if s.cfg.IsBreakGlass(a.PrincipalID) {
			continue
		}
		d.Standing++
		if a.RoleID == globalAdminID {
			ga[a.PrincipalID] = true
		}
	}
	if els, err := s.graph.TenantEligibilities(ctx); err == nil {
		for _, e := range els {
			if e.RoleID == globalAdminID && !s.cfg.IsBreakGlass(e.PrincipalID) {
				ga[e.PrincipalID] = true
			}
		}
	} else {
		d.Problems = append(d.Problems, "eligibilities could not be read from Graph")
	}
	d.GlobalAdmins = len(ga)
	if prev, ok, err := s.store.SnapshotBefore("weekly", to); err == nil && ok {
		d.StandingBefore, d.HaveBefore = prev.Permanent, true
		d.Prev = prev
	}
	if ids := s.cfg.Users.BreakGlass; len(ids) > 0 {
		sis, err := s.graph.BreakGlassSignIns(ctx, ids, from)
		if err != nil {
			d.Problems = append(d.Problems, "break-glass sign-ins could not be read from Graph")
		}
		for _, si := range sis {
			if si.At.Before(to) {
				d.BreakGlassSignIns++
				if d.BreakGlassLast == "" {
					d.BreakGlassLast = fmt.Sprintf("%s at %s %s", orWord(si.UPN, si.UserID), s.day(si.At), s.when(si.At))
				}
			}
		}
	}
	if cs, err := s.store.Campaigns(); err == nil && len(cs) > 0 {
		c := cs[len(cs)-1]
		if items, err := s.store.ReviewItems(c.ID); err == nil {
			d.Review = completion(c, items, to)
			d.ReviewPct, d.HaveReview = answeredPct(items), true
		}
	}
	if s.cfg.Pilot != nil {
		d.Pilot = true
		if d.Feedback, err = s.core.PilotFeedback(from, to); err != nil {
			d.Problems = append(d.Problems, "pilot feedback could not be read")
		}
	}
	if weeks, err := s.store.Snapshots("weekly", to.AddDate(0, 0, -7*12), to); err == nil {
		for _, w := range weeks {
			if w.Weekly && w.At.Before(to.Add(-time.Hour)) { // this week's own, if stored already, is replaced below
				d.Weeks = append(d.Weeks, w)
			}
		}
	}
	d.Weeks = append(d.Weeks, d.Snapshot(to))
	if len(d.Weeks) > 12 {
		d.Weeks = d.Weeks[len(d.Weeks)-12:]
	}
	d.Chart, err = ChartWithTrends(fmt.Sprintf("Activations %s - %s", from.In(s.loc).Format("2 Jan"), to.Add(-time.Second).In(s.loc).Format("2 Jan 2006")), d.ByRole, d.Weeks, s.loc)
	if err != nil {
		s.log.Warn("digest chart", "err", err)
	}
	return d, nil
}

// Snapshot is this digest's numbers, as kept for next week's trends.
func (d Digest) Snapshot(at time.Time) store.Snapshot {
	snap := store.Snapshot{At: at, Permanent: d.Standing, GlobalAdmins: d.GlobalAdmins, Weekly: true,
		Activations: d.Activations, Failed: d.Failed + d.Denied, ReviewPct: d.ReviewPct, HaveReview: d.HaveReview}
	if d.Activations > 0 {
		snap.AvgDuration = (d.TotalDuration / time.Duration(d.Activations)).Round(time.Minute)
	}
	return snap
}

func answeredPct(items []store.ReviewItem) int {
	if len(items) == 0 {
		return 100
	}
	answered := 0
	for _, it := range items {
		if it.Decision != "" {
			answered++
		}
	}
	return answered * 100 / len(items)
}

// trend says how now compares with last week's before, in unit ("", "m", " points").
func trend(now, before int, unit string) string {
	switch diff := now - before; {
	case diff > 0:
		return fmt.Sprintf(" (▲ %d%s since last week)", diff, unit)
	case diff < 0:
		return fmt.Sprintf(" (▼ %d%s since last week)", -diff, unit)
	}
	return " (no change since last week)"
}

func completion(c store.Campaign, items []store.ReviewItem, now time.Time) string {
	answered := 0
	for _, it := range items {
		if it.Decision != "" {
			answered++
		}
	}
	state := "closes " + c.Deadline.Format("2 Jan")
	if c.Closed || !now.Before(c.Deadline) {
		state = "closed"
	}
	pct := 100
	if len(items) > 0 {
		pct = answered * 100 / len(items)
	}
	return fmt.Sprintf("%s: %d of %d answered (%d%%), %s", c.ID, answered, len(items), pct, state)
}

// Message renders the digest in the neutral message model.
func (d Digest) Message(loc *time.Location) bot.Message {
	m := bot.Message{Kind: KindDigest,
		Title: fmt.Sprintf("Weekly PIM digest, %s – %s", d.From.In(loc).Format("Mon 2 Jan"), d.To.Add(-time.Second).In(loc).Format("Mon 2 Jan 2006"))}
	var lines []string
	if d.Activations == 0 {
		lines = append(lines, "No activations this week.")
	} else {
		lines = append(lines, fmt.Sprintf("%d activation%s: %d through Elevate, %d outside it (portal, PowerShell).",
			d.Activations, plural(d.Activations), d.Activations-d.Outside, d.Outside))
	}
	top := func(cs []Count, n int) string {
		var parts []string
		for i, c := range cs {
			if i == n {
				parts = append(parts, fmt.Sprintf("%d more", len(cs)-n))
				break
			}
			p := fmt.Sprintf("%s %d", c.Name, c.Total())
			if c.Outside > 0 {
				p += fmt.Sprintf(" (%d outside)", c.Outside)
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, ", ")
	}
	if len(d.ByRole) > 0 {
		m.Fields = append(m.Fields, bot.Field{Label: "By role", Value: top(d.ByRole, 6)}, bot.Field{Label: "By person", Value: top(d.ByPerson, 6)})
	}
	if d.Activations > 0 {
		avg := (d.TotalDuration / time.Duration(d.Activations)).Round(time.Minute)
		dur := fmt.Sprintf("average %s, longest %s (%s, %s)", hm(avg), hm(d.Longest), d.LongestBy, d.LongestRole)
		if d.Prev.Weekly && d.Prev.Activations > 0 {
			dur += trend(int(avg.Minutes()), int(d.Prev.AvgDuration.Minutes()), "m on average")
		}
		m.Fields = append(m.Fields, bot.Field{Label: "Duration", Value: dur})
	}
	notGranted := fmt.Sprintf("%d denied, %d failed, %d expired", d.Denied, d.Failed, d.Expired)
	if d.Prev.Weekly {
		notGranted += trend(d.Denied+d.Failed, d.Prev.Failed, " failed or denied")
	}
	m.Fields = append(m.Fields, bot.Field{Label: "Not granted", Value: notGranted})
	if n := len(d.Latencies); n > 0 {
		m.Fields = append(m.Fields, bot.Field{Label: "Approval time", Value: fmt.Sprintf("median %s, slowest %s (%d decision%s)",
			short(d.Latencies[n/2]), short(d.Latencies[n-1]), n, plural(n))})
	}
	standing := ""
	if d.HaveBefore {
		standing = trend(d.Standing, d.StandingBefore, "")
	}
	m.Fields = append(m.Fields, bot.Field{Label: "Standing access", Value: fmt.Sprintf("%d permanent assignment%s outside break-glass%s", d.Standing, plural(d.Standing), standing)})
	ga := fmt.Sprintf("%d", d.GlobalAdmins)
	if d.GlobalAdmins > d.GlobalAdminsMax && d.GlobalAdminsMax > 0 {
		ga = fmt.Sprintf("⚠ %d — keep it under %d", d.GlobalAdmins, d.GlobalAdminsMax+1)
	}
	m.Fields = append(m.Fields, bot.Field{Label: "Global Admins", Value: ga})
	bg := "none"
	if d.BreakGlassSignIns > 0 {
		bg = fmt.Sprintf("🚨 %d, last: %s", d.BreakGlassSignIns, d.BreakGlassLast)
	}
	m.Fields = append(m.Fields, bot.Field{Label: "Break-glass sign-ins", Value: bg})
	if d.Review != "" {
		review := d.Review
		if d.Prev.Weekly && d.Prev.HaveReview {
			review += trend(d.ReviewPct, d.Prev.ReviewPct, " points")
		}
		m.Fields = append(m.Fields, bot.Field{Label: "Access review", Value: review})
	}
	if d.Pilot {
		fb := "none this week — `/elevate feedback <note>` sends one"
		if n := len(d.Feedback); n > 0 {
			var notes []string
			for i, f := range d.Feedback {
				if i == 5 {
					notes = append(notes, fmt.Sprintf("and %d more", n-5))
					break
				}
				who := f.From
				if f.NameOnly != "" {
					who += ", " + f.NameOnly
				}
				notes = append(notes, fmt.Sprintf("“%s” (%s)", f.Text, who))
			}
			fb = fmt.Sprintf("%d note%s: %s", n, plural(n), strings.Join(notes, "; "))
		}
		m.Fields = append(m.Fields, bot.Field{Label: "Pilot feedback", Value: fb})
	}
	m.Text = strings.Join(lines, "\n")
	if len(d.Problems) > 0 {
		m.Footer = "Incomplete: " + strings.Join(d.Problems, "; ") + "."
	}
	return m
}

// short shows a latency: 45s, 4m, 1h30m.
func short(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return hm(d.Round(time.Minute))
}

// postDigest posts the digest of the week before slot to the digest channel, with its chart,
// and keeps the week's standing-access snapshot for next week's trend.
func (s *Scheduler) postDigest(ctx context.Context, slot time.Time) error {
	if err := s.collect(ctx, s.now()); err != nil {
		s.log.Warn("digest: reading activations outside Elevate", "err", err)
	}
	d, err := s.BuildDigest(ctx, slot.AddDate(0, 0, -7), slot)
	if err != nil {
		return err
	}
	if err := s.store.PutSnapshot("weekly", d.Snapshot(slot)); err != nil {
		return err
	}
	ch := cmp.Or(s.cfg.Channels.Digest, s.cfg.Channels.Security)
	if ch == "" {
		return nil
	}
	var files []bot.Attachment
	if len(d.Chart) > 0 {
		files = append(files, bot.Attachment{Name: "elevate-digest-" + slot.In(s.loc).Format("2006-01-02") + ".png", MIME: "image/png",
			Alt: "Bar chart of activations per role", Data: d.Chart})
	}
	s.core.Post(ctx, ch, d.Message(s.loc), files...)
	s.log.Info("digest posted", "channel", ch, "activations", d.Activations)
	return nil
}

// digestCommand is `/elevate digest`: the last seven days, now, to the admin who asked.
func (s *Scheduler) digestCommand(ctx context.Context, a bot.Actor, _ policy.Command) error {
	if !s.isAdmin(ctx, a) {
		return nil
	}
	now := s.now()
	d, err := s.BuildDigest(ctx, now.AddDate(0, 0, -7), now)
	if err != nil {
		return err
	}
	m := d.Message(s.loc)
	if len(d.Chart) > 0 && a.Channel != "" {
		s.core.Post(ctx, a.Channel, m, bot.Attachment{Name: "elevate-digest.png", MIME: "image/png", Alt: "Bar chart of activations per role", Data: d.Chart})
		return nil
	}
	s.core.Reply(ctx, a, m)
	return nil
}

// isAdmin checks that the actor may run scheduled-work commands, and tells them when not.
func (s *Scheduler) isAdmin(ctx context.Context, a bot.Actor) bool {
	oid, upn, known, err := s.core.Identity(a)
	switch {
	case err != nil:
		s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "This chat account is linked to a different Microsoft account; ask the security team."})
		return false
	case !known:
		s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "I don't know who you are in Microsoft Entra yet: make one request (or approval) with Elevate and sign in, then try again."})
		return false
	case s.cfg.IsAdmin(oid, upn) || s.cfg.IsPIMAdmin(oid, upn):
		return true
	}
	s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "Only Elevate's PIM administrators can do that."})
	return false
}
