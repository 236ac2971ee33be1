package bot

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elevate-pim/elevate/store"
)

// Delivery of the outbox (outbox.go): drain takes one conversation's items in order until one
// cannot be delivered yet; the worker (RunOutbox) drains every conversation with due items.

// Outbox bounds, when Options leave them zero.
const (
	defaultOutboxMaxAge = 24 * time.Hour
	outboxBackoffMin    = 2 * time.Second
	outboxBackoffMax    = 5 * time.Minute
	outboxHeldRecheck   = time.Minute
	outboxCallTimeout   = 30 * time.Second
	outboxParallel      = 4
)

// deliveries is the outbox worker's state in the core.
type deliveries struct {
	mu    sync.Mutex
	busy  map[string]bool // conversations being drained
	dirty map[string]bool // items were added to a busy conversation: drain it again
	kick  chan struct{}   // something was delivered or a target became known
	held  atomic.Bool     // the next pass retries held items at once

	failures atomic.Uint64
	dropped  atomic.Uint64
}

func newDeliveries() *deliveries {
	return &deliveries{busy: map[string]bool{}, dirty: map[string]bool{}, kick: make(chan struct{}, 1)}
}

func (d *deliveries) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// TargetsChanged tells the outbox that a chat target may have become known (a Teams channel was
// mapped, the app was added to a team): messages held for an unknown target are tried at once.
func (c *Core) TargetsChanged() {
	c.out.held.Store(true)
	c.out.wake()
}

// flush delivers what a change just queued, conversation by conversation, in the caller's
// goroutine: the common case needs no worker and keeps today's latency.
func (c *Core) flush(ctx context.Context, added []store.OutboxItem) {
	if len(added) == 0 {
		return
	}
	// Should this goroutine not get to them (its context ends, another is draining), the
	// worker looks at once instead of at its next retry time.
	defer c.out.wake()
	var convs []string
	for _, it := range added {
		if conv := it.Conversation(); !slices.Contains(convs, conv) {
			convs = append(convs, conv)
		}
	}
	for _, conv := range convs {
		c.drain(ctx, conv, false)
	}
}

// drain delivers conv's items in order. If another goroutine is draining conv, it is asked to
// look again instead, so items are never delivered twice or out of order in one process.
func (c *Core) drain(ctx context.Context, conv string, retryHeld bool) {
	d := c.out
	d.mu.Lock()
	if d.busy[conv] {
		d.dirty[conv] = true
		d.mu.Unlock()
		return
	}
	d.busy[conv] = true
	d.mu.Unlock()
	for {
		c.drainOnce(ctx, conv, retryHeld)
		retryHeld = false
		d.mu.Lock()
		if !d.dirty[conv] {
			delete(d.busy, conv)
			d.mu.Unlock()
			return
		}
		delete(d.dirty, conv)
		d.mu.Unlock()
	}
}

func (c *Core) drainOnce(ctx context.Context, conv string, retryHeld bool) {
	// Only this conversation's items (an index): reading and decoding the whole outbox on every
	// drain was a third of the server's CPU under load. A card's post and its updates share the
	// approvals channel's conversation, so cardQueued and laterRefresh see what they need; what
	// an item waits for (After) may be elsewhere and is looked up by id.
	items, err := c.store.OutboxConversation(conv)
	if err != nil {
		c.log.Error("reading the outbox", "err", err)
		return
	}
	pending := make(map[uint64]store.OutboxItem, len(items))
	for _, it := range items {
		pending[it.ID] = it
	}
	for _, it := range items {
		if ctx.Err() != nil || c.ctx.Err() != nil {
			return
		}
		now := c.now()
		if it.NextAt.After(now) && !(retryHeld && !it.HeldSince.IsZero()) {
			return // backing off; later items of the conversation wait behind it
		}
		if it.After != 0 {
			waiting := false
			if _, waiting = pending[it.After]; !waiting {
				if waiting, err = c.store.OutboxWaiting(it.After); err != nil {
					c.log.Error("reading the outbox", "err", err)
					return
				}
			}
			if waiting {
				return
			}
		}
		if it.Run != "" && it.Run != c.run {
			c.dropItem(it, "it carried a sign-in link of an earlier run of Elevate, which no longer works", "outbox.stale")
			delete(pending, it.ID)
			continue
		}
		if it.Op == store.OutboxRefresh {
			if cardQueued(pending, it) {
				return // the card's post comes first
			}
			if laterRefresh(pending, it) {
				// A later update renders the same request state again: this one is redundant.
				if err := c.store.OutboxDone([]uint64{it.ID}, nil); err != nil {
					c.log.Error("removing a delivered outbox item", "outbox_id", it.ID, "err", err)
					return
				}
				delete(pending, it.ID)
				continue
			}
		}
		ref, err := c.deliverItem(ctx, it)
		if err != nil {
			c.deliveryFailed(it, err)
			return
		}
		if err := c.store.OutboxDone([]uint64{it.ID}, map[uint64]store.MessageRef{it.ID: ref}); err != nil {
			// Delivered but still queued: the next attempt finds it (Finder) or sends it again.
			c.log.Error("removing a delivered outbox item", "outbox_id", it.ID, "err", err)
			return
		}
		delete(pending, it.ID)
		c.out.wake() // items chained after this one may be due now
	}
}

