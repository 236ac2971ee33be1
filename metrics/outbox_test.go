package metrics

import (
	"testing"
	"time"

	"github.com/elevate-pim/elevate/store"
)

func TestOutboxMetrics(t *testing.T) {
	m := New(nil)
	st := OutboxStats{Depth: 3, OldestAge: 90 * time.Second, Failures: 7, Dropped: 1}
	m.Outbox(func() (OutboxStats, error) { return st, nil })
	body := scrape(t, m)
	has(t, body, "elevate_outbox_depth 3")
	has(t, body, "elevate_outbox_oldest_seconds 90")
	has(t, body, "elevate_outbox_failures_total 7")
	has(t, body, "elevate_outbox_dropped_total 1")
	st = OutboxStats{}
	body = scrape(t, m)
	has(t, body, "elevate_outbox_depth 0")
	has(t, body, "elevate_outbox_oldest_seconds 0")
}

func TestCommitMetrics(t *testing.T) {
	m := New(nil)
	st := store.CommitStats{Commits: 4, Writes: 10, Time: 1500 * time.Millisecond}
	m.Commits(func() store.CommitStats { return st })
	body := scrape(t, m)
	has(t, body, "elevate_store_commits_total 4")
	has(t, body, "elevate_store_commit_writes_total 10")
	has(t, body, "elevate_store_commit_seconds_total 1.5")
}
