package schedule_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/store"
)

// BenchmarkDigest1M counts a digest over a year of a 1000-person tenant's events (1 M): the
// worst case, a range covering every event (a weekly digest reads 1/52 of it). It times
// CountEvents alone (the store's events index); BenchmarkBuildDigest1M times the whole digest.
func BenchmarkDigest1M(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "elevate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store.FillEvents(b, st, 1_000_000, start)
	b.ResetTimer()
	for b.Loop() {
		c, err := schedule.CountEvents(st, start, start.AddDate(1, 0, 1))
		if err != nil {
			b.Fatal(err)
		}
		if c.Activations == 0 || len(c.ByPerson) != 1000 {
			b.Fatalf("counted %d activations, %d people", c.Activations, len(c.ByPerson))
		}
	}
}

// weekOfActivations is what a week adds to the audit log for SyncEvents to index before each
// digest: a 1000-person tenant makes a few hundred activations a day.
const weekOfActivations = 2000

// BenchmarkBuildDigest1M times Scheduler.BuildDigest whole over a range holding 1 M indexed
// events, on the demo tenant's configuration and a real store file: SyncEvents indexing a
// week's new audit log (2000 activations, 4000 audit records, written before each iteration
// with the timer stopped), CountEvents over the 1 M events, the Graph reads (standing
// assignments, tenant eligibilities, break-glass sign-ins) through the real graph client
// against graphtest over loopback HTTP, the previous snapshot, the latest review, and the PNG
// chart. Filling the 1 M events (about 7 s) is not timed.
func BenchmarkBuildDigest1M(b *testing.B) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(1, 0, 1)
	w := newWorld(b, end, nil)
	store.FillEvents(b, w.store, 1_000_000, start)
	if _, err := w.store.SyncEvents(); err != nil {
		b.Fatal(err)
	}
	base, err := schedule.CountEvents(w.store, start, end)
	if err != nil {
		b.Fatal(err)
	}
	prev := base.Activations
	at := start
	var cpu time.Duration // this process's CPU time in BuildDigest: less at the mercy of a busy machine than wall time
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store.FillActivations(b, w.store, weekOfActivations, at)
		at = at.Add(weekOfActivations * time.Minute)
		c0, _ := cpuTime()
		b.StartTimer()
		d, err := w.sched.BuildDigest(b.Context(), start, end)
		b.StopTimer()
		c1, _ := cpuTime()
		cpu += c1 - c0
		b.StartTimer()
		if err != nil {
			b.Fatal(err)
		}
		if d.Activations != prev+weekOfActivations {
			b.Fatalf("digest counted %d activations, want %d (the last one's %d and the week synced since)",
				d.Activations, prev+weekOfActivations, prev)
		}
		prev = d.Activations
		if len(d.Problems) > 0 || len(d.Chart) == 0 || len(d.ByPerson) < 1000 || d.Standing == 0 {
			b.Fatalf("digest problems %q, chart %d bytes, %d people, %d standing", d.Problems, len(d.Chart), len(d.ByPerson), d.Standing)
		}
	}
	if _, ok := cpuTime(); ok {
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}
