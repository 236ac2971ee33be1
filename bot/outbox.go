package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/store"
)

// The outbox: every chat delivery a state change causes (the requester's DM, the approvers'
// card, its updates, the security channel's line) is queued in the same store transaction as the
// change (change, enqueue) and then delivered: at once by the goroutine that made the change,
// and, if that fails or the process stops first, by the outbox worker (RunOutbox). Delivery is
// in order per conversation, retried with backoff that honours the platform's Retry-After, held
// while the target is unknown, and given up only after Options.OutboxMaxAge, with a log line, an
// audit record and a metric.

// outbox queues deliveries inside a store transaction. Its methods record the first error, which
// the transaction then returns (nothing is committed).
type outbox struct {
	c     *Core
	ob    *store.Outbox
	after uint64
	err   error
}

// then makes the next item added wait until item id was delivered (it is dropped if id is):
// words that claim a delivery ("I've asked in #pim-approvals") are sent only after it.
func (o *outbox) then(id uint64) *outbox {
	o.after = id
	return o
}

func (o *outbox) add(it store.OutboxItem, m *Message, files []Attachment) uint64 {
	if o.err != nil {
		return 0
	}
	if m != nil {
		b, err := json.Marshal(m)
		if err != nil {
			o.err = err
			return 0
		}
		it.Message = b
	}
	if len(files) > 0 {
		b, err := json.Marshal(files)
		if err != nil {
			o.err = err
			return 0
		}
		it.Files = b
	}
	if it.After == 0 {
		it.After = o.after
	}
	o.after = 0
	id, err := o.ob.Add(it)
	if err != nil {
		o.err = err
	}
	return id
}

// send queues m to to on platform.
//
// A sign-in link lives in this process's memory, so a message carrying one is only good for this
// run: another run drops it as stale (that run sends a new link when it resumes the request).
func (o *outbox) send(platform string, to Address, m Message) uint64 {
	it := store.OutboxItem{Op: store.OutboxSend, Platform: platform, Channel: to.Channel, User: to.User, Private: to.Private, RequestID: m.RequestID}
	if m.Kind == KindSignIn {
		it.Run = o.c.run
	}
	return o.add(it, &m, nil)
}

// tell queues a direct message to r's requester; nothing when the request has no chat user (made
// in the Entra portal).
func (o *outbox) tell(r store.Request, m Message) uint64 {
	if r.ChatUser == "" {
		return 0
	}
	m.RequestID = r.ID
	return o.send(r.Platform, DM(r.ChatUser), m)
}

// reply queues a private answer to a where they typed or clicked.
func (o *outbox) reply(a Actor, m Message) uint64 {
	return o.send(a.Platform, a.reply(), m)
}

// alert queues a line for the security channel on every registered platform (the docs promise
// the security channel every activation, whichever platform it came from); nothing when none is
// configured. platform, where the event happened, goes first.
func (o *outbox) alert(platform string, m Message) uint64 {
	if o.c.cfg.Channels.Security == "" {
		return 0
	}
	m.Kind = KindAlert
	var id uint64
	for _, p := range firstOf(platform, o.c.platforms()) {
		id = o.send(p, Address{Channel: o.c.cfg.Channels.Security}, m)
	}
	return id
}

// firstOf orders platforms with p first, when it is one of them.
func firstOf(p string, platforms []string) []string {
	if i := slices.Index(platforms, p); i > 0 {
		platforms = append([]string{p}, slices.Delete(platforms, i, i+1)...)
	}
	return platforms
}

// post queues m (with files) to channel on every registered platform and returns the last id.
func (o *outbox) post(channel string, m Message, files []Attachment) uint64 {
	var id uint64
	for _, p := range o.c.platforms() {
		id = o.add(store.OutboxItem{Op: store.OutboxSend, Platform: p, Channel: channel, RequestID: m.RequestID}, &m, files)
	}
	return id
}

