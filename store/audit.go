package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// AuditRecord is one entry of the append-only audit log. The store assigns
// Seq, PrevHash and Hash; At defaults to now and is kept in UTC.
type AuditRecord struct {
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor,omitempty"` // "slack:U123", "system", an Entra object id
	Action    string    `json:"action"`          // "request.created", "identity.bound", …
	RequestID uint64    `json:"request_id,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	PrevHash  string    `json:"prev_hash,omitempty"` // Hash of record Seq-1; empty for Seq 1
	Hash      string    `json:"hash"`
}

// ChainError names the first audit record that does not verify.
type ChainError struct {
	Seq    uint64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("store: audit record %d: %s", e.Seq, e.Reason)
}

// auditHashVersion starts the hashed bytes, so a future change of the
// canonical encoding cannot be mistaken for this one.
const auditHashVersion = "elevate-audit-v1\x00"

// hash is hex(SHA-256) of the record's canonical encoding: the version tag,
// then Seq, At (Unix nanos, UTC), RequestID as 8-byte big-endian, and Actor,
// Action, Detail, PrevHash each as uvarint length ‖ bytes. Fixed order and
// self-delimiting fields, so it does not depend on the JSON encoder and no
// two different records encode alike.
func (r AuditRecord) hash() string {
	b := []byte(auditHashVersion)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.At.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, r.RequestID)
	for _, s := range []string{r.Actor, r.Action, r.Detail, r.PrevHash} {
		b = appendStr(b, s)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendAudit appends ev to the log in tx, chained to the last record.
func appendAudit(tx kvTx, ev AuditRecord) (AuditRecord, error) {
	b, err := bucket(tx, bucketAudit)
	if err != nil {
		return AuditRecord{}, err
	}
	ev.PrevHash = ""
	if k, v := b.Cursor().Last(); k != nil {
		var last struct {
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(v, &last); err != nil || last.Hash == "" {
			// Refuse to chain onto a damaged record: the break must stay visible.
			return AuditRecord{}, &ChainError{Seq: binary.BigEndian.Uint64(k), Reason: "last record is unreadable; cannot append"}
		}
		ev.PrevHash = last.Hash
	}
	// The bucket sequence only grows, so deleting the newest records leaves a
	// gap that VerifyAudit reports.
	if ev.Seq, err = b.NextSequence(); err != nil {
		return AuditRecord{}, err
	}
	ev.At = ev.At.UTC()
	ev.Hash = ev.hash()
	v, err := json.Marshal(ev)
	if err != nil {
		return AuditRecord{}, err
	}
	return ev, b.Put(u64(ev.Seq), v)
}

// auditPage is how many records Audit reads per transaction: fn runs outside
// any transaction, so a slow consumer (an export) neither holds a read
// transaction open for long nor deadlocks by calling back into the store.
const auditPage = 512

// Audit calls fn with every audit record in order, stopping at fn's first
// error, which it returns. Records appended meanwhile are included.
func (s *Store) Audit(fn func(AuditRecord) error) error {
	next := uint64(1)
	for {
		var page []AuditRecord
		err := s.db.View(func(tx kvTx) error {
			b, err := bucket(tx, bucketAudit)
			if err != nil {
				return err
			}
			c := b.Cursor()
			for k, v := c.Seek(u64(next)); k != nil && len(page) < auditPage; k, v = c.Next() {
				var r AuditRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("store: audit record %d: %w", binary.BigEndian.Uint64(k), err)
				}
				page = append(page, r)
				next = binary.BigEndian.Uint64(k) + 1
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < auditPage {
			return nil
		}
	}
}

// VerifyAudit walks the hash chain and returns how many records verified. On
// the first broken record it returns that count and a *ChainError: a record
// altered, missing (deleted from the middle or the end), or out of place.
func (s *Store) VerifyAudit() (int, error) {
	var n int
	err := s.db.View(func(tx kvTx) error {
		var err error
		n, err = verifyAudit(tx)
		return err
	})
	return n, err
}

// verifyAudit is VerifyAudit in tx.
func verifyAudit(tx kvTx) (int, error) {
	b, err := bucket(tx, bucketAudit)
	if err != nil {
		return 0, err
	}
	n := 0
	want, prev := uint64(1), ""
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return n, &ChainError{Seq: want, Reason: fmt.Sprintf("unexpected key %x", k)}
		}
		key := binary.BigEndian.Uint64(k)
		if key != want {
			return n, &ChainError{Seq: want, Reason: fmt.Sprintf("missing (next record is %d)", key)}
		}
		var r AuditRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return n, &ChainError{Seq: key, Reason: "unreadable: " + err.Error()}
		}
		switch {
		case r.Seq != key:
			return n, &ChainError{Seq: key, Reason: fmt.Sprintf("stored under %d but says seq %d", key, r.Seq)}
		case r.PrevHash != prev:
			return n, &ChainError{Seq: key, Reason: fmt.Sprintf("prev_hash does not match record %d", key-1)}
		case r.hash() != r.Hash:
			return n, &ChainError{Seq: key, Reason: "hash mismatch: the record was altered"}
		}
		n++
		want, prev = key+1, r.Hash
	}
	if last := b.Sequence(); want <= last {
		return n, &ChainError{Seq: want, Reason: fmt.Sprintf("missing: the log was truncated (%d records were appended)", last)}
	}
	return n, nil
}

// AppendAudit appends ev on its own, for events that change no request (an admin's conversion
// of standing access, a review removal). The chain is the same one: Seq and hashes follow.
func (s *Store) AppendAudit(ev AuditRecord) (AuditRecord, error) {
	ev.At = s.at(ev.At)
	if ev.Action == "" {
		return AuditRecord{}, fmt.Errorf("store: audit record without an action")
	}
	var out AuditRecord
	err := s.db.Update(func(tx kvTx) error {
		var err error
		out, err = appendAudit(tx, ev)
		return err
	})
	return out, err
}
