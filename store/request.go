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

// CreateRequest stores a new request and its audit record ev in one
// transaction and returns it with its ID, Version 1, and CreatedAt/UpdatedAt
// set (CreatedAt keeps the caller's value if set). An empty State becomes
// StateReceived. ev.RequestID is set to the new ID.
func (s *Store) CreateRequest(r Request, ev AuditRecord) (Request, error) {
	return s.CreateRequestWith(r, ev, nil)
}

// CreateRequestWith is CreateRequest whose out (if not nil) may queue chat deliveries for the new
// request (which it gets with its ID set), committed in the same transaction.
func (s *Store) CreateRequestWith(r Request, ev AuditRecord, out func(r Request, out *Outbox) error) (Request, error) {
	return s.createRequest(r, ev, Once{}, out)
}

// Once is a replay key recorded in the same transaction as what it guards (see FirstSeen).
type Once struct {
	Key    string
	At     time.Time // when it was handled; zero: the request's audit time
	Window time.Duration
}

// ErrReplay is returned by CreateRequestOnce when its replay key was already recorded and has not
// expired: nothing was stored.
var ErrReplay = errors.New("store: already handled (replay)")

// CreateRequestOnce is CreateRequest that also records once.Key as FirstSeen does, in the same
// transaction: when the key is not new it stores nothing and returns ErrReplay. An empty key
// records nothing.
func (s *Store) CreateRequestOnce(r Request, ev AuditRecord, once Once) (Request, error) {
	return s.createRequest(r, ev, once, nil)
}

func (s *Store) createRequest(r Request, ev AuditRecord, once Once, out func(r Request, out *Outbox) error) (Request, error) {
	ev.At = s.at(ev.At)
	if r.State == "" {
		r.State = StateReceived
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = ev.At
	}
	r.UpdatedAt = ev.At
	r.Version = 1
	r.normalize()
	if err := r.validate(); err != nil {
		return Request{}, err
	}
	if ev.Action == "" {
		ev.Action = "request.created"
	}
	if once.Key != "" {
		if err := checkReplayKey(once.Key, once.Window); err != nil {
			return Request{}, err
		}
	}
	var created Request
	replayed := false
	err := s.group(func(tx kvTx) error {
		r, ev := r, ev // a failed shared transaction runs this again
		replayed = false
		if once.Key != "" {
			at := ev.At
			if !once.At.IsZero() {
				at = s.at(once.At)
			}
			// A replay stores nothing but returns nil: it must not fail the shared transaction.
			first, err := firstSeenInTx(tx, once.Key, at, once.Window)
			if err != nil || !first {
				replayed = err == nil
				return err
			}
		}
		if err := createInTx(tx, &r, &ev, out); err != nil {
			return err
		}
		created = r
		return nil
	})
	if err != nil {
		return Request{}, err
	}
	if replayed {
		return Request{}, ErrReplay
	}
	return created, nil
}

func createInTx(tx kvTx, r *Request, ev *AuditRecord, out func(Request, *Outbox) error) error {
	b, err := bucket(tx, bucketRequests)
	if err != nil {
		return err
	}
	if r.ID, err = b.NextSequence(); err != nil {
		return err
	}
	if err := putRequest(tx, *r); err != nil {
		return err
	}
	if err := putRequestIndexes(tx, *r); err != nil {
		return err
	}
	ev.RequestID = r.ID
	if _, err = appendAudit(tx, *ev); err != nil {
		return err
	}
	if out != nil {
		return out(*r, &Outbox{tx: tx, now: ev.At, request: r.ID})
	}
	return nil
}

// Request returns the request with this id, or ErrNotFound.
func (s *Store) Request(id uint64) (Request, error) {
	var r Request
	err := s.db.View(func(tx kvTx) error {
		var err error
		r, err = getRequest(tx, id)
		return err
	})
	return r, err
}