// postCard queues r's approval card in its approval channel on every registered platform (or on
// those listed), rendered from the store when it is delivered; each reference is stored then,
// for later updates. Approvers who live in Teams see a request made in Slack, and the other way
// round. It returns the id of the post on r's platform (else the first queued).
func (o *outbox) postCard(r store.Request, only ...string) uint64 {
	platforms := firstOf(r.Platform, o.c.platforms())
	if only != nil {
		platforms = only
	}
	var id uint64
	for _, p := range platforms {
		x := o.add(store.OutboxItem{Op: store.OutboxCard, Platform: p, Channel: o.c.approvalChannel(r), RequestID: r.ID, RefKind: string(KindCard)}, nil, nil)
		if id == 0 || p == r.Platform {
			id = x
		}
	}
	return id
}

// cards queues an update of every approval card of r (on each platform that has one posted or
// queued), rendered from the store when delivered. An update waits for a card post of r still
// queued before it, so it never overtakes its post.
func (o *outbox) cards(r store.Request) {
	if o.err != nil {
		return
	}
	if r = o.head(r); o.err != nil {
		return
	}
	refs, err := o.ob.MessageRefs(r.ID)
	if err != nil {
		o.err = err
		return
	}
	queued, err := o.ob.Queued(r.ID)
	if err != nil {
		o.err = err
		return
	}
	var platforms []string
	for _, ref := range refs {
		if ref.Kind == string(KindCard) && !slices.Contains(platforms, ref.Platform) {
			platforms = append(platforms, ref.Platform)
		}
	}
	for _, it := range queued {
		if it.Op == store.OutboxCard && !slices.Contains(platforms, it.Platform) {
			platforms = append(platforms, it.Platform)
		}
	}
	for _, p := range platforms {
		o.add(store.OutboxItem{Op: store.OutboxRefresh, Platform: p, Channel: o.c.approvalChannel(r), RequestID: r.ID}, nil, nil)
	}
}

// card queues r's approval card on every registered platform: a post where it has none yet
// (posted or queued), else an update. It returns the id of the post on r's platform while it is
// queued, for words that claim it, or 0 when it was posted already.
func (o *outbox) card(r store.Request) uint64 {
	if o.err != nil {
		return 0
	}
	if r = o.head(r); o.err != nil {
		return 0
	}
	refs, err := o.ob.MessageRefs(r.ID)
	if err != nil {
		o.err = err
		return 0
	}
	queued, err := o.ob.Queued(r.ID)
	if err != nil {
		o.err = err
		return 0
	}
	var id uint64
	var missing []string
	some := false
	for _, p := range firstOf(r.Platform, o.c.platforms()) {
		if slices.ContainsFunc(refs, func(ref store.MessageRef) bool { return ref.Kind == string(KindCard) && ref.Platform == p }) {
			some = true
			continue
		}
		if i := slices.IndexFunc(queued, func(it store.OutboxItem) bool { return it.Op == store.OutboxCard && it.Platform == p }); i >= 0 {
			some = true
			if p == r.Platform {
				id = queued[i].ID
			}
			continue
		}
		missing = append(missing, p)
	}
	if some {
		o.cards(r) // before the new posts: they are rendered from the store anyway
	}
	if len(missing) > 0 {
		if x := o.postCard(r, missing...); id == 0 && missing[0] == r.Platform {
			id = x
		}
	}
	return id
}

// change is store.UpdateWith: fn changes the request and queues what the change must tell
// people, all in one transaction; then the watchers are told and the queued deliveries made.
func (c *Core) change(ctx context.Context, id uint64, ev store.AuditRecord, fn func(r *store.Request, out *outbox) error) (store.Request, error) {
	var added []store.OutboxItem
	settled := false
	r, err := c.store.UpdateWith(id, ev, func(r *store.Request, ob *store.Outbox) error {
		o := &outbox{c: c, ob: ob}
		before := *r
		if err := fn(r, o); err != nil {
			return err
		}
		settled = settling(before, *r)
		if settled {
			c.groupSummary(o, *r) // the last role of a multi-role request settled: one line for all
		}
		if o.err != nil {
			return o.err
		}
		added = ob.Added()
		return nil
	})
	if err == nil {
		c.notify(ctx, r)
		c.flush(ctx, added)
		if settled {
			c.groupUsable(ctx, r.Group) // the roles already usable are told now, in one line
		}
	}
	return r, err
}

