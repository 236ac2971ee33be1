package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Conversation is where a chat platform lets the bot post without being
// spoken to first: a Teams conversation reference, captured when the app is
// installed or first spoken to. Chat adapters keep them so that channel posts
// and direct messages work after a restart.
type Conversation struct {
	Platform string `json:"platform"`
	// Key is what the conversation is looked up by: its own id, or
	// "user:<platform user id>" for the reference of one user (where to open
	// a direct message with them).
	Key            string    `json:"key"`
	ServiceURL     string    `json:"service_url,omitempty"`
	ConversationID string    `json:"conversation_id,omitempty"`
	TenantID       string    `json:"tenant_id,omitempty"`
	Type           string    `json:"type,omitempty"` // personal, channel, groupChat
	Name           string    `json:"name,omitempty"` // the channel's or team's name, when the platform says
	TeamID         string    `json:"team_id,omitempty"`
	UserID         string    `json:"user_id,omitempty"` // the platform user, for a user's reference
	UserObjectID   string    `json:"user_object_id,omitempty"`
	BotID          string    `json:"bot_id,omitempty"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

var bucketConversations = []byte("conversations")

// migrateV3 adds the conversations bucket for chat adapters' conversation
// references (proactive posts and direct messages).
func migrateV3(tx kvTx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketConversations); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketConversations, err)
	}
	return nil
}

// PutConversation stores c under (c.Platform, c.Key), replacing what was
// there. Fields c leaves empty keep their stored values, so a later activity
// that says less (no channel name) does not erase what an earlier one said.
func (s *Store) PutConversation(c Conversation) error {
	if c.Platform == "" || c.Key == "" {
		return fmt.Errorf("store: conversation needs platform and key (got %q, %q)", c.Platform, c.Key)
	}
	c.UpdatedAt = s.at(c.UpdatedAt)
	return s.db.Update(func(tx kvTx) error {
		b, err := bucket(tx, bucketConversations)
		if err != nil {
			return err
		}
		key := strs(c.Platform, c.Key)
		if v := b.Get(key); v != nil {
			var old Conversation
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("store: conversation %s/%s: %w", c.Platform, c.Key, err)
			}
			c = mergeConversation(old, c)
		}
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return b.Put(key, v)
	})
}

func mergeConversation(old, c Conversation) Conversation {
	keep := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	keep(&c.ServiceURL, old.ServiceURL)
	keep(&c.ConversationID, old.ConversationID)
	keep(&c.TenantID, old.TenantID)
	keep(&c.Type, old.Type)
	keep(&c.Name, old.Name)
	keep(&c.TeamID, old.TeamID)
	keep(&c.UserID, old.UserID)
	keep(&c.UserObjectID, old.UserObjectID)
	keep(&c.BotID, old.BotID)
	return c
}

// Conversation returns the conversation stored under (platform, key), or
// ErrNotFound.
func (s *Store) Conversation(platform, key string) (Conversation, error) {
	var c Conversation
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketConversations)
		if err != nil {
			return err
		}
		v := b.Get(strs(platform, key))
		if v == nil {
			return fmt.Errorf("%w: conversation %s/%s", ErrNotFound, platform, key)
		}
		return json.Unmarshal(v, &c)
	})
	return c, err
}

// Conversations returns every conversation of platform (shorter keys first).
func (s *Store) Conversations(platform string) ([]Conversation, error) {
	var out []Conversation
	err := s.db.View(func(tx kvTx) error {
		b, err := bucket(tx, bucketConversations)
		if err != nil {
			return err
		}
		prefix := strs(platform)
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var conv Conversation
			if err := json.Unmarshal(v, &conv); err != nil {
				return fmt.Errorf("store: conversation %x: %w", k, err)
			}
			out = append(out, conv)
		}
		return nil
	})
	return out, err
}
