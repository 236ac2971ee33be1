package metrics

import (
	"fmt"
	"time"

	"github.com/elevate-pim/elevate/store"
)

// OutboxStats is the chat outbox as the core reports it (bot.OutboxStats).
type OutboxStats struct {
	Depth     int           // deliveries waiting
	OldestAge time.Duration // how long the oldest has waited; 0 when none
	Failures  uint64        // failed delivery attempts since start
	Dropped   uint64        // deliveries given up since start
}

// Outbox registers the chat outbox's metrics, read from f at every scrape: depth, oldest age,
// failed attempts and deliveries given up.
func (m *Metrics) Outbox(f func() (OutboxStats, error)) {
	m.reg.register(collectFunc(func() ([]family, error) {
		st, err := f()
		if err != nil {
			return nil, fmt.Errorf("elevate_outbox_depth: %w", err)
		}
		return []family{
			gauge("elevate_outbox_depth", "Chat deliveries (posts, DMs, card updates) waiting in the outbox.", float64(st.Depth)),
			gauge("elevate_outbox_oldest_seconds", "How long the oldest chat delivery in the outbox has waited; 0 when it is empty.", st.OldestAge.Seconds()),
			counter("elevate_outbox_failures_total", "Failed chat delivery attempts (each is retried, or held while its target is unknown).", float64(st.Failures)),
			counter("elevate_outbox_dropped_total", "Chat deliveries given up after the outbox's bound (each is also in the audit log as outbox.dropped).", float64(st.Dropped)),
		}, nil
	}))
}

// Commits registers the store's group-commit counters, read from f at every scrape: commits
// (write transactions), the writes they carried, and the seconds spent in them. Writes per
// commit and seconds per commit show what an acknowledgement's own write shares its commit with.
func (m *Metrics) Commits(f func() store.CommitStats) {
	m.reg.register(collectFunc(func() ([]family, error) {
		st := f()
		return []family{
			counter("elevate_store_commits_total", "The store's write transactions (group commits; on bbolt one fsync each).", float64(st.Commits)),
			counter("elevate_store_commit_writes_total", "The writes those transactions carried (requests, updates, replay keys, outbox items).", float64(st.Writes)),
			counter("elevate_store_commit_seconds_total", "Time spent in those transactions: the writes' work, the commit and its fsync.", st.Time.Seconds()),
		}, nil
	}))
}
