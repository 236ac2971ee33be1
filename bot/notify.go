package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/store"
)

// What scheduled work (bot/schedule) needs from the core: posting to channels on every platform,
// direct messages to users who may never have talked to Elevate, files with a message (the
// digest's chart), and buttons the core does not handle itself (review Keep / Remove).

// Attachment is a file sent with a message, such as the digest's PNG chart.
type Attachment struct {
	Name string // "digest-2026-01-05.png"
	MIME string // "image/png"
	Alt  string // what it shows, for screen readers and platforms that can't show it
	Data []byte
}

// Uploader is an optional Messenger capability: send a message with files (Slack uploads them
// to the channel; Teams embeds an image in the card). Messengers without it get the message alone.
type Uploader interface {
	SendFiles(ctx context.Context, to Address, m Message, files []Attachment) (store.MessageRef, error)
}

// FileSharer is an optional Uploader capability, for the outbox: ref is a post of m found
// (Finder) after an attempt whose outcome was unknown; share below it those of files that
// attempt did not share, so that each is shared once. An Uploader without it that embeds its
// files in the message itself (Teams) needs none: the message found carries them.
type FileSharer interface {
	ShareFiles(ctx context.Context, ref store.MessageRef, m Message, files []Attachment) error
}

// UserFinder is an optional Messenger capability: find the platform user of an Entra user (by
// object id or UPN), so that a user who never spoke to Elevate can get a direct message.
type UserFinder interface {
	FindUser(ctx context.Context, userID, upn string) (chatUser string, ok bool, err error)
}

// Post sends m to channel on every registered platform, with files where the platform can show
// them, through the outbox: delivered at once when the platform takes it, else retried (and held
// while the channel is unknown) like every other delivery. Security alerts, digests and reminders
// are not lost to a chat outage or a restart. The error is the store's, if it could not queue m.
func (c *Core) Post(ctx context.Context, channel string, m Message, files ...Attachment) error {
	if channel == "" {
		return nil
	}
	return c.enqueue(ctx, nil, func(out *outbox) error {
		out.post(channel, m, files)
		return nil
	})
}

// Tell sends m as a direct message to chatUser on platform through the outbox, like every other
// delivery: at once when the platform takes it, else retried, held while the user is unknown,
// kept across restarts. The error is the store's, if it could not queue m.
func (c *Core) Tell(ctx context.Context, platform, chatUser string, m Message) error {
	if chatUser == "" {
		return nil // nobody to tell (a request made outside chat)
	}
	return c.enqueue(ctx, nil, func(out *outbox) error {
		out.send(platform, DM(chatUser), m)
		return nil
	})
}

// TellIn queues m as a direct message to chatUser on platform inside the store transaction ob
// belongs to (scheduled work's own change, such as a review item marked prompted), so that the
// change and the message commit together. Once the transaction committed, Deliver makes what it
// queued (ob.Added()); the outbox worker does if Deliver never runs.
func (c *Core) TellIn(ob *store.Outbox, platform, chatUser string, m Message) error {
	if chatUser == "" {
		return nil // nobody to tell (a request made outside chat)
	}
	o := &outbox{c: c, ob: ob}
	o.send(platform, DM(chatUser), m)
	return o.err
}

// Deliver makes the deliveries that a committed transaction queued with TellIn.
func (c *Core) Deliver(ctx context.Context, added []store.OutboxItem) { c.flush(ctx, added) }

// Recipient is a chat user through whom an Entra user can be reached.
type Recipient struct {
	Platform, ChatUser string
}

