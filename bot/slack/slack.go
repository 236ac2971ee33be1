// Package slack is Elevate's Slack adapter: the /elevate slash command, approval cards with
// buttons, modals and the App Home tab, over signed HTTP requests or Socket Mode; for scheduled
// work, messages with files (the digest's chart) and finding members by email to reach them.
//
// It translates; the core decides. Every request from Slack is verified (HMAC-SHA256 over the
// body, ±5 minutes) and deduplicated, turned into a bot.Actor keyed by the Slack user id (an
// email is only ever a login hint), and acknowledged at once: what must be persisted is
// persisted before the acknowledgement (core.Accept touches only the store), and the rest runs
// after it in a goroutine the adapter tracks. Replies go back through the interaction's
// response_url, an ephemeral message, a direct message or a channel post; approval cards are
// updated in place with chat.update.
//
// A Slack API failure never loses a request: it is in the store. Rate limits (HTTP 429) are
// retried by slack-go (OptionRetryConfig) after Slack's Retry-After, a bounded number of times
// and only while Retry-After is short; other failures are logged.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

// Platform is the adapter's name in the store: bindings, requests and message references.
const Platform = "slack"

// Core is what the adapter needs from the conversation core; *bot.Core implements it.
type Core interface {
	Accept(a bot.Actor, text string) (bot.Job, error)
	Click(ctx context.Context, a bot.Actor, action bot.Action, value, reason string) error
	Choices(ctx context.Context, a bot.Actor) ([]bot.RoleChoice, bool, error)
	Home(ctx context.Context, a bot.Actor) (bot.Home, error)
	CheckForm(a bot.Actor, f bot.Form) map[string]string
	SubmitForm(a bot.Actor, f bot.Form) (bot.Job, error)
}

// OnceCore is a Core that records a command's replay key itself (bot.Core.AcceptOnce): used
// when the Core is also the adapter's Replays, so that a request and its replay key are one commit.
type OnceCore interface {
	Core
	AcceptOnce(a bot.Actor, text string, once bot.Once) (bot.Job, error)
}

// Options configure an Adapter.
type Options struct {
	// Core handles what users type and click; it may also be set later with Use.
	Core Core
	// BotToken (xoxb-…) calls the Web API. Required.
	BotToken string
	// SigningSecret verifies HTTP requests from Slack; required for the HTTP handlers.
	SigningSecret string
	// AppToken (xapp-…) opens Socket Mode; required for RunSocket.
	AppToken string
	// APIURL is the Web API's base URL with its trailing slash; Slack's own when empty.
	APIURL string
	// HTTPClient makes the Web API calls; http.DefaultClient when nil.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Retries is how often a call refused with 429 is retried after Retry-After (default 3;
	// negative for none). A 429 whose Retry-After is longer than MaxRetryWait (default 30s) is
	// not waited for: the call fails at once with *slack.RateLimitedError carrying RetryAfter.
	Retries      int
	MaxRetryWait time.Duration
	// HomeDelay gathers changes before App Home tabs are republished (default 2s).
	HomeDelay time.Duration
	// HintWait bounds how long a first contact waits for users.info to learn the user's email,
	// a login hint only (default 300ms; the answer is cached).
	HintWait time.Duration
	// Replays remembers the requests and user actions already handled, for the five minutes a
	// signed request stays valid; the core (its store) in production, so that a restart does
	// not reopen the window. Memory only when nil.
	Replays Replays
}

// Adapter is the Slack Messenger and the handlers that feed the core. Create it with New and
// Close it when done.
type Adapter struct {
	api    *slackapi.Client
	secret string
	app    string
	log    *slog.Logger
	core   atomic.Pointer[coreBox]
	hintTO time.Duration

	socketOn atomic.Bool // RunSocket was started
	socketUp atomic.Bool // the socket is connected

	replays    Replays
	hints      *findCache
	finds      *findCache
	dms        sync.Map // Slack user id → DM channel id
	channelIDs sync.Map // channel name (lower case, no #) → id, learnt from posts
	homes      *homes
	team       workspaceName // the workspace's name, for the page that links accounts
	me         identity      // the bot's own user and bot ids
	noHistory  sync.Once     // the missing history scopes were logged

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and the Add side of jobs
	closed bool
	jobs   sync.WaitGroup // work started after acknowledgements
	loops  sync.WaitGroup // long-running loops (App Home refresh)
}

type coreBox struct{ Core }

var (
	_ bot.Messenger = (*Adapter)(nil)
	_ bot.Watcher   = (*Adapter)(nil)
)