// cardQueued says whether a post of it's request's card on its platform is still queued before it.
func cardQueued(pending map[uint64]store.OutboxItem, it store.OutboxItem) bool {
	for _, x := range pending {
		if x.ID < it.ID && x.Op == store.OutboxCard && x.RequestID == it.RequestID && x.Platform == it.Platform {
			return true
		}
	}
	return false
}

// laterRefresh says whether another update of the same cards is queued after it.
func laterRefresh(pending map[uint64]store.OutboxItem, it store.OutboxItem) bool {
	for _, x := range pending {
		if x.ID > it.ID && x.Op == store.OutboxRefresh && x.RequestID == it.RequestID && x.Platform == it.Platform && x.Conversation() == it.Conversation() {
			return true
		}
	}
	return false
}

// deliverItem makes one delivery under its own timeout, detached from the caller's cancellation
// (a chat call cut off half-way leaves a post whose fate is unknown) but not from Close.
func (c *Core) deliverItem(ctx context.Context, it store.OutboxItem) (store.MessageRef, error) {
	msgr, ok := c.messenger(it.Platform)
	if !ok {
		return store.MessageRef{}, &DeliveryError{Err: fmt.Errorf("bot: no %s adapter is running", it.Platform), Unknown: true}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxCallTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()

	to := Address{Channel: it.Channel, User: it.User, Private: it.Private}
	var (
		m     Message
		files []Attachment
	)
	switch it.Op {
	case store.OutboxSend:
		if err := json.Unmarshal(it.Message, &m); err != nil {
			return store.MessageRef{}, &DeliveryError{Err: fmt.Errorf("bot: outbox item %d: %w", it.ID, err), Refused: true}
		}
		if len(it.Files) > 0 {
			if err := json.Unmarshal(it.Files, &files); err != nil {
				return store.MessageRef{}, &DeliveryError{Err: fmt.Errorf("bot: outbox item %d files: %w", it.ID, err), Refused: true}
			}
		}
	case store.OutboxCard:
		r, err := c.store.Request(it.RequestID)
		if err != nil {
			return store.MessageRef{}, &DeliveryError{Err: err, Refused: errors.Is(err, store.ErrNotFound)}
		}
		m = c.card(r)
	case store.OutboxRefresh:
		return store.MessageRef{}, c.refreshNow(dctx, msgr, it)
	default:
		return store.MessageRef{}, &DeliveryError{Err: fmt.Errorf("bot: outbox item %d: unknown op %q", it.ID, it.Op), Refused: true}
	}
	m.Key = deliveryKey(it.ID)
	c.resolveChannels(dctx, it.Platform, &m)
	// A post that may have gone through already (no answer last time, or queued by an earlier
	// run that may have posted it before it stopped) is looked for before it is posted again.
	if f, ok := msgr.(Finder); ok && (it.Uncertain || it.CreatedAt.Before(c.started)) {
		ref, found, err := f.FindSent(dctx, to, m.Key, it.CreatedAt)
		if err != nil {
			return store.MessageRef{}, err
		}
		if found {
			c.log.Info("outbox post was already delivered", "outbox_id", it.ID, "platform", it.Platform)
			if s, ok := msgr.(FileSharer); ok && len(files) > 0 {
				// The files shared below it may be missing: the attempt may have stopped before them.
				return ref, s.ShareFiles(dctx, ref, m, files)
			}
			return ref, nil
		}
	}
	if u, ok := msgr.(Uploader); ok && len(files) > 0 {
		return u.SendFiles(dctx, to, m, files)
	}
	return msgr.Send(dctx, to, m)
}

// refreshNow updates every card of the item's request on its platform to the request's state now.
func (c *Core) refreshNow(ctx context.Context, msgr Messenger, it store.OutboxItem) error {
	r, err := c.store.Request(it.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	refs, err := c.store.MessageRefs(r.ID)
	if err != nil {
		return err
	}
	card := c.card(r)
	for _, ref := range refs {
		if ref.Kind != string(KindCard) || ref.Platform != it.Platform {
			continue
		}
		if err := msgr.Update(ctx, ref, card); err != nil {
			return err
		}
	}
	return nil
}

// deliveryFailed records a failed attempt: when to try again, or that it is given up.
func (c *Core) deliveryFailed(it store.OutboxItem, err error) {
	c.out.failures.Add(1)
	now := c.now()
	var de *DeliveryError
	errors.As(err, &de)
	it.Attempts++
	it.LastError = err.Error()
	switch {
	case de != nil && de.Refused:
		c.dropItem(it, "the chat platform refused it: "+err.Error(), "")
		return
	case now.Sub(it.CreatedAt) > c.outboxMaxAge:
		c.dropItem(it, fmt.Sprintf("not delivered within %s (%d attempts; last: %v)", c.outboxMaxAge, it.Attempts, err), "")
		return
	}
	if de != nil && de.Unknown {
		if it.HeldSince.IsZero() {
			it.HeldSince = now
		}
		it.NextAt = now.Add(outboxHeldRecheck)
	} else {
		it.HeldSince = time.Time{}
		wait := min(outboxBackoffMin<<min(it.Attempts-1, 16), outboxBackoffMax)
		if de != nil && de.RetryAfter > wait {
			wait = de.RetryAfter
		}
		it.NextAt = now.Add(wait)
	}
	if it.Op != store.OutboxRefresh && !(de != nil && (de.NotSent || de.Unknown)) {
		it.Uncertain = true // no answer: the post may exist
	}
	c.log.Warn("chat delivery failed; will retry", "outbox_id", it.ID, "platform", it.Platform, "op", it.Op,
		"request_id", it.RequestID, "attempt", it.Attempts, "next_at", it.NextAt, "held", !it.HeldSince.IsZero(), "err", err)
	if err := c.store.OutboxFailed(it); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.log.Error("recording a failed chat delivery", "outbox_id", it.ID, "err", err)
	}
}

// dropItem gives up on it (and what was chained after it) with an audit record and an error log.
func (c *Core) dropItem(it store.OutboxItem, why, action string) {
	dropped, err := c.store.OutboxDrop(it.ID, systemEvent(c.now(), cmp.Or(action, "outbox.dropped"), why))
	if err != nil {
		c.log.Error("dropping an outbox item", "outbox_id", it.ID, "err", err)
		return
	}
	for _, x := range dropped {
		if action == "" {
			c.out.dropped.Add(1)
		}
		c.log.Error("chat message dropped", "outbox_id", x.ID, "platform", x.Platform, "op", x.Op, "request_id", x.RequestID,
			"channel", x.Channel, "user", x.User, "attempts", x.Attempts, "why", why)
	}
}

// DeliverDue drains every conversation whose first item is due, a few at a time, and returns when
// they are done: one pass of the worker. Tests with a fake clock call it directly.
func (c *Core) DeliverDue(ctx context.Context) {
	retryHeld := c.out.held.Swap(false)
	heads, err := c.store.OutboxHeads()
	if err != nil {
		c.log.Error("reading the outbox", "err", err)
		return
	}
	var convs []string
	for _, it := range heads {
		convs = append(convs, it.Conversation())
	}
	sem := make(chan struct{}, outboxParallel)
	var wg sync.WaitGroup
	for _, conv := range convs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.drain(ctx, conv, retryHeld)
		}()
	}
	wg.Wait()
}

