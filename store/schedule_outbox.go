package store

import "time"

// OnceWith is Once whose fn (called only the first time key is seen) may queue chat deliveries
// with out, in the same transaction: the mark that something was done once and what it sends
// commit together, so a crash can neither send it twice nor mark it done unsent. It returns
// whether this was the first time and what fn queued.
func (s *Store) OnceWith(key string, at time.Time, fn func(out *Outbox) error) (first bool, added []OutboxItem, err error) {
	now := s.at(at)
	err = s.db.Update(func(tx kvTx) error {
		first, added = false, nil
		b, err := scheduleBucket(tx, keyOnce)
		if err != nil {
			return err
		}
		if b.Get([]byte(key)) != nil {
			return nil
		}
		out := &Outbox{tx: tx, now: now}
		if err := fn(out); err != nil {
			return err
		}
		if err := b.Put([]byte(key), u64(uint64(now.UnixNano()))); err != nil {
			return err
		}
		first, added = true, out.Added()
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	return first, added, nil
}
