package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The outbox holds the chat deliveries (posts, DMs, card updates, files) that state changes
// caused and that have not been made yet. They are written in the same transaction as the
// change (UpdateWith, CreateRequestWith, Enqueue), so a crash can lose neither the change nor
// what it must tell people; a worker in bot delivers them and removes them (OutboxDone), or
// gives up on them after a bound with an audit record (OutboxDrop).

var (
	bucketOutbox = []byte("outbox")
	// v8: the outbox by conversation and by request, so the delivery worker reads one
	// conversation's items and a change reads its request's, not the whole outbox each time.
	bucketOutboxByConv    = []byte("outbox_by_conversation")
	bucketOutboxByRequest = []byte("outbox_by_request")
)

// migrateV7 adds the outbox bucket.
func migrateV7(tx kvTx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketOutbox); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketOutbox, err)
	}
	return nil
}

// migrateV8 adds the outbox's indexes by conversation and by request, built from the items
// queued.
func migrateV8(tx kvTx) error {
	for _, name := range [][]byte{bucketOutboxByConv, bucketOutboxByRequest} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		var it OutboxItem
		if err := json.Unmarshal(v, &it); err != nil {
			return fmt.Errorf("store: outbox item %x: %w", k, err)
		}
		return putOutboxIndexes(tx, it)
	})
}

// What an outbox item does.
const (
	OutboxSend    = "send"    // post Message to the address (a channel post, DM or private reply)
	OutboxCard    = "card"    // post request RequestID's approval card in Channel, rendered when delivered
	OutboxRefresh = "refresh" // update every card of request RequestID on Platform, rendered when delivered
)

// OutboxItem is one chat delivery waiting to be made. Message (and Files) are the sender's
// encoding; the store never looks inside.
type OutboxItem struct {
	ID        uint64 `json:"id"`
	Op        string `json:"op"`
	Platform  string `json:"platform"`
	Channel   string `json:"channel,omitempty"`
	User      string `json:"user,omitempty"`
	Private   bool   `json:"private,omitempty"`
	RequestID uint64 `json:"request_id,omitempty"`
	// RefKind, when set, stores the delivered message's reference for RequestID under this kind
	// (OutboxDone), so later updates find it.
	RefKind string          `json:"ref_kind,omitempty"`
	Message json.RawMessage `json:"message,omitempty"`
	Files   json.RawMessage `json:"files,omitempty"`
	// After is an item that must be delivered first: words that claim a delivery ("I've asked in
	// #pim-approvals") wait for it. If it is dropped, so is this one.
	After uint64 `json:"after,omitempty"`
	// Run, when set, names the process run the item is only good for (a sign-in link lives in
	// that process's memory); another run drops it as stale.
	Run string `json:"run,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	NextAt    time.Time `json:"next_at,omitzero"` // not before this (backoff, Retry-After)
	Attempts  int       `json:"attempts,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	// Uncertain: an attempt got no answer, so the message may have been posted.
	Uncertain bool `json:"uncertain,omitempty"`
	// HeldSince is when the item's target was last found unknown (a channel not mapped yet).
	HeldSince time.Time `json:"held_since,omitzero"`
}

// Conversation is the ordering key of the item: items of one conversation are delivered in
// the order they were added. A user's private replies and DMs are one conversation.
func (it OutboxItem) Conversation() string {
	if it.Channel != "" && !it.Private {
		return it.Platform + "\x00c\x00" + it.Channel
	}
	return it.Platform + "\x00u\x00" + it.User
}

// Outbox adds items inside a store transaction; see UpdateWith.
type Outbox struct {
	tx      kvTx
	now     time.Time
	request uint64 // the request being changed, 0 for none
	added   []OutboxItem
}

// Add queues it and returns its id (for another item's After). ID, CreatedAt and the
// delivery bookkeeping are set by the store; RequestID defaults to the request being changed.
func (o *Outbox) Add(it OutboxItem) (uint64, error) {
	if o == nil || o.tx == nil {
		return 0, errors.New("store: outbox used outside its transaction")
	}
	switch it.Op {
	case OutboxSend, OutboxCard, OutboxRefresh:
	default:
		return 0, fmt.Errorf("store: unknown outbox op %q", it.Op)
	}
	if it.RequestID == 0 {
		it.RequestID = o.request
	}
	if it.Platform == "" {
		return 0, errors.New("store: outbox item without a platform")
	}
	b, err := bucket(o.tx, bucketOutbox)
	if err != nil {
		return 0, err
	}
	if it.ID, err = b.NextSequence(); err != nil {
		return 0, err
	}
	it.CreatedAt = o.now
	it.NextAt, it.Attempts, it.LastError, it.Uncertain, it.HeldSince = time.Time{}, 0, "", false, time.Time{}
	if err := putOutbox(b, it); err != nil {
		return 0, err
	}
	if err := putOutboxIndexes(o.tx, it); err != nil {
		return 0, err
	}
	o.added = append(o.added, it)
	return it.ID, nil
}

