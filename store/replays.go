package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Replays: what chat adapters have already handled (a signed Slack request, a Slack action's
// trigger id, a Teams activity id), remembered for as long as a replay of it could be accepted,
// so that neither a replayed request nor a redelivery is handled twice, across restarts too.
// Each key carries its own expiry; expired keys are pruned as new ones are recorded.

var (
	bucketReplays      = []byte("replays")
	bucketReplayKeys   = []byte("keys")
	bucketReplayExpiry = []byte("expiry")
)

// maxReplayKey bounds a replay key: adapters record digests and ids, never whole payloads.
const maxReplayKey = 512

// replayPruneBatch bounds how many expired keys one FirstSeen deletes, so that a backlog (the
// first write after a long stop) never makes one acknowledgement slow; the rest go next time.
const replayPruneBatch = 1000

// migrateV6 adds the replays bucket.
func migrateV6(tx kvTx) error {
	b, err := tx.CreateBucketIfNotExists(bucketReplays)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketReplays, err)
	}
	for _, name := range [][]byte{bucketReplayKeys, bucketReplayExpiry} {
		if _, err := b.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s/%s: %w", bucketReplays, name, err)
		}
	}
	return nil
}

// FirstSeen records key as handled at `at`, to be remembered until at+window, and reports
// whether it is new: false when the same key was recorded before and has not expired (then
// nothing changes: a replay does not extend the window). It also prunes expired keys.
func (s *Store) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
	if err := checkReplayKey(key, window); err != nil {
		return false, err
	}
	at = s.at(at)
	first := false
	// Group commit: an acknowledgement records its replay keys and then its request; under load
	// they share transactions with everyone else's.
	err := s.group(func(tx kvTx) error {
		var err error
		first, err = firstSeenInTx(tx, key, at, window) // a failed shared transaction runs this again
		return err
	})
	return first, err
}

// firstSeenInTx is FirstSeen inside tx: it records key unless it is already recorded and unexpired.
func firstSeenInTx(tx kvTx, key string, at time.Time, window time.Duration) (bool, error) {
	if err := checkReplayKey(key, window); err != nil {
		return false, err
	}
	now := uint64(at.UnixNano())
	root, err := bucket(tx, bucketReplays)
	if err != nil {
		return false, err
	}
	keys, exp := root.Bucket(bucketReplayKeys), root.Bucket(bucketReplayExpiry)
	if keys == nil || exp == nil {
		return false, fmt.Errorf("%w: %s", errBucketMissing, bucketReplays)
	}
	if err := pruneReplays(keys, exp, now); err != nil {
		return false, err
	}
	k := []byte(key)
	if v := keys.Get(k); v != nil {
		if len(v) != 8 {
			return false, fmt.Errorf("store: replay key %q holds %d bytes, want 8 (damaged file?)", key, len(v))
		}
		if binary.BigEndian.Uint64(v) > now {
			return false, nil
		}
		// Expired but not pruned yet (more than a batch was due): replace it.
		if err := exp.Delete(append(bytes.Clone(v), k...)); err != nil {
			return false, err
		}
	}
	until := u64(uint64(at.Add(window).UnixNano()))
	if err := keys.Put(k, until); err != nil {
		return false, err
	}
	return true, exp.Put(append(until, k...), []byte{})
}

// pruneReplays deletes up to replayPruneBatch keys that expired at or before now.
func pruneReplays(keys, exp kvBucket, now uint64) error {
	c := exp.Cursor()
	n := 0
	for k, _ := c.First(); k != nil && n < replayPruneBatch; k, _ = c.First() {
		k = bytes.Clone(k) // deleting moves pages under it
		if len(k) < 8 {
			return errors.New("store: malformed replay expiry key (damaged file?)")
		}
		if binary.BigEndian.Uint64(k[:8]) > now {
			return nil
		}
		if v := keys.Get(k[8:]); v != nil && bytes.Equal(v, k[:8]) {
			if err := keys.Delete(k[8:]); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
		n++
	}
	return nil
}

func checkReplayKey(key string, window time.Duration) error {
	if key == "" || len(key) > maxReplayKey {
		return fmt.Errorf("store: replay key of %d bytes (want 1 to %d)", len(key), maxReplayKey)
	}
	if window <= 0 {
		return fmt.Errorf("store: replay window %s", window)
	}
	return nil
}
