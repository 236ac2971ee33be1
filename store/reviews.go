package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Review campaigns (DESIGN §4): each quarter every eligible user confirms or
// gives up each eligible role. The evidence shown and every answer are kept
// here, because Entra's own audit retention is shorter than a quarter.
//
//	reviews/       <str campaign id> → Campaign (JSON)
//	review_items/  <str campaign id><str user id><str role id> → ReviewItem (JSON)

var (
	bucketReviews     = []byte("reviews")
	bucketReviewItems = []byte("review_items")
)

// Campaign is one quarterly self-review.
type Campaign struct {
	ID       string    `json:"id"` // "2026-Q2"
	Start    time.Time `json:"start"`
	Deadline time.Time `json:"deadline"`
	Closed   bool      `json:"closed,omitempty"` // the deadline has been handled
	ClosedAt time.Time `json:"closed_at,omitzero"`
	By       string    `json:"by,omitempty"` // who started it: "schedule" or an admin
}

// Review decisions.
const (
	DecisionKeep   = "keep"
	DecisionRemove = "remove"
)

// ReviewItem is one (user, eligible role) of a campaign.
type ReviewItem struct {
	Campaign string `json:"campaign"`
	UserID   string `json:"user_id"`
	User     string `json:"user,omitempty"` // UPN
	RoleID   string `json:"role_id"`
	RoleName string `json:"role_name,omitempty"`
	ViaGroup string `json:"via_group,omitempty"` // eligible through this group: removal is the group owner's

	Activations int       `json:"activations"` // in the evidence period
	LastUsed    time.Time `json:"last_used,omitzero"`
	EligibleEnd time.Time `json:"eligible_end,omitzero"`

	Platform string    `json:"platform,omitempty"` // where the prompt went
	ChatUser string    `json:"chat_user,omitempty"`
	Prompted time.Time `json:"prompted,omitzero"`

	Decision  string    `json:"decision,omitempty"` // keep, remove; empty: no answer yet
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`

	// At the deadline.
	Outcome   string    `json:"outcome,omitempty"` // kept, removed, queued, flagged, failed
	OutcomeAt time.Time `json:"outcome_at,omitzero"`
	Note      string    `json:"note,omitempty"`
}

// Key is the item's id within its campaign, as "<campaign>|<user id>|<role id>".
func (it ReviewItem) Key() string { return it.Campaign + "|" + it.UserID + "|" + it.RoleID }

func itemKey(campaign, user, role string) []byte { return strs(campaign, user, role) }

// CreateCampaign stores c with its items in one transaction. If a campaign
// with c.ID exists, nothing is written and created is false: a quarter has
// one campaign, however often it is started.
func (s *Store) CreateCampaign(c Campaign, items []ReviewItem) (created bool, err error) {
	c.Start, c.Deadline = utc(c.Start), utc(c.Deadline)
	err = s.db.Update(func(tx kvTx) error {
		rb, err := bucket(tx, bucketReviews)
		if err != nil {
			return err
		}
		ib, err := bucket(tx, bucketReviewItems)
		if err != nil {
			return err
		}
		if rb.Get([]byte(c.ID)) != nil {
			return nil
		}
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := rb.Put([]byte(c.ID), v); err != nil {
			return err
		}
		for _, it := range items {
			it.Campaign = c.ID
			v, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := ib.Put(itemKey(c.ID, it.UserID, it.RoleID), v); err != nil {
				return err
			}
		}
		created = true
		_, err = appendAudit(tx, AuditRecord{At: s.at(time.Time{}), Actor: c.By, Action: "review.started",
			Detail: fmt.Sprintf("%s: %d items, deadline %s", c.ID, len(items), c.Deadline.Format(time.RFC3339))})
		return err
	})
	return created, err
}

// Campaign returns the campaign with this id, or ErrNotFound.
func (s *Store) Campaign(id string) (Campaign, error) {
	var c Campaign
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketReviews)
		if err != nil {
			return err
		}
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: campaign %s", ErrNotFound, id)
		}
		return json.Unmarshal(v, &c)
	})
	return c, err
}

// Campaigns returns every campaign, ordered by id (oldest quarter first).
func (s *Store) Campaigns() ([]Campaign, error) {
	var out []Campaign
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketReviews)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var c Campaign
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("store: campaign %s: %w", k, err)
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// CloseCampaign marks the campaign's deadline as handled; false if it already was.
func (s *Store) CloseCampaign(id string, at time.Time) (bool, error) {
	closed := false
	err := s.db.Update(func(tx kvTx) error {
		b, err := bucket(tx, bucketReviews)
		if err != nil {
			return err
		}
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: campaign %s", ErrNotFound, id)
		}
		var c Campaign
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		if c.Closed {
			return nil
		}
		c.Closed, c.ClosedAt = true, s.at(at)
		if v, err = json.Marshal(c); err != nil {
			return err
		}
		closed = true
		if err := b.Put([]byte(id), v); err != nil {
			return err
		}
		_, err = appendAudit(tx, AuditRecord{At: c.ClosedAt, Actor: "elevate", Action: "review.closed", Detail: id})
		return err
	})
	return closed, err
}

// ReviewItems returns the campaign's items in key order (grouped by user).
func (s *Store) ReviewItems(campaign string) ([]ReviewItem, error) {
	var out []ReviewItem
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketReviewItems)
		if err != nil {
			return err
		}
		prefix := strs(campaign)
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var it ReviewItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("store: review item %x: %w", k, err)
			}
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// ReviewItem returns one item, or ErrNotFound.
func (s *Store) ReviewItem(campaign, userID, roleID string) (ReviewItem, error) {
	var it ReviewItem
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketReviewItems)
		if err != nil {
			return err
		}
		v := b.Get(itemKey(campaign, userID, roleID))
		if v == nil {
			return fmt.Errorf("%w: review item %s/%s/%s", ErrNotFound, campaign, userID, roleID)
		}
		return json.Unmarshal(v, &it)
	})
	return it, err
}

// UpdateReviewItem changes one item in one transaction, like Update does for
// requests: fn gets a copy; ErrNoChange (or any error) from fn writes
// nothing and is returned with the current item. A non-empty ev.Action is
// appended to the audit log in the same transaction.
func (s *Store) UpdateReviewItem(campaign, userID, roleID string, ev AuditRecord, fn func(*ReviewItem) error) (ReviewItem, error) {
	return s.UpdateReviewItemWith(campaign, userID, roleID, ev, func(it *ReviewItem, _ *Outbox) error { return fn(it) })
}
