// Command elevate brings Microsoft Entra PIM just-in-time access into chat.
//
//	elevate demo [-interactive]        the whole product offline, on embedded defaults
//	elevate serve -config elevate.yaml  the service
//	elevate check -config elevate.yaml  validate the configuration
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
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "elevate:", err)
		os.Exit(1)
	}
}

const usage = `usage: elevate <command> [flags]

commands:
  demo [-interactive]            run Elevate offline against a simulated tenant
  serve -config FILE -db FILE    run the service
  check -config FILE             validate the configuration file
  audit verify -db FILE          verify the audit log's hash chain
  version                        print the version
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		interactive := fs.Bool("interactive", false, "type as any seeded user and click buttons by number")
		config := fs.String("config", "", "Elevate config (default: the embedded examples/elevate.yaml)")
		tenant := fs.String("tenant", "", "simulated tenant seed (default: the embedded examples/tenant.yaml)")
		if err := fs.Parse(args[1:]); err != nil {
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
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg, err := loadConfig(*config)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: OK (%d roles, %d break-glass accounts)\n", *config, len(cfg.Roles), len(cfg.Users.BreakGlass))
		return nil
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "audit":
		if len(args) < 2 || args[1] != "verify" {
			return errors.New("usage: elevate audit verify -db FILE")
		}
		fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
		db := fs.String("db", "elevate.db", "store file")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		s, err := store.Open(*db)
		if err != nil {
			return err
		}
		defer s.Close()
		n, err := s.VerifyAudit()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d audit records, hash chain intact\n", *db, n)
		return nil
	case "version":
		fmt.Fprintln(stdout, "elevate", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func loadConfig(path string) (*policy.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return policy.Parse(path, data)
}

// serve runs the service: the sign-in callback, health endpoints and the expiry sweep. The chat
// adapters plug in here as they land.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config := fs.String("config", "elevate.yaml", "configuration file")
	db := fs.String("db", "elevate.db", "store file")
	listen := fs.String("listen", ":8080", "HTTP listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	t := cfg.Tenant
	t.TenantID = envOr("AZURE_TENANT_ID", t.TenantID)
	t.ClientID = envOr("AZURE_CLIENT_ID", t.ClientID)
	if t.TenantID == "" || t.ClientID == "" || t.RedirectURL == "" {
		return errors.New("serve needs tenant.tenant_id, tenant.client_id and tenant.redirect_url in the config (or AZURE_TENANT_ID / AZURE_CLIENT_ID)")
	}
	secret := os.Getenv("AZURE_CLIENT_SECRET")
	if secret == "" {
		return errors.New("serve needs AZURE_CLIENT_SECRET for user sign-in (the app registration's client secret)")
	}
	s, err := store.Open(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	g, err := graph.New(graph.Config{GraphURL: t.GraphURL, AuthorityHost: t.AuthorityHost, TenantID: t.TenantID,
		ClientID: t.ClientID, ClientSecret: secret, RedirectURL: t.RedirectURL})
	if err != nil {
		return err
	}
	core, err := bot.New(bot.Options{Config: cfg, Graph: g, Store: s, Logger: log})
	if err != nil {
		return err
	}
	defer core.Close()
	log.Warn("no chat adapter is wired into serve yet: requests can only come from the demo")

	mux := http.NewServeMux()
	mux.Handle("/auth/callback", core.AuthCallback())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
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
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", *listen)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