// nextDue is when the worker should look again: the earliest retry time, at most a minute away.
func (c *Core) nextDue() time.Time {
	now := c.now()
	next := now.Add(outboxHeldRecheck)
	// A conversation's first item holds the rest (delivered in order): its retry time is the
	// conversation's.
	heads, err := c.store.OutboxHeads()
	if err != nil {
		return next
	}
	for _, it := range heads {
		if it.NextAt.After(now) && it.NextAt.Before(next) {
			next = it.NextAt
		}
	}
	return next
}

// RunOutbox is the outbox worker: it delivers what is queued (what an earlier run left included)
// until ctx is done or the core is closed.
func (c *Core) RunOutbox(ctx context.Context) {
	for {
		c.DeliverDue(ctx)
		wait := c.nextDue().Sub(c.now())
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-c.out.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// OutboxStats is the outbox as metrics see it.
type OutboxStats struct {
	Depth     int           // items waiting
	OldestAge time.Duration // age of the oldest item waiting; 0 when empty
	Failures  uint64        // failed delivery attempts since start
	Dropped   uint64        // items given up since start
}

// Outbox reports the outbox's depth, its oldest item's age and the failures so far.
func (c *Core) Outbox() (OutboxStats, error) {
	depth, oldest, err := c.store.OutboxStats()
	if err != nil {
		return OutboxStats{}, err
	}
	st := OutboxStats{Depth: depth, Failures: c.out.failures.Load(), Dropped: c.out.dropped.Load()}
	if !oldest.IsZero() {
		st.OldestAge = max(c.now().Sub(oldest), 0)
	}
	return st, nil
}
