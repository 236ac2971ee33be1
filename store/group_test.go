package store

import (
	"fmt"
	"path/filepath"
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
	path := filepath.Join(t.TempDir(), "elevate.db")
	s, err := Open(path)
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
	if s, err = Open(path); err != nil {
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
