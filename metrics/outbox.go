package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	m.reg.MustRegister(&outboxCollector{f: f,
		depth:    prometheus.NewDesc("elevate_outbox_depth", "Chat deliveries (posts, DMs, card updates) waiting in the outbox.", nil, nil),
		oldest:   prometheus.NewDesc("elevate_outbox_oldest_seconds", "How long the oldest chat delivery in the outbox has waited; 0 when it is empty.", nil, nil),
		failures: prometheus.NewDesc("elevate_outbox_failures_total", "Failed chat delivery attempts (each is retried, or held while its target is unknown).", nil, nil),
		dropped:  prometheus.NewDesc("elevate_outbox_dropped_total", "Chat deliveries given up after the outbox's bound (each is also in the audit log as outbox.dropped).", nil, nil),
	})
}

type outboxCollector struct {
	f                                func() (OutboxStats, error)
	depth, oldest, failures, dropped *prometheus.Desc
}

func (o *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- o.depth
	ch <- o.oldest
	ch <- o.failures
	ch <- o.dropped
}

func (o *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := o.f()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(o.depth, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(o.depth, prometheus.GaugeValue, float64(st.Depth))
	ch <- prometheus.MustNewConstMetric(o.oldest, prometheus.GaugeValue, st.OldestAge.Seconds())
	ch <- prometheus.MustNewConstMetric(o.failures, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(o.dropped, prometheus.CounterValue, float64(st.Dropped))
}

// Commits registers the store's group-commit counters, read from f at every scrape: commits
// (write transactions), the writes they carried, and the seconds spent in them. Writes per
// commit and seconds per commit show what an acknowledgement's own write shares its commit with.
func (m *Metrics) Commits(f func() store.CommitStats) {
	m.reg.MustRegister(&commitCollector{f: f,
		commits: prometheus.NewDesc("elevate_store_commits_total", "The store's write transactions (group commits; on bbolt one fsync each).", nil, nil),
		writes:  prometheus.NewDesc("elevate_store_commit_writes_total", "The writes those transactions carried (requests, updates, replay keys, outbox items).", nil, nil),
		seconds: prometheus.NewDesc("elevate_store_commit_seconds_total", "Time spent in those transactions: the writes' work, the commit and its fsync.", nil, nil),
	})
}

type commitCollector struct {
	f                        func() store.CommitStats
	commits, writes, seconds *prometheus.Desc
}

func (c *commitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.commits
	ch <- c.writes
	ch <- c.seconds
}

func (c *commitCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.f()
	ch <- prometheus.MustNewConstMetric(c.commits, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(c.writes, prometheus.CounterValue, float64(st.Writes))
	ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.CounterValue, st.Time.Seconds())
}