// Update changes a request in one transaction. fn gets a copy of the stored
// request; if it returns nil, the copy is saved with Version+1 and UpdatedAt
// set to ev.At (default now), and ev is appended to the audit log with
// RequestID set: one change, one audit record.
//
// If fn returns ErrNoChange (errors.Is), nothing is written and Update
// returns the current request with fn's error; fn can therefore make a
// handler idempotent ("approve only while awaiting approval"). Any other
// error from fn is returned as is, with nothing written.
//
// fn must not call the Store: it runs inside the write transaction. It may
// not move a request out of a terminal state (ErrConflict); the ID and
// Version it sets are ignored.
//
// The transaction is shared with the other writes queued meanwhile (group
// commit, see group): one fsync for all of them. A refusal (fn's error,
// ErrConflict, an invalid request) writes nothing and fails only this
// Update. When the shared transaction fails for another reason (the disk,
// or UpdateWith's fn giving up after queuing deliveries), each write is
// tried again alone, so fn can be called a second time: it should only
// change the *Request (and Outbox) it is given.
func (s *Store) Update(id uint64, ev AuditRecord, fn func(*Request) error) (Request, error) {
	return s.UpdateWith(id, ev, func(r *Request, _ *Outbox) error { return fn(r) })
}

// UpdateWith is Update whose fn may also queue chat deliveries in out: they are committed in the
// same transaction as the change and its audit record, or not at all (fn's error, ErrNoChange).
// Items' RequestID defaults to id.
func (s *Store) UpdateWith(id uint64, ev AuditRecord, fn func(r *Request, out *Outbox) error) (Request, error) {
	ev.At = s.at(ev.At)
	if ev.Action == "" {
		ev.Action = "request.updated"
	}
	var (
		out     Request
		refused error // fn's error or a refusal: nothing written, this Update alone fails
	)
	err := s.group(func(tx kvTx) error {
		out, refused = Request{}, nil // a failed shared transaction runs this again
		old, err := getRequest(tx, id)
		if err != nil {
			refused = err
			return nil
		}
		r, err := getRequest(tx, id) // fn's own copy, sharing nothing with old
		if err != nil {
			refused = err
			return nil
		}
		ob := &Outbox{tx: tx, now: ev.At, request: id}
		if err := fn(&r, ob); err != nil {
			if errors.Is(err, ErrNoChange) {
				out = old
			}
			if len(ob.added) > 0 {
				// fn queued deliveries before it gave up: only rolling the transaction back
				// undoes them (the writes sharing it are then tried again alone).
				return err
			}
			refused = err
			return nil
		}
		r.ID, r.Version, r.UpdatedAt = id, old.Version+1, ev.At
		r.normalize()
		if err := r.validate(); err != nil {
			refused = err
			return nil
		}
		if old.State.Terminal() && r.State != old.State {
			refused = fmt.Errorf("%w: request %d is already %s and cannot become %s", ErrConflict, id, old.State, r.State)
			return nil
		}
		// From here on a failure leaves a partial write: it fails the transaction.
		if err := putRequest(tx, r); err != nil {
			return err
		}
		if err := reindexRequest(tx, old, r); err != nil {
			return err
		}
		ev := ev
		ev.RequestID = id
		if _, err := appendAudit(tx, ev); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return out, err
		}
		return Request{}, err
	}
	return out, nil
}

