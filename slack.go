package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/policy"
)

// Slack: `elevate serve` starts the adapter when SLACK_BOT_TOKEN is set (HTTP with
// SLACK_SIGNING_SECRET, Socket Mode with SLACK_APP_TOKEN, or both); `elevate manifest slack`
// prints the Slack app manifest.
func init() {
	chatAdapters = append(chatAdapters, startSlack)
	manifests["slack"] = manifestSlack
}

func startSlack(ctx context.Context, env serveEnv) (string, bool, error) {
	token := env.Getenv("SLACK_BOT_TOKEN")
	secret := env.Getenv("SLACK_SIGNING_SECRET")
	app := env.Getenv("SLACK_APP_TOKEN")
	if token == "" {
		if secret != "" || app != "" {
			env.Log.Warn("slack: SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not; Slack stays off")
		}
		return "slack", false, nil
	}
	if secret == "" && app == "" {
		return "slack", false, errors.New("SLACK_BOT_TOKEN is set: also set SLACK_SIGNING_SECRET (Slack calls Elevate over HTTP) or SLACK_APP_TOKEN (Socket Mode)")
	}
	apiURL := env.Getenv("SLACK_API_URL") // tests and Slack GovSlack; Slack's own when empty
	if apiURL != "" && !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	a, err := slack.New(slack.Options{Core: env.Core, BotToken: token, SigningSecret: secret, AppToken: app,
		APIURL: apiURL, Logger: env.Log.With("platform", "slack"), Replays: env.Core})
	if err != nil {
		return "slack", false, err
	}
	env.Core.Register(a)
	if secret != "" {
		env.Mux.Handle("POST /slack/commands", a.Commands())
		env.Mux.Handle("POST /slack/interactivity", a.Interactivity())
		env.Mux.Handle("POST /slack/events", a.Events())
	}
	if app != "" {
		go a.RunSocket(ctx)
	}
	env.AtShutdown(a.Wait, a.Close)
	if env.AddCheck != nil {
		env.AddCheck("slack", a.Connected)
	}
	env.Log.Info("slack started", "http", secret != "", "socket_mode", app != "")
	return "slack", true, nil
}

// manifestSlack is `elevate manifest slack [-url URL | -socket] [-name NAME]`.
func manifestSlack(cfg *policy.Config, args []string, out, stderr io.Writer) error {
	fs := flag.NewFlagSet("manifest slack", flag.ContinueOnError)
	fs.String("config", "", "configuration file (read by elevate itself)")
	public := fs.String("url", "", "Elevate's public URL that Slack calls (default: ELEVATE_PUBLIC_URL, else the host of the config's tenant.redirect_url)")
	socket := fs.Bool("socket", false, "Socket Mode: Elevate connects to Slack, no public URL needed")
	name := fs.String("name", "Elevate", "the app's name in Slack")
	if err := parseFlags(fs, args, "manifest slack [-socket | -url URL] [-name NAME]", out, stderr); err != nil {
		return err
	}
	u := *public
	if u == "" {
		_, pub, err := resolveURLs(cfg, os.Getenv)
		if err != nil {
			return err
		}
		u = pub
	}
	m, err := slack.Manifest(slack.ManifestOptions{Name: *name, PublicURL: u, Socket: *socket})
	if err != nil {
		return err
	}
	_, err = out.Write(m)
	return err
}
