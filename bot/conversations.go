package bot

import "github.com/elevate-pim/elevate/store"

// Chat adapters whose platform needs a conversation reference to post unprompted (Teams) keep
// them through the core, in its store; the core itself never reads them.

// PutConversation stores a conversation reference (see store.PutConversation). A new reference
// may be the target that queued messages wait for: the outbox tries them again at once.
func (c *Core) PutConversation(conv store.Conversation) error {
	if err := c.store.PutConversation(conv); err != nil {
		return err
	}
	c.TargetsChanged()
	return nil
}

// Conversation returns the conversation reference stored under (platform, key).
func (c *Core) Conversation(platform, key string) (store.Conversation, error) {
	return c.store.Conversation(platform, key)
}

// Conversations returns every conversation reference of platform.
func (c *Core) Conversations(platform string) ([]store.Conversation, error) {
	return c.store.Conversations(platform)
}
