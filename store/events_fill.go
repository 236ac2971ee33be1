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

// FillActivations stores n requests that became active, one minute apart from start (1000
// users, 15 roles), each with its request.created and request.active audit records, in
// transactions of 2000 requests: new audit log for SyncEvents to index, for benchmarks. The
// records are chained like any other; the events index is not touched.
func FillActivations(tb interface {
	Helper()
	Fatal(...any)
}, s *Store, n int, start time.Time) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 3))
	const batch = 2000
	for lo := 0; lo < n; lo += batch {
		err := s.db.Update(func(tx kvTx) error {
			for i := lo; i < min(lo+batch, n); i++ {
				u, ro := rng.IntN(1000), rng.IntN(15)
				at := start.Add(time.Duration(i) * time.Minute).UTC()
				r := Request{Platform: "slack", ChatUser: fmt.Sprintf("U%04d", u), ChatName: fmt.Sprintf("user%04d", u),
					UserID: fmt.Sprintf("oid-%04d", u), UPN: fmt.Sprintf("user%04d@contoso.example", u),
					RoleID: fmt.Sprintf("role-%02d", ro), RoleName: fmt.Sprintf("Role %02d Administrator", ro),
					Duration: time.Duration(1+rng.IntN(8)) * time.Hour, Justification: "benchmark",
					State: StateActive, CreatedAt: at, UpdatedAt: at, ActivatedAt: at.Add(time.Minute), Version: 1,
					GraphRequestID: fmt.Sprintf("fill-%d-%d", start.Unix(), i)}
				if err := createInTx(tx, &r, &AuditRecord{At: at, Actor: "slack:" + r.ChatUser, Action: "request.created"}, nil); err != nil {
					return err
				}
				if _, err := appendAudit(tx, AuditRecord{At: r.ActivatedAt, Actor: "system", Action: "request.active", RequestID: r.ID}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}
