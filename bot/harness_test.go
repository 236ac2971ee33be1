package bot_test

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// testLog sends the core's log to the test's log, shown when a test fails.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// sent is one message as the recording messenger saw it.
type sent struct {
	to  bot.Address
	msg bot.Message
	ref string
}

// recorder is a Messenger that remembers everything, for assertions. As a Profiler it plays
// the platform's user directory: every user's verified email is <user>@domain unless emails
// says otherwise ("" for none).
type recorder struct {
	name        string // the platform; "test" when empty
	failChannel string // posts to this channel fail, as in a chat outage
	failUser    string // DMs and private replies to this user fail
	domain      string
	emails      map[string]string
	profileDown bool // Profile fails, as in a chat outage
	mu          sync.Mutex
	n           int
	sent        []sent
	updates     map[string][]bot.Message
}

func (r *recorder) Platform() string {
	if r.name != "" {
		return r.name
	}
	return "test"
}

func (r *recorder) Profile(_ context.Context, user string) (bot.Profile, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.profileDown {
		return bot.Profile{}, fmt.Errorf("test: the user directory is down")
	}
	email, ok := r.emails[user]
	if !ok {
		email = user + "@" + r.domain
	}
	return bot.Profile{Name: strings.ToUpper(user[:1]) + user[1:], Handle: user, Workspace: "Contoso", Email: email}, nil
}

// setEmail sets the verified email the platform has for user.
func (r *recorder) setEmail(user, email string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.emails == nil {
		r.emails = map[string]string{}
	}
	r.emails[user] = email
}

func (r *recorder) Send(_ context.Context, to bot.Address, m bot.Message) (store.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failChannel != "" && to.Channel == r.failChannel && !to.Private {
		return store.MessageRef{}, fmt.Errorf("test: %s is down", to.Channel)
	}
	if r.failUser != "" && to.User == r.failUser && (to.Channel == "" || to.Private) {
		return store.MessageRef{}, fmt.Errorf("test: DMs to %s fail", to.User)
	}
	r.n++
	id := fmt.Sprintf("m%d", r.n)
	r.sent = append(r.sent, sent{to: to, msg: m, ref: id})
	return store.MessageRef{Platform: r.Platform(), Channel: to.Channel, MessageID: id}, nil
}

func (r *recorder) Update(_ context.Context, ref store.MessageRef, m bot.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.updates == nil {
		r.updates = map[string][]bot.Message{}
	}
	r.updates[ref.MessageID] = append(r.updates[ref.MessageID], m)
	return nil
}

// to returns the texts sent to user (privately or by DM) or to a channel, in order.
func (r *recorder) to(who string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.sent {
		if s.to.Channel == who && !s.to.Private || s.to.User == who {
			out = append(out, s.msg.Text)
		}
	}
	return out
}

func (r *recorder) lastTo(who string) string {
	texts := r.to(who)
	if len(texts) == 0 {
		return ""
	}
	return texts[len(texts)-1]
}

// button finds the newest button with action a in a message to who.
func (r *recorder) button(who string, a bot.Action) (bot.Button, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.sent) - 1; i >= 0; i-- {
		s := r.sent[i]
		if s.to.User != who && s.to.Channel != who {
			continue
		}
		for _, b := range s.msg.Buttons {
			if b.Action == a {
				return b, true
			}
		}
	}
	return bot.Button{}, false
}

// cards returns the card messages posted to channel and the latest version of each.
func (r *recorder) latestCard(channel string) (bot.Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.sent) - 1; i >= 0; i-- {
		s := r.sent[i]
		if s.to.Channel != channel || s.msg.Kind != bot.KindCard {
			continue
		}
		if u := r.updates[s.ref]; len(u) > 0 {
			return u[len(u)-1], true
		}
		return s.msg, true
	}
	return bot.Message{}, false
}

// clock is a settable clock for the core; the tenant keeps real time.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

type world struct {
	t      *testing.T
	tenant *graphtest.Tenant
	store  *store.Store
	core   *bot.Core
	rec    *recorder
	clock  *clock
	cfg    *policy.Config
	domain string
	path   string      // the store's file
	graph  bot.Graph   // what the core talks to Graph with
	opts   bot.Options // the core's options, for restart
	setCb  func(http.Handler)
	// callbackURL is the scheme and host of Elevate's /auth/callback.
	callbackURL string
}

