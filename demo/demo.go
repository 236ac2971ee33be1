// Package demo runs the whole of Elevate offline: the simulated tenant in-process, the real Graph
// client and sign-in, a real store in a temporary file, and a terminal transcript of what each
// person sees in chat. It backs `elevate demo`.
package demo

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Options configure a demo run.
type Options struct {
	Config      []byte // the Elevate config (YAML)
	ConfigName  string
	Tenant      []byte // the simulated tenant's seed (YAML)
	Out         io.Writer
	In          io.Reader // read in interactive mode
	Interactive bool
	Logger      *slog.Logger
	// ActivationDelay is how long the simulated PIM takes to make an activation usable.
	ActivationDelay time.Duration
	// StorePath is where the store lives; a temporary file when empty.
	StorePath string
	// Messengers are chat adapters to register besides the terminal transcript (the conformance
	// suite registers the adapter under test here).
	Messengers []bot.Messenger
	// PollInterval is how often the Graph client polls for a usable activation (default 200ms).
	PollInterval time.Duration
	// Now is the core's clock (the tenant keeps real time); time.Now when nil.
	Now func() time.Time
	// ChartDir is where the digests' charts are written (they outlive the demo); os.TempDir()
	// when empty.
	ChartDir string
	// OnCall answers roles' on-call waivers (approval.on_call); nil: such roles fall back to
	// their approvers, as without PAGERDUTY_TOKEN or OPSGENIE_API_KEY.
	OnCall bot.OnCall
}

// World is a running demo: tenant, store, Graph client, core and the callback server.
type World struct {
	Tenant *graphtest.Tenant
	Store  *store.Store
	Graph  *graph.Client
	Core   *bot.Core
	Config *policy.Config
	t      *transcript
	srv    *http.Server
	domain string
	dir    string
	// callbackBase is the scheme and host of the callback server.
	callbackBase string
	chartDir     string
	home         map[string]store.MessageRef // each user's Teams home card, refreshed in place
}

