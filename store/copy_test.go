package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fillSample writes some of everything: requests with indexes and state changes, bindings,
// message references (nested buckets), replay keys and audit records.
func fillSample(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := range n {
		r := mustCreate(t, s, sampleRequest())
		if i%2 == 0 {
			if _, err := s.Update(r.ID, ev("request.cancelled"), setState(StateCancelled)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddMessageRef(r.ID, MessageRef{Platform: "slack", Channel: "C1", MessageID: fmt.Sprint(i), Kind: "approval"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FirstSeen(fmt.Sprintf("slack:evt%d", i), t0, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Bind(Binding{Platform: "slack", ChatUser: "U123", UserID: "oid-alice", UPN: "alice@contoso.com"}, ev("identity.bound")); err != nil {
		t.Fatal(err)
	}
}

// dumpKV lists every bucket, key, value and sequence of a store.
func dumpKV(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := s.db.View(func(tx kvTx) error {
		var walk func(prefix string, b kvBucket) error
		walk = func(prefix string, b kvBucket) error {
			out = append(out, fmt.Sprintf("%s seq=%d", prefix, b.Sequence()))
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					return walk(fmt.Sprintf("%s/%x", prefix, k), b.Bucket(k))
				}
				out = append(out, fmt.Sprintf("%s %x=%x", prefix, k, v))
				return nil
			})
		}
		return tx.ForEach(func(name []byte, b kvBucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A bbolt store copied into the backend under test holds the same buckets, keys, values and
// sequences, with its audit chain verified on both sides; a non-empty target is refused unless
// replacing is asked for.
func TestCopyTo(t *testing.T) {
	src, err := Open(boltPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.now = (&clock{now: t0}).Now
	fillSample(t, src, 30)

	dst := newTestStore(t)
	rep, err := src.CopyTo(dst, false)
	if err != nil {
		t.Fatalf("CopyTo: %v", err)
	}
	if diff := cmp.Diff(dumpKV(t, dst), dumpKV(t, src)); diff != "" {
		t.Errorf("target differs from source (-target +source):\n%s", diff)
	}
	if rep.SourceAudit != rep.TargetAudit || rep.SourceAudit != 46 || rep.SourceKeys["requests"] != 30 || !cmp.Equal(rep.SourceKeys, rep.TargetKeys) {
		t.Errorf("report = %+v", rep)
	}
	// The copy is a working store: ids and the audit chain continue.
	if r := mustCreate(t, dst, sampleRequest()); r.ID != 31 {
		t.Errorf("next id in the target = %d, want 31", r.ID)
	}
	if n, err := dst.VerifyAudit(); err != nil || n != rep.TargetAudit+1 {
		t.Errorf("VerifyAudit after a write = %d, %v", n, err)
	}

	if _, err := src.CopyTo(dst, false); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("copy into a non-empty store = %v, want ErrTargetNotEmpty", err)
	}
	if _, err := src.CopyTo(dst, true); err != nil {
		t.Fatalf("CopyTo with replace: %v", err)
	}
	if diff := cmp.Diff(dumpKV(t, dst), dumpKV(t, src)); diff != "" {
		t.Errorf("after replace, target differs from source (-target +source):\n%s", diff)
	}
}

// More keys than one target transaction takes are copied in several.
func TestCopyToChunks(t *testing.T) {
	src, err := Open(boltPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	err = src.db.Update(func(tx kvTx) error {
		b := tx.Bucket(bucketCursors)
		for i := range copyChunk + copyChunk/2 {
			if err := b.Put(u64(uint64(i)), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dst := newTestStore(t)
	rep, err := src.CopyTo(dst, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.TargetKeys[string(bucketCursors)]; got != copyChunk+copyChunk/2 {
		t.Errorf("cursors in the target = %d, want %d", got, copyChunk+copyChunk/2)
	}
}

// A source whose audit chain is broken is copied but reported as not matching.
func TestCopyToBrokenChain(t *testing.T) {
	path := boltPath(t)
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fillSample(t, src, 3)
	err = src.db.Update(func(tx kvTx) error { return tx.Bucket(bucketAudit).Delete(u64(2)) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.CopyTo(newTestStore(t), false)
	if err == nil || !strings.Contains(err.Error(), "source audit log") {
		t.Errorf("CopyTo of a broken chain = %v, want a mismatch naming the source audit log", err)
	}
}

// stopAfter is a target's key-value layer that stops after n write transactions: the copying
// process killed (or its database lost) part way.
type stopAfter struct {
	kvDB
	n int
}

var errStopped = errors.New("stopped")

func (s *stopAfter) Update(fn func(kvTx) error) error {
	if s.n == 0 {
		return errStopped
	}
	s.n--
	return s.kvDB.Update(fn)
}

// A copy with replace that is stopped right after it deleted the target's contents leaves the
// target marked unfinished, not empty and unmarked: serve would start on that as a new store.
func TestCopyToReplaceStoppedAfterClearIsMarked(t *testing.T) {
	src, err := Open(boltPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fillSample(t, src, 2)
	dst := newTestStore(t)
	fillSample(t, dst, 1) // the data -replace deletes
	inner := dst.db
	dst.db = &stopAfter{kvDB: inner, n: 1}
	if _, err := src.CopyTo(dst, true); !errors.Is(err, errStopped) {
		t.Fatalf("stopped after the first write: CopyTo = %v", err)
	}
	dst.db = inner
	if err := dst.UnfinishedCopy(); !errors.Is(err, ErrUnfinishedCopy) {
		t.Errorf("a copy with replace stopped after its first write: UnfinishedCopy = %v; want ErrUnfinishedCopy", err)
	}
}

// A copy stopped part way leaves the target marked as an unfinished copy, which it stays until a
// copy over it finishes; a finished copy leaves no mark. A copy that does not match stays marked.
func TestCopyToStoppedIsMarkedUnfinished(t *testing.T) {
	defer func(n int) { copyChunk = n }(copyChunk)
	copyChunk = 5
	src, err := Open(boltPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fillSample(t, src, 4)
	for stop := range 4 { // before the mark, after it, after one chunk, after two
		dst := newTestStore(t)
		inner := dst.db
		dst.db = &stopAfter{kvDB: inner, n: stop}
		if _, err := src.CopyTo(dst, false); !errors.Is(err, errStopped) {
			t.Fatalf("stopped after %d writes: CopyTo = %v", stop, err)
		}
		dst.db = inner
		err := dst.UnfinishedCopy()
		if stop == 0 {
			if err != nil {
				t.Errorf("a copy stopped before it wrote anything: UnfinishedCopy = %v, want nil", err)
			}
			continue
		}
		if !errors.Is(err, ErrUnfinishedCopy) || !strings.Contains(err.Error(), "-replace") {
			t.Fatalf("a copy stopped after %d writes: UnfinishedCopy = %v; want ErrUnfinishedCopy", stop, err)
		}
		if _, err := src.CopyTo(dst, false); !errors.Is(err, ErrTargetNotEmpty) && stop > 1 {
			t.Errorf("a copy over a half copy without replace = %v; want ErrTargetNotEmpty", err)
		}
		if _, err := src.CopyTo(dst, true); err != nil {
			t.Fatalf("copy over the unfinished one: %v", err)
		}
		if err := dst.UnfinishedCopy(); err != nil {
			t.Errorf("after a finished copy: UnfinishedCopy = %v", err)
		}
		if diff := cmp.Diff(dumpKV(t, src), dumpKV(t, dst)); diff != "" {
			t.Errorf("the finished copy differs from its source:\n%s", diff)
		}
	}
	// A copy that does not match (here: the source's chain broken) stays marked.
	if err := src.db.Update(func(tx kvTx) error { return tx.Bucket(bucketAudit).Delete(u64(2)) }); err != nil {
		t.Fatal(err)
	}
	dst := newTestStore(t)
	if _, err := src.CopyTo(dst, false); err == nil {
		t.Fatal("CopyTo of a broken chain succeeded")
	}
	if err := dst.UnfinishedCopy(); !errors.Is(err, ErrUnfinishedCopy) {
		t.Errorf("a copy that does not match: UnfinishedCopy = %v; want ErrUnfinishedCopy", err)
	}
}