// New returns an adapter; it makes no call to Slack until it has something to say.
func New(o Options) (*Adapter, error) {
	if o.BotToken == "" {
		return nil, errors.New("slack: a bot token (SLACK_BOT_TOKEN) is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.MaxRetryWait == 0 {
		o.MaxRetryWait = 30 * time.Second
	}
	if o.HomeDelay == 0 {
		o.HomeDelay = 2 * time.Second
	}
	if o.HintWait == 0 {
		o.HintWait = 300 * time.Millisecond
	}
	opts := []slackapi.Option{}
	if o.APIURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(o.APIURL))
	}
	if o.HTTPClient != nil {
		opts = append(opts, slackapi.OptionHTTPClient(o.HTTPClient))
	}
	// After OptionHTTPClient: the retry wrapper wraps the client given.
	opts = append(opts, slackapi.OptionRetryConfig(retryConfig(max(o.Retries, 0), o.MaxRetryWait, o.Logger)))
	if o.AppToken != "" {
		opts = append(opts, slackapi.OptionAppLevelToken(o.AppToken))
	}
	a := &Adapter{
		api: slackapi.New(o.BotToken, opts...), secret: o.SigningSecret, app: o.AppToken, log: o.Logger,
		hintTO:  o.HintWait,
		replays: o.Replays, hints: newFindCache(10_000), finds: newFindCache(10_000),
	}
	if a.replays == nil {
		a.replays = bot.NewMemoryReplays(50_000)
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.homes = newHomes(a, o.HomeDelay)
	if o.Core != nil {
		a.Use(o.Core)
	}
	a.loops.Go(func() { a.homes.loop(a.ctx) })
	return a, nil
}

// Use sets the core the handlers feed (for callers that must register the Messenger before the
// core exists).
func (a *Adapter) Use(c Core) { a.core.Store(&coreBox{c}) }

func (a *Adapter) getCore() Core {
	if b := a.core.Load(); b != nil {
		return b.Core
	}
	return nil
}

// Close stops background work (jobs still running are cancelled) and waits for it.
func (a *Adapter) Close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.jobs.Wait()
	a.loops.Wait()
}

// Wait blocks until the work started after acknowledgements has finished.
func (a *Adapter) Wait() { a.jobs.Wait() }

// goBackground runs fn in a tracked goroutine tied to the adapter's context; it reports false
// once the adapter is closed.
func (a *Adapter) goBackground(fn func(ctx context.Context)) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.jobs.Add(1)
	go func() {
		defer a.jobs.Done()
		defer func() {
			if v := recover(); v != nil {
				a.log.Error("slack job panicked", "panic", fmt.Sprint(v))
			}
		}()
		fn(a.ctx)
	}()
	return true
}

// hold counts as running work until release is called: a transport takes it before it
// acknowledges, so Wait cannot slip in between the acknowledgement and the job it starts.
func (a *Adapter) hold() (release func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return func() {}
	}
	a.jobs.Add(1)
	return a.jobs.Done
}

// runJob runs a core job after the acknowledgement, with the interaction it answers.
func (a *Adapter) runJob(o *origin, name string, job func(ctx context.Context) error) {
	a.goBackground(func(ctx context.Context) {
		if o != nil {
			ctx = withOrigin(ctx, o)
		}
		if err := job(ctx); err != nil {
			a.log.Error("slack job failed", "job", name, "err", err)
		}
	})
}

// Platform implements bot.Messenger.
func (a *Adapter) Platform() string { return Platform }

// Send implements bot.Messenger: a private message goes through the interaction's
// response_url when there is one, else as an ephemeral message in the channel, else as a DM;
// a message without a channel is a DM; anything else is posted in the channel (a name or id).
func (a *Adapter) Send(ctx context.Context, to bot.Address, m bot.Message) (store.MessageRef, error) {
	ref, err := a.send(ctx, to, m)
	return ref, deliveryError(err)
}

func (a *Adapter) send(ctx context.Context, to bot.Address, m bot.Message) (store.MessageRef, error) {
	blocks, text := render(m)
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(text, false), slackapi.MsgOptionBlocks(blocks...)}
	ref := store.MessageRef{Platform: Platform, Kind: string(m.Kind)}
	if m.Key != "" && !to.Private {
		opts = append(opts, metadata(m.Key)) // FindSent looks for it after a lost answer
	}
	switch {
	case to.Private && to.Channel != "":
		if o := originFrom(ctx); o != nil && o.user == to.User && o.channel == to.Channel && o.takeResponse() {
			err := a.call(ctx, "response_url", func() error {
				_, _, err := a.api.PostMessageContext(ctx, to.Channel, append(opts, slackapi.MsgOptionResponseURL(o.responseURL, slackapi.ResponseTypeEphemeral))...)
				return err
			})
			if err == nil {
				ref.Channel = to.Channel
				return ref, nil
			}
			a.log.Warn("response_url failed; posting an ephemeral message instead", "user", to.User, "err", err)
		}
		err := a.call(ctx, "chat.postEphemeral", func() error {
			_, err := a.api.PostEphemeralContext(ctx, to.Channel, to.User, opts...)
			return err
		})
		if err == nil {
			ref.Channel = to.Channel
			return ref, nil
		}
		// The bot may not be in that channel (or it is someone else's DM): say it in a DM.
		a.log.Warn("ephemeral message failed; sending a DM instead", "channel", to.Channel, "user", to.User, "err", err)
		return a.dm(ctx, to.User, opts, ref)
	case to.Channel == "":
		return a.dm(ctx, to.User, opts, ref)
	}
	var ch, ts string
	err := a.call(ctx, "chat.postMessage", func() (err error) {
		ch, ts, err = a.api.PostMessageContext(ctx, to.Channel, opts...)
		return err
	})
	if err != nil {
		return store.MessageRef{}, fmt.Errorf("slack: posting in %s: %w", to.Channel, err)
	}
	ref.Channel, ref.MessageID = ch, ts
	if name := strings.ToLower(strings.TrimPrefix(to.Channel, "#")); name != ch {
		a.channelIDs.Store(name, ch) // for ChannelName: Slack answered with the channel's id
	}
	return ref, nil
}

