// Command elevate brings Microsoft Entra PIM just-in-time access into chat.
//
//	elevate demo [-interactive]        the whole product offline, on embedded defaults
//	elevate serve -config elevate.yaml  the service
//	elevate check -config elevate.yaml  validate the configuration and prove what Elevate needs
//	elevate health                      ask the local serve's /healthz (container health check)
//	elevate audit verify -db elevate.db walk the audit hash chain
//	elevate version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/forward"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/lead"
	"github.com/elevate-pim/elevate/metrics"
	"github.com/elevate-pim/elevate/oncall"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "elevate:", err)
	}
	stop()
	os.Exit(exitStatus(err))
}

const usage = `usage: elevate <command> [flags]

commands:
  demo [-interactive]            run Elevate offline against a simulated tenant
  serve -config FILE -db FILE    run the service (-metrics-addr, -log-level: see serve -h)
  check -config FILE [-config-only]
                                 validate the configuration and prove the credentials, Graph
                                 permissions and consent, PIM licence, Slack and Teams settings;
                                 say what is missing and how to fix it
  serve -sandbox                 run the chat adapters against the simulated tenant
  health [-listen ADDR]          ask the local serve's /healthz (exit 0 healthy, 1 not): the
                                 container's health check, the image having no shell
  manifest slack|teams           the chat platform's app manifest or package
  audit verify -db FILE          verify the audit log's hash chain
  audit export -db FILE [-since DATE] [-format jsonl|csv]
                                 export the audit log with its hashes
  backup -db FILE OUT            a consistent copy of a bbolt store
  store migrate -from FILE -to URL
                                 copy a bbolt store into PostgreSQL, verified on both sides
  version                        print the version, commit and Go version

elevate <command> -h lists a command's flags. Exit status: 0 success, 1 failure, 2 usage error.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	switch args[0] {
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		interactive := fs.Bool("interactive", false, "type as any seeded user and click buttons by number")
		config := fs.String("config", "", "Elevate config (default: the embedded examples/elevate.yaml)")
		tenant := fs.String("tenant", "", "simulated tenant seed (default: the embedded examples/tenant.yaml)")
		if err := parseFlags(fs, args[1:], "demo [-interactive] [-config FILE] [-tenant FILE]", stdout, stderr); err != nil {
			return err
		}
		o := demo.Options{Config: examples.Config, ConfigName: "examples/elevate.yaml", Tenant: examples.Tenant,
			Out: stdout, In: stdin, Interactive: *interactive}
		var err error
		if *config != "" {
			if o.Config, err = os.ReadFile(*config); err != nil {
				return err
			}
			o.ConfigName = *config
		}
		if *tenant != "" {
			if o.Tenant, err = os.ReadFile(*tenant); err != nil {
				return err
			}
		}
		return demo.Run(ctx, o)
	case "check":
		fs := flag.NewFlagSet("check", flag.ContinueOnError)
		config := fs.String("config", "elevate.yaml", "configuration file")
		configOnly := fs.Bool("config-only", false, "validate the configuration file only (no Graph, no chat tokens)")
		if err := parseFlags(fs, args[1:], "check -config FILE [-config-only]\n\n"+
			"Validates the configuration, then proves the credentials, permissions, consent, licence and\n"+
			"chat settings Elevate needs. Exit status: 0 all in place, 1 something missing, 2 usage error.", stdout, stderr); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usagef("check takes no arguments (got %q)", fs.Args())
		}
		cfg, err := loadConfig(*config)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: OK (%d roles, %d break-glass accounts)\n", *config, len(cfg.Roles), len(cfg.Users.BreakGlass))
		if *configOnly {
			return nil
		}
		return checkGraph(ctx, cfg, os.Getenv, stdout)
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "health":
		return health(ctx, args[1:], stdout, stderr)
	case "audit":
		return audit(args[1:], stdout, stderr)
	case "backup":
		return backup(args[1:], stdout, stderr)
	case "store":
		return storeCmd(ctx, args[1:], stdout, stderr)
	case "manifest":
		if len(args) >= 2 && (args[1] == "-h" || args[1] == "-help" || args[1] == "--help") {
			fmt.Fprintf(stdout, "usage: elevate manifest slack|teams [flags]\n\nelevate manifest slack -h and elevate manifest teams -h list each one's flags.\n")
			return flag.ErrHelp
		}
		if len(args) < 2 {
			return usagef("usage: elevate manifest slack|teams [-config FILE]")
		}
		make, ok := manifests[args[1]]
		if !ok {
			return usagef("no manifest for %q (known: %v)", args[1], keys(manifests))
		}
		fs := flag.NewFlagSet("manifest", flag.ContinueOnError)
		config := fs.String("config", "", "configuration file (default: the embedded example)")
		fs.SetOutput(io.Discard)
		_ = fs.Parse(args[2:]) // the platform's own flags follow; it parses them itself
		cfg, err := policy.Parse("examples/elevate.yaml", examples.Config)
		if *config != "" {
			cfg, err = loadConfig(*config)
		}
		if err != nil {
			return err
		}
		return make(cfg, args[2:], stdout, stderr)
	case "version":
		b := metrics.ReadBuild(version)
		fmt.Fprintf(stdout, "elevate %s (commit %s, %s)\n", b.Version, b.Commit, b.GoVersion)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", args[0])
}

func loadConfig(path string) (*policy.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return policy.Parse(path, data)
}

// serveEnv is what a chat adapter gets to start inside `elevate serve`.
type serveEnv struct {
	Core   *bot.Core
	Config *policy.Config
	Mux    *http.ServeMux // the one HTTP listener: adapters mount their endpoints here
	Log    *slog.Logger
	Getenv func(string) string
	// Sandbox is set for `serve --sandbox`: Graph is the simulated tenant, chat is real.
	Sandbox bool
	// AddCheck adds a readiness check to /readyz (e.g. "slack": the socket is connected).
	AddCheck func(name string, check metrics.Check)
	// AtShutdown registers an adapter's drain: serve calls it after the listener stopped taking
	// requests and before the core and store close. wait lets in-flight work finish; stop
	// cancels what is left after the grace period.
	AtShutdown func(wait, stop func())
}

// chatAdapters start the chat platforms whose credentials are set; each adapter registers itself
// from its own file (slack.go, teams.go). started is false when its credentials are absent.
var chatAdapters []func(ctx context.Context, env serveEnv) (name string, started bool, err error)

// manifests print or write a chat platform's app package: `elevate manifest <name>`.
var manifests = map[string]func(cfg *policy.Config, args []string, stdout, stderr io.Writer) error{}

// serve runs the service: chat adapters, the sign-in callback, health endpoints and the expiry
// sweep, on one HTTP listener.
func serve(parent context.Context, args []string, stdout, stderr io.Writer) error {
	// Background work (schedules, sweeps, backups) runs until ctx ends and is waited for before
	// the core and the store close: nothing uses the store after it is closed.
	ctx, stop := context.WithCancel(parent)
	defer stop()
	var bg sync.WaitGroup
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config := fs.String("config", "elevate.yaml", "configuration file")
	// The store from the environment too: a platform that cannot template arguments from a
	// secret (Azure Container Apps) gives it as ELEVATE_DATABASE_URL, from Key Vault.
	db := fs.String("db", defaultDB(), "the store: a bbolt file, or a postgres:// URL for PostgreSQL (default $ELEVATE_DATABASE_URL, else elevate.db)")
	listen := fs.String("listen", defaultListen(os.Getenv), "HTTP listen address (default $ELEVATE_LISTEN, else :8080)")
	backupDir := fs.String("backup-dir", "", "take hot backups of a bbolt store into this directory (with -backup-every)")
	backupEvery := fs.Duration("backup-every", 24*time.Hour, "how often to back up the store when -backup-dir is set")
	sandbox := fs.Bool("sandbox", false, "use the simulated tenant instead of Microsoft Graph (try Elevate in a real chat workspace before granting any Graph permission)")
	pprofAddr := fs.String("pprof", "", "serve Go's /debug/pprof on this address (e.g. 127.0.0.1:6060; keep it on loopback)")
	pprofBlock := fs.Bool("pprof-block", false, "with -pprof: also sample where goroutines block and wait for locks (/debug/pprof/block and /mutex; costs a little on every wait)")
	latency := fs.Duration("sandbox-graph-latency", 0, "with -sandbox: make every simulated Graph and sign-in answer take this long (load tests)")
	sandboxState := fs.String("sandbox-state", "", "with -sandbox: keep the simulated tenant's PIM state in this file, so it survives restarts (crash tests)")
	sandboxTenant := fs.String("sandbox-tenant", "", "with -sandbox: seed the simulated tenant from this YAML file (format: examples/tenant.yaml; default the embedded demo tenant; load tests)")
	sandboxMinActive := fs.Duration("sandbox-min-active", 0, "with -sandbox: how long an activation must run before it can be ended (default PIM's 5m; crash tests)")
	level := fs.String("log-level", os.Getenv("ELEVATE_LOG_LEVEL"), "log level: debug, info, warn or error (default $ELEVATE_LOG_LEVEL, else info)")
	metricsAddr := fs.String("metrics-addr", os.Getenv("ELEVATE_METRICS_ADDR"), "serve /metrics on its own listener at this address, e.g. :9090 (default $ELEVATE_METRICS_ADDR; /metrics is not served when both are empty)")
	metricsOnMain := fs.Bool("metrics-on-main", false, "also serve /metrics on the main listener (-listen), for platforms with a single port; keep it away from the internet")
	anchorEvery := fs.Duration("audit-anchor-every", 10*time.Minute, "log the audit chain's head (an \"audit anchor\" line: seq, hash) this often when it has moved, and at start and stop; 0 turns it off. See docs/security.md")
	leaseTTL := fs.Duration("leader-ttl", 5*time.Second, "with a PostgreSQL -db: how long the leader's lease lasts without a renewal (a standby takes over at most this plus -leader-renew after the leader dies)")
	leaseRenew := fs.Duration("leader-renew", time.Second, "with a PostgreSQL -db: how often the leader renews its lease and a standby looks at it")
	fwdDeadline := fs.Duration("forward-deadline", 16*time.Second, "with a PostgreSQL -db: how long a standby waits for the leader to take a request it forwards before answering 503 (nothing done); default a little over the 15 s Teams waits")
	authMode := dbAuthFlag(fs)
	if err := parseFlags(fs, args, "serve -config FILE -db FILE [-listen ADDR] [flags]", stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments (got %q)", fs.Args())
	}
	if *backupDir != "" && isPostgresURL(*db) {
		return usagef("-backup-dir copies a bbolt file; a PostgreSQL store is backed up by the server " +
			"(Azure Database for PostgreSQL's point-in-time restore, or pg_dump)")
	}
	if *fwdDeadline <= 0 {
		return usagef("-forward-deadline must be positive")
	}
	if *anchorEvery < 0 {
		return usagef("-audit-anchor-every %s: give a positive duration, or 0 to log no anchors", *anchorEvery)
	}
	if *leaseTTL <= 0 || *leaseRenew <= 0 || 2**leaseRenew >= *leaseTTL {
		// The leader must renew well within its own deadline (TTL less a margin of up to 1 s).
		return usagef("-leader-renew (%s) must be positive and less than half of -leader-ttl (%s)", *leaseRenew, *leaseTTL)
	}
	auth, err := newDBAuth(*authMode, *db, os.Getenv)
	if err != nil {
		return err
	}
	lvl, err := logLevel(*level)
	if err != nil {
		return &usageError{"-log-level: " + err.Error()}
	}
	log := slog.New(metrics.LogHandler{Handler: slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl})})
	var cfg *policy.Config
	if *sandbox && !flagSet(fs, "config") {
		cfg, err = policy.Parse("examples/elevate.yaml", examples.Config)
	} else {
		cfg, err = loadConfig(*config)
	}
	if err != nil {
		return err
	}
	log.Debug("config loaded", "roles", len(cfg.Roles), "approvals_channel", cfg.Channels.Approvals,
		"security_channel", cfg.Channels.Security, "redirect_url", cfg.Tenant.RedirectURL, "graph_url", cfg.Tenant.GraphURL)
	// With PostgreSQL several processes may share the database: one leads and acts, the others
	// wait (ha.go has the why). With bbolt this process leads at once; the file lock refuses a second.
	var el *lead.Elector
	var fdb *forward.DB
	var opt store.PostgresOptions
	if isPostgresURL(*db) {
		if w := store.PostgresTLSWarning(*db, os.Getenv); w != "" {
			log.Warn(w)
		}
		log.Info("store: PostgreSQL", "db", dbName(*db), "db_auth", auth.describe())
		el = lead.New(*db, lead.Config{TTL: *leaseTTL, RenewEvery: *leaseRenew, Logger: log, Credential: auth.credential()})
		defer el.Close()
		opt.Fence = el.Fence
		opt.Credential = auth.credential()
		// The database must answer at start (a wrong URL or password stops serve here, with the
		// cause), though the store is opened only once this process leads (below).
		hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, _, err := lead.Held(hctx, *db, auth.credential())
		cancel()
		if err != nil {
			return store.ScrubPassword(fmt.Errorf("store: PostgreSQL %s: %w", dbName(*db), err), *db)
		}
		// Until it serves, this process forwards the chat endpoints' requests to the leader
		// through the database (ha.go).
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fdb, err = forward.Open(fctx, *db, forward.Options{Deadline: *fwdDeadline, Logger: log, Credential: auth.credential()})
		cancel()
		if err != nil {
			return store.ScrubPassword(fmt.Errorf("store: PostgreSQL %s: %w", dbName(*db), err), *db)
		}
		defer fdb.Close()
	}
	// With PostgreSQL the store is opened once this process leads: opening creates and migrates
	// the schema, which a standby (a new version's, starting while the old version leads) must not
	// do under the leader. With bbolt it is opened now: its file lock is the election.
	var s *store.Store
	var opened atomic.Pointer[store.Store] // s, for the probes and /metrics, which a standby answers too
	openStoreNow := func() error {
		var err error
		if s, err = openStoreWith(ctx, *db, opt); err != nil {
			return err
		}
		// A store that `store migrate` did not finish copying would pass for a whole one,
		// missing what it did not copy.
		if err := s.UnfinishedCopy(); err != nil {
			s.Close()
			s = nil
			return fmt.Errorf("%s: %w", dbName(*db), err)
		}
		opened.Store(s)
		return nil
	}
	if el == nil {
		if err := openStoreNow(); err != nil {
			return err
		}
	}
	graceful := true // a leader that stops on a signal hands its lease over (after the store closed)
	defer func() {
		if el != nil && graceful {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := el.Resign(rctx); err != nil {
				log.Warn("leader election: could not hand the lease over; a standby takes over when it expires", "err", err)
			}
		}
	}()
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	// The one listener: /healthz, /readyz and the public pages always; the rest (chat endpoints,
	// the sign-in callback) served while this process leads and has started, and with PostgreSQL
	// forwarded to the leader before that (ha.go).
	mux := http.NewServeMux()
	outer := http.NewServeMux()
	g8 := &gate{next: mux}
	if fdb != nil {
		sb := fdb.Standby()
		go sb.Run(ctx)
		checks, err := newForwardChecks(os.Getenv, *sandbox)
		if err != nil {
			return err
		}
		g8.forward, g8.forwardReady = forwarded(sb, checks, log), sb.Ready
	}
	outer.Handle("/", g8)
	outer.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	outer.Handle("GET /readyz", g8.Ready())
	outer.HandleFunc("GET /privacy", legalPage(privacyPage))
	outer.HandleFunc("GET /terms", legalPage(termsPage))
	met := metrics.New(func() (map[store.State]int, error) {
		s := opened.Load()
		if s == nil {
			return nil, nil // a standby: the leader's /metrics has the counts
		}
		return openCounts(s)
	})
	met.SetBuild(metrics.ReadBuild(version))
	if *metricsOnMain {
		outer.Handle("GET /metrics", met.Handler())
	}
	checks := map[string]metrics.Check{
		"store": func(context.Context) error { _, err := opened.Load().Request(0); return ignoreNotFound(err) }, // served once open
		"graph": met.GraphReachable,
	}
	srv := publicServer(*listen, met.Middleware(outer))
	errc := make(chan error, 1)
	listening := false
	startListener := func() {
		listening = true
		go func() { errc <- srv.ListenAndServe() }()
	}
	if *metricsAddr != "" {
		// Its own listener: scrapers reach it, the public listener never shows it.
		ml, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		mm := http.NewServeMux()
		mm.Handle("GET /metrics", met.Handler())
		ms := &http.Server{Handler: mm, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ms.Serve(ml) }()
		defer ms.Close()
		log.Info("metrics listening", "addr", ml.Addr().String())
	} else if !*metricsOnMain {
		log.Info("metrics not served: set -metrics-addr (or ELEVATE_METRICS_ADDR) to serve /metrics on its own listener")
	}
	leaderCtx := context.Background()
	var epoch int64
	if el != nil {
		// A standby answers probes at once, forwards the chat endpoints to the leader, and waits
		// for the lease.
		startListener()
		log.Info("listening as a standby: forwarding chat requests to the leader through the database; waiting for leadership",
			"addr", *listen, "holder", el.Holder(), "leader_ttl", el.Config().TTL, "leader_renew", el.Config().RenewEvery)
		if leaderCtx, err = campaign(ctx, el, errc); err != nil {
			if parent.Err() != nil {
				shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = srv.Shutdown(shut)
				log.Info("stopped as a standby")
				return nil
			}
			return err
		}
		// Losing the lease stops everything at once: ctx is what every worker and adapter runs on.
		context.AfterFunc(leaderCtx, func() { g8.close(); stop() })
		// Standbys forward to this term from now on; what they send before the worker starts
		// (below, once this process serves) waits for it.
		epoch = el.Epoch()
		if err := fdb.Register(ctx, el.Holder(), epoch); err != nil {
			return err
		}
		if err := openStoreNow(); err != nil {
			return err
		}
		checks["leader"] = func(context.Context) error {
			if !el.Leading() {
				return errors.New("this process no longer leads")
			}
			return nil
		}
		log.Info("leading: starting the chat adapters, schedules and workers", "holder", el.Holder())
	}
	graphHTTP := &http.Client{Transport: met.Transport(http.DefaultTransport.(*http.Transport).Clone()), Timeout: 100 * time.Second}
	var g bot.Graph
	if *sandbox {
		wrap := met.Transport
		if *latency > 0 {
			wrap = func(rt http.RoundTripper) http.RoundTripper { return met.Transport(slowed(rt, *latency)) }
		}
		seed := examples.Tenant
		if *sandboxTenant != "" {
			if seed, err = os.ReadFile(*sandboxTenant); err != nil {
				return fmt.Errorf("-sandbox-tenant: %w", err)
			}
		}
		sb, err := demo.StartSandbox(seed, publicURL(*listen), wrap, demo.SandboxOptions{StateFile: *sandboxState, MinActive: *sandboxMinActive})
		if err != nil {
			return err
		}
		defer sb.Close()
		g = sb.Graph
		mux.Handle("/sandbox/sign-in", sb.SignInPage())
		log.Warn("sandbox: Graph and sign-in are simulated; sign in at /sandbox/sign-in as a seeded user", "tenant", sb.Tenant.TenantID())
		// People pick any seeded user on the sandbox's sign-in page, so their real chat emails
		// cannot be the simulated users' addresses: the linking page still asks, the email is
		// not compared.
		cfg.Identity.EmailMatch = policy.EmailMatchOff
		log.Warn("sandbox: identity.email_match is off (chat emails are not the simulated users')")
	} else {
		t := cfg.Tenant
		t.TenantID = envOr("AZURE_TENANT_ID", t.TenantID)
		t.ClientID = envOr("AZURE_CLIENT_ID", t.ClientID)
		if t.RedirectURL, _, err = resolveURLs(cfg, os.Getenv); err != nil {
			return err
		}
		if t.TenantID == "" || t.ClientID == "" || t.RedirectURL == "" {
			return errors.New("serve needs tenant.tenant_id, tenant.client_id and tenant.redirect_url (or ELEVATE_PUBLIC_URL) in the config (or AZURE_TENANT_ID / AZURE_CLIENT_ID)")
		}
		secret := os.Getenv("AZURE_CLIENT_SECRET")
		if secret == "" {
			return errors.New("serve needs AZURE_CLIENT_SECRET for user sign-in (the app registration's client secret)")
		}
		if g, err = graph.New(graph.Config{GraphURL: t.GraphURL, AuthorityHost: t.AuthorityHost, TenantID: t.TenantID,
			ClientID: t.ClientID, ClientSecret: secret, RedirectURL: t.RedirectURL, HTTPClient: graphHTTP}); err != nil {
			return err
		}
	}
	var leading func() bool
	if el != nil {
		leading = el.Leading
	}
	core, err := bot.New(bot.Options{Config: cfg, Graph: g, Store: s, Logger: log, OnCall: onCallClient(cfg, os.Getenv, log), Leading: leading})
	if err != nil {
		return err
	}
	defer core.Close()
	// Runs before core.Close and s.Close (defers run last-in first-out).
	defer func() { stop(); bg.Wait() }()
	core.Watch(met)
	met.Commits(s.CommitStats)
	met.Outbox(func() (metrics.OutboxStats, error) {
		st, err := core.Outbox()
		return metrics.OutboxStats(st), err
	})

	var checksMu sync.Mutex
	var drains []drain
	env := serveEnv{Core: core, Config: cfg, Mux: mux, Log: log, Getenv: os.Getenv, Sandbox: *sandbox,
		AddCheck:   func(name string, c metrics.Check) { checksMu.Lock(); defer checksMu.Unlock(); checks[name] = c },
		AtShutdown: func(wait, stop func()) { drains = append(drains, drain{wait, stop}) }}
	var chats []string
	for _, start := range chatAdapters {
		name, ok, err := start(ctx, env)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if ok {
			chats = append(chats, name)
		}
	}
	if err := startSchedules(ctx, &bg, cfg, core, g, s, log); err != nil {
		return err
	}
	// The outbox worker delivers what changes queued and could not deliver at once, what an
	// earlier run left, and what waited for a target to become known.
	bg.Go(func() { core.RunOutbox(ctx) })
	if len(chats) == 0 {
		log.Warn("no chat platform configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, or MICROSOFT_APP_ID with the bot's credential (README → Teams)")
	}
	mux.Handle("/auth/callback", core.AuthCallback())
	// What the previous process acknowledged but did not finish (PIM writes of unknown outcome,
	// sign-in links that lived in its memory, approved requests never activated) is looked up
	// in PIM and resumed now, then by every minute's sweep.
	if err := core.Resume(ctx); err != nil {
		log.Error("resuming stored requests", "err", err)
	}
	bg.Go(func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := core.Expire(ctx); err != nil {
					log.Error("expiry sweep", "err", err)
				}
			}
		}
	})
	if *backupDir != "" {
		bg.Go(func() { backups(ctx, s, *backupDir, *backupEvery, log) })
	}
	if *anchorEvery > 0 {
		bg.Go(func() { auditAnchors(ctx, s, *anchorEvery, log) })
	}
	if *pprofAddr != "" {
		if *pprofBlock {
			runtime.SetBlockProfileRate(int((10 * time.Microsecond).Nanoseconds())) // one sample per 10 µs blocked, on average
			runtime.SetMutexProfileFraction(10)
		}
		// A separate listener: profiles never share the public one.
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		pps := &http.Server{Addr: *pprofAddr, Handler: pp, ReadHeaderTimeout: 10 * time.Second}
		go func() { log.Info("pprof listening", "addr", *pprofAddr, "err", pps.ListenAndServe()) }()
		defer pps.Close()
	}
	checksMu.Lock()
	g8.open(metrics.Ready(log, maps.Clone(checks)))
	checksMu.Unlock()
	if !listening {
		startListener()
	}
	// Forwarded requests are served by the same handler as the listener's, now that it serves.
	fwdWorker := func() {}
	if fdb != nil {
		w := fdb.Worker(leaderCtx, srv.Handler, el.Holder(), epoch)
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		fwdWorker = func() { <-done; w.Wait() }
	}
	log.Info("listening", "addr", *listen, "chat", chats, "sandbox", *sandbox)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if leaderCtx.Err() != nil && parent.Err() == nil {
		// Leadership lost: another process may lead already, so nothing more is done here (no
		// last outbox pass, no drain: every write would be refused anyway). The process exits
		// non-zero and its supervisor restarts it as a standby, as Kubernetes controllers do.
		g8.close()
		graceful = false
		_ = srv.Close()
		waitFor(fwdWorker, 5*time.Second)
		for _, d := range drains {
			d.stop()
		}
		cause := context.Cause(leaderCtx)
		log.Error("lost leadership: stopped acting; exiting so this process restarts as a standby", "cause", cause)
		return fmt.Errorf("lost leadership: %w", cause)
	}
	// Graceful: stop taking requests and let handlers finish, then let the adapters' work
	// after acknowledgements finish, then (deferred) the core's sign-in continuations and the
	// store. Whatever is cut short is in the store already.
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shut)
	// Forwarded requests the worker claimed are answered before the lease is handed over; those
	// it did not claim wait for the next leader.
	waitFor(fwdWorker, 10*time.Second)
	for _, d := range drains {
		waitFor(d.wait, 10*time.Second)
	}
	// One last outbox pass while the adapters can still post (the worker stopped with ctx): what
	// the last jobs queued goes out now, not at the next start. Anything left stays queued.
	waitFor(func() { core.DeliverDue(shut) }, 5*time.Second)
	for _, d := range drains {
		d.stop()
	}
	log.Info("stopped")
	return err
}

type drain struct{ wait, stop func() }

// waitFor runs wait, giving up after d.
func waitFor(wait func(), d time.Duration) {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// publicURL is where users' browsers reach this service: ELEVATE_PUBLIC_URL, or localhost on the
// listen port.
func publicURL(listen string) string {
	if u := os.Getenv("ELEVATE_PUBLIC_URL"); u != "" {
		return u
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// backups writes a consistent copy of the live store every interval, named by time, so
// backups need no downtime.
func backups(ctx context.Context, s *store.Store, dir string, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			path := filepath.Join(dir, "elevate-"+now.UTC().Format("20060102T150405Z")+".db")
			if n, err := s.BackupFile(path); err != nil {
				log.Error("backup failed", "path", path, "err", err)
			} else {
				log.Info("backup written", "path", path, "bytes", n)
			}
		}
	}
}

// slowed delays every request by d, to play a slow Graph in load tests.
func slowed(rt http.RoundTripper, d time.Duration) http.RoundTripper {
	return roundTrip(func(r *http.Request) (*http.Response, error) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		return rt.RoundTrip(r)
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// openCounts counts the open requests by state, for the elevate_requests_open gauge.
func openCounts(s *store.Store) (map[store.State]int, error) {
	rs, err := s.Requests(store.Filter{OpenOnly: true})
	if err != nil {
		return nil, err
	}
	counts := map[store.State]int{}
	for _, r := range rs {
		counts[r.State]++
	}
	return counts, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// onCallClient is the PagerDuty and Opsgenie client for roles' on-call waivers, from
// PAGERDUTY_TOKEN (PAGERDUTY_API_URL) and OPSGENIE_API_KEY (OPSGENIE_API_URL; the EU instance is
// https://api.eu.opsgenie.com). A role whose provider has no key falls back to its approvers and
// its cards say why; the operator is told at start.
func onCallClient(cfg *policy.Config, getenv func(string) string, log *slog.Logger) *oncall.Client {
	c := oncall.New(oncall.Config{
		PagerDutyToken: getenv("PAGERDUTY_TOKEN"), PagerDutyURL: getenv("PAGERDUTY_API_URL"),
		OpsgenieKey: getenv("OPSGENIE_API_KEY"), OpsgenieURL: getenv("OPSGENIE_API_URL"),
	})
	for _, r := range cfg.Roles {
		if oc := r.Approval.OnCall; oc != nil && !c.Configured(oc.Provider) {
			env := map[string]string{"pagerduty": "PAGERDUTY_TOKEN", "opsgenie": "OPSGENIE_API_KEY"}[oc.Provider]
			log.Warn("a role's on-call waiver has no credentials: its approvers decide until "+env+" is set", "role", r.Name, "provider", oc.Provider)
		}
	}
	return c
}
