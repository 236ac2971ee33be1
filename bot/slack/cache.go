package slack

import (
	"sync"
	"time"
)

// replayWindow is how long a signed request stays valid (slack-go's verifier allows ±5 min), so
// how long the replay cache must remember it.
const replayWindow = 5*time.Minute + 30*time.Second

// replayCache remembers keys (a request's signature, an envelope or event id) for the replay
// window, bounded: when full, the oldest keys go first.
type replayCache struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	order  []replayEntry // oldest first
	max    int
	window time.Duration
	now    func() time.Time
}

type replayEntry struct {
	key string
	at  time.Time
}

func newReplayCache(window time.Duration, max int) *replayCache {
	return &replayCache{seen: map[string]time.Time{}, max: max, window: window, now: time.Now}
}

// first records key and reports whether it was new (not seen within the window).
func (c *replayCache) first(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for len(c.order) > 0 && (now.Sub(c.order[0].at) > c.window || len(c.order) >= c.max) {
		e := c.order[0]
		if c.seen[e.key].Equal(e.at) {
			delete(c.seen, e.key)
		}
		c.order = c.order[1:]
	}
	if at, ok := c.seen[key]; ok && now.Sub(at) <= c.window {
		return false
	}
	c.seen[key] = now
	c.order = append(c.order, replayEntry{key, now})
	return true
}
