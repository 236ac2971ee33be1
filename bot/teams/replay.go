package teams

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// digest keeps replay keys short and unambiguous whatever the ids hold.
func digest(parts ...string) string {
	sum := sha256.New()
	for _, p := range parts {
		sum.Write([]byte(p))
		sum.Write([]byte{0})
	}
	return hex.EncodeToString(sum.Sum(nil)[:16])
}

// memReplays is Replays in memory, bounded: when full, the oldest keys go first.
type memReplays struct {
	mu    sync.Mutex
	seen  map[string]time.Time // key → until
	order []memEntry           // oldest first
	max   int
}

type memEntry struct {
	key   string
	until time.Time
}

func newMemReplays(max int) *memReplays {
	return &memReplays{seen: map[string]time.Time{}, max: max}
}

func (c *memReplays) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && (!c.order[0].until.After(at) || len(c.order) >= c.max) {
		e := c.order[0]
		if c.seen[e.key].Equal(e.until) {
			delete(c.seen, e.key)
		}
		c.order = c.order[1:]
	}
	if until, ok := c.seen[key]; ok && until.After(at) {
		return false, nil
	}
	until := at.Add(window)
	c.seen[key] = until
	c.order = append(c.order, memEntry{key, until})
	return true, nil
}
