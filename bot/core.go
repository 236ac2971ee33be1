package bot

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Graph is what the core needs from Microsoft Graph. *graph.Client implements it.
type Graph interface {
	User(ctx context.Context, idOrUPN string) (graph.User, error)
	EligibleRoles(ctx context.Context, userID string) ([]graph.Eligibility, error)
	RolePolicy(ctx context.Context, roleID string) (graph.RolePolicy, error)
	MemberOfAny(ctx context.Context, userID string, groupIDs []string) ([]string, error)
	ActiveAssignments(ctx context.Context, userID string) ([]graph.Assignment, error)
	Activate(ctx context.Context, tok graph.UserToken, r graph.ActivationRequest) (graph.Activation, error)
	WaitUsable(ctx context.Context, userID, roleID string) (graph.Assignment, error)
	SignInURL(ctx context.Context, state, codeChallenge, loginHint, claims string, scopes []string) (string, error)
	CompleteSignIn(ctx context.Context, code, codeVerifier, claims string, scopes []string) (graph.UserToken, error)
}

// Options configure a Core.
type Options struct {
	Config *policy.Config
	Graph  Graph
	Store  *store.Store
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Location is the time zone end times are shown in; UTC when nil.
	Location *time.Location
	// UsableTimeout bounds how long the core waits for PIM to make an activation usable.
	UsableTimeout time.Duration
	// OutboxMaxAge is how long a chat delivery is retried (or held for an unknown target) before
	// it is given up with an audit record; 24h when zero.
	OutboxMaxAge time.Duration
	// WriteTimeout bounds one PIM write, which runs detached from its caller's cancellation
	// (default 30s); a write that takes longer has an unknown outcome and is looked up.
	WriteTimeout time.Duration
	// Workers is how many background tasks (reconciliations, retries, waits for PIM to make
	// an activation usable) run at once; default 4.
	Workers int
	// OnCall answers roles' on-call waivers (approval.on_call); nil: every such role falls back
	// to human approval, saying so.
	OnCall OnCall
	// Leading, when set, says whether this process still leads (serve with PostgreSQL: the
	// lease's local deadline). A PIM write is not started when it says no: the store's writes of
	// a process that lost the lease are refused (fenced), but PIM's are not, and the new leader
	// makes the write itself after looking it up. nil: always leads (bbolt, tests).
	Leading func() bool
}

// Core is the conversation core. It is safe for concurrent use by several adapters.
type Core struct {
	cfg    *policy.Config
	graph  Graph
	store  *store.Store
	log    *slog.Logger
	now    func() time.Time
	loc    *time.Location
	usable time.Duration
	oncall OnCall

	feedbackMu sync.Mutex // feedback notes: read, append, write
	lastUsed   sync.Map   // Entra object id → Recipient: where the person last used Elevate
	signins    *signInBook
	tokens     *tokenBook
	links      *linkBook

	// The outbox (outbox.go, deliver.go).
	out          *deliveries
	run          string    // this process run, for outbox items only it can deliver
	started      time.Time // items queued before this were maybe posted by an earlier run
	outboxMaxAge time.Duration

	mu         sync.RWMutex
	messengers map[string]Messenger
	admin      map[policy.Kind]AdminHandler
	actions    map[Action]ActionHandler
	upns       sync.Map // Entra object id → UPN, for approvers known by object id only
	pilotSeen  sync.Map // pilot group + "|" + Entra object id → pilotSeen: their membership, for pilotTTL
	oids       sync.Map // lower-case UPN → Entra object id, for approvers listed by UPN
	eligibleAt sync.Map // "user|role" → when Entra last showed the user eligible (limits.go)
	watchers   []Watcher
	// crash, set only by tests, is called at named points right after a commit: a panic there
	// is the process dying at that point (what the commit did not carry is lost).
	crash func(point string)

	// background work (sign-in continuations) is tied to ctx and counted by wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	writeTimeout time.Duration
	leading      func() bool   // Options.Leading; nil: always
	slots        chan struct{} // one per background task allowed to run at once (intent.go)
	inflight     sync.Map      // request id → struct{}: a PIM write or a reconciliation runs for it here
	asked        sync.Map      // request id → struct{}: this process sent a sign-in link for it
	syncing      atomic.Bool   // a check of active requests against PIM is running
	seen         sync.Map      // request id → bool: PIM showed the activation (true), or it was absent at the last look (false)

	// A multi-role request's one "usable" line (multi.go, groupUsable).
	usableMu   sync.Mutex
	usableOf   sync.Map // request id → usableWait: its wait for "usable" in this process
	usableTold sync.Map // group → struct{}: its "usable" line was sent
}

