package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Cursors are small named values the core's pollers keep between runs: a high-water mark and
// the ids already posted (directory audits, PIM approvals made outside Elevate), an extension's
// budget and scheduled follow-up. Values are opaque bytes (JSON by convention) owned by the
// caller; each Set is one transaction.

var bucketCursors = []byte("cursors")

// migrateV5 adds the cursors bucket.
func migrateV5(tx kvTx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketCursors); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketCursors, err)
	}
	return nil
}

// Cursor returns the value stored under name, or nil when there is none.
func (s *Store) Cursor(name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("store: empty cursor name")
	}
	var out []byte
	err := s.db.View(func(tx kvTx) error {
		b := tx.Bucket(bucketCursors)
		if b == nil {
			return errors.New("store: no cursors bucket (schema too old)")
		}
		if v := b.Get([]byte(name)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// SetCursor stores value under name, replacing what was there; a nil value deletes it.
func (s *Store) SetCursor(name string, value []byte) error {
	if name == "" {
		return errors.New("store: empty cursor name")
	}
	return s.db.Update(func(tx kvTx) error {
		b, err := bucket(tx, bucketCursors)
		if err != nil {
			return err
		}
		if value == nil {
			return b.Delete([]byte(name))
		}
		return b.Put([]byte(name), value)
	})
}

// SetCursorAudit is SetCursor and AppendAudit in one transaction: a named record (an intent, an
// outcome) and the audit record that says why change together or not at all.
func (s *Store) SetCursorAudit(name string, value []byte, ev AuditRecord) (AuditRecord, error) {
	if name == "" {
		return AuditRecord{}, errors.New("store: empty cursor name")
	}
	ev.At = s.at(ev.At)
	if ev.Action == "" {
		return AuditRecord{}, fmt.Errorf("store: audit record without an action")
	}
	var out AuditRecord
	err := s.db.Update(func(tx kvTx) error {
		b, err := bucket(tx, bucketCursors)
		if err != nil {
			return err
		}
		if value == nil {
			err = b.Delete([]byte(name))
		} else {
			err = b.Put([]byte(name), value)
		}
		if err != nil {
			return err
		}
		out, err = appendAudit(tx, ev)
		return err
	})
	return out, err
}

// Cursors returns every cursor whose name starts with prefix, by name.
func (s *Store) Cursors(prefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx kvTx) error {
		b := tx.Bucket(bucketCursors)
		if b == nil {
			return errors.New("store: no cursors bucket (schema too old)")
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
			out[string(k)] = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// SetCursorAuditWith is SetCursorAudit whose fn may queue chat deliveries with out, in the same
// transaction: an intent settled and what it tells commit together, so a crash can neither lose
// the message nor keep an intent whose outcome was already told. It returns what fn queued.
func (s *Store) SetCursorAuditWith(name string, value []byte, ev AuditRecord, fn func(out *Outbox) error) ([]OutboxItem, error) {
	if name == "" {
		return nil, errors.New("store: empty cursor name")
	}
	ev.At = s.at(ev.At)
	if ev.Action == "" {
		return nil, fmt.Errorf("store: audit record without an action")
	}
	now := s.at(time.Time{})
	var added []OutboxItem
	err := s.db.Update(func(tx kvTx) error {
		added = nil
		b, err := bucket(tx, bucketCursors)
		if err != nil {
			return err
		}
		if value == nil {
			err = b.Delete([]byte(name))
		} else {
			err = b.Put([]byte(name), value)
		}
		if err != nil {
			return err
		}
		out := &Outbox{tx: tx, now: now}
		if err := fn(out); err != nil {
			return err
		}
		if _, err := appendAudit(tx, ev); err != nil {
			return err
		}
		added = out.Added()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}
