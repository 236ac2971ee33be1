package bot

import "github.com/elevate-pim/elevate/store"

// Chat adapters whose platform needs a conversation reference to post unprompted (Teams) keep
// them through the core, in its store; the core itself never reads them.

// PutConversation stores a conversation reference (see store.PutConversation).
func (c *Core) PutConversation(conv store.Conversation) error { return c.store.PutConversation(conv) }

// Conversation returns the conversation reference stored under (platform, key).
func (c *Core) Conversation(platform, key string) (store.Conversation, error) {
	return c.store.Conversation(platform, key)
}

// Conversations returns every conversation reference of platform.
func (c *Core) Conversations(platform string) ([]store.Conversation, error) {
	return c.store.Conversations(platform)
}
