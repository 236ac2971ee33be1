package slack

import (
	"context"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

// App Home refresh bounds: how many users' homes are remembered, and how many are republished
// per round (the rest wait for the next round).
const (
	homeMemory   = 2000
	homesPerTurn = 50
)

// homes keeps App Home tabs current. Opening the tab publishes it at once and makes the user
// known; a request change marks the known homes that show it (the requester's, approvers who
// were shown it, and, while it waits for approval, every known approver) and a loop republishes
// them after a short delay, so a burst of changes costs one views.publish per user. Users who
// never opened the tab (since the start) are not published to: opening it publishes it fresh.
type homes struct {
	a     *Adapter
	delay time.Duration

	mu    sync.Mutex
	known map[string]*homeUser
	dirty map[string]bool
	kick  chan struct{}
}

type homeUser struct {
	approver bool            // was shown a queue, or decided on a request
	queue    map[uint64]bool // requests in the queue last published
	at       time.Time
}

func newHomes(a *Adapter, delay time.Duration) *homes {
	return &homes{a: a, delay: delay, known: map[string]*homeUser{}, dirty: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// RequestChanged implements bot.Watcher: it marks the homes showing r for republishing.
func (a *Adapter) RequestChanged(_ context.Context, r store.Request) { a.homes.changed(r) }

func (h *homes) changed(r store.Request) {
	h.mu.Lock()
	mark := func(user string) *homeUser {
		u, ok := h.known[user]
		if ok {
			h.dirty[user] = true
		}
		return u
	}
	if r.Platform == Platform && r.ChatUser != "" {
		mark(r.ChatUser)
	}
	for _, ap := range r.Approvals {
		if ap.Platform == Platform && ap.ChatUser != "" {
			if u := mark(ap.ChatUser); u != nil {
				u.approver = true
			}
		}
	}
	for id, u := range h.known {
		if u.queue[r.ID] || (u.approver && r.State == store.StateAwaitingApproval) {
			h.dirty[id] = true
		}
	}
	h.mu.Unlock()
	h.signal()
}

// opened publishes user's home now (they are looking at it).
func (h *homes) opened(ctx context.Context, user string) {
	h.mu.Lock()
	h.user(user)
	h.mu.Unlock()
	h.publish(ctx, user)
}

func (h *homes) signal() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// user returns the entry for id, forgetting the least recently seen user when full; h.mu held.
func (h *homes) user(id string) *homeUser {
	u, ok := h.known[id]
	if !ok {
		if len(h.known) >= homeMemory {
			var oldest string
			var at time.Time
			for k, v := range h.known {
				if oldest == "" || v.at.Before(at) {
					oldest, at = k, v.at
				}
			}
			delete(h.known, oldest)
		}
		u = &homeUser{}
		h.known[id] = u
	}
	u.at = time.Now()
	return u
}

func (h *homes) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		}
		t := time.NewTimer(h.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		h.mu.Lock()
		var users []string
		for u := range h.dirty {
			if len(users) == homesPerTurn {
				break
			}
			users = append(users, u)
			delete(h.dirty, u)
		}
		left := len(h.dirty) > 0
		h.mu.Unlock()
		for _, u := range users {
			h.publish(ctx, u)
		}
		if left {
			h.signal()
		}
	}
}

func (h *homes) publish(ctx context.Context, user string) {
	core := h.a.getCore()
	if core == nil || ctx.Err() != nil {
		return
	}
	actor := bot.Actor{Platform: Platform, ChatUser: user}
	if email, ok := h.a.hints.get(user); ok {
		actor.EmailHint = email
	}
	home, err := core.Home(ctx, actor)
	if err != nil {
		h.a.log.Warn("app home: partial view", "user", user, "err", err)
	}
	h.mu.Lock()
	u := h.user(user)
	u.queue = map[uint64]bool{}
	for _, r := range home.ToApprove {
		u.queue[r.ID] = true
	}
	if len(home.ToApprove) > 0 {
		u.approver = true
	}
	h.mu.Unlock()
	err = h.a.call(ctx, "views.publish", func() error {
		_, err := h.a.api.PublishViewContext(ctx, slackapi.PublishViewContextRequest{UserID: user, View: homeView(home, err)})
		return err
	})
	if err != nil {
		h.a.log.Warn("app home: publish failed", "user", user, "err", err)
	}
}
