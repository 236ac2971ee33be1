package store

import (
	"errors"
	"slices"
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
	if v := fileVersion(t, path); v != latestVersion {
		t.Errorf("version = %d, want %d", v, latestVersion)
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

// TestMigrationV8IndexesOutbox opens a v7 file with items queued: the new indexes list them by
// conversation and by request.
func TestMigrationV8IndexesOutbox(t *testing.T) {
	old := []OutboxItem{
		{ID: 1, Op: OutboxCard, Platform: "slack", Channel: "C1", RequestID: 7},
		{ID: 2, Op: OutboxSend, Platform: "slack", User: "U1", RequestID: 7},
		{ID: 3, Op: OutboxRefresh, Platform: "slack", Channel: "C1", RequestID: 7},
		{ID: 4, Op: OutboxSend, Platform: "teams", Channel: "19:x", User: "29:a", Private: true},
	}
	path := buildFile(t, 7, func(tx kvTx) error {
		if tx.Bucket(bucketOutboxByConv) != nil {
			t.Error("outbox index exists at version 7")
		}
		for _, it := range old {
			if err := putOutbox(tx.Bucket(bucketOutbox), it); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketOutbox).SetSequence(4)
	})
	s := openTest(t, path)
	if v, _ := readVersion(s.db); v != latestVersion {
		t.Errorf("version after Open = %d, want %d", v, latestVersion)
	}
	checkOutboxIndexes(t, s, []uint64{7})
	got, err := s.OutboxConversation(old[0].Conversation())
	if err != nil || len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 {
		t.Errorf("OutboxConversation(slack C1) = %+v, %v; want items 1 and 3", got, err)
	}
}

// checkOutboxIndexes compares the indexes with the outbox itself: each conversation's items
// (OutboxConversation), the first of each (OutboxHeads), and requests' items (Queued).
func checkOutboxIndexes(t *testing.T, s *Store, requests []uint64) {
	t.Helper()
	all, err := s.OutboxItems()
	if err != nil {
		t.Fatal(err)
	}
	byConv := map[string][]uint64{}
	var convs []string
	for _, it := range all {
		if _, ok := byConv[it.Conversation()]; !ok {
			convs = append(convs, it.Conversation())
		}
		byConv[it.Conversation()] = append(byConv[it.Conversation()], it.ID)
	}
	ids := func(items []OutboxItem) []uint64 {
		var out []uint64
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	for conv, want := range byConv {
		got, err := s.OutboxConversation(conv)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ids(got), want); diff != "" {
			t.Errorf("OutboxConversation(%q) (-got +want):\n%s", conv, diff)
		}
	}
	heads, err := s.OutboxHeads()
	if err != nil {
		t.Fatal(err)
	}
	var gotHeads []string
	for _, h := range heads {
		gotHeads = append(gotHeads, h.Conversation())
		if byConv[h.Conversation()][0] != h.ID {
			t.Errorf("head of %q is item %d, want %d", h.Conversation(), h.ID, byConv[h.Conversation()][0])
		}
	}
	slices.Sort(gotHeads)
	slices.Sort(convs)
	if diff := cmp.Diff(gotHeads, convs); diff != "" {
		t.Errorf("OutboxHeads' conversations (-got +want):\n%s", diff)
	}
	for _, req := range requests {
		var want []uint64
		for _, it := range all {
			if it.RequestID == req {
				want = append(want, it.ID)
			}
		}
		var got []OutboxItem
		if _, err := s.Enqueue(nil, func(out *Outbox) error {
			got, err = out.Queued(req)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ids(got), want); diff != "" {
			t.Errorf("Queued(%d) (-got +want):\n%s", req, diff)
		}
	}
}

// The outbox's indexes follow every add, delivery, failed attempt and drop.
func TestOutboxIndexes(t *testing.T) {
	s := newTestStore(t)
	r1, r2 := mustCreate(t, s, sampleRequest()), mustCreate(t, s, sampleRequest())
	var ids []uint64
	add := func(r uint64, it OutboxItem) {
		t.Helper()
		if _, err := s.UpdateWith(r, ev("request.touched"), func(_ *Request, out *Outbox) error {
			id, err := out.Add(it)
			ids = append(ids, id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	add(r1.ID, OutboxItem{Op: OutboxCard, Platform: "slack", Channel: "C1"})
	add(r1.ID, OutboxItem{Op: OutboxSend, Platform: "slack", User: "U1"})
	add(r2.ID, OutboxItem{Op: OutboxCard, Platform: "slack", Channel: "C1"})
	add(r2.ID, OutboxItem{Op: OutboxSend, Platform: "teams", User: "29:b", After: ids[2]})
	add(r1.ID, OutboxItem{Op: OutboxRefresh, Platform: "slack", Channel: "C1"})
	if _, err := s.Enqueue(nil, func(out *Outbox) error {
		_, err := out.Add(OutboxItem{Op: OutboxSend, Platform: "slack", Channel: "C2"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	checkOutboxIndexes(t, s, []uint64{r1.ID, r2.ID})

	// A failed attempt keeps the item where it was; a delivery and a drop (with what waited for
	// it) take items out of every index.
	it, err := s.OutboxItem(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	it.Attempts, it.NextAt = 1, t0.Add(time.Minute)
	if err := s.OutboxFailed(it); err != nil {
		t.Fatal(err)
	}
	checkOutboxIndexes(t, s, []uint64{r1.ID, r2.ID})
	if err := s.OutboxDone([]uint64{ids[0]}, nil); err != nil {
		t.Fatal(err)
	}
	checkOutboxIndexes(t, s, []uint64{r1.ID, r2.ID})
	if dropped, err := s.OutboxDrop(ids[2], ev("outbox.dropped")); err != nil || len(dropped) != 2 {
		t.Fatalf("OutboxDrop = %+v, %v; want the card and the DM waiting for it", dropped, err)
	}
	checkOutboxIndexes(t, s, []uint64{r1.ID, r2.ID})
	for _, id := range []uint64{ids[0], ids[2], ids[3]} {
		if ok, err := s.OutboxWaiting(id); err != nil || ok {
			t.Errorf("OutboxWaiting(%d) = %v, %v after it went", id, ok, err)
		}
	}
	if ok, err := s.OutboxWaiting(ids[4]); err != nil || !ok {
		t.Errorf("OutboxWaiting(%d) = %v, %v; want true", ids[4], ok, err)
	}
	heads, _ := s.OutboxHeads()
	if len(heads) != 3 {
		t.Errorf("%d conversations with items, want 3 (slack C1, slack U1, slack C2): %+v", len(heads), heads)
	}
}
