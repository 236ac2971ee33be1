package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Anchor is the audit chain's head at some moment, published outside the store (a log line in
// another trust domain). The chain alone detects a record altered or removed in the middle; it
// cannot detect whoever can write the store rewriting it whole (every hash recomputed) or cutting
// its tail (the bucket's sequence set back). A chain that still holds every anchor published
// since was neither rewritten up to the newest of them nor cut short of it.
type Anchor struct {
	Seq  uint64 // the record's sequence number
	Hash string // its hash: hex SHA-256
}

// String is "SEQ:HASH", the form ParseAnchor reads and `elevate audit verify -anchor` takes.
func (a Anchor) String() string { return strconv.FormatUint(a.Seq, 10) + ":" + a.Hash }

var anchorRE = regexp.MustCompile(`^([1-9][0-9]*):([0-9a-f]{64})$`)

// ParseAnchor reads "SEQ:HASH" (as String writes it).
func ParseAnchor(s string) (Anchor, error) {
	m := anchorRE.FindStringSubmatch(s)
	if m == nil {
		return Anchor{}, fmt.Errorf("audit anchor %q: want SEQ:HASH, a record number and its 64-hex-digit hash, as the \"audit anchor\" log line gives them", s)
	}
	seq, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		return Anchor{}, fmt.Errorf("audit anchor %q: %w", s, err)
	}
	return Anchor{Seq: seq, Hash: m[2]}, nil
}

// AuditHead returns the newest audit record's anchor, reading that record alone; the zero
// Anchor when the log is empty. It checks that record's hash, not the chain behind it: a
// record that does not match its hash is a *ChainError, and no anchor.
func (s *Store) AuditHead() (Anchor, error) {
	var a Anchor
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketAudit)
		if err != nil {
			return err
		}
		k, v := b.Cursor().Last()
		if k == nil {
			return nil
		}
		if len(k) != 8 {
			return &ChainError{Reason: fmt.Sprintf("newest record has an unexpected key %x", k)}
		}
		seq := binary.BigEndian.Uint64(k)
		var r AuditRecord
		if err := json.Unmarshal(v, &r); err != nil || r.Hash == "" {
			return &ChainError{Seq: seq, Reason: "newest record is unreadable"}
		}
		// Its own hash, not the one it states: whoever can write the store must not choose
		// what the anchor line publishes (a hash no chain has, which would make every later
		// check against it fail alike for the honest chain and a rewritten one).
		if r.Seq != seq || r.hash() != r.Hash {
			return &ChainError{Seq: seq, Reason: "newest record does not match its hash: the record was altered"}
		}
		a = Anchor{Seq: seq, Hash: r.Hash}
		return nil
	})
	return a, err
}

// AnchorError is an anchor the audit chain does not hold.
type AnchorError struct {
	Anchor Anchor
	Reason string
}

func (e *AnchorError) Error() string {
	return fmt.Sprintf("store: audit anchor %s: %s", e.Anchor, e.Reason)
}

// ErrAnchor matches every *AnchorError.
var ErrAnchor = errors.New("store: the audit chain does not hold an anchor")

func (e *AnchorError) Is(target error) bool { return target == ErrAnchor }

// VerifyAnchors checks that the audit log's record a.Seq has hash a.Hash for every anchor, and
// so that the log is at least that long. It returns an *AnchorError for the first anchor that
// fails, in the order given. With VerifyAudit, in the same transaction (VerifyAuditAnchors): a
// chain that verifies and holds an anchor is, up to the anchor's record, the chain that was
// published.
func (s *Store) VerifyAnchors(anchors []Anchor) error {
	return s.db.View(func(tx kvTx) error { return verifyAnchors(tx, anchors) })
}

// VerifyAuditAnchors is VerifyAudit then VerifyAnchors in one read transaction, so that both
// check the same chain: in two, whoever can write the store could show the first a rewritten
// chain that verifies and the second the published records that hold the anchors. It returns
// how many records verified and the first *ChainError, or else the first *AnchorError.
func (s *Store) VerifyAuditAnchors(anchors []Anchor) (int, error) {
	var n int
	err := s.db.View(func(tx kvTx) error {
		var err error
		if n, err = verifyAudit(tx); err != nil {
			return err
		}
		return verifyAnchors(tx, anchors)
	})
	return n, err
}

func verifyAnchors(tx kvTx, anchors []Anchor) error {
	b, err := bucket(tx, bucketAudit)
	if err != nil {
		return err
	}
	var last uint64
	if k, _ := b.Cursor().Last(); len(k) == 8 {
		last = binary.BigEndian.Uint64(k)
	}
	for _, a := range anchors {
		v := b.Get(u64(a.Seq))
		if v == nil {
			reason := fmt.Sprintf("the log has no record %d: it ends at record %d, so its tail was cut "+
				"(or the anchor is from another store)", a.Seq, last)
			if a.Seq <= last {
				reason = fmt.Sprintf("record %d is missing", a.Seq)
			}
			return &AnchorError{Anchor: a, Reason: reason}
		}
		var r struct {
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return &AnchorError{Anchor: a, Reason: fmt.Sprintf("record %d is unreadable", a.Seq)}
		}
		if r.Hash != a.Hash {
			return &AnchorError{Anchor: a, Reason: fmt.Sprintf("record %d has hash %s: the log was rewritten "+
				"(or the anchor is from another store)", a.Seq, r.Hash)}
		}
	}
	return nil
}
