package store

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// FillEvents writes n synthetic events spread evenly over the year after
// start (1000 users, 15 roles, a few outside PIM), for benchmarks in this and
// other packages. tb reports failures.
func FillEvents(tb interface {
	Helper()
	Fatal(...any)
}, s *Store, n int, start time.Time) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	step := 365 * 24 * time.Hour / time.Duration(n)
	const batch = 20_000
	evs := make([]Event, 0, batch)
	for i := range n {
		u, r := rng.IntN(1000), rng.IntN(15)
		e := Event{At: start.Add(time.Duration(i) * step), Kind: EventKind(1 + rng.IntN(5)),
			RoleID: fmt.Sprintf("role-%02d", r), RoleName: fmt.Sprintf("Role %02d Administrator", r),
			UserID: fmt.Sprintf("oid-%04d", u), User: fmt.Sprintf("user%04d@contoso.example", u),
			Duration: time.Duration(1+rng.IntN(8)) * time.Hour, ApprovalLatency: time.Duration(rng.IntN(600)) * time.Second,
			GraphID: fmt.Sprintf("g-%d", i), RequestID: uint64(i + 1)}
		if e.Kind == EventActivatedOutside {
			e.RequestID, e.Ref = 0, fmt.Sprintf("audit-%d", i)
		}
		evs = append(evs, e)
		if len(evs) == batch || i == n-1 {
			if _, err := s.AddEvents(evs); err != nil {
				tb.Fatal(err)
			}
			evs = evs[:0]
		}
	}
}
