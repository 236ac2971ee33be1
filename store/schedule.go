package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Scheduler state (DESIGN §4): which run of each job has happened, what was
// done once (a reminder for a request, a sign-in already alerted) and which
// alerts are raised. It lives in the store so that a restart neither repeats
// a post nor forgets one that was missed.

var (
	bucketSchedule = []byte("schedule")
	keyJobs        = []byte("jobs")
	keyOnce        = []byte("once")
	keyAlerts      = []byte("alerts")
	keyState       = []byte("state")
	keyEventsCur   = []byte("events_cursor")
)

// migrateV4 adds the buckets of scheduled work: scheduler state, the
// activation-events index and its dictionary, weekly snapshots and review
// campaigns. Events already in the audit log are indexed by SyncEvents, not
// here: the cursor starts at 0.
func migrateV4(tx kvTx) error {
	for _, name := range [][]byte{bucketSchedule, bucketEvents, bucketEventDict, bucketEventsByGraph, bucketSnapshots, bucketReviews, bucketReviewItems} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	sch := tx.Bucket(bucketSchedule)
	for _, name := range [][]byte{keyJobs, keyOnce, keyAlerts, keyState} {
		if _, err := sch.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket schedule/%s: %w", name, err)
		}
	}
	return nil
}

func scheduleBucket(tx kvTx, name []byte) (kvBucket, error) {
	b, err := bucket(tx, bucketSchedule)
	if err != nil {
		return nil, err
	}
	if sub := b.Bucket(name); sub != nil {
		return sub, nil
	}
	return nil, fmt.Errorf("%w: schedule/%s", errBucketMissing, name)
}

// JobRun is the last run of a scheduled job.
type JobRun struct {
	Job  string    `json:"job"`
	Slot time.Time `json:"slot"` // the scheduled time the run was for
	At   time.Time `json:"at"`   // when it was claimed
}

// ClaimRun records that job runs for the scheduled time slot, unless a run
// for slot or a later one is already recorded: then it returns false and
// writes nothing. The claim is made before the job posts anything, so two
// processes, a restart or a replay can never run the same slot twice.
func (s *Store) ClaimRun(job string, slot, at time.Time) (bool, error) {
	slot, at = utc(slot), s.at(at)
	claimed := false
	err := s.db.Update(func(tx kvTx) error {
		b, err := scheduleBucket(tx, keyJobs)
		if err != nil {
			return err
		}
		key := []byte(job)
		if v := b.Get(key); v != nil {
			var last JobRun
			if err := json.Unmarshal(v, &last); err != nil {
				return fmt.Errorf("store: job %s: %w", job, err)
			}
			if !last.Slot.Before(slot) {
				return nil
			}
		}
		v, err := json.Marshal(JobRun{Job: job, Slot: slot, At: at})
		if err != nil {
			return err
		}
		claimed = true
		return b.Put(key, v)
	})
	return claimed, err
}

// LastRun returns the last claimed run of job; ok is false if it never ran.
func (s *Store) LastRun(job string) (run JobRun, ok bool, err error) {
	err = s.db.View(func(tx kvTx) error {
		b, err := scheduleBucket(tx, keyJobs)
		if err != nil {
			return err
		}
		v := b.Get([]byte(job))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &run)
	})
	return run, ok, err
}

// Once records key as done at at and returns true, or returns false if key
// was recorded before. Jobs use it for what must happen at most once: the
// expiry reminder of a request, the alert for a sign-in id.
func (s *Store) Once(key string, at time.Time) (bool, error) {
	first := false
	err := s.db.Update(func(tx kvTx) error {
		b, err := scheduleBucket(tx, keyOnce)
		if err != nil {
			return err
		}
		if b.Get([]byte(key)) != nil {
			return nil
		}
		first = true
		return b.Put([]byte(key), u64(uint64(s.at(at).UnixNano())))
	})
	return first, err
}

// Done reports whether Once(key) was recorded.
func (s *Store) Done(key string) (bool, error) {
	done := false
	err := s.db.View(func(tx kvTx) error {
		b, err := scheduleBucket(tx, keyOnce)
		if err != nil {
			return err
		}
		done = b.Get([]byte(key)) != nil
		return nil
	})
	return done, err
}

// Alert is a condition a watch raises and later clears (a drift finding).
type Alert struct {
	Key    string    `json:"key"`
	Active bool      `json:"active"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"` // when it last changed
}

// SetAlert records whether the condition key holds now. It returns the
// previous state and whether this call changed it: a watch alerts only on a
// change, so the same alert is never posted twice. A change also gets an
// audit record.
func (s *Store) SetAlert(key string, active bool, detail string, at time.Time) (prev Alert, changed bool, err error) {
	at = s.at(at)
	err = s.db.Update(func(tx kvTx) error {
		b, err := scheduleBucket(tx, keyAlerts)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(key)); v != nil {
			if err := json.Unmarshal(v, &prev); err != nil {
				return fmt.Errorf("store: alert %s: %w", key, err)
			}
		}
		if prev.Active == active {
			return nil
		}
		changed = true
		v, err := json.Marshal(Alert{Key: key, Active: active, Detail: detail, Since: at})
		if err != nil {
			return err
		}
		if err := b.Put([]byte(key), v); err != nil {
			return err
		}
		action := "alert.raised"
		if !active {
			action = "alert.cleared"
		}
		_, err = appendAudit(tx, AuditRecord{At: at, Actor: "elevate", Action: action, Detail: key})
		return err
	})
	return prev, changed, err
}

// Alerts returns every alert ever set, active or cleared, ordered by key.
func (s *Store) Alerts() ([]Alert, error) {
	var out []Alert
	err := s.db.View(func(tx kvTx) error {
		b, err := scheduleBucket(tx, keyAlerts)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var a Alert
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("store: alert %s: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	return out, err
}

// SwapState stores v under key and returns what was stored before (nil if
// nothing): a watch keeps what it last saw (a role's PIM settings) to show
// what changed.
func (s *Store) SwapState(key string, v []byte) (old []byte, err error) {
	err = s.db.Update(func(tx kvTx) error {
		b, err := scheduleBucket(tx, keyState)
		if err != nil {
			return err
		}
		if o := b.Get([]byte(key)); o != nil {
			old = append([]byte(nil), o...)
		}
		return b.Put([]byte(key), append([]byte(nil), v...))
	})
	return old, err
}

// State returns what SwapState stored under key, nil if nothing.
func (s *Store) State(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx kvTx) error {
		b, err := scheduleBucket(tx, keyState)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}
