package store

import (
	"errors"
	"io"

	bolt "go.etcd.io/bbolt"
)

// The store is written once against a transactional, ordered key-value interface: the subset of
// bbolt it uses, with bbolt's semantics. boltBackend is bbolt itself; pgBackend keeps the same
// buckets as rows of PostgreSQL (pg.go). Everything above (requests and their indexes, the audit
// chain, the outbox, replay keys, group commit, migrations) is therefore the same on both.
//
// As in bbolt: keys sort by bytes.Compare; a nested bucket is a key whose value is nil (Get
// returns nil for it, ForEach and cursors yield it with v == nil); a value returned by Get or a
// cursor is valid only until the transaction ends (and, on bbolt, until the next write); Put,
// Delete and the bucket changes fail in a read transaction.

type kvDB interface {
	// View runs fn in a read transaction that sees one consistent snapshot.
	View(fn func(kvTx) error) error
	// Update runs fn in a write transaction, committed if fn returns nil and rolled back
	// otherwise. Write transactions run one at a time.
	Update(fn func(kvTx) error) error
	Close() error
}

type kvTx interface {
	// Bucket returns the top-level bucket name, nil if there is none.
	Bucket(name []byte) kvBucket
	CreateBucketIfNotExists(name []byte) (kvBucket, error)
	DeleteBucket(name []byte) error
	// ForEach calls fn with each top-level bucket.
	ForEach(fn func(name []byte, b kvBucket) error) error
	Writable() bool
}

type kvBucket interface {
	Get(k []byte) []byte
	Put(k, v []byte) error
	Delete(k []byte) error
	Cursor() kvCursor
	ForEach(fn func(k, v []byte) error) error
	// NextSequence increments and returns the bucket's sequence; Sequence reads it and
	// SetSequence sets it.
	NextSequence() (uint64, error)
	Sequence() uint64
	SetSequence(v uint64) error
	// Bucket returns the nested bucket name, nil if there is none.
	Bucket(name []byte) kvBucket
	CreateBucketIfNotExists(name []byte) (kvBucket, error)
	DeleteBucket(name []byte) error
	// KeyN counts the keys of a bucket without nested buckets.
	KeyN() (int, error)
}

type kvCursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	Seek(seek []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
	// Delete removes the key under the cursor.
	Delete() error
}

// errBackupUnsupported: the backend has no file to copy.
var errBackupUnsupported = errors.New("store: backup copies a bbolt file; this store is in PostgreSQL: " +
	"use the server's own backups (Azure Database for PostgreSQL's point-in-time restore) or pg_dump")

// boltBackend is bbolt: the embedded default, its file format unchanged.
type boltBackend struct{ db *bolt.DB }

func (b boltBackend) View(fn func(kvTx) error) error {
	return b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b boltBackend) Update(fn func(kvTx) error) error {
	return b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (b boltBackend) Close() error { return b.db.Close() }

// WriteTo writes a consistent copy of the file in one read transaction.
func (b boltBackend) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

type boltTx struct{ *bolt.Tx }

func (t boltTx) Bucket(name []byte) kvBucket { return wrapBucket(t.Tx.Bucket(name)) }

func (t boltTx) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	b, err := t.Tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return boltBucket{b}, nil
}

func (t boltTx) ForEach(fn func(name []byte, b kvBucket) error) error {
	return t.Tx.ForEach(func(name []byte, b *bolt.Bucket) error { return fn(name, boltBucket{b}) })
}

type boltBucket struct{ b *bolt.Bucket }

// wrapBucket keeps a missing bucket a nil interface, so callers can compare with nil.
func wrapBucket(b *bolt.Bucket) kvBucket {
	if b == nil {
		return nil
	}
	return boltBucket{b}
}

func (b boltBucket) Get(k []byte) []byte                      { return b.b.Get(k) }
func (b boltBucket) Put(k, v []byte) error                    { return b.b.Put(k, v) }
func (b boltBucket) Delete(k []byte) error                    { return b.b.Delete(k) }
func (b boltBucket) Cursor() kvCursor                         { return b.b.Cursor() }
func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b boltBucket) NextSequence() (uint64, error)            { return b.b.NextSequence() }
func (b boltBucket) Sequence() uint64                         { return b.b.Sequence() }
func (b boltBucket) SetSequence(v uint64) error               { return b.b.SetSequence(v) }
func (b boltBucket) Bucket(name []byte) kvBucket              { return wrapBucket(b.b.Bucket(name)) }
func (b boltBucket) DeleteBucket(name []byte) error           { return b.b.DeleteBucket(name) }

// KeyN counts with a cursor: Stats misses a write transaction's pending writes.
func (b boltBucket) KeyN() (int, error) {
	n := 0
	c := b.b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n, nil
}

func (b boltBucket) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	nb, err := b.b.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	return boltBucket{nb}, nil
}
