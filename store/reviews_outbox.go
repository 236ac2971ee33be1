package store

import (
	"encoding/json"
	"fmt"
)

// UpdateReviewItemWith is UpdateReviewItem whose fn may also queue chat deliveries (a review
// prompt) with out, committed in the same transaction as the item and ev: a prompt is never
// recorded as sent without being queued, nor queued without being recorded.
func (s *Store) UpdateReviewItemWith(campaign, userID, roleID string, ev AuditRecord, fn func(it *ReviewItem, out *Outbox) error) (ReviewItem, error) {
	var out ReviewItem
	now := s.at(ev.At)
	err := s.db.Update(func(tx kvTx) error {
		b, err := bucket(tx, bucketReviewItems)
		if err != nil {
			return err
		}
		key := itemKey(campaign, userID, roleID)
		v := b.Get(key)
		if v == nil {
			return fmt.Errorf("%w: review item %s/%s/%s", ErrNotFound, campaign, userID, roleID)
		}
		if err := json.Unmarshal(v, &out); err != nil {
			return err
		}
		it := out
		if err := fn(&it, &Outbox{tx: tx, now: now}); err != nil {
			return err
		}
		it.Campaign, it.UserID, it.RoleID = campaign, userID, roleID
		it.DecidedAt, it.Prompted, it.OutcomeAt = utc(it.DecidedAt), utc(it.Prompted), utc(it.OutcomeAt)
		nv, err := json.Marshal(it)
		if err != nil {
			return err
		}
		if err := b.Put(key, nv); err != nil {
			return err
		}
		out = it
		if ev.Action == "" {
			return nil
		}
		ev.At = now
		_, err = appendAudit(tx, ev)
		return err
	})
	return out, err
}