// Added is what was added so far in this transaction.
func (o *Outbox) Added() []OutboxItem { return slices.Clone(o.added) }

func putOutbox(b kvBucket, it OutboxItem) error {
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return b.Put(u64(it.ID), v)
}

func outboxByConvKey(it OutboxItem) []byte    { return append(strs(it.Conversation()), u64(it.ID)...) }
func outboxByRequestKey(it OutboxItem) []byte { return append(u64(it.RequestID), u64(it.ID)...) }

func putOutboxIndexes(tx kvTx, it OutboxItem) error {
	if err := tx.Bucket(bucketOutboxByConv).Put(outboxByConvKey(it), []byte{}); err != nil {
		return err
	}
	if it.RequestID == 0 {
		return nil
	}
	return tx.Bucket(bucketOutboxByRequest).Put(outboxByRequestKey(it), []byte{})
}

// deleteOutbox removes it and its index entries.
func deleteOutbox(tx kvTx, b kvBucket, it OutboxItem) error {
	if err := b.Delete(u64(it.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOutboxByConv).Delete(outboxByConvKey(it)); err != nil {
		return err
	}
	if it.RequestID == 0 {
		return nil
	}
	return tx.Bucket(bucketOutboxByRequest).Delete(outboxByRequestKey(it))
}

// indexed returns the items an index lists under prefix, oldest first.
func indexed(tx kvTx, index, prefix []byte) ([]OutboxItem, error) {
	var out []OutboxItem
	c := tx.Bucket(index).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		it, err := getOutbox(tx, binary.BigEndian.Uint64(k[len(k)-8:]))
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// OutboxConversation returns the items waiting in one conversation (OutboxItem.Conversation),
// oldest first: what the delivery worker needs, without reading the rest of the outbox.
func (s *Store) OutboxConversation(conv string) ([]OutboxItem, error) {
	var out []OutboxItem
	err := s.db.View(func(tx kvTx) error {
		var err error
		out, err = indexed(tx, bucketOutboxByConv, strs(conv))
		return err
	})
	return out, err
}

// OutboxHeads returns the first (oldest) item of every conversation with items waiting: where
// the delivery worker starts, and when it must look again (an item backing off holds its
// conversation's later items), without decoding the rest of the outbox.
func (s *Store) OutboxHeads() ([]OutboxItem, error) {
	var out []OutboxItem
	err := s.db.View(func(tx kvTx) error {
		c := tx.Bucket(bucketOutboxByConv).Cursor()
		var last []byte
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) < 8 {
				return fmt.Errorf("store: outbox index key %x", k)
			}
			conv := k[:len(k)-8]
			if last != nil && bytes.Equal(conv, last) {
				continue
			}
			last = bytes.Clone(conv)
			it, err := getOutbox(tx, binary.BigEndian.Uint64(k[len(k)-8:]))
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// OutboxWaiting says whether item id is still queued.
func (s *Store) OutboxWaiting(id uint64) (bool, error) {
	var ok bool
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		ok = b.Get(u64(id)) != nil
		return nil
	})
	return ok, err
}

// Enqueue adds items in a transaction of their own (shared with the other writes queued
// meanwhile: group commit, see group; fn may then run again), with fn, for deliveries that no
// request change causes (alerts, scheduled posts). ev, when not nil, is appended to the audit log in
// the same transaction. It returns what was added.
func (s *Store) Enqueue(ev *AuditRecord, fn func(out *Outbox) error) ([]OutboxItem, error) {
	now := s.at(time.Time{})
	var added []OutboxItem
	err := s.group(func(tx kvTx) error {
		added = nil // a failed shared transaction runs this again
		out := &Outbox{tx: tx, now: now}
		if err := fn(out); err != nil {
			return err
		}
		if ev != nil {
			e := *ev
			e.At = s.at(e.At)
			if _, err := appendAudit(tx, e); err != nil {
				return err
			}
		}
		added = out.added
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// OutboxItems returns every item waiting, oldest first.
func (s *Store) OutboxItems() ([]OutboxItem, error) {
	var out []OutboxItem
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var it OutboxItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("store: outbox item %x: %w", k, err)
			}
			out = append(out, it)
			return nil
		})
	})
	return out, err
}

// OutboxItem returns the item with this id, or ErrNotFound (delivered or dropped).
func (s *Store) OutboxItem(id uint64) (OutboxItem, error) {
	var it OutboxItem
	err := s.db.View(func(tx kvTx) error {
		var err error
		it, err = getOutbox(tx, id)
		return err
	})
	return it, err
}

