package schedule_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/store"
)

// BenchmarkDigest1M counts a digest over a year of a 1000-person tenant's events (1 M): the
// worst case, a range covering every event (a weekly digest reads 1/52 of it).
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
