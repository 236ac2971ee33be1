package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// A multi-role request ("exchange,sharepoint 4h fixing mail flow") is stored as sibling requests,
// one per role, created in one transaction: consecutive ids, each with Group set to the first id
// and GroupSize to their number. Why items and not one request holding several roles: everything
// that makes a PIM write safe is per role and already lives on a Request — its state, its write
// intent (Write) committed before the POST, its unknown-outcome retries, Reconcile and Resume,
// its schedule ids, its extension and `done` — so each role keeps all of it unchanged and a crash
// between two activations leaves two independent intents that reconciliation settles one by one.
// What is one for the whole request — the justification, the approvers' decision, the card —
// is written to every item in one transaction (UpdateGroup): an approval is one decision and one
// transaction, and each item carries its copy of it so that the guard of its activation intent
// reads one record, as for a single-role request. The card is posted once, for the first item.

// ErrNotGroup is returned for a request id that is not the first item of a multi-role request.
var ErrNotGroup = errors.New("store: not a multi-role request")

// CreateRequestsOnce stores the items of a multi-role request (at least two) in one transaction,
// each with its own audit record (evs[i], or a copy of evs[0] when there is one), and records once
// as CreateRequestOnce does. It returns the items with their ids, Group and GroupSize set.
func (s *Store) CreateRequestsOnce(rs []Request, evs []AuditRecord, once Once) ([]Request, error) {
	if len(rs) < 2 || (len(evs) != 1 && len(evs) != len(rs)) {
		return nil, fmt.Errorf("store: a multi-role request needs at least two items and their audit records (%d, %d)", len(rs), len(evs))
	}
	at := s.at(evs[0].At)
	items := make([]Request, len(rs))
	for i, r := range rs {
		if r.State == "" {
			r.State = StateReceived
		}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = at
		}
		r.UpdatedAt, r.Version, r.GroupSize = at, 1, len(rs)
		r.normalize()
		if err := r.validate(); err != nil {
			return nil, err
		}
		items[i] = r
	}
	if once.Key != "" {
		if err := checkReplayKey(once.Key, once.Window); err != nil {
			return nil, err
		}
	}
	var created []Request
	replayed := false
	err := s.group(func(tx kvTx) error {
		created, replayed = nil, false // a failed shared transaction runs this again
		if once.Key != "" {
			when := at
			if !once.At.IsZero() {
				when = s.at(once.At)
			}
			first, err := firstSeenInTx(tx, once.Key, when, once.Window)
			if err != nil || !first {
				replayed = err == nil
				return err
			}
		}
		b, err := bucket(tx, bucketRequests)
		if err != nil {
			return err
		}
		head := b.Sequence() + 1 // createInTx takes consecutive ids within this transaction
		for i, r := range items {
			ev := evs[0]
			if len(evs) > 1 {
				ev = evs[i]
			}
			ev.At = at
			if ev.Action == "" {
				ev.Action = "request.created"
			}
			r.Group = head
			if err := createInTx(tx, &r, &ev, nil); err != nil {
				return err
			}
			if r.ID != head+uint64(i) {
				return fmt.Errorf("store: multi-role request item %d got id %d, want %d", i, r.ID, head+uint64(i))
			}
			created = append(created, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return nil, ErrReplay
	}
	return created, nil
}

// GroupRequests returns the items of the multi-role request whose first item is group, in order.
func (s *Store) GroupRequests(group uint64) ([]Request, error) {
	var rs []Request
	err := s.db.View(func(tx kvTx) error {
		var err error
		rs, err = groupInTx(tx, group)
		return err
	})
	return rs, err
}

func groupInTx(tx kvTx, group uint64) ([]Request, error) {
	head, err := getRequest(tx, group)
	if err != nil {
		return nil, err
	}
	if head.Group != group || head.GroupSize < 2 {
		return nil, fmt.Errorf("%w: #%d", ErrNotGroup, group)
	}
	rs := []Request{head}
	for i := 1; i < head.GroupSize; i++ {
		r, err := getRequest(tx, group+uint64(i))
		if err != nil {
			return nil, err
		}
		if r.Group != group {
			return nil, fmt.Errorf("store: request %d is not an item of #%d", r.ID, group)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// UpdateGroup changes the items of a multi-role request in one transaction: fn gets every item
// (in order) and may queue chat deliveries; each item it changed is written, with its own copy
// of ev in the audit log. fn returning ErrNoChange, or changing nothing, writes nothing and
// returns the items as they are with ErrNoChange. Like Update, fn may be run a second time.
func (s *Store) UpdateGroup(group uint64, ev AuditRecord, fn func(rs []*Request, out *Outbox) error) ([]Request, error) {
	ev.At = s.at(ev.At)
	if ev.Action == "" {
		ev.Action = "request.updated"
	}
	var (
		out     []Request
		refused error
	)
	err := s.group(func(tx kvTx) error {
		out, refused = nil, nil
		olds, err := groupInTx(tx, group)
		if err != nil {
			refused = err
			return nil
		}
		mine, _ := groupInTx(tx, group) // fn's own copies
		ptrs := make([]*Request, len(mine))
		for i := range mine {
			ptrs[i] = &mine[i]
		}
		ob := &Outbox{tx: tx, now: ev.At, request: group}
		if err := fn(ptrs, ob); err != nil {
			if errors.Is(err, ErrNoChange) {
				out = olds
			}
			if len(ob.added) > 0 {
				return err
			}
			refused = err
			return nil
		}
		changed := 0
		for i := range mine {
			old := olds[i]
			mine[i].ID, mine[i].Version, mine[i].UpdatedAt, mine[i].Group, mine[i].GroupSize = old.ID, old.Version, old.UpdatedAt, old.Group, old.GroupSize
			mine[i].normalize()
			r := mine[i]
			if same, err := sameRequest(old, r); err != nil {
				return err
			} else if same {
				continue
			}
			if err := r.validate(); err != nil {
				refused = err
				return nil
			}
			if old.State.Terminal() && r.State != old.State {
				refused = fmt.Errorf("%w: request %d is already %s and cannot become %s", ErrConflict, old.ID, old.State, r.State)
				return nil
			}
			mine[i].Version, mine[i].UpdatedAt = old.Version+1, ev.At
			changed++
		}
		if changed == 0 {
			out, refused = olds, ErrNoChange
			if len(ob.added) > 0 {
				return ErrNoChange
			}
			return nil
		}
		for i, r := range mine {
			if r.Version == olds[i].Version {
				continue
			}
			r.normalize()
			if err := putRequest(tx, r); err != nil {
				return err
			}
			if err := reindexRequest(tx, olds[i], r); err != nil {
				return err
			}
			ev := ev
			ev.RequestID = r.ID
			if _, err := appendAudit(tx, ev); err != nil {
				return err
			}
			mine[i] = r
		}
		out = mine
		return nil
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return out, err
		}
		return nil, err
	}
	return out, nil
}

func sameRequest(a, b Request) (bool, error) {
	x, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	y, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// Request returns request id as it is inside the transaction (this transaction's writes
// included): for a change of one item that depends on its siblings.
func (o *Outbox) Request(id uint64) (Request, error) { return getRequest(o.tx, id) }

// Group returns the items of a multi-role request inside the transaction.
func (o *Outbox) Group(group uint64) ([]Request, error) { return groupInTx(o.tx, group) }