// New returns a core; Register at least one Messenger before use and Close it when done.
func New(o Options) (*Core, error) {
	if o.Config == nil || o.Graph == nil || o.Store == nil {
		return nil, errors.New("bot: config, graph and store are required")
	}
	c := &Core{
		cfg: o.Config, graph: o.Graph, store: o.Store, log: o.Logger, now: o.Now, loc: o.Location,
		usable: o.UsableTimeout, oncall: o.OnCall, messengers: map[string]Messenger{}, admin: map[policy.Kind]AdminHandler{}, actions: map[Action]ActionHandler{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if c.usable == 0 {
		c.usable = 10 * time.Minute
	}
	c.outboxMaxAge = cmp.Or(o.OutboxMaxAge, defaultOutboxMaxAge)
	c.out = newDeliveries()
	c.run = rand.Text()
	c.started = c.now()
	c.writeTimeout = o.WriteTimeout
	c.leading = o.Leading
	if c.writeTimeout <= 0 {
		c.writeTimeout = defaultWriteTimeout
	}
	workers := o.Workers
	if workers <= 0 {
		workers = 4
	}
	c.slots = make(chan struct{}, workers)
	c.signins = newSignInBook(c.now)
	c.tokens = newTokenBook(c.now)
	c.links = newLinkBook(c.now)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Register adds a chat platform; messages for its users go through m.
func (c *Core) Register(m Messenger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messengers[m.Platform()] = m
}

// Wait blocks until background work started by sign-in callbacks has finished.
func (c *Core) Wait() { c.wg.Wait() }

// Close stops background work and waits for it. Tokens held in memory are dropped.
func (c *Core) Close() {
	c.cancel()
	c.wg.Wait()
	c.tokens.clear()
	c.links.clear()
}

func (c *Core) background(name string, fn func(ctx context.Context) error) {
	if c.ctx.Err() != nil {
		return // closed: nothing new starts (it is in the store; the next start resumes it)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				c.log.Error("background work panicked", "work", name, "panic", fmt.Sprint(v))
			}
		}()
		if err := fn(c.ctx); err != nil {
			c.log.Error("background work failed", "work", name, "err", err)
		}
	}()
}

func (c *Core) messenger(platform string) (Messenger, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.messengers[platform]
	return m, ok
}

// send delivers m on platform; a chat failure is logged, never fatal: the request is in the store.
func (c *Core) send(ctx context.Context, platform string, to Address, m Message) (store.MessageRef, bool) {
	msgr, ok := c.messenger(platform)
	if !ok {
		c.log.Error("no messenger for platform", "platform", platform)
		return store.MessageRef{}, false
	}
	ref, err := msgr.Send(ctx, to, m)
	if err != nil {
		c.log.Error("send failed", "platform", platform, "channel", to.Channel, "user", to.User, "request_id", m.RequestID, "err", err)
		return store.MessageRef{}, false
	}
	return ref, true
}

func (c *Core) reply(ctx context.Context, a Actor, m Message) {
	c.send(ctx, a.Platform, a.reply(), m)
}

// tell sends a direct message to the requester of r through the outbox, in a transaction of its
// own; a change that causes the message queues it with out.tell instead, atomically.
func (c *Core) tell(ctx context.Context, r store.Request, m Message) {
	c.tellLater(ctx, r, m)
}

// tellUser is tell; a request without a chat user (made in the Entra portal) gets nothing.
func (c *Core) tellUser(ctx context.Context, r store.Request, m Message) {
	c.tellLater(ctx, r, m)
}

func (c *Core) event(a Actor, action, detail string) store.AuditRecord {
	actor := a.Platform + ":" + a.ChatUser
	if a.UserID != "" {
		actor += " (" + a.UserID + ")"
	}
	return store.AuditRecord{At: c.now().UTC(), Actor: actor, Action: action, Detail: detail}
}

func systemEvent(now time.Time, action, detail string) store.AuditRecord {
	return store.AuditRecord{At: now.UTC(), Actor: "elevate", Action: action, Detail: detail}
}

// identity is who the actor is in Entra, if known: vouched for by the platform or bound by an
// earlier sign-in. ok is false when the user has never signed in through this platform.
func (c *Core) identity(a Actor) (policy.Requester, bool, error) {
	b, err := c.store.Binding(a.Platform, a.ChatUser)
	switch {
	case err == nil:
		if a.UserID != "" && a.UserID != b.UserID {
			return policy.Requester{}, false, errBindingMismatch
		}
		return policy.Requester{ObjectID: b.UserID, UPN: b.UPN}, true, nil
	case errors.Is(err, store.ErrNotFound):
		if a.UserID != "" {
			return policy.Requester{ObjectID: a.UserID}, true, nil
		}
		return policy.Requester{}, false, nil
	default:
		return policy.Requester{}, false, err
	}
}

var errBindingMismatch = errors.New("bot: chat user is bound to a different Entra user")

func (c *Core) clock(t time.Time) string {
	t = t.In(c.loc)
	if c.loc == time.UTC {
		return t.Format("15:04") + " UTC"
	}
	return t.Format("15:04 MST")
}

// Watcher is an optional Messenger capability: it is told whenever a request changes, so it can
// refresh views that show requests (Slack's App Home).
type Watcher interface {
	RequestChanged(ctx context.Context, r store.Request)
}

// update is store.Update followed by telling the watchers about the change.
func (c *Core) update(ctx context.Context, id uint64, ev store.AuditRecord, fn func(*store.Request) error) (store.Request, error) {
	r, err := c.store.Update(id, ev, fn)
	if err == nil {
		c.notify(ctx, r)
	}
	return r, err
}

// Watch adds w to the watchers told about every request change (metrics, views).
func (c *Core) Watch(w Watcher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchers = append(c.watchers, w)
}

func (c *Core) notify(ctx context.Context, r store.Request) {
	c.mu.RLock()
	ws := slices.Clone(c.watchers)
	for _, m := range c.messengers {
		if w, ok := m.(Watcher); ok {
			ws = append(ws, w)
		}
	}
	c.mu.RUnlock()
	for _, w := range ws {
		w.RequestChanged(ctx, r)
	}
	c.failureBurst(ctx, r)
}
