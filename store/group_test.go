package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupCommitReplaysAndRequests: concurrent FirstSeen and CreateRequest calls share
// transactions, yet each key is new exactly once (however many callers race on it), every
// request gets its own id and audit record, a bad write fails alone, and all of it is on disk
// after a reopen.
func TestGroupCommitReplaysAndRequests(t *testing.T) {
	path := testPath(t)
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	const keys, racers = 50, 8
	var (
		wg     sync.WaitGroup
		firsts [keys]atomic.Int32
		ids    sync.Map
	)
	for k := range keys {
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := s.FirstSeen(fmt.Sprintf("slack:cmd:%d", k), t0, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if first {
					firsts[k].Add(1)
					r, err := s.CreateRequest(Request{Platform: "slack", ChatUser: fmt.Sprint("U", k), RoleName: "Exchange Administrator"},
						AuditRecord{Actor: "slack:U", Action: "request.created"})
					if err != nil {
						t.Error(err)
						return
					}
					if _, dup := ids.LoadOrStore(r.ID, k); dup {
						t.Errorf("request id %d given twice", r.ID)
					}
				}
			}()
		}
	}
	// Bad writes in the middle of the batches fail alone.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if _, err := s.FirstSeen(string(make([]byte, maxReplayKey+1)), t0, time.Minute); err == nil {
				t.Error("an oversized replay key was accepted")
			}
			if _, err := s.CreateRequest(Request{State: "nonsense"}, AuditRecord{}); err == nil {
				t.Error("a request with an unknown state was stored")
			}
		}
	}()
	wg.Wait()
	for k := range keys {
		if n := firsts[k].Load(); n != 1 {
			t.Errorf("key %d was new for %d of %d callers, want 1", k, n, racers)
		}
	}
	s.Close()
	if s, err = openAt(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs, err := s.Requests(Filter{Platform: "slack"})
	if err != nil || len(rs) != keys {
		t.Fatalf("after reopen: %d requests, %v; want %d", len(rs), err, keys)
	}
	if n, err := s.VerifyAudit(); err != nil || n != keys {
		t.Fatalf("audit: %d records, %v; want %d", n, err, keys)
	}
	for k := range keys {
		if first, err := s.FirstSeen(fmt.Sprintf("slack:cmd:%d", k), t0.Add(time.Second), time.Minute); err != nil || first {
			t.Errorf("key %d after reopen: new = %v, %v; want remembered", k, first, err)
		}
	}
}

