package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

// A post from the core's outbox carries its key (bot.Message.Key) in Slack message metadata, so
// that a post whose answer was lost (a timeout, a reset, a crash before the answer was stored)
// can be found in the conversation's history instead of being posted twice (bot.Finder). This
// needs the history scopes (channels:history, groups:history, im:history); without them the
// outbox posts again: at least once, never lost, and the operator is told once.

// metadataEventType is the event_type of the metadata on outbox posts.
const metadataEventType = "elevate_outbox"

// metadataKey is the payload field holding the outbox key ("elevate-outbox-<item id>").
const metadataKey = "outbox_key"

// findSkew is how much earlier than the item's creation the history is read: Slack's clock and
// Elevate's may differ a little.
const findSkew = 2 * time.Minute

// findPages bounds the history pages read for one look (200 messages each).
const findPages = 10

var _ bot.Finder = (*Adapter)(nil)

// metadata tags a post with its outbox key.
func metadata(key string) slackapi.MsgOption {
	return slackapi.MsgOptionMetadata(slackapi.SlackMetadata{EventType: metadataEventType, EventPayload: map[string]any{metadataKey: key}})
}

// FindSent implements bot.Finder: it reads the conversation's history since since (less
// findSkew) with the messages' metadata and looks for a message the bot posted with key. A
// private (ephemeral) message has no history and is never found; nor is anything when the bot
// is not in the channel (it cannot have posted there) or lacks a history scope (logged once).
func (a *Adapter) FindSent(ctx context.Context, to bot.Address, key string, since time.Time) (store.MessageRef, bool, error) {
	if key == "" || to.Private {
		return store.MessageRef{}, false, nil
	}
	var ch string
	var err error
	if to.Channel == "" {
		ch, err = a.dmChannel(ctx, to.User)
	} else {
		ch, err = a.channelID(ctx, to.Channel)
	}
	if err != nil || ch == "" {
		return store.MessageRef{}, false, a.findFailed(err)
	}
	me, err := a.self(ctx)
	if err != nil {
		return store.MessageRef{}, false, deliveryError(err)
	}
	if me.botID == "" {
		// Not a bot token: nothing tells our posts from a member's forging our metadata.
		return store.MessageRef{}, false, nil
	}
	p := &slackapi.GetConversationHistoryParameters{ChannelID: ch, Limit: 200, IncludeAllMetadata: true,
		Oldest: slackTS(since.Add(-findSkew)), Inclusive: true}
	for range findPages {
		var res *slackapi.GetConversationHistoryResponse
		err := a.call(ctx, "conversations.history", func() (err error) {
			res, err = a.api.GetConversationHistoryContext(ctx, p)
			return err
		})
		if err != nil {
			return store.MessageRef{}, false, a.findFailed(err)
		}
		for _, m := range res.Messages {
			if m.Metadata.EventType == metadataEventType && m.BotID == me.botID && m.Metadata.EventPayload[metadataKey] == key {
				return store.MessageRef{Platform: Platform, Channel: ch, MessageID: m.Timestamp}, true, nil
			}
		}
		if res.ResponseMetaData.NextCursor == "" {
			return store.MessageRef{}, false, nil
		}
		p.Cursor = res.ResponseMetaData.NextCursor
	}
	a.log.Warn("slack: outbox post not found in the history pages read; posting it again", "channel", ch, "key", key)
	return store.MessageRef{}, false, nil
}

// findFailed says what a failed look means: nothing to find (the channel does not exist or
// the bot is not in it, so the post cannot have been made), a missing scope (post again, at
// least once; the operator is told once), or a failure worth retrying (returned).
func (a *Adapter) findFailed(err error) error {
	if err == nil {
		return nil
	}
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "channel_not_found", "not_in_channel", "user_not_found", "is_archived", "cannot_dm_bot", "user_disabled":
			return nil
		case "missing_scope", "not_allowed_token_type", "no_permission":
			a.noHistory.Do(func() {
				a.log.Error("slack: the bot token cannot read conversation history (channels:history, groups:history, im:history); "+
					"a Slack post whose answer was lost will be posted again, so people may see it twice. Add the scopes (elevate manifest slack) and reinstall the app.",
					"err", err)
			})
			return nil
		}
	}
	return deliveryError(err)
}

// slackTS writes t as a Slack timestamp ("seconds.micros").
func slackTS(t time.Time) string {
	us := max(t.UnixMicro(), 0)
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// identity is the bot's own user and bot ids (auth.test), cached once read.
type identity struct {
	mu            sync.Mutex
	userID, botID string
}

// self returns the bot's identity, reading it with auth.test the first time.
func (a *Adapter) self(ctx context.Context) (identity, error) {
	w := &a.me
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.userID != "" {
		return identity{userID: w.userID, botID: w.botID}, nil
	}
	var res *slackapi.AuthTestResponse
	err := a.call(ctx, "auth.test", func() (err error) {
		res, err = a.api.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		return identity{}, err
	}
	w.userID, w.botID = res.UserID, res.BotID
	return identity{userID: w.userID, botID: w.botID}, nil
}

// channelID resolves a configured channel (an id, or a name with or without #) to its id: as
// given, learnt from an earlier post, or read with conversations.list. "" when no channel the
// bot can see has that name.
func (a *Adapter) channelID(ctx context.Context, channel string) (string, error) {
	name := strings.TrimPrefix(strings.TrimSpace(channel), "#")
	if slackChannelID.MatchString(name) {
		return name, nil
	}
	name = strings.ToLower(name)
	if id, ok := a.channelIDs.Load(name); ok {
		return id.(string), nil
	}
	var all map[string]slackapi.Channel
	err := a.call(ctx, "conversations.list", func() (err error) {
		all, err = listChannels(ctx, a.api)
		return err
	})
	if err != nil {
		return "", err
	}
	for n, c := range all {
		a.channelIDs.Store(n, c.ID)
	}
	if c, ok := all[name]; ok {
		return c.ID, nil
	}
	return "", nil
}
