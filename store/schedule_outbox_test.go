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

// TestSetCursorAuditWith: a cursor, its audit record and what it queues commit together: a
// failing fn changes none of them, a success all three.
func TestSetCursorAuditWith(t *testing.T) {
	s := newTestStore(t)
	if err := s.SetCursor("intent/convert/u|r", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	queue := func(out *Outbox) error {
		_, err := out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", User: "U1", Message: []byte(`{"Text":"Converted"}`)})
		return err
	}
	audits := func() int {
		n := 0
		if err := s.Audit(func(AuditRecord) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	_, err := s.SetCursorAuditWith("intent/convert/u|r", nil, AuditRecord{Action: "standing.reconciled"}, func(out *Outbox) error {
		if err := queue(out); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("a failing fn: %v", err)
	}
	if v, _ := s.Cursor("intent/convert/u|r"); v == nil {
		t.Fatal("the intent was cleared although its message was not queued")
	}
	if items, _ := s.OutboxItems(); len(items) != 0 || audits() != 0 {
		t.Fatalf("%d items, %d audit records after a failed transaction", len(items), audits())
	}
	added, err := s.SetCursorAuditWith("intent/convert/u|r", nil, AuditRecord{Action: "standing.reconciled"}, queue)
	if err != nil || len(added) != 1 {
		t.Fatalf("%d added, %v", len(added), err)
	}
	if v, _ := s.Cursor("intent/convert/u|r"); v != nil {
		t.Error("the intent is still there")
	}
	if items, _ := s.OutboxItems(); len(items) != 1 || audits() != 1 {
		t.Errorf("%d items, %d audit records, want 1 and 1", len(items), audits())
	}
}
