package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// The activation-events index: one small record per activation, denial,
// failure and expiry, keyed by time, so that a digest or a review's usage
// evidence reads a time range with one cursor instead of decoding every
// request. A year of a 1000-person tenant (~1 M events) is read in well
// under a second (BenchmarkEvents1M, docs/benchmarks.md).
//
//	events/            <8B unix nanos><8B ref> → kind, role, user, duration, latency, graph id
//	events_dict/       "s"<str pair> → 8B n;  "i"<8B n> → <str pair>   (role/user id+name pairs)
//	events_by_graph/   <str PIM request id> → events key (one event per PIM activation)
//	snapshots/         <str name><8B unix nanos> → Snapshot (JSON)
//
// <ref> is the request id for events made through Elevate and, with the top
// bit set, a hash of the directory audit id for those seen only in Graph.

var (
	bucketEvents        = []byte("events")
	bucketEventDict     = []byte("events_dict")
	bucketEventsByGraph = []byte("events_by_graph")
	bucketSnapshots     = []byte("snapshots")
)

// EventKind is what happened.
type EventKind uint8

const (
	EventActivated        EventKind = 1 // activated through Elevate
	EventActivatedOutside EventKind = 2 // activated in the portal, PowerShell, … (directory audits)
	EventDenied           EventKind = 3
	EventFailed           EventKind = 4 // PIM or policy refused it
	EventExpired          EventKind = 5 // nobody decided in time
)

// Event is one entry of the index.
type Event struct {
	At               time.Time
	Kind             EventKind
	RoleID, RoleName string
	UserID, User     string // Entra object id and UPN (or a display name)
	Duration         time.Duration
	ApprovalLatency  time.Duration // request to decision, for requests that needed approval
	GraphID          string        // the PIM request id of an activation
	RequestID        uint64        // the Elevate request, 0 for events seen only in Graph
	Ref              string        // for events seen only in Graph: the directory audit id
}

const outsideBit = uint64(1) << 63

func eventKey(e *Event) []byte {
	ref := e.RequestID
	if ref == 0 {
		h := fnv.New64a()
		h.Write([]byte(e.Ref))
		ref = h.Sum64() | outsideBit
	}
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(e.At.UnixNano()))
	return binary.BigEndian.AppendUint64(k, ref)
}

