package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMigrationV6AddsReplays(t *testing.T) {
	path := buildFile(t, 5, func(tx kvTx) error { return tx.Bucket(bucketCursors).Put([]byte("c"), []byte("v")) })
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Cursor("c"); err != nil || string(v) != "v" {
		t.Errorf("cursor after migration: %q %v", v, err)
	}
	first, err := s.FirstSeen("slack:req:x", t0, time.Minute)
	if err != nil || !first {
		t.Errorf("FirstSeen on a migrated file = %v, %v; want true", first, err)
	}
}

func TestFirstSeen(t *testing.T) {
	s := newTestStore(t)
	seen := func(key string, at time.Time, window time.Duration) bool {
		t.Helper()
		first, err := s.FirstSeen(key, at, window)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	steps := []struct {
		key    string
		at     time.Duration // after t0
		window time.Duration
		want   bool
	}{
		{"a", 0, 5 * time.Minute, true},
		{"a", time.Minute, 5 * time.Minute, false},
		{"b", time.Minute, time.Hour, true},
		{"a", 4*time.Minute + 59*time.Second, 5 * time.Minute, false}, // a replay does not extend the window
		{"a", 5 * time.Minute, 5 * time.Minute, true},                 // expired: new again
		{"a", 6 * time.Minute, 5 * time.Minute, false},
		{"b", 50 * time.Minute, time.Hour, false}, // each key keeps its own window
	}
	for i, st := range steps {
		if got := seen(st.key, t0.Add(st.at), st.window); got != st.want {
			t.Errorf("step %d: FirstSeen(%q, +%s) = %v, want %v", i, st.key, st.at, got, st.want)
		}
	}
	for _, bad := range []string{"", string(make([]byte, maxReplayKey+1))} {
		if _, err := s.FirstSeen(bad, t0, time.Minute); err == nil {
			t.Errorf("FirstSeen accepted a key of %d bytes", len(bad))
		}
	}
}

// TestFirstSeenPrunes: expired keys leave the file, a bounded number per call.
func TestFirstSeenPrunes(t *testing.T) {
	s := newTestStore(t)
	n := replayPruneBatch + 10
	for i := range n {
		if _, err := s.FirstSeen(fmt.Sprintf("k%d", i), t0, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (keys, exp int) {
		t.Helper()
		err := s.db.View(func(tx kvTx) error {
			root := tx.Bucket(bucketReplays)
			var err error
			if keys, err = root.Bucket(bucketReplayKeys).KeyN(); err != nil {
				return err
			}
			exp, err = root.Bucket(bucketReplayExpiry).KeyN()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys, exp
	}
	if k, e := count(); k != n || e != n {
		t.Fatalf("before pruning: %d keys, %d expiries; want %d each", k, e, n)
	}
	later := t0.Add(2 * time.Minute)
	if _, err := s.FirstSeen("new", later, time.Minute); err != nil {
		t.Fatal(err)
	}
	if k, e := count(); k != 11 || e != 11 {
		t.Errorf("after one call: %d keys, %d expiries; want 11 each (10 left over and the new one)", k, e)
	}
	// A key still due for pruning is new again, and its stale expiry entry goes.
	if first, _ := s.FirstSeen(fmt.Sprintf("k%d", n-1), later, time.Minute); !first {
		t.Error("an expired key not yet pruned was reported as seen")
	}
	if _, err := s.FirstSeen("newer", later.Add(time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	if k, e := count(); k != 3 || e != 3 {
		t.Errorf("at the end: %d keys, %d expiries; want 3 each", k, e)
	}
}

// CreateRequestOnce records its key with the request: a replay stores nothing, and the key is
// then seen by FirstSeen as well.
func TestCreateRequestOnceRefusesReplay(t *testing.T) {
	s := newTestStore(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	once := Once{Key: "slack:cmd:T1", At: at, Window: time.Minute}
	r := Request{Platform: "slack", ChatUser: "U1", RoleName: "Exchange Administrator", Duration: time.Hour}
	if _, err := s.CreateRequestOnce(r, AuditRecord{Actor: "slack:U1"}, once); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRequestOnce(r, AuditRecord{Actor: "slack:U1"}, once); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: err %v, want ErrReplay", err)
	}
	all, err := s.Requests(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d requests, want 1", len(all))
	}
	if first, err := s.FirstSeen(once.Key, at.Add(time.Second), time.Minute); err != nil || first {
		t.Fatalf("FirstSeen after CreateRequestOnce: first=%v err=%v, want false", first, err)
	}
}
