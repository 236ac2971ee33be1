package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMigrationV7AddsOutbox(t *testing.T) {
	path := buildFile(t, 6, func(tx kvTx) error {
		if tx.Bucket(bucketOutbox) != nil {
			t.Error("outbox bucket exists at version 6")
		}
		return nil
	})
	s := openTest(t, path)
	if _, err := s.Enqueue(nil, func(out *Outbox) error {
		_, err := out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", User: "U1", Message: []byte(`{}`)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if items, err := s.OutboxItems(); err != nil || len(items) != 1 {
		t.Errorf("outbox after migration: %v, %v", items, err)
	}
	s.Close()
	if v := fileVersion(t, path); v != 7 {
		t.Errorf("version = %d, want 7", v)
	}
}

func TestUpdateWithQueuesInTheSameTransaction(t *testing.T) {
	s := newTestStore(t)
	r := mustCreate(t, s, sampleRequest())

	// A change that does not happen queues nothing.
	_, err := s.UpdateWith(r.ID, ev("request.noop"), func(r *Request, out *Outbox) error {
		if _, err := out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", User: "U1"}); err != nil {
			return err
		}
		return ErrNoChange
	})
	if !errors.Is(err, ErrNoChange) {
		t.Fatalf("UpdateWith: %v, want ErrNoChange", err)
	}
	// Neither does one that fails.
	boom := errors.New("boom")
	if _, err := s.UpdateWith(r.ID, ev("request.fail"), func(r *Request, out *Outbox) error {
		r.State = StateDenied
		if _, err := out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", User: "U1"}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("UpdateWith: %v, want boom", err)
	}
	if items, _ := s.OutboxItems(); len(items) != 0 {
		t.Fatalf("items queued by changes that did not happen: %+v", items)
	}

	var first uint64
	got, err := s.UpdateWith(r.ID, ev("request.awaiting_approval"), func(r *Request, out *Outbox) error {
		r.State = StateAwaitingApproval
		var err error
		if first, err = out.Add(OutboxItem{Op: OutboxCard, Platform: "slack", Channel: "#pim-approvals", RefKind: "card"}); err != nil {
			return err
		}
		_, err = out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", User: "U123", Message: []byte(`{"Text":"asked"}`), After: first})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	items, err := s.OutboxItems()
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		t.Fatalf("%d items, want 2", len(items))
	}
	if items[0].ID != first || items[0].RequestID != r.ID || items[1].After != first || items[1].RequestID != r.ID {
		t.Errorf("items %+v: want the card first, the DM after it, both for request %d", items, r.ID)
	}
	if !items[0].CreatedAt.Equal(got.UpdatedAt) {
		t.Errorf("item created at %v, want the change's time %v", items[0].CreatedAt, got.UpdatedAt)
	}
	if items[0].Conversation() == items[1].Conversation() {
		t.Error("a channel post and a DM share a conversation")
	}

	// Delivered: the card's reference is stored with the removal.
	if err := s.OutboxDone([]uint64{first}, map[uint64]MessageRef{first: {Platform: "slack", Channel: "C1", MessageID: "1.2"}}); err != nil {
		t.Fatal(err)
	}
	refs, err := s.MessageRefs(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Kind != "card" || refs[0].MessageID != "1.2" {
		t.Errorf("refs after delivery: %+v", refs)
	}
	if _, err := s.OutboxItem(first); !errors.Is(err, ErrNotFound) {
		t.Errorf("delivered item still there: %v", err)
	}
	// Done twice is harmless.
	if err := s.OutboxDone([]uint64{first}, nil); err != nil {
		t.Error(err)
	}
}

func TestCreateRequestWithQueues(t *testing.T) {
	s := newTestStore(t)
	r, err := s.CreateRequestWith(sampleRequest(), ev("request.created"), func(r Request, out *Outbox) error {
		_, err := out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", User: r.ChatUser, Message: []byte(`{"Text":"offer"}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := s.OutboxItems()
	if len(items) != 1 || items[0].RequestID != r.ID {
		t.Fatalf("items %+v, want one for request %d", items, r.ID)
	}
}

func TestOutboxFailedAndDrop(t *testing.T) {
	s := newTestStore(t)
	r := mustCreate(t, s, sampleRequest())
	var card, dm, other uint64
	if _, err := s.UpdateWith(r.ID, ev("request.awaiting_approval"), func(r *Request, out *Outbox) error {
		r.State = StateAwaitingApproval
		card, _ = out.Add(OutboxItem{Op: OutboxCard, Platform: "teams", Channel: "pim-approvals"})
		dm, _ = out.Add(OutboxItem{Op: OutboxSend, Platform: "teams", User: "u1", After: card})
		other, _ = out.Add(OutboxItem{Op: OutboxSend, Platform: "teams", User: "u2"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	it, _ := s.OutboxItem(card)
	it.Attempts, it.NextAt, it.LastError, it.HeldSince = 3, t0.Add(time.Minute), "no channel", t0
	if err := s.OutboxFailed(it); err != nil {
		t.Fatal(err)
	}
	got, _ := s.OutboxItem(card)
	if diff := cmp.Diff(it, got); diff != "" {
		t.Errorf("after OutboxFailed (-want +got):\n%s", diff)
	}
	depth, oldest, err := s.OutboxStats()
	if err != nil || depth != 3 || !oldest.Equal(got.CreatedAt) {
		t.Errorf("stats %d %v %v", depth, oldest, err)
	}

	dropped, err := s.OutboxDrop(card, AuditRecord{Actor: "elevate", Detail: "held for 24h"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, x := range dropped {
		ids = append(ids, x.ID)
	}
	if diff := cmp.Diff([]uint64{card, dm}, ids); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
	items, _ := s.OutboxItems()
	if len(items) != 1 || items[0].ID != other {
		t.Errorf("left %+v, want only the unrelated item", items)
	}
	var drops []string
	if err := s.Audit(func(a AuditRecord) error {
		if a.Action == "outbox.dropped" {
			drops = append(drops, a.Detail)
			if a.RequestID != r.ID {
				t.Errorf("drop record for request %d, want %d", a.RequestID, r.ID)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(drops) != 2 || !strings.Contains(drops[0], "held for 24h") || !strings.Contains(drops[1], "waited for item") {
		t.Errorf("audit of drops: %q", drops)
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Error(err)
	}
	if d, err := s.OutboxDrop(card, AuditRecord{}); err != nil || len(d) != 0 {
		t.Errorf("dropping a gone item: %v %v", d, err)
	}
	if err := s.OutboxFailed(it); !errors.Is(err, ErrNotFound) {
		t.Errorf("OutboxFailed on a gone item: %v", err)
	}
}

func TestOutboxRefusesBadItems(t *testing.T) {
	s := newTestStore(t)
	for _, it := range []OutboxItem{{Op: "shout", Platform: "slack"}, {Op: OutboxSend}} {
		if _, err := s.Enqueue(nil, func(out *Outbox) error { _, err := out.Add(it); return err }); err == nil {
			t.Errorf("Add(%+v) accepted", it)
		}
	}
}