// TestGroupCommitUpdates: concurrent Updates share transactions with creates; one that refuses
// (ErrNoChange, its own error, leaving a terminal state) fails alone and writes nothing, the
// others are all written, each with its audit record, and the chain verifies.
func TestGroupCommitUpdates(t *testing.T) {
	s := newTestStore(t)
	const n = 60
	ids := make([]uint64, n)
	for i := range ids {
		r, err := s.CreateRequest(Request{Platform: "slack", ChatUser: fmt.Sprint("U", i), RoleName: "Exchange Administrator"},
			AuditRecord{Actor: "slack:U", Action: "request.created"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	// Request 0 is already finished: moving it out of its terminal state is refused.
	if _, err := s.Update(ids[0], AuditRecord{Action: "request.expired"}, func(r *Request) error { r.State = StateExpired; return nil }); err != nil {
		t.Fatal(err)
	}
	errMine := errors.New("not this one")
	var wg sync.WaitGroup
	var written atomic.Int32
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Update(id, AuditRecord{Actor: "system", Action: "request.awaiting_approval"}, func(r *Request) error {
				switch {
				case i%3 == 1:
					return ErrNoChange
				case i%3 == 2:
					return errMine
				}
				r.State = StateAwaitingApproval
				return nil
			})
			switch {
			case i == 0:
				if !errors.Is(err, ErrConflict) {
					t.Errorf("update of a finished request: %v, want ErrConflict", err)
				}
			case i%3 == 1:
				if !errors.Is(err, ErrNoChange) || r.ID != id || r.State != StateReceived {
					t.Errorf("ErrNoChange update: %+v, %v; want the request unchanged and ErrNoChange", r, err)
				}
			case i%3 == 2:
				if !errors.Is(err, errMine) {
					t.Errorf("refused update: %v, want fn's error", err)
				}
			default:
				if err != nil || r.State != StateAwaitingApproval || r.Version != 2 {
					t.Errorf("update: %+v, %v", r, err)
				}
				written.Add(1)
			}
		}()
	}
	wg.Wait()
	for i, id := range ids {
		r, err := s.Request(id)
		if err != nil {
			t.Fatal(err)
		}
		want := StateReceived
		switch {
		case i == 0:
			want = StateExpired
		case i%3 == 0:
			want = StateAwaitingApproval
		}
		if r.State != want {
			t.Errorf("request %d is %s, want %s", i, r.State, want)
		}
	}
	// n creates, the expiry of request 0, and one record per written update.
	if got, err := s.VerifyAudit(); err != nil || got != n+1+int(written.Load()) {
		t.Errorf("audit: %d records, %v; want %d", got, err, n+1+int(written.Load()))
	}
}

// TestGroupCommitUpdateWithOutbox: an UpdateWith that queues deliveries and then gives up leaves
// none of them, even when its transaction was shared with others that went through.
func TestGroupCommitUpdateWithOutbox(t *testing.T) {
	s := newTestStore(t)
	const n = 40
	ids := make([]uint64, n)
	for i := range ids {
		r, err := s.CreateRequest(Request{Platform: "slack", ChatUser: fmt.Sprint("U", i), RoleName: "Exchange Administrator"},
			AuditRecord{Actor: "slack:U", Action: "request.created"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateWith(id, AuditRecord{Action: "request.awaiting_approval"}, func(r *Request, out *Outbox) error {
				if _, err := out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", User: r.ChatUser}); err != nil {
					return err
				}
				if i%2 == 1 {
					return ErrNoChange
				}
				r.State = StateAwaitingApproval
				return nil
			})
			if (i%2 == 1) != errors.Is(err, ErrNoChange) || (i%2 == 0 && err != nil) {
				t.Errorf("update %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	items, err := s.OutboxItems()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]int{}
	for _, it := range items {
		got[it.RequestID]++
	}
	for i, id := range ids {
		if want := 1 - i%2; got[id] != want {
			t.Errorf("request %d has %d deliveries queued, want %d", i, got[id], want)
		}
	}
}

// CommitStats counts every write once and every transaction it took: concurrent writes share
// commits (fewer commits than writes), a lone write is one commit, and a shared transaction that
// fails is counted with the transactions each write then takes alone.
func TestCommitStats(t *testing.T) {
	s := newTestStore(t)
	base := s.CommitStats()
	if _, err := s.FirstSeen("slack:cmd:lone", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	st := s.CommitStats()
	if got := (CommitStats{Commits: st.Commits - base.Commits, Writes: st.Writes - base.Writes}); got != (CommitStats{Commits: 1, Writes: 1}) {
		t.Errorf("a lone write: %+v, want one commit of one write", got)
	}
	if st.Time <= base.Time {
		t.Errorf("commit time did not grow: %s → %s", base.Time, st.Time)
	}
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.FirstSeen(fmt.Sprintf("slack:cmd:%d", i), t0, time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	after := s.CommitStats()
	if w := after.Writes - st.Writes; w != n {
		t.Errorf("%d writes counted, want %d", w, n)
	}
	if c := after.Commits - st.Commits; c < 1 || c > n {
		t.Errorf("%d commits for %d concurrent writes", c, n)
	}
	// A shared transaction that fails: its writes are committed again one by one.
	s.commitGroup([]*groupOp{{fn: func(kvTx) error { return nil }}, {fn: func(kvTx) error { return errors.New("bad") }}})
	last := s.CommitStats()
	if c, w := last.Commits-after.Commits, last.Writes-after.Writes; c != 3 || w != 2 {
		t.Errorf("a failed shared transaction of 2 writes: %d commits, %d writes; want 3 and 2", c, w)
	}
}