// Start builds a World; Close it when done.
func Start(o Options) (_ *World, err error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := policy.Parse(o.ConfigName, o.Config)
	if err != nil {
		return nil, err
	}
	seed, err := graphtest.ParseSeed(o.Tenant)
	if err != nil {
		return nil, fmt.Errorf("demo tenant: %w", err)
	}
	w := &World{Config: cfg, domain: seed.Domain, chartDir: o.ChartDir}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()

	// The sign-in callback is a real HTTP server, so the redirect URI is known before the
	// tenant registers it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.callbackBase = "http://" + ln.Addr().String()
	redirect := w.callbackBase + "/auth/callback"
	seed.Client.RedirectURIs = append(seed.Client.RedirectURIs, redirect)
	opts := []graphtest.Option{graphtest.WithActivationDelay(o.ActivationDelay)}
	if w.Tenant, err = graphtest.New(seed, opts...); err != nil {
		ln.Close()
		return nil, err
	}
	path := o.StorePath
	if path == "" {
		if w.dir, err = os.MkdirTemp("", "elevate-demo-"); err != nil {
			ln.Close()
			return nil, err
		}
		path = filepath.Join(w.dir, "elevate.db")
	}
	if w.Store, err = store.Open(path); err != nil {
		ln.Close()
		return nil, err
	}
	w.Graph, err = graph.New(graph.Config{
		GraphURL: w.Tenant.GraphURL(), AuthorityHost: w.Tenant.AuthorityURL(),
		TenantID: w.Tenant.TenantID(), ClientID: w.Tenant.ClientID(), ClientSecret: w.Tenant.ClientSecret(),
		RedirectURL: redirect, HTTPClient: w.Tenant.HTTPClient(), PollInterval: cmp.Or(o.PollInterval, 200*time.Millisecond),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	w.Core, err = bot.New(bot.Options{Config: cfg, Graph: w.Graph, Store: w.Store, Logger: o.Logger, UsableTimeout: time.Minute, Now: o.Now, OnCall: o.OnCall})
	if err != nil {
		ln.Close()
		return nil, err
	}
	w.t = newTranscript(o.Out, time.Now)
	w.t.domain = seed.Domain
	w.Core.Register(w.t)
	if len(o.Messengers) == 0 {
		// People who live in Teams see the same Elevate: every card and alert is there too.
		w.Core.Register(w.t.view(platformTeams))
	}
	for _, m := range o.Messengers {
		w.Core.Register(m)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/callback", w.Core.AuthCallback())
	w.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go w.srv.Serve(ln)
	return w, nil
}

// Close stops everything and removes the temporary store.
func (w *World) Close() {
	if w.Core != nil {
		w.Core.Close()
	}
	if w.srv != nil {
		w.srv.Close()
	}
	if w.Store != nil {
		w.Store.Close()
	}
	if w.Tenant != nil {
		w.Tenant.Close()
	}
	if w.dir != "" {
		os.RemoveAll(w.dir)
	}
}

func (w *World) actor(user string) bot.Actor { return w.actorOn(platformDemo, user) }

// actorOn is user on platform; Teams vouches for its users' Entra object id, as the real adapter
// does after validating the activity.
func (w *World) actorOn(platform, user string) bot.Actor {
	a := bot.Actor{Platform: platform, ChatUser: user, Name: strings.ToUpper(user[:1]) + user[1:], EmailHint: user + "@" + w.domain}
	if platform == platformTeams {
		a.UserID = w.Tenant.UserID(user + "@" + w.domain)
	}
	return a
}

// Say has user type text to Elevate and waits until everything it set off has finished.
func (w *World) Say(ctx context.Context, user, text string) error {
	w.t.say("\n%s ▸ /elevate %s\n", user, text)
	if err := w.Core.Command(ctx, w.actor(user), text); err != nil {
		return err
	}
	w.Core.Wait()
	return nil
}

// Click has user press button n; a sign-in button opens the simulated browser.
func (w *World) Click(ctx context.Context, user string, n int, reason string, mfa bool) error {
	s, ok := w.t.button(n)
	if !ok {
		return fmt.Errorf("there is no button %d on screen", n)
	}
	if s.to.User != user && (s.to.Private || s.to.Channel == "") {
		return fmt.Errorf("button %d was shown to %s, not to %s", n, s.to.User, user)
	}
	if s.button.Action == bot.ActionOpenURL {
		return w.signIn(ctx, user, s.button.URL, mfa)
	}
	where := ""
	if s.platform == platformTeams {
		where = " in Teams"
	}
	w.t.say("\n%s ▸ clicks [%s] on #%s%s\n", user, s.button.Label, s.button.Value, where)
	if err := w.Core.Click(ctx, w.actorOn(s.platform, user), s.button.Action, s.button.Value, reason); err != nil {
		return err
	}
	w.Core.Wait()
	return nil
}

// ClickLast has user press the newest button with action a that they can see.
func (w *World) ClickLast(ctx context.Context, user string, a bot.Action, reason string) error {
	return w.ClickLastOn(ctx, platformDemo, user, a, reason)
}

// ClickLastOn is ClickLast on platform ("teams": the demo's Teams view).
func (w *World) ClickLastOn(ctx context.Context, platform, user string, a bot.Action, reason string) error {
	s, ok := w.t.lastOn(platform, user, a)
	if !ok {
		return fmt.Errorf("%s sees no %q button in %s", user, a, platform)
	}
	return w.Click(ctx, user, s.n, reason, true)
}

// signIn plays the user's browser and prints what happened.
func (w *World) signIn(ctx context.Context, user, authURL string, mfa bool) error {
	how := "with MFA"
	if !mfa {
		how = "without MFA"
	}
	w.t.say("\n%s ▸ opens the sign-in link and signs in to Microsoft %s (simulated)\n", user, how)
	b := w.Browser()
	_, body, err := b.Open(ctx, authURL, user+"@"+w.domain, mfa)
	if err != nil {
		return err
	}
	if IsLinkPage(body) {
		w.t.say("    (browser) %s\n", pageTitle(body))
		w.t.say("%s ▸ clicks [Link my account]\n", user)
		if _, body, err = b.Answer(ctx, body, "link"); err != nil {
			return err
		}
	}
	w.t.say("    (browser) %s\n", pageTitle(body))
	return nil
}

// SignIn plays a browser: Entra's sign-in page as upn (simulated), then the redirect to Elevate's
// /auth/callback, and, when Elevate asks whether to link the chat account to upn, says yes (the
// person confirms the chat account is theirs). It returns Elevate's last page and waits for the
// work it set off.
func (w *World) SignIn(ctx context.Context, authURL, upn string, mfa bool) (int, string, error) {
	b := w.Browser()
	status, body, err := b.Open(ctx, authURL, upn, mfa)
	if err != nil || !IsLinkPage(body) {
		return status, body, err
	}
	return b.Answer(ctx, body, "link")
}

// Browser is one person's web browser, with cookies of its own.
type Browser struct {
	w  *World
	hc *http.Client
}

// Browser returns a new browser.
func (w *World) Browser() *Browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &Browser{w: w, hc: &http.Client{Jar: jar, Timeout: time.Minute}}
}

// Open signs in at the simulated tenant as upn through authURL and follows the redirect to
// Elevate's /auth/callback; it returns Elevate's page (the linking page for a chat account not
// linked yet) and waits for the work it set off.
func (b *Browser) Open(ctx context.Context, authURL, upn string, mfa bool) (int, string, error) {
	var bo []graphtest.BrowseOption
	if !mfa {
		bo = append(bo, graphtest.WithoutMFA())
	}
	back, err := b.w.Tenant.Browse(ctx, authURL, upn, bo...)
	if err != nil {
		return 0, "", fmt.Errorf("simulated sign-in: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, back.String(), nil)
	if err != nil {
		return 0, "", err
	}
	return b.do(req)
}

func (b *Browser) do(req *http.Request) (int, string, error) {
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	b.w.Core.Wait()
	return resp.StatusCode, string(body), nil
}

var (
	linkForm  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	linkInput = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
)

// IsLinkPage says whether page is Elevate's page asking to link a chat account.
func IsLinkPage(page string) bool { return linkForm.MatchString(page) }

// Answer presses a button of the linking page: "link" or "decline".
func (b *Browser) Answer(ctx context.Context, page, answer string) (int, string, error) {
	m := linkForm.FindStringSubmatch(page)
	if m == nil {
		return 0, "", errors.New("not Elevate's linking page")
	}
	form := url.Values{"answer": {answer}}
	for _, in := range linkInput.FindAllStringSubmatch(page, -1) {
		form.Set(in[1], html.UnescapeString(in[2]))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.w.callbackBase+html.UnescapeString(m[1]), strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// Domain is the simulated tenant's domain: user names are <user>@Domain.
func (w *World) Domain() string { return w.domain }

func pageTitle(page string) string {
	i, j := strings.Index(page, "<h1>"), strings.Index(page, "</h1>")
	if i < 0 || j < i {
		return strings.TrimSpace(page)
	}
	return html.UnescapeString(page[i+4 : j])
}

// Story plays the scripted demo of the walking skeleton.
func (w *World) Story(ctx context.Context) error {
	steps := []struct {
		note string
		run  func() error
	}{
		{"Alice needs Exchange Administrator to fix mail flow.", func() error { return w.Say(ctx, "alice", "exchange 4h fixing mail flow") }},
		{"", func() error { return w.ClickLast(ctx, "alice", bot.ActionOpenURL, "") }},
		{"Alice needs Global Administrator: a tier-0 role that needs two approvals.", func() error { return w.Say(ctx, "alice", "ga 1h INC-1234 restore tenant settings") }},
		{"", func() error { return w.ClickLast(ctx, "alice", bot.ActionOpenURL, "") }},
		{"Alice tries to approve her own request.", func() error { return w.ClickLast(ctx, "alice", bot.ActionApprove, "") }},
		{"Bob approves; he has never signed in, so Elevate asks who he is first.", func() error { return w.ClickLast(ctx, "bob", bot.ActionApprove, "") }},
		{"", func() error { return w.ClickLast(ctx, "bob", bot.ActionOpenURL, "") }},
		{"Carol lives in Teams: the same card was posted there, and she approves from it. Two of two.", func() error {
			return w.ClickLastOn(ctx, platformTeams, "carol", bot.ActionApprove, "")
		}},
		{"", func() error { return w.ClickLastOn(ctx, platformTeams, "carol", bot.ActionOpenURL, "") }},
		{"Dave asks for more than the role allows.", func() error { return w.Say(ctx, "dave", "exchange 12h migrate public folders") }},
		{"", func() error { return w.ClickLast(ctx, "dave", bot.ActionUseOffer, "") }},
		{"", func() error { return w.ClickLast(ctx, "dave", bot.ActionOpenURL, "") }},
		{"Dave mistypes a role.", func() error { return w.Say(ctx, "dave", "exchnage 1h check quarantine") }},
		{"SharePoint's setting in PIM (1h) is stricter than Elevate's cap (2h): Elevate offers PIM's maximum at once, before any sign-in.", func() error {
			return w.Say(ctx, "dave", "sharepoint 2h restore the intranet site")
		}},
		{"Alice checks what she has.", func() error { return w.Say(ctx, "alice", "status") }},
		{"Erin needs Teams Administrator, for which PIM itself requires approval.", func() error { return w.Say(ctx, "erin", "teams 1h fix a meeting policy") }},
		{"", func() error { return w.ClickLast(ctx, "erin", bot.ActionOpenURL, "") }},
		{"Bob approves; his click approves in PIM, with his own recent sign-in.", func() error { return w.ClickLast(ctx, "bob", bot.ActionApprove, "") }},
		{"Erin asks for Exchange Administrator, which PIM does not make her eligible for: she is told at once, without signing in.", func() error {
			return w.Say(ctx, "erin", "exchange 1h check the mail queue")
		}},
		{"Dave activates his Tier1 Admins group membership (PIM for Groups).", func() error { return w.Say(ctx, "dave", "tier1-admins 2h rotate the helpdesk queue") }},
		{"A group is his first: the sign-in asks for the PIM for Groups permission now, not before.", func() error { return w.ClickLast(ctx, "dave", bot.ActionOpenURL, "") }},
		{"Six minutes later, Alice is done with Exchange Administrator early.", func() error {
			w.Tenant.Advance(6 * time.Minute) // PIM refuses to end an activation in its first 5 minutes
			return w.Say(ctx, "alice", "done exchange")
		}},
		{"", func() error { return w.ClickLast(ctx, "alice", bot.ActionOpenURL, "") }},
		{"Bob asks where standing admin access remains.", func() error { return w.Say(ctx, "bob", "discover") }},
	}
	for _, s := range steps {
		if s.note != "" {
			w.t.say("\n── %s\n", s.note)
		}
		if err := s.run(); err != nil {
			return err
		}
	}
	return nil
}

// Interactive reads lines from in: text is typed to Elevate as the current user, a number clicks
// that button. See the help it prints.
func (w *World) Interactive(ctx context.Context, in io.Reader) error {
	user := "alice"
	w.t.say("%s", interactiveHelp)
	sc := bufio.NewScanner(in)
	for {
		w.t.say("\n%s> ", user)
		if !sc.Scan() {
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		var err error
		switch {
		case line == "":
			continue
		case line == "quit" || line == "exit":
			return nil
		case line == "?" || line == "help?":
			w.t.say("%s", interactiveHelp)
		case f[0] == "as" && len(f) == 2:
			user = strings.ToLower(f[1])
		case f[0] == "expire":
			err = w.Core.Expire(ctx)
		case isNumber(f[0]) || (f[0] == "nomfa" && len(f) > 1 && isNumber(f[1])):
			mfa := f[0] != "nomfa"
			if !mfa {
				f = f[1:]
			}
			n, _ := strconv.Atoi(f[0])
			err = w.Click(ctx, user, n, strings.Join(f[1:], " "), mfa)
		default:
			err = w.Say(ctx, user, strings.TrimSpace(strings.TrimPrefix(line, "/elevate")))
		}
		if err != nil {
			w.t.say("    ! %v\n", err)
		}
	}
}

const interactiveHelp = `Type as a seeded user (alice, bob, carol, dave, erin):
  exchange 4h fixing mail flow    talk to Elevate (the /elevate prefix is optional)
  3                               click button 3 (a sign-in button signs in with MFA)
  nomfa 3                         sign in without MFA
  4 not during the freeze         click Deny (button 4) with a reason
  as bob                          switch user
  expire                          run the expiry sweep now
  quit
`

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// Run is `elevate demo`: the scripted story, or the interactive prompt.
func Run(ctx context.Context, o Options) error {
	if o.ActivationDelay == 0 {
		o.ActivationDelay = 1500 * time.Millisecond
	}
	w, err := Start(o)
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Fprintf(o.Out, "Elevate demo: simulated tenant %s (Graph %s, sign-in %s), store in a temporary file.\n",
		w.domain, w.Tenant.GraphURL(), w.Tenant.AuthorityURL())
	if o.Interactive {
		if o.In == nil {
			return errors.New("demo: interactive mode needs input")
		}
		return w.Interactive(ctx, o.In)
	}
	if err := w.Story(ctx); err != nil {
		return err
	}
	if err := w.MultiRoleStory(ctx); err != nil {
		return err
	}
	if err := w.ScheduleStory(ctx); err != nil {
		return err
	}
	n, err := w.Store.VerifyAudit()
	if err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	fmt.Fprintf(o.Out, "\nThe audit log holds %d records; its hash chain verifies.\n", n)
	if _, ok := PilotConfig(o.Config); !ok {
		fmt.Fprintf(o.Out, "\n(The pilot story needs the example config's Exchange Administrator entry; skipped.)\n")
		return nil
	}
	o.StorePath = "" // a store of its own
	return PilotStory(ctx, o)
}

// Seen is everything user was shown privately, as text, oldest first.
func (w *World) Seen(user string) []string { return w.t.seen(user) }

// Channel is everything posted in channel, as text with updates applied, oldest first.
func (w *World) Channel(channel string) []string { return w.t.channel(channel) }

// LinkFor is the URL of the newest link button shown to user.
func (w *World) LinkFor(user string) (string, bool) {
	s, ok := w.t.last(user, bot.ActionOpenURL)
	return s.button.URL, ok
}
