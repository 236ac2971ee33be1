package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/manifest"
	"github.com/elevate-pim/elevate/policy"
)

// Teams: `elevate serve` starts the adapter on /api/messages when MICROSOFT_APP_ID is set;
// `elevate manifest teams -o app.zip` writes the Teams app package.
func init() {
	chatAdapters = append(chatAdapters, startTeams)
	manifests["teams"] = manifestTeams
}

func startTeams(ctx context.Context, env serveEnv) (string, bool, error) {
	appID := env.Getenv("MICROSOFT_APP_ID")
	password := env.Getenv("MICROSOFT_APP_PASSWORD")
	if appID == "" {
		if password != "" {
			env.Log.Warn("teams: MICROSOFT_APP_PASSWORD is set but MICROSOFT_APP_ID is not; Teams stays off")
		}
		return "teams", false, nil
	}
	tenant := env.Getenv("MICROSOFT_APP_TENANT_ID")
	// In the sandbox the config's tenant is the simulated one, never where Teams runs.
	if tenant == "" && env.Config != nil && !env.Sandbox {
		tenant = env.Config.Tenant.TenantID
	}
	if tenant == "" {
		return "teams", false, errors.New("MICROSOFT_APP_ID is set: also set MICROSOFT_APP_TENANT_ID (the bot's tenant)")
	}
	cred, err := botCredential(env.Getenv, appID, tenant, nil)
	if err != nil {
		return "teams", false, err
	}
	channels, err := teams.ParseChannels(env.Getenv("TEAMS_CHANNELS"))
	if err != nil {
		return "teams", false, err
	}
	var hosts []string // TEAMS_SERVICE_URL_HOSTS: sovereign clouds; the Bot Framework's public and US government hosts when empty
	for _, h := range strings.Split(env.Getenv("TEAMS_SERVICE_URL_HOSTS"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	a, err := teams.New(teams.Options{
		AppID: appID, Credential: cred, TenantID: tenant, ServiceURLHosts: hosts, Replays: env.Core,
		OpenIDMetadataURL: env.Getenv("BOTFRAMEWORK_OPENID_METADATA_URL"), // sovereign clouds and tests; public cloud when empty
		TokenURL:          env.Getenv("BOTFRAMEWORK_TOKEN_URL"),           // https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token when empty
		Channels:          channels, Conversations: env.Core, Core: env.Core,
		Logger: env.Log.With("platform", "teams"),
	})
	if err != nil {
		return "teams", false, err
	}
	env.Core.Register(a)
	env.Mux.Handle("POST /api/messages", a)
	env.AtShutdown(a.Wait, a.Close)
	if env.AddCheck != nil {
		env.AddCheck("teams", a.Ready)
	}
	env.Log.Info("teams started", "tenant", tenant, "mapped_channels", len(channels), "credential", cred.Describe())
	return "teams", true, nil
}

// botCredential is the bot's Bot Connector credential from the Bot Framework's settings
// (MICROSOFT_APP_TYPE, MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD, MICROSOFT_APP_TENANT_ID), a
// certificate (MICROSOFT_APP_CERTIFICATE_PATH, MICROSOFT_APP_CERTIFICATE_PASSWORD) or the
// workload identity's token file (AZURE_FEDERATED_TOKEN_FILE). BOTFRAMEWORK_TOKEN_URL replaces
// the token endpoint (sovereign clouds, tests).
func botCredential(getenv func(string) string, appID, tenant string, hc *http.Client) (*teams.Credential, error) {
	return teams.NewCredential(teams.CredentialConfig{
		AppType: getenv("MICROSOFT_APP_TYPE"), AppID: appID, Password: getenv("MICROSOFT_APP_PASSWORD"), TenantID: tenant,
		CertificatePath: getenv("MICROSOFT_APP_CERTIFICATE_PATH"), CertificatePassword: getenv("MICROSOFT_APP_CERTIFICATE_PASSWORD"),
		FederatedTokenFile: getenv("AZURE_FEDERATED_TOKEN_FILE"), TokenURL: getenv("BOTFRAMEWORK_TOKEN_URL"), HTTPClient: hc,
	})
}

// manifestTeams is `elevate manifest teams [-o app.zip] [-version 1.0.0] [-url URL] [-print]`.
func manifestTeams(cfg *policy.Config, args []string, out, stderr io.Writer) error {
	fs := flag.NewFlagSet("manifest teams", flag.ContinueOnError)
	fs.String("config", "", "configuration file (read by elevate itself)")
	file := fs.String("o", "app.zip", "where to write the Teams app package")
	printOnly := fs.Bool("print", false, "print manifest.json instead of writing the package")
	version := fs.String("version", "1.0.0", "the app version; bump it for every upload of a changed package")
	public := fs.String("url", "", "Elevate's public URL (default: ELEVATE_PUBLIC_URL, else the host of the config's tenant.redirect_url)")
	name := fs.String("name", "Elevate", "the app's short name in Teams")
	developer := fs.String("developer", "", "the developer name shown in Teams (default: the app name)")
	privacy := fs.String("privacy-url", "", "the privacy statement's URL (default: Elevate's own page, URL/privacy)")
	terms := fs.String("terms-url", "", "the terms of use's URL (default: Elevate's own page, URL/terms)")
	if err := parseFlags(fs, args, "manifest teams [-o app.zip] [-url URL] [-version 1.0.0] [flags]", out, stderr); err != nil {
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
	if u == "" {
		return usagef("manifest teams: give Elevate's public URL with -url (or ELEVATE_PUBLIC_URL, or tenant.redirect_url in -config): the bot's domain, and the privacy and terms pages Teams links to, are there")
	}
	u = strings.TrimRight(u, "/")
	t := manifest.Teams{BotID: os.Getenv("MICROSOFT_APP_ID"), AppID: os.Getenv("TEAMS_APP_ID"), Version: *version,
		ShortName: *name, DeveloperName: *developer, WebsiteURL: u,
		PrivacyURL: or(*privacy, u+"/privacy"), TermsURL: or(*terms, u+"/terms")}
	if t.BotID == "" {
		return errors.New("manifest teams: set MICROSOFT_APP_ID to the Azure Bot's Microsoft App ID")
	}
	if *printOnly {
		m, err := manifest.TeamsManifest(t)
		if err != nil {
			return err
		}
		_, err = out.Write(m)
		return err
	}
	f, err := os.Create(*file)
	if err != nil {
		return err
	}
	if err := manifest.WriteTeamsPackage(f, t); err != nil {
		f.Close()
		os.Remove(*file)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: upload it in Teams (Apps → Manage your apps → Upload an app) or in the Teams admin center\n", *file)
	return nil
}