func getOutbox(tx kvTx, id uint64) (OutboxItem, error) {
	b, err := bucket(tx, bucketOutbox)
	if err != nil {
		return OutboxItem{}, err
	}
	v := b.Get(u64(id))
	if v == nil {
		return OutboxItem{}, fmt.Errorf("%w: outbox item %d", ErrNotFound, id)
	}
	var it OutboxItem
	if err := json.Unmarshal(v, &it); err != nil {
		return OutboxItem{}, fmt.Errorf("store: outbox item %d: %w", id, err)
	}
	return it, nil
}

// OutboxDone removes delivered items. For each item with a RefKind and a reference in refs
// (by item id), the reference is stored for the item's request in the same transaction, so a
// card's reference is never lost between its post and its first update. Items already gone are
// skipped.
func (s *Store) OutboxDone(ids []uint64, refs map[uint64]MessageRef) error {
	now := s.at(time.Time{})
	return s.group(func(tx kvTx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		for _, id := range ids {
			it, err := getOutbox(tx, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if ref, ok := refs[id]; ok && it.RefKind != "" && it.RequestID != 0 && ref.MessageID != "" {
				ref.Kind = it.RefKind
				if ref.At.IsZero() {
					ref.At = now
				}
				if err := addMessageRef(tx, it.RequestID, ref); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
			if err := deleteOutbox(tx, b, it); err != nil {
				return err
			}
		}
		return nil
	})
}

// OutboxFailed records a failed attempt on item it.ID: the caller's Attempts, NextAt,
// LastError, Uncertain and HeldSince are saved. ErrNotFound if the item is gone.
func (s *Store) OutboxFailed(it OutboxItem) error {
	return s.group(func(tx kvTx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		old, err := getOutbox(tx, it.ID)
		if err != nil {
			return err
		}
		old.Attempts, old.NextAt, old.LastError, old.Uncertain, old.HeldSince = it.Attempts, utc(it.NextAt), it.LastError, it.Uncertain, utc(it.HeldSince)
		return putOutbox(b, old)
	})
}

// OutboxDrop gives up on item id and on every item chained after it (After), appending ev to
// the audit log once per dropped item (ev.Detail gets the item's id and what it was). It
// returns the items dropped, none if id was already gone.
func (s *Store) OutboxDrop(id uint64, ev AuditRecord) ([]OutboxItem, error) {
	ev.At = s.at(ev.At)
	if ev.Action == "" {
		ev.Action = "outbox.dropped"
	}
	var dropped []OutboxItem
	err := s.db.Update(func(tx kvTx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		it, err := getOutbox(tx, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		drop := map[uint64]bool{id: true}
		dropped = append(dropped, it)
		// Dependents have larger ids than what they wait for: one pass in id order finds chains.
		err = b.ForEach(func(k, v []byte) error {
			var x OutboxItem
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("store: outbox item %x: %w", k, err)
			}
			if x.After != 0 && drop[x.After] && !drop[x.ID] {
				drop[x.ID] = true
				dropped = append(dropped, x)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, x := range dropped {
			if err := deleteOutbox(tx, b, x); err != nil {
				return err
			}
			e := ev
			e.RequestID = x.RequestID
			e.Detail = fmt.Sprintf("outbox item %d (%s %s to %s) not delivered: %s", x.ID, x.Platform, x.Op, target(x), ev.Detail)
			if x.ID != id {
				e.Detail = fmt.Sprintf("outbox item %d (%s %s to %s) not delivered: it waited for item %d", x.ID, x.Platform, x.Op, target(x), x.After)
			}
			if _, err := appendAudit(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	return dropped, err
}

func target(it OutboxItem) string {
	if it.Channel != "" && !it.Private {
		return "channel " + it.Channel
	}
	return "user " + it.User
}

// OutboxStats is the queue's depth and the creation time of its oldest item (zero when empty).
func (s *Store) OutboxStats() (depth int, oldest time.Time, err error) {
	err = s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		if depth, err = b.KeyN(); err != nil {
			return err
		}
		if k, v := b.Cursor().First(); k != nil {
			var it OutboxItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("store: outbox item %d: %w", binary.BigEndian.Uint64(k), err)
			}
			oldest = it.CreatedAt
		}
		return nil
	})
	return depth, oldest, err
}

// MessageRefs returns the messages showing request requestID, as MessageRefs does, inside the
// transaction.
func (o *Outbox) MessageRefs(requestID uint64) ([]MessageRef, error) {
	msgs, err := bucket(o.tx, bucketMessages)
	if err != nil {
		return nil, err
	}
	b := msgs.Bucket(u64(requestID))
	if b == nil {
		return nil, nil
	}
	return messageRefs(b)
}

// Queued returns the items queued for request requestID (this transaction's included), oldest
// first.
func (o *Outbox) Queued(requestID uint64) ([]OutboxItem, error) {
	if requestID == 0 {
		return nil, nil
	}
	return indexed(o.tx, bucketOutboxByRequest, u64(requestID))
}
