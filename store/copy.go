package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ErrTargetNotEmpty: CopyTo's target already holds data and replacing it was not asked for.
var ErrTargetNotEmpty = errors.New("store: the target store is not empty")

// CopyReport says what CopyTo copied and what it found on both sides afterwards.
type CopyReport struct {
	// Keys counts the keys of each top-level bucket, nested buckets' keys included under their
	// top-level bucket's name, in the source and in the target after the copy.
	SourceKeys, TargetKeys map[string]int
	// SourceAudit and TargetAudit are the audit records VerifyAudit checked on each side.
	SourceAudit, TargetAudit int
}

// copyChunk is how many keys one target transaction writes, so that copying a large store
// neither holds it all in memory nor runs one enormous transaction.
var copyChunk = 20000

// keyCopyUnfinished, in the target's meta bucket, marks a CopyTo under way: written before the
// first key is copied, deleted once both sides verified and matched. A copy that was stopped (the
// process killed, the database lost, a mismatch) leaves it, and a half-copied store says so
// (UnfinishedCopy) instead of passing for a whole one.
var keyCopyUnfinished = []byte("copy_unfinished")

// ErrUnfinishedCopy: the store is the target of a CopyTo that did not finish (UnfinishedCopy).
var ErrUnfinishedCopy = errors.New("store: the store is an unfinished copy")

// UnfinishedCopy returns an error wrapping ErrUnfinishedCopy when the store is the target of a
// CopyTo that did not finish, saying when it started; nil otherwise.
func (s *Store) UnfinishedCopy() error {
	var mark string
	var found bool
	err := s.db.View(func(tx kvTx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			v := meta.Get(keyCopyUnfinished)
			mark, found = string(v), v != nil
		}
		return nil
	})
	if err != nil || !found {
		return err
	}
	return fmt.Errorf("%w: a copy into it (%s) stopped before it was verified, so it may hold only part "+
		"of the source; run `elevate store migrate -replace` again", ErrUnfinishedCopy, mark)
}