// dictID returns the number of the (id, name) pair, adding it if new.
func dictID(b kvBucket, id, name string) (uint64, error) {
	pair := appendStr(appendStr(nil, id), name)
	sk := append([]byte{'s'}, pair...)
	if v := b.Get(sk); v != nil {
		return binary.BigEndian.Uint64(v), nil
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	if err := b.Put(sk, u64(n)); err != nil {
		return 0, err
	}
	return n, b.Put(append([]byte{'i'}, u64(n)...), pair)
}

func putEvent(tx kvTx, e *Event) (bool, error) {
	evs, dict, byGraph := tx.Bucket(bucketEvents), tx.Bucket(bucketEventDict), tx.Bucket(bucketEventsByGraph)
	if evs == nil || dict == nil || byGraph == nil {
		return false, fmt.Errorf("%w: events", errBucketMissing)
	}
	key := eventKey(e)
	if e.GraphID != "" {
		if old := byGraph.Get([]byte(e.GraphID)); old != nil {
			// One PIM activation, one event: Elevate's own record wins over the one
			// seen in the directory audits, whichever was indexed first.
			if e.RequestID == 0 || binary.BigEndian.Uint64(old[8:])&outsideBit == 0 {
				return false, nil
			}
			if err := evs.Delete(old); err != nil {
				return false, err
			}
		}
	}
	role, err := dictID(dict, e.RoleID, e.RoleName)
	if err != nil {
		return false, err
	}
	user, err := dictID(dict, e.UserID, e.User)
	if err != nil {
		return false, err
	}
	v := make([]byte, 0, 24+len(e.GraphID))
	v = append(v, byte(e.Kind))
	v = binary.AppendUvarint(v, role)
	v = binary.AppendUvarint(v, user)
	v = binary.AppendUvarint(v, uint64(max(e.Duration, 0)/time.Second))
	v = binary.AppendUvarint(v, uint64(max(e.ApprovalLatency, 0)/time.Second))
	v = appendStr(v, e.GraphID)
	if err := evs.Put(key, v); err != nil {
		return false, err
	}
	if e.GraphID != "" {
		if err := byGraph.Put([]byte(e.GraphID), key); err != nil {
			return false, err
		}
	}
	return true, nil
}

// AddEvents indexes events seen outside the store (activations in the
// directory audits). Adding the same event again, or one whose PIM request id
// is already indexed, changes nothing; it returns how many were new.
func (s *Store) AddEvents(evs []Event) (int, error) {
	n := 0
	err := s.db.Update(func(tx kvTx) error {
		for i := range evs {
			e := evs[i]
			e.At = utc(e.At)
			ok, err := putEvent(tx, &e)
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	return n, err
}

// eventActions maps the audit actions of the request lifecycle to events.
var eventActions = map[string]EventKind{
	"request.active":  EventActivated,
	"request.deny":    EventDenied,
	"request.denied":  EventDenied,
	"request.failed":  EventFailed,
	"request.refused": EventFailed,
	"request.expired": EventExpired,
}

// durationActions are the audit actions after which an activation's length may differ from
// what it was when it was indexed: ended (by `done`, at its end, in PIM outside Elevate),
// extended, or found by reconciliation to end at another time.
var durationActions = map[string]bool{
	"request.ended":      true,
	"request.extended":   true,
	"request.reconciled": true,
}

const syncPage = 2048

// SyncEvents indexes the requests' lifecycle events appended to the audit
// log since the last call: it follows the log with a cursor kept in the
// store, so each event is indexed once. It returns how many it added.
func (s *Store) SyncEvents() (int, error) {
	total := 0
	for {
		n, more := 0, false
		err := s.db.Update(func(tx kvTx) error {
			sch, err := bucket(tx, bucketSchedule)
			if err != nil {
				return err
			}
			audit, err := bucket(tx, bucketAudit)
			if err != nil {
				return err
			}
			var cur uint64
			if v := sch.Get(keyEventsCur); len(v) == 8 {
				cur = binary.BigEndian.Uint64(v)
			}
			c := audit.Cursor()
			seen := 0
			for k, v := c.Seek(u64(cur + 1)); k != nil; k, v = c.Next() {
				if seen == syncPage {
					more = true
					break
				}
				seen++
				cur = binary.BigEndian.Uint64(k)
				var ar AuditRecord
				if err := json.Unmarshal(v, &ar); err != nil {
					return fmt.Errorf("store: audit record %d: %w", cur, err)
				}
				kind, ok := eventActions[ar.Action]
				if ar.RequestID == 0 || !ok && !durationActions[ar.Action] {
					continue
				}
				r, err := getRequest(tx, ar.RequestID)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if !ok {
					// The activation ended (early, in PIM, cut short) or was extended: its
					// event, indexed when it became active, takes its real length.
					if err := refreshDuration(tx, r); err != nil {
						return err
					}
					continue
				}
				e := requestEvent(r, kind, ar.At)
				added, err := putEvent(tx, &e)
				if err != nil {
					return err
				}
				if added {
					n++
				}
			}
			return sch.Put(keyEventsCur, u64(cur))
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

func requestEvent(r Request, kind EventKind, at time.Time) Event {
	user := r.UPN
	if user == "" {
		user = r.ChatName
	}
	e := Event{At: at.UTC(), Kind: kind, RoleID: r.RoleID, RoleName: r.RoleName, UserID: r.UserID, User: user,
		Duration: r.Duration, RequestID: r.ID}
	if kind == EventActivated {
		e.Duration = activeFor(r)
	}
	if kind == EventActivated {
		e.GraphID = r.GraphRequestID
		if !r.ActivatedAt.IsZero() {
			e.At = r.ActivatedAt
		}
	}
	var decided time.Time
	for _, ap := range r.Approvals {
		if ap.At.After(decided) {
			decided = ap.At
		}
	}
	if r.ApprovalsNeeded > 0 && !decided.IsZero() && decided.After(r.CreatedAt) {
		e.ApprovalLatency = decided.Sub(r.CreatedAt)
	}
	return e
}

// activeFor is how long r's activation lasts: from its start to its end — the time it ended
// once it has (`done`, ended in PIM, cut short), its scheduled end, extensions included, while
// it is active. The requested duration when either is unknown.
func activeFor(r Request) time.Duration {
	if r.ActivatedAt.IsZero() || !r.EndsAt.After(r.ActivatedAt) {
		return r.Duration
	}
	return r.EndsAt.Sub(r.ActivatedAt)
}

// refreshDuration rewrites the duration of r's activation event, if it is indexed, to
// activeFor(r).
func refreshDuration(tx kvTx, r Request) error {
	if r.ActivatedAt.IsZero() {
		return nil
	}
	evs, byGraph := tx.Bucket(bucketEvents), tx.Bucket(bucketEventsByGraph)
	if evs == nil || byGraph == nil {
		return fmt.Errorf("%w: events", errBucketMissing)
	}
	var key []byte
	if r.GraphRequestID != "" {
		if k := byGraph.Get([]byte(r.GraphRequestID)); len(k) == 16 && binary.BigEndian.Uint64(k[8:]) == r.ID {
			key = bytes.Clone(k)
		}
	}
	if key == nil {
		key = eventKey(&Event{At: r.ActivatedAt.UTC(), RequestID: r.ID})
	}
	v := evs.Get(key)
	if len(v) < 2 || EventKind(v[0]) != EventActivated {
		return nil // not indexed yet: indexing it reads the request as it is now
	}
	// kind, role, user, duration, latency, graph id: only the duration changes.
	rest := v[1:]
	var vals [4]uint64
	for i := range vals {
		x, n := binary.Uvarint(rest)
		if n <= 0 {
			return fmt.Errorf("store: event %x is damaged", key)
		}
		vals[i], rest = x, rest[n:]
	}
	secs := uint64(max(activeFor(r), 0) / time.Second)
	if secs == vals[2] {
		return nil
	}
	nv := make([]byte, 0, len(v)+4)
	nv = append(nv, v[0])
	nv = binary.AppendUvarint(nv, vals[0])
	nv = binary.AppendUvarint(nv, vals[1])
	nv = binary.AppendUvarint(nv, secs)
	nv = binary.AppendUvarint(nv, vals[3])
	nv = append(nv, rest...)
	return evs.Put(key, nv)
}

// Events calls fn for every indexed event with from <= At < to, oldest
// first. fn gets the same *Event each time, overwritten for the next: copy
// what it keeps. fn runs inside a read transaction and must not call the
// Store; its error stops the walk and is returned.
func (s *Store) Events(from, to time.Time, fn func(*Event) error) error {
	return s.db.View(func(tx kvTx) error {
		evs, dict := tx.Bucket(bucketEvents), tx.Bucket(bucketEventDict)
		if evs == nil || dict == nil {
			return fmt.Errorf("%w: events", errBucketMissing)
		}
		type pair struct{ id, name string }
		names := map[uint64]pair{}
		lookup := func(n uint64) (pair, error) {
			if p, ok := names[n]; ok {
				return p, nil
			}
			v := dict.Get(append([]byte{'i'}, u64(n)...))
			id, rest, ok1 := readStr(v)
			name, _, ok2 := readStr(rest)
			if !ok1 || !ok2 {
				return pair{}, fmt.Errorf("store: event dictionary entry %d is damaged", n)
			}
			p := pair{id, name}
			names[n] = p
			return p, nil
		}
		end := u64(uint64(to.UnixNano()))
		var e Event
		c := evs.Cursor()
		for k, v := c.Seek(u64(uint64(from.UnixNano()))); k != nil && bytes.Compare(k[:8], end) < 0; k, v = c.Next() {
			if len(k) != 16 || len(v) < 2 {
				return fmt.Errorf("store: event %x is damaged", k)
			}
			e = Event{At: time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC(), Kind: EventKind(v[0])}
			ref := binary.BigEndian.Uint64(k[8:])
			if ref&outsideBit == 0 {
				e.RequestID = ref
			}
			rest := v[1:]
			var vals [4]uint64
			for i := range vals {
				x, n := binary.Uvarint(rest)
				if n <= 0 {
					return fmt.Errorf("store: event %x is damaged", k)
				}
				vals[i], rest = x, rest[n:]
			}
			role, err := lookup(vals[0])
			if err != nil {
				return err
			}
			user, err := lookup(vals[1])
			if err != nil {
				return err
			}
			e.RoleID, e.RoleName, e.UserID, e.User = role.id, role.name, user.id, user.name
			e.Duration, e.ApprovalLatency = time.Duration(vals[2])*time.Second, time.Duration(vals[3])*time.Second
			if g, _, ok := readStr(rest); ok {
				e.GraphID = g
			}
			if err := fn(&e); err != nil {
				return err
			}
		}
		return nil
	})
}

// readStr reads a <str> field: uvarint length, then the bytes.
func readStr(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

// Snapshot is a weekly count the digest compares week over week.
type Snapshot struct {
	At           time.Time `json:"at"`
	Permanent    int       `json:"permanent"`     // standing assignments, break-glass excluded
	GlobalAdmins int       `json:"global_admins"` // principals holding or eligible for Global Administrator
	BreakGlass   int       `json:"break_glass"`
	// The PIM rollout guide's numbers for the week before At (weekly digests only; older
	// snapshots lack them and say so with Weekly false).
	Weekly      bool          `json:"weekly,omitempty"`
	Activations int           `json:"activations,omitempty"`
	AvgDuration time.Duration `json:"avg_duration,omitempty"`
	Failed      int           `json:"failed,omitempty"`      // failed and denied activation attempts
	ReviewPct   int           `json:"review_pct,omitempty"`  // the latest access review's completion
	HaveReview  bool          `json:"have_review,omitempty"` // a review existed
}

// Snapshots returns the snapshots under name taken in [from, to), oldest first.
func (s *Store) Snapshots(name string, from, to time.Time) ([]Snapshot, error) {
	var out []Snapshot
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketSnapshots)
		if err != nil {
			return err
		}
		prefix := strs(name)
		end := binary.BigEndian.AppendUint64(strs(name), uint64(to.UnixNano()))
		c := b.Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(strs(name), uint64(from.UnixNano()))); k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, end) < 0; k, v = c.Next() {
			if len(k) != len(prefix)+8 {
				continue
			}
			var snap Snapshot
			if err := json.Unmarshal(v, &snap); err != nil {
				return err
			}
			out = append(out, snap)
		}
		return nil
	})
	return out, err
}

// PutSnapshot stores snap under name at snap.At, replacing one at the same time.
func (s *Store) PutSnapshot(name string, snap Snapshot) error {
	snap.At = s.at(snap.At)
	v, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx kvTx) error {
		b, err := bucket(tx, bucketSnapshots)
		if err != nil {
			return err
		}
		return b.Put(binary.BigEndian.AppendUint64(strs(name), uint64(snap.At.UnixNano())), v)
	})
}

// SnapshotBefore returns the newest snapshot under name taken before t.
func (s *Store) SnapshotBefore(name string, t time.Time) (snap Snapshot, ok bool, err error) {
	err = s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketSnapshots)
		if err != nil {
			return err
		}
		prefix := strs(name)
		c := b.Cursor()
		k, v := c.Seek(binary.BigEndian.AppendUint64(strs(name), uint64(t.UnixNano())))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &snap)
	})
	return snap, ok, err
}
