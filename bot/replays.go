package bot

import "time"

// FirstSeen records that a chat adapter handled key (a signed request, a user action, an
// activity id) and reports whether it is new within window (see store.FirstSeen): adapters keep
// their replay protection in the core's store, so a restart does not reopen it.
func (c *Core) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
	return c.store.FirstSeen(key, at, window)
}