type setup struct {
	config []byte
	seed   func(*graphtest.Seed)
	// wrap, when set, stands between the core and the real Graph client (crash injection).
	wrap func(*graph.Client) bot.Graph
	// writeTimeout is the core's bound on one PIM write (default: the core's).
	writeTimeout time.Duration
	// activationDelay is how long the tenant takes to show an activation (default 50ms).
	activationDelay time.Duration
	onCall          bot.OnCall
	// leading is the core's Options.Leading (nil: always leads).
	leading func() bool
}

func newWorld(t *testing.T, s setup) *world {
	t.Helper()
	if s.config == nil {
		s.config = examples.Config
	}
	cfg, err := policy.Parse("elevate.yaml", s.config)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	seed, err := graphtest.ParseSeed(examples.Tenant)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	if s.seed != nil {
		s.seed(&seed)
	}
	w := &world{t: t, cfg: cfg, rec: &recorder{domain: seed.Domain}, clock: &clock{}, domain: seed.Domain}
	// The callback server must exist before the tenant registers its redirect URI.
	var handler http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { handler.ServeHTTP(rw, r) }))
	t.Cleanup(srv.Close)
	redirect := srv.URL + "/auth/callback"
	seed.Client.RedirectURIs = append(seed.Client.RedirectURIs, redirect)
	w.tenant, err = graphtest.New(seed, graphtest.WithActivationDelay(cmp.Or(s.activationDelay, 50*time.Millisecond)))
	if err != nil {
		t.Fatalf("tenant: %v", err)
	}
	t.Cleanup(w.tenant.Close)
	w.path = filepath.Join(t.TempDir(), "elevate.db")
	w.store, err = store.Open(w.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	g, err := graph.New(graph.Config{
		GraphURL: w.tenant.GraphURL(), AuthorityHost: w.tenant.AuthorityURL(), TenantID: w.tenant.TenantID(),
		ClientID: w.tenant.ClientID(), ClientSecret: w.tenant.ClientSecret(), RedirectURL: redirect,
		HTTPClient: w.tenant.HTTPClient(), PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.graph = g
	if s.wrap != nil {
		w.graph = s.wrap(g)
	}
	w.opts = bot.Options{Config: cfg, Graph: w.graph, Store: w.store, Now: w.clock.now, UsableTimeout: 5 * time.Second,
		WriteTimeout: s.writeTimeout, OnCall: s.onCall, Leading: s.leading,
		Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	w.core, err = bot.New(w.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.core.Close() })
	w.core.Register(w.rec)
	handler = w.core.AuthCallback()
	w.setCb = func(h http.Handler) { handler = h }
	w.callbackURL = srv.URL
	return w
}

// restart is a crash and a start: the core stops (what it held in memory, sign-in links and
// tokens, is gone), the store file is closed and opened again, and a new core on it resumes.
// The recorder stays, so tests see everything each user was told, before and after.
func (w *world) restart() {
	w.t.Helper()
	w.core.Close()
	if err := w.store.Close(); err != nil {
		w.t.Fatal(err)
	}
	s, err := store.Open(w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	w.store = s
	w.opts.Store = s
	w.core, err = bot.New(w.opts)
	if err != nil {
		w.t.Fatal(err)
	}
	w.core.Register(w.rec)
	w.setCb(w.core.AuthCallback())
	w.core.DeliverDue(context.Background()) // what the old process queued and never delivered
	if err := w.core.Resume(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.core.Wait()
}

func (w *world) actor(user string) bot.Actor {
	return bot.Actor{Platform: "test", ChatUser: user, Name: user, EmailHint: user + "@" + w.domain}
}

func (w *world) say(user, text string) {
	w.t.Helper()
	if err := w.core.Command(context.Background(), w.actor(user), text); err != nil {
		w.t.Fatalf("%s: %q: %v", user, text, err)
	}
	w.core.Wait()
}

func (w *world) click(user string, a bot.Action, reason string) {
	w.t.Helper()
	b, ok := w.rec.button(user, a)
	if !ok {
		b, ok = w.rec.button(w.cfg.Channels.Approvals, a)
	}
	if !ok {
		w.t.Fatalf("%s sees no %s button; last message: %q", user, a, w.rec.lastTo(user))
	}
	if err := w.core.Click(context.Background(), w.actor(user), a, b.Value, reason); err != nil {
		w.t.Fatalf("%s clicks %s: %v", user, a, err)
	}
	w.core.Wait()
}

// signIn follows user's newest sign-in link as upn (their own account unless given) and returns
// the callback page's status and body.
func (w *world) signIn(user string, opts ...graphtest.BrowseOption) (int, string) {
	return w.signInAs(user, user+"@"+w.domain, opts...)
}

// signInAs follows user's newest sign-in link as upn, in a browser of its own, and links the
// chat account when Elevate asks (the person confirms it is theirs).
func (w *world) signInAs(user, upn string, opts ...graphtest.BrowseOption) (int, string) {
	w.t.Helper()
	br := w.browser()
	status, page := br.open(w.link(user), upn, opts...)
	if isLinkPage(page) {
		return br.answer(page, "link")
	}
	return status, page
}

// linked binds user's chat account to their own Entra user in the store, as an earlier
// confirmed sign-in would have, so their next sign-in needs no Graph call to link them.
func (w *world) linked(user string) {
	w.t.Helper()
	upn := user + "@" + w.domain
	id := w.tenant.UserID(upn)
	if id == "" {
		w.t.Fatalf("no user %s in the tenant", upn)
	}
	if err := w.store.Bind(store.Binding{Platform: "test", ChatUser: user, UserID: id, UPN: upn},
		store.AuditRecord{Actor: "test:" + user, Action: "identity.bound"}); err != nil {
		w.t.Fatal(err)
	}
}

// link is user's newest sign-in link.
func (w *world) link(user string) string {
	w.t.Helper()
	b, ok := w.rec.button(user, bot.ActionOpenURL)
	if !ok {
		w.t.Fatalf("%s has no sign-in link; last message: %q", user, w.rec.lastTo(user))
	}
	return b.URL
}

func (w *world) get(u string) (int, string) {
	w.t.Helper()
	return w.browser().get(u)
}

// browser is one person's web browser: its own cookies.
type browser struct {
	w  *world
	hc *http.Client
}

func (w *world) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return &browser{w: w, hc: &http.Client{Jar: jar}}
}

// open signs in at the tenant as upn through authorizeURL and follows the redirect to Elevate;
// it returns Elevate's page.
func (b *browser) open(authorizeURL, upn string, opts ...graphtest.BrowseOption) (int, string) {
	b.w.t.Helper()
	back, err := b.w.tenant.Browse(context.Background(), authorizeURL, upn, opts...)
	if err != nil {
		b.w.t.Fatalf("browse: %v", err)
	}
	return b.get(back.String())
}

func (b *browser) get(u string) (int, string) {
	b.w.t.Helper()
	resp, err := b.hc.Get(u)
	if err != nil {
		b.w.t.Fatalf("callback: %v", err)
	}
	return b.read(resp)
}

func (b *browser) read(resp *http.Response) (int, string) {
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.w.core.Wait()
	return resp.StatusCode, string(body)
}

var formInput = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
var formAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)

func isLinkPage(page string) bool { return formAction.MatchString(page) }

// answer submits the confirmation page's form with the button answer ("link" or "decline").
func (b *browser) answer(page, answer string) (int, string) {
	b.w.t.Helper()
	act := formAction.FindStringSubmatch(page)
	if act == nil {
		b.w.t.Fatalf("not a confirmation page: %s", page)
	}
	form := url.Values{"answer": {answer}}
	for _, m := range formInput.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	resp, err := b.hc.PostForm(b.w.callbackURL+html.UnescapeString(act[1]), form)
	if err != nil {
		b.w.t.Fatalf("confirm: %v", err)
	}
	return b.read(resp)
}

// activations counts selfActivate POSTs the tenant received.
func (w *world) activations() []graphtest.Call {
	var out []graphtest.Call
	for _, c := range w.tenant.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/roleAssignmentScheduleRequests") && !c.ValidationOnly() {
			out = append(out, c)
		}
	}
	return out
}

func (w *world) request(id uint64) store.Request {
	w.t.Helper()
	r, err := w.store.Request(id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) only(user string) store.Request {
	w.t.Helper()
	rs, err := w.store.Requests(store.Filter{Platform: "test", ChatUser: user})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(rs) != 1 {
		w.t.Fatalf("%s has %d requests, want 1", user, len(rs))
	}
	return rs[0]
}

func contains(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("got %q, want it to contain %q", got, want)
	}
}