var slackChannelID = regexp.MustCompile(`^[CG][A-Z0-9]{6,}$`)

// ChannelName implements bot.ChannelNamer: a channel mention (<#C…>) when the channel's id is
// known (configured, or learnt from a post), else "#name".
func (a *Adapter) ChannelName(_ context.Context, channel string) string {
	ch := strings.TrimPrefix(strings.TrimSpace(channel), "#")
	if slackChannelID.MatchString(ch) {
		return bot.ChannelMention(ch)
	}
	if id, ok := a.channelIDs.Load(strings.ToLower(ch)); ok {
		return bot.ChannelMention(id.(string))
	}
	return "#" + ch
}

func (a *Adapter) dm(ctx context.Context, user string, opts []slackapi.MsgOption, ref store.MessageRef) (store.MessageRef, error) {
	if user == "" {
		return store.MessageRef{}, errors.New("slack: a message with neither channel nor user")
	}
	ch, err := a.dmChannel(ctx, user)
	if err != nil {
		return store.MessageRef{}, err
	}
	var ts string
	err = a.call(ctx, "chat.postMessage", func() (err error) {
		ch, ts, err = a.api.PostMessageContext(ctx, ch, opts...)
		return err
	})
	if err != nil {
		return store.MessageRef{}, fmt.Errorf("slack: DM to %s: %w", user, err)
	}
	ref.Channel, ref.MessageID = ch, ts
	return ref, nil
}

func (a *Adapter) dmChannel(ctx context.Context, user string) (string, error) {
	if v, ok := a.dms.Load(user); ok {
		return v.(string), nil
	}
	var ch *slackapi.Channel
	err := a.call(ctx, "conversations.open", func() (err error) {
		ch, _, _, err = a.api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{user}})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slack: opening a DM with %s: %w", user, err)
	}
	a.dms.Store(user, ch.ID)
	return ch.ID, nil
}

// Update implements bot.Messenger with chat.update on the message's channel and ts.
func (a *Adapter) Update(ctx context.Context, ref store.MessageRef, m bot.Message) error {
	if ref.Channel == "" || ref.MessageID == "" {
		return &bot.DeliveryError{Err: errors.New("slack: this message cannot be updated (an ephemeral message has no ts)"), Refused: true}
	}
	blocks, text := render(m)
	return deliveryError(a.call(ctx, "chat.update", func() error {
		_, _, _, err := a.api.UpdateMessageContext(ctx, ref.Channel, ref.MessageID, slackapi.MsgOptionText(text, false), slackapi.MsgOptionBlocks(blocks...))
		return err
	}))
}

// call runs one Web API call. slack-go has already retried it after any 429 it was allowed to
// wait for (retryConfig); a rate limit that outlived those retries is logged here with the
// method, so an operator sees what was dropped.
func (a *Adapter) call(ctx context.Context, method string, fn func() error) error {
	err := fn()
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		a.log.Warn("slack rate limited; giving up on this call", "method", method, "retry_after", rl.RetryAfter)
	}
	return err
}

// retryConfig is slack-go's retry of 429s (only: a 5xx or a broken connection may have carried
// the call out, and a post must not be made twice): after Slack's Retry-After (at least one
// second, slack-go's floor), at most retries times, and only when Retry-After is at most
// maxWait.
func retryConfig(retries int, maxWait time.Duration, log *slog.Logger) slackapi.RetryConfig {
	cfg := slackapi.RetryConfig{MaxRetries: retries, RetryAfterDuration: time.Second}
	cfg.Handlers = []slackapi.RetryHandler{boundedRetry{inner: slackapi.NewRateLimitErrorRetryHandler(cfg), max: maxWait, log: log}}
	return cfg
}

// boundedRetry is slack-go's 429 handler that will not wait longer than max: a longer
// Retry-After fails the call at once, with the wait in the error, for the caller to schedule.
type boundedRetry struct {
	inner slackapi.RetryHandler
	max   time.Duration
	log   *slog.Logger
}

func (h boundedRetry) ShouldRetry(st *slackapi.RetryState, req *http.Request, resp *http.Response, err error) (bool, time.Duration) {
	retry, wait := h.inner.ShouldRetry(st, req, resp, err)
	if !retry {
		return false, 0
	}
	method := path.Base(req.URL.Path)
	if wait > h.max {
		h.log.Warn("slack rate limited for longer than Elevate waits in line", "method", method, "retry_after", wait, "max_wait", h.max)
		return false, 0
	}
	h.log.Warn("slack rate limited; retrying", "method", method, "retry_after", wait, "attempt", st.Attempt+1)
	return true, wait
}
