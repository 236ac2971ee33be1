package store

import (
	"errors"
	"time"
)

// groupOp is one small write waiting to be committed together with others.
type groupOp struct {
	fn   func(kvTx) error
	err  error
	done chan bool // true: lead the next commit
}

// group runs fn in a write transaction shared with the other group writes (CreateRequest,
// Update, FirstSeen, the outbox's Enqueue, OutboxDone and OutboxFailed, AddMessageRef) that
// arrive while another commit is in progress: one transaction, one fsync for
// all of them (group commit). Nobody waits for a batch to fill: the first caller commits at
// once, callers that queued meanwhile go in the next transaction, led by the first of them. So
// a lone write costs one fsync, as before, and under load the fsyncs are shared instead of
// queued one behind the other. An acknowledgement waits for two such writes (its replay key, then
// its request) while the background work of earlier commands updates theirs: all of them share
// one queue rather than queueing for the file in turn.
//
// fn sees the writes of the ops before it in the same transaction. If the shared transaction
// fails, each fn is run again alone, so one bad write cannot fail the others: fn must set its
// results afresh on every run. A refused fence fails them all at once.
func (s *Store) group(fn func(kvTx) error) error {
	op := &groupOp{fn: fn, done: make(chan bool, 1)}
	s.groupMu.Lock()
	s.groupQueue = append(s.groupQueue, op)
	if s.groupLeading {
		s.groupMu.Unlock()
		if lead := <-op.done; !lead {
			return op.err // committed by a leader
		}
	} else {
		s.groupLeading = true
		s.groupMu.Unlock()
	}
	// Leading: commit everything queued now (op among it), then hand over to the next waiter.
	s.groupMu.Lock()
	batch := s.groupQueue
	s.groupQueue = nil
	s.groupMu.Unlock()
	s.commitGroup(batch)
	s.groupMu.Lock()
	if len(s.groupQueue) > 0 {
		next := s.groupQueue[0]
		s.groupMu.Unlock()
		next.done <- true
	} else {
		s.groupLeading = false
		s.groupMu.Unlock()
	}
	for _, o := range batch {
		if o != op {
			o.done <- false
		}
	}
	return op.err
}

// CommitStats is what the store's group commits did since it was opened: each commit is one
// write transaction (one fsync on bbolt) carrying Writes writes in all.
type CommitStats struct {
	Commits int64
	Writes  int64         // the group writes they carried (CreateRequest, Update, FirstSeen, the outbox's, …)
	Time    time.Duration // spent committing: the writes' work, the commit and its fsync
}

// CommitStats returns the group commits' counts so far; a load test compares the writes per
// commit and the time per commit of a server with those of its floor.
func (s *Store) CommitStats() CommitStats {
	return CommitStats{Commits: s.commits.Load(), Writes: s.commitWrites.Load(), Time: time.Duration(s.commitNanos.Load())}
}

// commitGroup writes batch in one transaction. If that fails, each is tried alone, unless the
// store refused the writes as such (ErrNotLeader, ErrReadOnly).
func (s *Store) commitGroup(batch []*groupOp) {
	t0 := time.Now()
	defer func() { s.commitNanos.Add(int64(time.Since(t0))) }()
	s.commits.Add(1)
	s.commitWrites.Add(int64(len(batch)))
	err := s.db.Update(func(tx kvTx) error {
		for _, o := range batch {
			if err := o.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	// A refused fence (or a read-only store) refuses every write alike: running each again
	// alone would only send more doomed transactions, whose writes lock rows the new leader's
	// writes then wait for until the fence refuses them too.
	if err == nil || len(batch) == 1 || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrReadOnly) {
		for _, o := range batch {
			o.err = err
		}
		return
	}
	s.commits.Add(int64(len(batch))) // each again alone (the writes are counted once)
	for _, o := range batch {
		o.err = s.db.Update(o.fn)
	}
}