// Reach finds where an Entra user can be reached: the chat accounts bound to them by a sign-in,
// and on platforms without one whatever that platform's UserFinder finds. With
// direct_messages: last (the default) only the platform the person last used Elevate from is
// returned, when this process has seen them; otherwise every account found. None is not an error.
func (c *Core) Reach(ctx context.Context, userID, upn string) ([]Recipient, error) {
	var out []Recipient
	if userID != "" {
		bs, err := c.store.BindingsByUser(userID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		for _, b := range bs {
			if _, ok := c.messenger(b.Platform); ok {
				out = append(out, Recipient{Platform: b.Platform, ChatUser: b.ChatUser})
			}
		}
	}
	c.mu.RLock()
	var fs []Messenger
	for _, m := range c.messengers {
		if _, ok := m.(UserFinder); ok && !slices.ContainsFunc(out, func(r Recipient) bool { return r.Platform == m.Platform() }) {
			fs = append(fs, m)
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(fs, func(a, b Messenger) int { return strings.Compare(a.Platform(), b.Platform()) })
	for _, m := range fs {
		u, ok, err := m.(UserFinder).FindUser(ctx, userID, upn)
		if err != nil {
			c.log.Warn("finding chat user", "platform", m.Platform(), "user_id", userID, "err", err)
			continue
		}
		if ok {
			out = append(out, Recipient{Platform: m.Platform(), ChatUser: u})
		}
	}
	if c.cfg.DirectMessages != "all" && userID != "" {
		if v, ok := c.lastUsed.Load(userID); ok {
			last := v.(Recipient)
			if i := slices.IndexFunc(out, func(r Recipient) bool { return r.Platform == last.Platform }); i >= 0 {
				return out[i : i+1], nil
			}
		}
	}
	return out, nil
}

// used notes the platform a person last used Elevate from, for Reach; a chat user Elevate does
// not know yet is not noted.
func (c *Core) used(a Actor) {
	userID := a.UserID
	if userID == "" {
		b, err := c.store.Binding(a.Platform, a.ChatUser)
		if err != nil {
			return
		}
		userID = b.UserID
	}
	c.lastUsed.Store(userID, Recipient{Platform: a.Platform, ChatUser: a.ChatUser})
}

// Identity returns who the actor is in Entra: vouched for by the platform or bound by an earlier
// sign-in. known is false for a chat user who never signed in; a binding mismatch is an error.
func (c *Core) Identity(a Actor) (objectID, upn string, known bool, err error) {
	who, known, err := c.identity(a)
	return who.ObjectID, who.UPN, known, err
}

// Reply answers the actor privately where they typed or clicked.
func (c *Core) Reply(ctx context.Context, a Actor, m Message) { c.reply(ctx, a, m) }

// Clock shows t the way the core shows times ("14:32 CET").
func (c *Core) Clock(t time.Time) string { return c.clock(t) }

// ActionHandler handles a button the core does not handle itself; value is the button's Value.
type ActionHandler func(ctx context.Context, a Actor, value, reason string) error

// HandleAction installs h for buttons with action a (review Keep / Remove). Click asks
// ActionHandlerFor before its own actions.
func (c *Core) HandleAction(a Action, h ActionHandler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.actions[a] = h
}

// ActionHandlerFor returns the handler installed for a, if any.
func (c *Core) ActionHandlerFor(a Action) (ActionHandler, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.actions[a]
	return h, ok
}

// ClickExtra is Click for the actions installed with HandleAction; handled is false for the
// others. Until Click consults the table itself, adapters and the demo may call this first.
func (c *Core) ClickExtra(ctx context.Context, a Actor, action Action, value, reason string) (handled bool, err error) {
	h, ok := c.ActionHandlerFor(action)
	if !ok {
		return false, nil
	}
	if err := h(ctx, a, value, reason); err != nil {
		return true, fmt.Errorf("bot: %s button: %w", action, err)
	}
	return true, nil
}

// FreshToken is a's delegated token if they signed in within the freshness window with the
// eligibility-write permission: for admin work done with the admin's own rights (applying review
// removals). Never stored, never logged.
func (c *Core) FreshToken(a Actor) (graph.UserToken, bool) {
	who, known, err := c.identity(a)
	if err != nil || !known {
		return graph.UserToken{}, false
	}
	return c.tokens.fresh(keyOf(a, who.ObjectID), c.cfg.SignInFreshness, 0, graph.ScopeEligibility)
}

// SignInThenClick sends a a sign-in link; once they are signed in, their click (action, value,
// reason) runs again, now with a fresh token. why says what the sign-in is for. The sign-in asks
// for the eligibility-write permission (graph.ScopeEligibility): it is for admins' writes.
func (c *Core) SignInThenClick(ctx context.Context, a Actor, action Action, value, reason, why string) {
	who, _, _ := c.identity(a)
	link, err := c.signInLink(ctx, pendingSignIn{purpose: forClick, actor: a, decision: action, value: value, reason: reason}, who.UPN)
	if err != nil {
		c.log.Error("sign-in link", "action", string(action), "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't prepare a Microsoft sign-in link just now; try again in a minute."})
		return
	}
	c.reply(ctx, a, Message{Kind: KindSignIn, Text: why + " The link works once, for 10 minutes.",
		Buttons: []Button{{Action: ActionOpenURL, Label: "Sign in", URL: link, Style: StylePrimary}}})
}
