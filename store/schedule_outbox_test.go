package store

import (
	"errors"
	"testing"
)

// TestOnceWith: the mark and what it queues commit together: a failing fn records neither, the
// first success both, and a second call neither again.
func TestOnceWith(t *testing.T) {
	s := newTestStore(t)
	boom := errors.New("boom")
	queue := func(out *Outbox) error {
		_, err := out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", User: "U1", Message: []byte(`{"Text":"ends at 14:32"}`)})
		return err
	}
	if first, _, err := s.OnceWith("expiry/1/100", t0, func(out *Outbox) error {
		if err := queue(out); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) || first {
		t.Fatalf("a failing fn: first %v, err %v", first, err)
	}
	if done, _ := s.Done("expiry/1/100"); done {
		t.Fatal("marked done although what it sends was not queued")
	}
	if items, _ := s.OutboxItems(); len(items) != 0 {
		t.Fatalf("%d items queued by a failed transaction", len(items))
	}
	first, added, err := s.OnceWith("expiry/1/100", t0, queue)
	if err != nil || !first || len(added) != 1 {
		t.Fatalf("first: %v, %d added, %v", first, len(added), err)
	}
	first, added, err = s.OnceWith("expiry/1/100", t0, queue)
	if err != nil || first || len(added) != 0 {
		t.Fatalf("second: %v, %d added, %v", first, len(added), err)
	}
	if items, _ := s.OutboxItems(); len(items) != 1 {
		t.Errorf("%d items queued, want 1", len(items))
	}
}