// Requests returns the requests matching f, oldest first.
func (s *Store) Requests(f Filter) ([]Request, error) {
	var out []Request
	err := s.db.View(func(tx kvTx) error {
		ids, indexed, err := candidates(tx, f)
		if err != nil {
			return err
		}
		if !indexed {
			b, err := bucket(tx, bucketRequests)
			if err != nil {
				return err
			}
			return b.ForEach(func(k, v []byte) error {
				r, err := decodeRequest(k, v)
				if err != nil {
					return err
				}
				if f.match(r) {
					out = append(out, r)
				}
				return nil
			})
		}
		for _, id := range ids {
			r, err := getRequest(tx, id)
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%w: request %d", errIndexDangling, id)
			}
			if err != nil {
				return err
			}
			if f.match(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

func (f Filter) match(r Request) bool {
	return (f.Platform == "" || r.Platform == f.Platform) &&
		(f.ChatUser == "" || r.ChatUser == f.ChatUser) &&
		(f.UserID == "" || r.UserID == f.UserID) &&
		(len(f.States) == 0 || slices.Contains(f.States, r.State)) &&
		(!f.OpenOnly || !r.State.Terminal())
}

// candidates picks the narrowest index for f and returns the ids it lists,
// in ascending order; indexed is false when only a full scan will do. The
// caller still applies f to every candidate.
func candidates(tx kvTx, f Filter) (ids []uint64, indexed bool, err error) {
	var (
		name   []byte
		prefix []byte
	)
	onlyOpenStates := len(f.States) > 0 && !slices.ContainsFunc(f.States, State.Terminal)
	switch {
	case f.Platform != "" && f.ChatUser != "":
		name, prefix = bucketRequestsByChat, strs(f.Platform, f.ChatUser)
	case f.UserID != "":
		name, prefix = bucketRequestsByUser, strs(f.UserID)
	case f.Platform != "":
		name, prefix = bucketRequestsByChat, strs(f.Platform)
	case f.OpenOnly || onlyOpenStates:
		name = bucketRequestsOpen
	default:
		return nil, false, nil
	}
	b, err := bucket(tx, name)
	if err != nil {
		return nil, false, err
	}
	// Open requests only, from a chat user's or an Entra user's whole history: the open index
	// says which without decoding every past request (a command reads its requester's open
	// requests before it is acknowledged).
	var open kvBucket
	if (f.OpenOnly || onlyOpenStates) && !bytes.Equal(name, bucketRequestsOpen) {
		if open, err = bucket(tx, bucketRequestsOpen); err != nil {
			return nil, false, err
		}
	}
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) < len(prefix)+8 {
			return nil, false, fmt.Errorf("store: bad key %x in %s", k, name)
		}
		if open != nil && open.Get(k[len(k)-8:]) == nil {
			continue
		}
		ids = append(ids, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	// Ids from a chat-user prefix of a whole platform are grouped by chat
	// user; the result is promised oldest first.
	slices.Sort(ids)
	return ids, true, nil
}

func getRequest(tx kvTx, id uint64) (Request, error) {
	b, err := bucket(tx, bucketRequests)
	if err != nil {
		return Request{}, err
	}
	k := u64(id)
	v := b.Get(k)
	if v == nil {
		return Request{}, fmt.Errorf("%w: request %d", ErrNotFound, id)
	}
	return decodeRequest(k, v)
}

// decodeRequest copies the request out of bbolt's memory (json.Unmarshal
// allocates every string and slice), so it outlives the transaction.
func decodeRequest(k, v []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(v, &r); err != nil {
		return Request{}, fmt.Errorf("store: request %x: %w", k, err)
	}
	return r, nil
}

func putRequest(tx kvTx, r Request) error {
	b, err := bucket(tx, bucketRequests)
	if err != nil {
		return err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put(u64(r.ID), v)
}

// requestIndexKeys lists the index entries r should have, per bucket.
func requestIndexKeys(r Request) map[string][]byte {
	keys := map[string][]byte{
		string(bucketRequestsByChat): binary.BigEndian.AppendUint64(strs(r.Platform, r.ChatUser), r.ID),
	}
	if !r.State.Terminal() {
		keys[string(bucketRequestsOpen)] = u64(r.ID)
	}
	if r.UserID != "" {
		keys[string(bucketRequestsByUser)] = binary.BigEndian.AppendUint64(strs(r.UserID), r.ID)
	}
	return keys
}

func putRequestIndexes(tx kvTx, r Request) error {
	return reindexRequest(tx, Request{}, r)
}

// reindexRequest moves old's index entries to those of r: state changes
// (open → terminal), a request getting its Entra user, …
func reindexRequest(tx kvTx, old, r Request) error {
	before := map[string][]byte{}
	if old.ID != 0 {
		before = requestIndexKeys(old)
	}
	after := requestIndexKeys(r)
	for name, k := range before {
		if bytes.Equal(after[name], k) {
			continue
		}
		b, err := bucket(tx, []byte(name))
		if err != nil {
			return err
		}
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	for name, k := range after {
		if bytes.Equal(before[name], k) {
			continue
		}
		b, err := bucket(tx, []byte(name))
		if err != nil {
			return err
		}
		if err := b.Put(k, []byte{}); err != nil {
			return err
		}
	}
	return nil
}