// CopyTo copies every bucket, key and sequence of s into dst (typically a bbolt file into
// PostgreSQL), then verifies the audit chain on both sides and compares the key counts of every
// bucket. A dst holding any data is refused with ErrTargetNotEmpty unless replace is set, in
// which case its contents are deleted first. s is read in one consistent snapshot; stop the
// service that writes to it first, or the copy misses what it writes meanwhile. A mismatch is an
// error, returned with the report.
func (s *Store) CopyTo(dst *Store, replace bool) (CopyReport, error) {
	var rep CopyReport
	empty, err := dst.isEmpty()
	if err != nil {
		return rep, err
	}
	if !empty && !replace {
		return rep, ErrTargetNotEmpty
	}
	// The target's old contents go in the transaction that marks it: stopped between two
	// transactions, it would be an empty, unmarked store that serve starts on as a new one.
	if err := dst.db.Update(func(tx kvTx) error {
		if !empty {
			if err := clearTx(tx); err != nil {
				return err
			}
		}
		meta, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		return meta.Put(keyCopyUnfinished, []byte("started "+dst.now().UTC().Format(time.RFC3339)))
	}); err != nil {
		return rep, fmt.Errorf("store: copy: %w", err)
	}

	type entry struct {
		path  [][]byte // bucket names from the root
		k, v  []byte   // v nil: a nested bucket
		seq   uint64
		isSeq bool // the bucket at path has sequence seq
	}
	var chunk []entry
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := dst.db.Update(func(tx kvTx) error {
			open := map[string]kvBucket{}
			var at func(path [][]byte) (kvBucket, error)
			at = func(path [][]byte) (kvBucket, error) {
				key := string(strs(bytesToStrings(path)...))
				if b := open[key]; b != nil {
					return b, nil
				}
				var b kvBucket
				var err error
				if len(path) == 1 {
					b, err = tx.CreateBucketIfNotExists(path[0])
				} else {
					parent, perr := at(path[:len(path)-1])
					if perr != nil {
						return nil, perr
					}
					b, err = parent.CreateBucketIfNotExists(path[len(path)-1])
				}
				if err != nil {
					return nil, err
				}
				open[key] = b
				return b, nil
			}
			for _, e := range chunk {
				if len(e.path) == 0 { // a top-level bucket
					if _, err := tx.CreateBucketIfNotExists(e.k); err != nil {
						return err
					}
					continue
				}
				b, err := at(e.path)
				if err != nil {
					return err
				}
				switch {
				case e.isSeq:
					err = b.SetSequence(e.seq)
				case e.v == nil:
					_, err = b.CreateBucketIfNotExists(e.k)
				default:
					err = b.Put(e.k, e.v)
				}
				if err != nil {
					return fmt.Errorf("bucket %s key %x: %w", joinPath(e.path), e.k, err)
				}
			}
			return nil
		})
		chunk = chunk[:0]
		return err
	}
	add := func(e entry) error {
		chunk = append(chunk, e)
		if len(chunk) >= copyChunk {
			return flush()
		}
		return nil
	}

	err = s.db.View(func(tx kvTx) error {
		var walk func(path [][]byte, b kvBucket) error
		walk = func(path [][]byte, b kvBucket) error {
			if seq := b.Sequence(); seq != 0 {
				if err := add(entry{path: path, seq: seq, isSeq: true}); err != nil {
					return err
				}
			}
			return b.ForEach(func(k, v []byte) error {
				k = clone(k)
				if v != nil {
					return add(entry{path: path, k: k, v: clone(v)})
				}
				if err := add(entry{path: path, k: k}); err != nil {
					return err
				}
				return walk(append(path[:len(path):len(path)], k), b.Bucket(k))
			})
		}
		for _, name := range topBuckets(tx) {
			if err := add(entry{k: name}); err != nil {
				return err
			}
			if err := walk([][]byte{name}, tx.Bucket(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return rep, fmt.Errorf("store: copy: %w", err)
	}

	if rep.SourceKeys, err = s.keyCounts(); err != nil {
		return rep, err
	}
	if rep.TargetKeys, err = dst.keyCounts(); err != nil {
		return rep, err
	}
	var problems []string
	if rep.SourceAudit, err = s.VerifyAudit(); err != nil {
		problems = append(problems, "source audit log: "+err.Error())
	}
	if rep.TargetAudit, err = dst.VerifyAudit(); err != nil {
		problems = append(problems, "target audit log: "+err.Error())
	}
	if rep.SourceAudit != rep.TargetAudit {
		problems = append(problems, fmt.Sprintf("audit records: %d in the source, %d in the target", rep.SourceAudit, rep.TargetAudit))
	}
	for _, name := range unionKeys(rep.SourceKeys, rep.TargetKeys) {
		if a, b := rep.SourceKeys[name], rep.TargetKeys[name]; a != b {
			problems = append(problems, fmt.Sprintf("bucket %s: %d keys in the source, %d in the target", name, a, b))
		}
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("store: copy does not match: %s", strings.Join(problems, "; "))
	}
	if err := dst.db.Update(func(tx kvTx) error {
		return tx.Bucket(bucketMeta).Delete(keyCopyUnfinished)
	}); err != nil {
		return rep, fmt.Errorf("store: copy: %w", err)
	}
	return rep, nil
}

// topBuckets lists the top-level buckets there are (the schema's and any other).
func topBuckets(tx kvTx) [][]byte {
	var out [][]byte
	tx.ForEach(func(name []byte, _ kvBucket) error { out = append(out, clone(name)); return nil })
	return out
}

// isEmpty says whether the store holds nothing but its schema: no value outside the meta bucket
// (the schema version), only the empty buckets the migrations create.
func (s *Store) isEmpty() (bool, error) {
	counts, err := s.countKeys(false)
	if err != nil {
		return false, err
	}
	for name, n := range counts {
		if name != string(bucketMeta) && n > 0 {
			return false, nil
		}
	}
	return true, nil
}

// clearTx deletes every top-level bucket and recreates the schema's, empty, at the latest version.
func clearTx(tx kvTx) error {
	for _, name := range topBuckets(tx) {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
	}
	return migrateTx(tx, "target", latestVersion)
}

// keyCounts counts the keys under each top-level bucket, nested buckets and their keys included.
func (s *Store) keyCounts() (map[string]int, error) { return s.countKeys(true) }

// countKeys counts the keys with values under each top-level bucket, and the nested buckets too
// when buckets is set.
func (s *Store) countKeys(buckets bool) (map[string]int, error) {
	out := map[string]int{}
	err := s.db.View(func(tx kvTx) error {
		var count func(b kvBucket) (int, error)
		count = func(b kvBucket) (int, error) {
			n := 0
			err := b.ForEach(func(k, v []byte) error {
				if v != nil || buckets {
					n++
				}
				if v == nil {
					m, err := count(b.Bucket(k))
					n += m
					return err
				}
				return nil
			})
			return n, err
		}
		for _, name := range topBuckets(tx) {
			b := tx.Bucket(name)
			n, err := count(b)
			if err != nil {
				return err
			}
			if string(name) == string(bucketMeta) && b.Get(keyCopyUnfinished) != nil {
				n-- // CopyTo's own mark, not data
			}
			out[string(name)] = n
		}
		return nil
	})
	return out, err
}

func unionKeys(a, b map[string]int) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func bytesToStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func joinPath(path [][]byte) string { return strings.Join(bytesToStrings(path), "/") }

func clone(b []byte) []byte { return append([]byte{}, b...) }
