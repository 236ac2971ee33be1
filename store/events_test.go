package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func collect(t testing.TB, s *Store, from, to time.Time) []Event {
	t.Helper()
	var out []Event
	if err := s.Events(from, to, func(e *Event) error { out = append(out, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSyncEvents(t *testing.T) {
	s := newTestStore(t)
	mk := func(state State, action string, approvals int) Request {
		r := sampleRequest()
		r.UserID, r.UPN, r.ApprovalsNeeded = "oid-alice", "alice@contoso.example", approvals
		r, err := s.CreateRequest(r, AuditRecord{})
		if err != nil {
			t.Fatal(err)
		}
		r, err = s.Update(r.ID, AuditRecord{Action: action}, func(r *Request) error {
			r.State = state
			if state == StateActive {
				r.GraphRequestID, r.ActivatedAt = fmt.Sprintf("g-%d", r.ID), r.CreatedAt.Add(time.Minute)
			}
			if approvals > 0 {
				r.Approvals = []Approval{{Approver: "oid-bob", Decision: "approve", At: r.CreatedAt.Add(90 * time.Second)}}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := mk(StateActive, "request.active", 1)
	mk(StateDenied, "request.deny", 0)
	mk(StateExpired, "request.expired", 0)
	mk(StateFailed, "request.failed", 0)
	n, err := s.SyncEvents()
	if err != nil || n != 4 {
		t.Fatalf("SyncEvents = %d, %v; want 4", n, err)
	}
	if n, _ := s.SyncEvents(); n != 0 {
		t.Errorf("second SyncEvents = %d, want 0 (the cursor is kept)", n)
	}
	evs := collect(t, s, t0.Add(-time.Hour), t0.Add(time.Hour))
	var kinds []EventKind
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	// The activation counts from when it was activated, a minute after it was asked for.
	if diff := cmp.Diff([]EventKind{EventDenied, EventExpired, EventFailed, EventActivated}, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	got := evs[3]
	if got.RequestID != a.ID || got.GraphID != "g-1" || got.User != "alice@contoso.example" || got.RoleName != "Exchange Administrator" ||
		got.Duration != 4*time.Hour || got.ApprovalLatency != 90*time.Second || !got.At.Equal(a.ActivatedAt) {
		t.Errorf("activation event = %+v", got)
	}

	// The same activation seen in the directory audits is not counted twice; another one is.
	out := []Event{
		{At: t0, Kind: EventActivatedOutside, RoleID: "r", RoleName: "Exchange Administrator", UserID: "oid-alice", User: "alice@contoso.example", GraphID: "g-1", Ref: "audit-1"},
		{At: t0, Kind: EventActivatedOutside, RoleID: "r", RoleName: "Exchange Administrator", UserID: "oid-dave", User: "dave@contoso.example", GraphID: "g-x", Ref: "audit-2", Duration: time.Hour},
	}
	if n, err := s.AddEvents(out); err != nil || n != 1 {
		t.Errorf("AddEvents = %d, %v; want 1", n, err)
	}
	if n, _ := s.AddEvents(out); n != 0 {
		t.Errorf("AddEvents again = %d, want 0", n)
	}
	if got := len(collect(t, s, t0.Add(-time.Hour), t0.Add(time.Hour))); got != 5 {
		t.Errorf("%d events, want 5", got)
	}
	if got := len(collect(t, s, t0.Add(time.Hour), t0.Add(2*time.Hour))); got != 0 {
		t.Errorf("%d events in an empty range", got)
	}
}

// An activation first seen in the directory audits and then indexed from the
// store is replaced by Elevate's own record.
func TestEventsElevateWins(t *testing.T) {
	s := newTestStore(t)
	r := sampleRequest()
	r.UserID = "oid-alice"
	r, _ = s.CreateRequest(r, AuditRecord{})
	s.AddEvents([]Event{{At: t0, Kind: EventActivatedOutside, UserID: "oid-alice", GraphID: "g-1", Ref: "a1"}})
	s.Update(r.ID, AuditRecord{Action: "request.active"}, func(r *Request) error {
		r.State, r.GraphRequestID, r.ActivatedAt = StateActive, "g-1", t0.Add(time.Second)
		return nil
	})
	s.SyncEvents()
	evs := collect(t, s, t0.Add(-time.Hour), t0.Add(time.Hour))
	if len(evs) != 1 || evs[0].Kind != EventActivated {
		t.Errorf("events = %+v, want Elevate's one", evs)
	}
}

func TestSnapshots(t *testing.T) {
	s := newTestStore(t)
	w1 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	s.PutSnapshot("weekly", Snapshot{At: w1, Permanent: 3})
	s.PutSnapshot("weekly", Snapshot{At: w1.AddDate(0, 0, 7), Permanent: 4})
	s.PutSnapshot("other", Snapshot{At: w1.AddDate(0, 0, 8), Permanent: 9})
	for _, tc := range []struct {
		at   time.Time
		ok   bool
		want int
	}{
		{w1, false, 0},
		{w1.Add(time.Hour), true, 3},
		{w1.AddDate(0, 0, 7), true, 3},
		{w1.AddDate(0, 1, 0), true, 4},
	} {
		snap, ok, err := s.SnapshotBefore("weekly", tc.at)
		if err != nil || ok != tc.ok || snap.Permanent != tc.want {
			t.Errorf("SnapshotBefore(%s) = %+v %v %v; want %v %d", tc.at, snap, ok, err, tc.ok, tc.want)
		}
	}
}

// BenchmarkEvents1M reads a year of a 1000-person tenant's events (1 M).
func BenchmarkEvents1M(b *testing.B) {
	s := openTest(b, testPath(b))
	FillEvents(b, s, 1_000_000, t0)
	from, to := t0.Add(-time.Hour), t0.AddDate(1, 0, 1)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		s.Events(from, to, func(*Event) error { n++; return nil })
		if n != 1_000_000 {
			b.Fatalf("read %d events", n)
		}
	}
}

// An activation's event counts how long it really lasted: ended early (`done`), ended in PIM
// outside Elevate (found by reconciliation), or extended — whether the digest's sync saw it
// while it was active or only once it had ended.
func TestEventDurationIsActual(t *testing.T) {
	s := newTestStore(t)
	step := func(id uint64, action string, fn func(r *Request)) {
		t.Helper()
		if _, err := s.Update(id, AuditRecord{Action: action}, func(r *Request) error { fn(r); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	activate := func(d time.Duration) uint64 {
		t.Helper()
		r := sampleRequest()
		r.UserID, r.UPN, r.Duration = "oid-alice", "alice@contoso.example", d
		r, err := s.CreateRequest(r, AuditRecord{})
		if err != nil {
			t.Fatal(err)
		}
		step(r.ID, "request.active", func(r *Request) {
			r.State, r.GraphRequestID = StateActive, fmt.Sprintf("g-%d", r.ID)
			r.ActivatedAt = t0.Add(time.Duration(r.ID) * time.Minute)
			r.EndsAt = r.ActivatedAt.Add(r.Duration)
		})
		return r.ID
	}
	sync := func() {
		t.Helper()
		if _, err := s.SyncEvents(); err != nil {
			t.Fatal(err)
		}
	}
	endAfter := func(id uint64, action string, d time.Duration) {
		step(id, action, func(r *Request) { r.State, r.EndsAt = StateEnded, r.ActivatedAt.Add(d) })
	}

	done := activate(4 * time.Hour) // done after 20 minutes, seen active first
	outside := activate(time.Hour)  // ended in the portal after 35 minutes
	extended := activate(time.Hour) // extended by an hour, then ran to its end
	sync()
	endAfter(done, "request.ended", 20*time.Minute)
	endAfter(outside, "request.reconciled", 35*time.Minute)
	step(extended, "request.extended", func(r *Request) { r.EndsAt, r.Duration = r.EndsAt.Add(time.Hour), r.Duration+time.Hour })
	sync()
	endAfter(extended, "request.ended", 2*time.Hour)
	late := activate(8 * time.Hour) // done after 10 minutes, synced only afterwards
	endAfter(late, "request.ended", 10*time.Minute)
	sync()

	got := map[uint64]time.Duration{}
	for _, e := range collect(t, s, t0.Add(-time.Hour), t0.Add(time.Hour)) {
		got[e.RequestID] = e.Duration
	}
	want := map[uint64]time.Duration{done: 20 * time.Minute, outside: 35 * time.Minute, extended: 2 * time.Hour, late: 10 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("activation durations (-want +got):\n%s", diff)
	}
}