// enqueue queues deliveries that no request change causes, in a transaction of their own (with
// ev in the audit log when not nil), and makes them.
func (c *Core) enqueue(ctx context.Context, ev *store.AuditRecord, fn func(out *outbox) error) error {
	added, err := c.store.Enqueue(ev, func(ob *store.Outbox) error {
		o := &outbox{c: c, ob: ob}
		if err := fn(o); err != nil {
			return err
		}
		return o.err
	})
	if err != nil {
		c.log.Error("queueing chat messages", "err", err)
		return err
	}
	c.flush(ctx, added)
	return nil
}

// DeliveryError is how an adapter says more about a failed Send, Update or SendFiles than the
// cause: whether the target is unknown (yet), whether the platform certainly did not carry it out
// (so a retry cannot duplicate it), whether retrying can help at all, and when to retry.
type DeliveryError struct {
	Err error
	// RetryAfter is the platform's Retry-After; 0 when it gave none.
	RetryAfter time.Duration
	// Unknown: the channel or user is not known (yet): a Teams channel not mapped, a Slack
	// channel not found. The outbox holds the message and tries again when conversations change.
	Unknown bool
	// NotSent: the platform answered and did not carry the call out (a 429, a 4xx).
	NotSent bool
	// Refused: the platform will never take this message (malformed, forbidden); not retried.
	Refused bool
}

func (e *DeliveryError) Error() string { return e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// ErrUnknownTarget is a delivery to a channel or user the platform adapter does not know yet.
var ErrUnknownTarget = errors.New("bot: chat target not known yet")

// Is lets errors.Is(err, ErrUnknownTarget) match an Unknown DeliveryError.
func (e *DeliveryError) Is(target error) bool { return target == ErrUnknownTarget && e.Unknown }

// Finder is an optional Messenger capability: find a message posted to to with Message.Key no
// earlier than since (an outbox post whose answer was lost), so that it is not posted twice.
// An adapter that cannot look (a private message, a scope not granted) answers not found: the
// message is then posted again, at least once rather than not at all.
type Finder interface {
	FindSent(ctx context.Context, to Address, key string, since time.Time) (store.MessageRef, bool, error)
}

// deliveryKey identifies one outbox post on its platform for Finder.
func deliveryKey(id uint64) string { return fmt.Sprintf("elevate-outbox-%d", id) }

// tellLater queues a direct message to r's requester that no state change causes (PIM made the
// role usable), in a transaction of its own.
func (c *Core) tellLater(ctx context.Context, r store.Request, m Message) {
	_ = c.enqueue(ctx, nil, func(out *outbox) error {
		out.tell(r, m)
		return nil
	})
}

// firstPlatform is the first registered platform, for alerts about requests made outside chat.
func (c *Core) firstPlatform() string {
	if ps := c.platforms(); len(ps) > 0 {
		return ps[0]
	}
	return ""
}

// channelAt stands for channel's name in a queued message's text; it is written as the platform
// shows it (a Slack mention) when the message is delivered, after the post that taught the
// adapter the channel's id.
func channelAt(channel string) string { return "\uE000" + channel + "\uE001" }

var channelAtRE = regexp.MustCompile("\uE000([^\uE001]*)\uE001")

// resolveChannels writes the channels a queued message names as the platform shows them.
func (c *Core) resolveChannels(ctx context.Context, platform string, m *Message) {
	if !strings.ContainsRune(m.Text, '\uE000') {
		return
	}
	m.Text = channelAtRE.ReplaceAllStringFunc(m.Text, func(s string) string {
		return c.channelName(ctx, platform, channelAtRE.FindStringSubmatch(s)[1])
	})
}

// head is the item whose card shows r: r itself, or the first item of r's multi-role request.
func (o *outbox) head(r store.Request) store.Request {
	if r.Group == 0 || r.Group == r.ID {
		return r
	}
	h, err := o.ob.Request(r.Group)
	if err != nil {
		o.err = err
	}
	return h
}
