package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrNotFound: no such request or binding.
	ErrNotFound = errors.New("store: not found")
	// ErrNoChange is returned by an Update function to say "nothing to do";
	// Update then writes nothing and returns it with the current request.
	ErrNoChange = errors.New("store: no change")
	// ErrSchemaTooNew: the file was written by a newer Elevate. It is left
	// untouched; downgrades are refused.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this program")
	// ErrConflict: the write contradicts what is stored (a chat user bound to
	// another Entra user, a finished request being reopened).
	ErrConflict = errors.New("store: conflict")
	// ErrIdentityTaken: the Entra user is already bound to another chat
	// account of the same platform.
	ErrIdentityTaken = errors.New("store: Entra user already bound to another chat account")
	// ErrLocked: another process has the file open.
	ErrLocked = errors.New("locked by another process")
)

// lockTimeout bounds the wait for bbolt's file lock, so a second process
// fails with a clear message instead of hanging.
const lockTimeout = time.Second

// Store is the bbolt-backed store. It is safe for concurrent use.
type Store struct {
	db  kvDB
	now func() time.Time // for record times the caller left zero

	// Group commit of CreateRequest, Update and FirstSeen (see group).
	groupMu      sync.Mutex
	groupQueue   []*groupOp
	groupLeading bool
	// What the group commits did since Open (CommitStats).
	commits, commitWrites, commitNanos atomic.Int64
}

// Open opens the store at path, creating it (mode 0600) at the latest schema
// or migrating an older one. A file written by a newer schema is refused with
// ErrSchemaTooNew and not modified; a file held by another process gives
// ErrLocked after a second.
func Open(path string) (*Store, error) {
	name := filepath.Base(path)

	// Probe existing files read-only first: opening read-write may already
	// change the file on some platforms (bbolt grows it to the mmap size on
	// Windows), and a newer file must stay byte-for-byte as it was.
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		db, err := openBolt(path, true)
		if err != nil {
			return nil, err
		}
		v, err := readVersion(boltBackend{db})
		db.Close()
		if err != nil {
			return nil, err
		}
		if v > latestVersion {
			return nil, tooNew(name, v)
		}
	}

	db, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	kv := boltBackend{db}
	if err := migrate(kv, name); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: kv, now: time.Now}, nil
}

func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: %s is %w", filepath.Base(path), ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

func tooNew(name string, v uint64) error {
	return fmt.Errorf("%w: %s has schema version %d, this program knows up to %d; run a newer elevate",
		ErrSchemaTooNew, name, v, latestVersion)
}

// Close closes the file. Pending transactions finish first.
func (s *Store) Close() error {
	return s.db.Close()
}

// at is the time to record: t if set, else now; in UTC either way.
func (s *Store) at(t time.Time) time.Time {
	if t.IsZero() {
		t = s.now()
	}
	return t.UTC()
}

// Bucket names. Changing one needs a migration.
var (
	bucketMeta           = []byte("meta")
	bucketRequests       = []byte("requests")
	bucketRequestsOpen   = []byte("requests_open")
	bucketRequestsByChat = []byte("requests_by_chat_user")
	bucketRequestsByUser = []byte("requests_by_user")
	bucketMessages       = []byte("messages")
	bucketBindings       = []byte("bindings")
	bucketBindingsByUser = []byte("bindings_by_user")
	bucketAudit          = []byte("audit")
	keyVersion           = []byte("version")
)

// Errors for a file that does not hold what the schema promises.
var (
	errBucketMissing = errors.New("store: bucket missing (damaged file?)")
	errIndexDangling = errors.New("store: index entry without its record (damaged file?)")
)

// u64 is the 8-byte big-endian key for an id or sequence number.
func u64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

// appendStr appends s as uvarint(len(s)) ‖ s: self-delimiting, so composite
// keys can neither collide nor be confused by separator bytes inside ids.
func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// strs builds a composite key prefix from whole fields.
func strs(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

// bucket returns a top-level bucket, which migrations guarantee exists.
func bucket(tx kvTx, name []byte) (kvBucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("%w: %s", errBucketMissing, name)
	}
	return b, nil
}
