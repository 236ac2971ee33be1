package bot

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// FirstSeen records that a chat adapter handled key (a signed request, a user action, an
// activity id) and reports whether it is new within window (see store.FirstSeen): adapters keep
// their replay protection in the core's store, so a restart does not reopen it.
func (c *Core) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
	return c.store.FirstSeen(key, at, window)
}

// ReplayKey keeps an adapter's replay keys short and unambiguous whatever the ids hold.
func ReplayKey(parts ...string) string {
	sum := sha256.New()
	for _, p := range parts {
		sum.Write([]byte(p))
		sum.Write([]byte{0})
	}
	return hex.EncodeToString(sum.Sum(nil)[:16])
}

// MemoryReplays is FirstSeen in memory only, bounded: when full, the oldest keys go first. It is
// for an adapter run without a core's store; a restart forgets it.
type MemoryReplays struct {
	mu    sync.Mutex
	seen  map[string]time.Time // key → until
	order []memoryReplay       // oldest first
	max   int
}

type memoryReplay struct {
	key   string
	until time.Time
}

// NewMemoryReplays remembers at most max keys.
func NewMemoryReplays(max int) *MemoryReplays {
	return &MemoryReplays{seen: map[string]time.Time{}, max: max}
}

// FirstSeen records key at at for window and reports whether it is new.
func (c *MemoryReplays) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
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
	c.order = append(c.order, memoryReplay{key, until})
	return true, nil
}
