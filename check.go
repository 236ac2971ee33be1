package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/internal/pgconn"
	"github.com/elevate-pim/elevate/oncall"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// `elevate check` proves, rather than assumes, what Elevate needs: an app-only Graph token
// obtained with the configured credential; the application permissions assigned to its service
// principal; the tenant-wide admin consent for each delegated permission sign-in may ask for;
// a licence for PIM; each Graph endpoint reached; a Bot Framework token obtained with the
// bot's configured credential (secret, certificate, workload or managed identity); Slack's auth.test and the scopes granted; each configured channel found.
// Every missing item is named with the step that fixes it, and the cause of a failure is shown
// in one line (an AADSTS code and what it means, an x509 error as such).

// checkEnv is what check reads besides the config: the Graph settings, the environment, and
// the HTTP client for Slack and the Bot Framework (nil: the default).
type checkEnv struct {
	Graph  graph.Config
	Getenv func(string) string
	HTTP   *http.Client
}

// checkGraph is the rest of `elevate check` once the config parsed. It returns an error (exit
// status 1) when something required is missing.
func checkGraph(ctx context.Context, cfg *policy.Config, getenv func(string) string, out io.Writer) error {
	t := cfg.Tenant
	redirect, _, err := resolveURLs(cfg, getenv)
	if err != nil {
		return err
	}
	gc := graph.Config{GraphURL: t.GraphURL, AuthorityHost: t.AuthorityHost, RedirectURL: redirect,
		TenantID: or(getenv("AZURE_TENANT_ID"), t.TenantID), ClientID: or(getenv("AZURE_CLIENT_ID"), t.ClientID),
		ClientSecret: getenv("AZURE_CLIENT_SECRET"), HTTPClient: &http.Client{Timeout: 30 * time.Second}}
	return checkWith(ctx, cfg, checkEnv{Graph: gc, Getenv: getenv}, out)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checker collects what check found missing while it prints what it saw.
type checker struct {
	out      io.Writer
	problems []string
}

func (c *checker) saw(format string, args ...any) { fmt.Fprintf(c.out, "  "+format+"\n", args...) }

func (c *checker) missing(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func checkWith(ctx context.Context, cfg *policy.Config, env checkEnv, out io.Writer) error {
	c := &checker{out: out}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	fmt.Fprintln(out, "\nMicrosoft Graph")
	if env.Graph.TenantID == "" || env.Graph.ClientID == "" {
		c.missing("Elevate doesn't know its tenant: set tenant.tenant_id and tenant.client_id in the config (or AZURE_TENANT_ID and AZURE_CLIENT_ID).")
	} else {
		checkTenant(ctx, c, cfg, env.Graph)
	}
	fmt.Fprintln(out, "\nSlack")
	checkSlack(ctx, c, cfg, env)
	fmt.Fprintln(out, "\nTeams")
	checkTeams(ctx, c, cfg, env)
	checkOnCall(ctx, c, cfg, env)
	fmt.Fprintln(out, "\nStore")
	checkDatabase(ctx, c, env)
	if env.Getenv("SLACK_BOT_TOKEN") == "" && env.Getenv("MICROSOFT_APP_ID") == "" {
		c.missing("No chat platform is configured: set SLACK_BOT_TOKEN (with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN) for Slack, or MICROSOFT_APP_ID with its credential for Teams.")
	}
	if cfg.Channels.Approvals == "" || cfg.Channels.Security == "" {
		c.missing("Set channels.approvals and channels.security: approval cards and security alerts have nowhere to go.")
	}
	if len(c.problems) == 0 {
		fmt.Fprintln(out, "\nEverything Elevate needs is in place.")
		return nil
	}
	fmt.Fprintln(out, "\nWhat is missing:")
	for _, p := range c.problems {
		fmt.Fprintln(out, "  - "+p)
	}
	return fmt.Errorf("%d thing%s to fix", len(c.problems), map[bool]string{true: "", false: "s"}[len(c.problems) == 1])
}

// appPage is where an app registration's settings are in the Entra admin center.
func appPage(clientID string) string {
	return "Entra admin center → Identity → Applications → App registrations → the app " + clientID
}

func checkTenant(ctx context.Context, c *checker, cfg *policy.Config, gc graph.Config) {
	how := "its client secret (AZURE_CLIENT_SECRET)"
	if gc.ClientSecret == "" {
		how = "the managed or workload identity from the environment (AZURE_CLIENT_SECRET is not set)"
	}
	g, err := graph.New(gc)
	if err != nil {
		c.missing("The Graph settings don't work: %v", err)
		return
	}
	authority := or(gc.AuthorityHost, graph.DefaultAuthorityHost)
	if err := g.ReachAuthority(ctx); err != nil {
		c.saw("sign-in service %s: %s", authority, graph.Cause(err))
		c.missing("Elevate cannot reach Microsoft Entra at %s for tenant %s: %s.%s", authority, gc.TenantID, graph.Cause(err), tlsHint(err))
		return
	}
	c.saw("reached the sign-in service %s for tenant %s", authority, gc.TenantID)
	if err := g.AppToken(ctx); err != nil {
		c.saw("app token: refused")
		c.missing("Elevate could not get a token as the app %s with %s: %s.%s", gc.ClientID, how, graph.Cause(err), credentialFix(err, gc))
		return
	}
	c.saw("app token: obtained for the app %s with %s", gc.ClientID, how)

	withGroups := slices.ContainsFunc(cfg.Roles, func(r *policy.Role) bool { return r.Group })
	consent, cerr := g.AppConsent(ctx)
	granted := consent.AppPermissions
	switch {
	case cerr == nil:
		c.saw("application permissions assigned: %s", listOr(granted, "none"))
	case errors.Is(cerr, graph.ErrNoServicePrincipal):
		c.missing("The app %s has no enterprise application (service principal) in tenant %s: grant admin consent on %s → API permissions → Grant admin consent (or run `az ad sp create --id %s`).",
			gc.ClientID, gc.TenantID, appPage(gc.ClientID), gc.ClientID)
		return
	default:
		// Without Directory.Read.All the directory's records can't be read; the token's roles
		// claim says the same about application permissions, nothing about delegated ones.
		c.saw("could not read the app's consent records: %s", graph.Cause(cerr))
		if granted, err = g.GrantedPermissions(ctx); err != nil {
			c.missing("Elevate could not read its own permissions: %s", graph.Cause(err))
			return
		}
		c.saw("application permissions in the app's token: %s", listOr(granted, "none"))
	}
	missing, optional, excess := graph.Grants(granted)
	addRole := func(name string) string {
		id := consent.RoleIDs[name]
		if id == "" {
			return ""
		}
		return fmt.Sprintf(" Or run `az ad app permission add --id %s --api %s --api-permissions %s=Role` and then `az ad app permission admin-consent --id %s`.",
			gc.ClientID, graph.GraphAppID, id, gc.ClientID)
	}
	for _, p := range missing {
		c.missing("Grant the application permission %s so Elevate can %s: %s → API permissions → Add a permission → Microsoft Graph → Application permissions → %s, then Grant admin consent.%s",
			p.Name, p.For, appPage(gc.ClientID), p.Name, addRole(p.Name))
	}
	for _, p := range optional {
		if p.Name == "PrivilegedAccess.Read.AzureADGroup" && withGroups {
			c.missing("Grant the application permission %s: the config lists PIM for Groups groups, and Elevate needs it to %s: %s → API permissions → Add a permission → Microsoft Graph → Application permissions → %s, then Grant admin consent.%s",
				p.Name, p.For, appPage(gc.ClientID), p.Name, addRole(p.Name))
			continue
		}
		c.saw("optional, not granted: %s (to %s)", p.Name, p.For)
	}
	for _, e := range excess {
		c.missing("Remove the application permission %s (%s → API permissions → … → Remove permission, then revoke its admin consent): with it the app itself could grant roles. Elevate needs read-only permissions; activations use each user's own sign-in.",
			e, appPage(gc.ClientID))
	}
	if cerr == nil {
		checkDelegated(c, consent, gc, withGroups)
	} else {
		c.missing("Elevate could not read the tenant-wide consent to its delegated permissions (%s): grant Directory.Read.All as above, then run check again.", graph.Cause(cerr))
	}

	if gc.RedirectURL != "" {
		switch uris, err := g.RedirectURIs(ctx); {
		case err == nil && slices.Contains(uris, gc.RedirectURL):
			c.saw("redirect URI %s: registered on the app (Web platform)", gc.RedirectURL)
		case err == nil:
			c.saw("redirect URIs registered on the app (Web platform): %s", listOr(uris, "none"))
			c.missing("Register the sign-in redirect %s on the app, exactly (without it every sign-in ends with AADSTS50011): %s → Authentication → Add a platform → Web (or, under Web, Add URI) → %s, then Save.",
				gc.RedirectURL, appPage(gc.ClientID), gc.RedirectURL)
		case errors.Is(err, graph.ErrNoApplication):
			c.saw("redirect URIs: not checked (the app is registered in another tenant)")
		default:
			c.saw("redirect URIs: could not be read (%s)", graph.Cause(err))
		}
	}

	switch lic, err := g.PIMLicence(ctx); {
	case err == nil:
		c.saw("licence for PIM: %s (service plan %s in the subscription %s)", lic.Product, lic.Plan, lic.SKU)
	case errors.Is(err, graph.ErrNoPIMLicence):
		c.missing("The tenant has no Microsoft Entra ID P2 or Microsoft Entra ID Governance licence, which PIM needs (no subscription with the service plan AAD_PREMIUM_P2 or Entra_Identity_Governance): without it every activation fails. Buy one or start a trial in the Microsoft 365 admin center → Billing → Purchase services, then check Entra admin center → Identity → Billing → Licenses → All products.")
	default:
		c.missing("Elevate could not read the tenant's subscriptions to check the PIM licence (%s): grant Directory.Read.All as above.", graph.Cause(err))
	}

	for _, p := range g.Probes(ctx, withGroups) {
		switch {
		case p.Err == nil:
			c.saw("reached %-30s %s (%s)", p.Name, p.Path, p.Elapsed.Round(time.Millisecond))
		case errors.Is(p.Err, graph.ErrForbidden), errors.Is(p.Err, graph.ErrUnauthorized):
			c.saw("refused %-30s %s", p.Name, p.Path)
			c.missing("Graph refused to show %s: check the permissions above (and for the sign-in log, an Entra ID P1/P2 licence).", p.Name)
		default:
			c.saw("failed  %-30s %s: %s", p.Name, p.Path, graph.Cause(p.Err))
			c.missing("Graph did not answer for %s (%s): check the network path to %s.", p.Name, graph.Cause(p.Err), or(gc.GraphURL, graph.DefaultGraphURL))
		}
	}
	if gc.ClientSecret == "" {
		c.missing("Set AZURE_CLIENT_SECRET: users' own sign-ins (needed for every activation) use the app's client secret.")
	}
	if gc.RedirectURL == "" {
		c.missing("Set tenant.redirect_url (or ELEVATE_PUBLIC_URL): users' browsers return there after signing in.")
	}
}

// checkDelegated proves the admin consent for every delegated permission sign-in may ask for.
func checkDelegated(c *checker, consent graph.Consent, gc graph.Config, withGroups bool) {
	c.saw("delegated permissions consented for all users: %s", listOr(consent.Delegated, "none"))
	var lack []graph.Scope
	for _, s := range graph.DelegatedScopes {
		switch {
		case slices.Contains(consent.Delegated, s.Name):
		case s.Name == graph.ScopeGroups && !withGroups:
			c.saw("not consented, not needed without PIM for Groups groups in the config: %s", s.Name)
		default:
			lack = append(lack, s)
		}
	}
	for _, s := range lack {
		add := ""
		if id := consent.ScopeIDs[s.Name]; id != "" {
			add = fmt.Sprintf(" Or run `az ad app permission add --id %s --api %s --api-permissions %s=Scope` and then `az ad app permission admin-consent --id %s`.",
				gc.ClientID, graph.GraphAppID, id, gc.ClientID)
		}
		c.missing("Grant admin consent for the delegated permission %s so Elevate can %s (without it their sign-in ends with AADSTS65001): %s → API permissions → Add a permission → Microsoft Graph → Delegated permissions → %s, then Grant admin consent.%s",
			s.Name, s.For, appPage(gc.ClientID), s.Name, add)
	}
}

// tlsHint adds what to do about a certificate that is not trusted.
func tlsHint(err error) string {
	if strings.HasPrefix(graph.Cause(err), "x509:") || strings.HasPrefix(graph.Cause(err), "tls:") {
		return " The certificate chain is not trusted here: if a TLS-inspecting proxy sits in between, add its root CA to this machine's trust store (or point SSL_CERT_FILE at it)."
	}
	return ""
}

// credentialFix says how to fix a refused app credential.
func credentialFix(err error, gc graph.Config) string {
	aadsts := ""
	if ee := graph.AsEntraError(err); ee != nil {
		aadsts = ee.AADSTS
	}
	switch aadsts {
	case "7000215", "7000222":
		return " Make a new secret: " + appPage(gc.ClientID) + " → Certificates & secrets → New client secret, and set AZURE_CLIENT_SECRET to its Value."
	case "700016", "90002", "900023":
		return " Check tenant.tenant_id and tenant.client_id (or AZURE_TENANT_ID and AZURE_CLIENT_ID) against the app registration's Overview page."
	}
	if gc.ClientSecret == "" {
		return " Without AZURE_CLIENT_SECRET Elevate uses a managed or workload identity: assign one to this host, or set AZURE_CLIENT_SECRET."
	}
	return tlsHint(err)
}

// configuredChannels are the channels the config names, each once.
func configuredChannels(cfg *policy.Config) []string {
	var out []string
	add := func(ch string) {
		if ch != "" && !slices.Contains(out, ch) {
			out = append(out, ch)
		}
	}
	add(cfg.Channels.Approvals)
	add(cfg.Channels.Security)
	add(cfg.Channels.Digest)
	add(cfg.Schedules.AdminsChannel)
	for _, r := range cfg.Roles {
		add(r.ApprovalChannel)
	}
	return out
}

func checkSlack(ctx context.Context, c *checker, cfg *policy.Config, env checkEnv) {
	token := env.Getenv("SLACK_BOT_TOKEN")
	if token == "" {
		c.saw("not configured (SLACK_BOT_TOKEN is not set)")
		return
	}
	if env.Getenv("SLACK_SIGNING_SECRET") == "" && env.Getenv("SLACK_APP_TOKEN") == "" {
		c.missing("Slack needs SLACK_SIGNING_SECRET (HTTP requests) or SLACK_APP_TOKEN (Socket Mode) besides SLACK_BOT_TOKEN.")
	}
	apiURL := env.Getenv("SLACK_API_URL")
	if apiURL != "" && !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	res, err := slack.Check(ctx, slack.CheckOptions{BotToken: token, AppToken: env.Getenv("SLACK_APP_TOKEN"), APIURL: apiURL,
		HTTPClient: env.HTTP, Channels: configuredChannels(cfg)})
	if err != nil {
		var se slackapi.SlackErrorResponse
		if errors.As(err, &se) && (se.Err == "invalid_auth" || se.Err == "not_authed" || se.Err == "account_inactive" || se.Err == "token_revoked") {
			c.saw("auth.test: %s", se.Err)
			c.missing("Slack refused SLACK_BOT_TOKEN (%s): copy the Bot User OAuth Token (xoxb-…) from api.slack.com/apps → your app → OAuth & Permissions (install the app to the workspace first).", se.Err)
			return
		}
		c.saw("auth.test: %s", graph.Cause(err))
		c.missing("Slack did not answer auth.test: %s.%s", graph.Cause(err), tlsHint(err))
		return
	}
	c.saw("auth.test: the bot @%s in the workspace %s (%s)", res.BotUser, res.Team, res.TeamID)
	c.saw("scopes granted: %s", listOr(res.Scopes, "none"))
	if env.Getenv("SLACK_APP_TOKEN") != "" {
		if res.AppTokenErr != nil {
			c.saw("Socket Mode (apps.connections.open): %s", graph.Cause(res.AppTokenErr))
			c.missing("Slack refused SLACK_APP_TOKEN for Socket Mode (%s): generate an app-level token with the connections:write scope at api.slack.com/apps → your app → Basic Information → App-Level Tokens, and turn Socket Mode on.", graph.Cause(res.AppTokenErr))
		} else {
			c.saw("Socket Mode (apps.connections.open): the app-level token works")
		}
	}
	if len(res.Missing) > 0 {
		c.missing("The Slack app lacks the bot scope%s %s that Elevate's manifest asks for: add %s under api.slack.com/apps → your app → OAuth & Permissions → Scopes (or paste the output of `elevate manifest slack` into App Manifest), then Reinstall to Workspace and update SLACK_BOT_TOKEN if it changed.",
			plural(len(res.Missing)), strings.Join(res.Missing, ", "), map[bool]string{true: "it", false: "them"}[len(res.Missing) == 1])
		if slices.ContainsFunc(res.Missing, func(s string) bool { return strings.HasSuffix(s, ":history") }) {
			c.saw("without channels:history, groups:history and im:history Elevate cannot look for a post whose answer Slack lost, and posts it again: people may see it twice")
		}
	}
	for _, ch := range res.Channels {
		var se slackapi.SlackErrorResponse
		switch {
		case errors.Is(ch.Err, slack.ErrNotChecked):
			c.saw("channel %s: not checked (no channels:read and groups:read scopes)", ch.Name)
		case ch.Err != nil && (errors.As(ch.Err, &se) && se.Err == "channel_not_found" || ch.Err.Error() == "channel_not_found"):
			c.saw("channel %s: not found", ch.Name)
			c.missing("Slack has no channel %s that the bot can see: create it (or fix the config's channel name); for a private channel, invite the bot first with /invite @%s in it.", ch.Name, res.BotUser)
		case ch.Err != nil && ch.Err.Error() == "is_archived":
			c.saw("channel %s: archived", ch.Name)
			c.missing("The Slack channel %s is archived: unarchive it or name another channel in the config.", ch.Name)
		case ch.Err != nil:
			c.saw("channel %s: %s", ch.Name, graph.Cause(ch.Err))
			c.missing("Slack could not look up the channel %s: %s.", ch.Name, graph.Cause(ch.Err))
		case !ch.Member:
			c.saw("channel %s: %s, the bot is not in it", ch.Name, ch.ID)
			c.missing("Invite Elevate to the Slack channel %s: type /invite @%s in it (it cannot post there otherwise).", ch.Name, res.BotUser)
		default:
			c.saw("channel %s: %s, the bot is in it", ch.Name, ch.ID)
		}
	}
}

func checkTeams(ctx context.Context, c *checker, cfg *policy.Config, env checkEnv) {
	appID := env.Getenv("MICROSOFT_APP_ID")
	if appID == "" {
		c.saw("not configured (MICROSOFT_APP_ID is not set)")
		return
	}
	tenant := or(env.Getenv("MICROSOFT_APP_TENANT_ID"), cfg.Tenant.TenantID)
	if tenant == "" {
		c.missing("Teams needs MICROSOFT_APP_TENANT_ID (the bot's tenant) with MICROSOFT_APP_ID.")
	} else {
		checkBotToken(ctx, c, env, appID, tenant)
	}
	mapped, err := teams.ParseChannels(env.Getenv("TEAMS_CHANNELS"))
	if err != nil {
		c.missing("TEAMS_CHANNELS does not parse: %v", err)
		return
	}
	for _, ch := range configuredChannels(cfg) {
		if id, ok := teamsMapped(mapped, ch); ok {
			c.saw("channel %s: mapped to %s (TEAMS_CHANNELS)", ch, id)
			continue
		}
		// Not a failure: Elevate also learns channels from Teams itself (kept in its store,
		// which check does not open).
		c.saw("channel %s: not in TEAMS_CHANNELS; Elevate knows it only if it learned it from Teams (the app added to the team, or the channel created or renamed since). To be sure, set TEAMS_CHANNELS=%s=19:…@thread.tacv2 (Teams → the channel → … → Get link to channel: the id follows /channel/).", ch, ch)
	}
}

// checkBotToken gets a Bot Connector token through the configured credential and says which
// kind it is; a refusal is named with its fix for that kind.
func checkBotToken(ctx context.Context, c *checker, env checkEnv, appID, tenant string) {
	cred, err := botCredential(env.Getenv, appID, tenant, env.HTTP)
	if err != nil {
		c.missing("The Teams bot's credential is not usable: %v.", err)
		return
	}
	c.saw("bot credential: %s", cred.Describe())
	_, err = cred.GetToken(ctx, azpolicy.TokenRequestOptions{Scopes: []string{teams.BotFrameworkScope}})
	if err == nil {
		c.saw("Bot Framework token: obtained for the bot %s in tenant %s with its %s", appID, tenant, cred.Kind)
		return
	}
	var te *teams.TokenError
	var af *azidentity.AuthenticationFailedError
	if !errors.As(err, &te) && !errors.As(err, &af) {
		c.saw("Bot Framework token: %s", teams.TokenCause(err))
		c.missing("Elevate could not reach where the bot's %s gets its token (%s): %s.%s", cred.Kind, cred.Authority, teams.TokenCause(err), tlsHint(err))
		return
	}
	ee := graph.AsEntraError(err)
	if te != nil {
		ee = graph.ParseEntraError(te.Code, te.Description)
	}
	cause, aadsts := teams.TokenCause(err), ""
	if ee != nil {
		cause, aadsts = graph.Cause(ee), ee.AADSTS
		c.saw("Bot Framework token: refused (%s)", ee.Error())
	} else {
		c.saw("Bot Framework token: refused (%s)", cause)
	}
	fix := ""
	switch {
	case aadsts == "700016" || aadsts == "90002" || aadsts == "900023":
		fix = " Check MICROSOFT_APP_ID, MICROSOFT_APP_TENANT_ID and MICROSOFT_APP_TYPE against the Azure Bot's Configuration page (Microsoft App ID, App Tenant ID, Type)."
	case cred.Kind == teams.KindSecret && (aadsts == "7000215" || aadsts == "7000222"):
		fix = " Make a new one: Azure portal → your Azure Bot → Configuration → Microsoft App ID (Manage Password) → Certificates & secrets → New client secret, and set MICROSOFT_APP_PASSWORD to its Value."
	case cred.Kind == teams.KindCertificate:
		fix = " Upload the certificate's public part to the bot's app registration: " + appPage(appID) + " → Certificates & secrets → Certificates → Upload certificate (or `az ad app credential reset --id " + appID + " --cert @bot.pem --append`)."
	case cred.Kind == teams.KindWorkloadIdentity:
		fix = " Add a federated credential for this pod's service account on the identity " + appID + ": Azure portal → Managed Identities (or the app registration → Certificates & secrets) → Federated credentials → Kubernetes, with the cluster's OIDC issuer and subject system:serviceaccount:<namespace>:<service account> (`az identity federated-credential create`)."
	case cred.Kind == teams.KindManagedIdentity:
		fix = " Assign the user-assigned managed identity whose client id is " + appID + " to this app (Container App → Identity → User assigned → Add); it must be the Azure Bot's Microsoft App ID."
	}
	what := map[string]string{teams.KindSecret: "the bot's secret (MICROSOFT_APP_PASSWORD)", teams.KindCertificate: "the bot's certificate (MICROSOFT_APP_CERTIFICATE_PATH)",
		teams.KindWorkloadIdentity: "the bot's workload identity", teams.KindManagedIdentity: "the bot's managed identity"}[cred.Kind]
	c.missing("The Bot Framework refused %s: %s: nothing can be posted to Teams.%s", what, cause, fix)
}

// teamsMapped finds a configured channel in TEAMS_CHANNELS, whose names may be written with or
// without '#'.
func teamsMapped(m map[string]string, ch string) (string, bool) {
	bare := strings.TrimPrefix(ch, "#")
	for k, v := range m {
		if strings.EqualFold(strings.TrimPrefix(k, "#"), bare) {
			return v, true
		}
	}
	return "", false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func listOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

// checkOnCall proves the PagerDuty and Opsgenie keys and each schedule, escalation policy and
// service that roles' on-call waivers name; it says nothing when no role has one.
func checkOnCall(ctx context.Context, c *checker, cfg *policy.Config, env checkEnv) {
	var roles []*policy.Role
	for _, r := range cfg.Roles {
		if r.Approval.OnCall != nil {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return
	}
	fmt.Fprintln(c.out, "\nOn call")
	oc := oncall.New(oncall.Config{PagerDutyToken: env.Getenv("PAGERDUTY_TOKEN"), PagerDutyURL: env.Getenv("PAGERDUTY_API_URL"),
		OpsgenieKey: env.Getenv("OPSGENIE_API_KEY"), OpsgenieURL: env.Getenv("OPSGENIE_API_URL"), HTTPClient: env.HTTP})
	for _, r := range roles {
		rule := r.Approval.OnCall
		got, err := oc.Check(ctx, oncall.Rule{Provider: rule.Provider, Schedule: rule.Schedule, EscalationPolicy: rule.EscalationPolicy, IncidentService: rule.IncidentService})
		var oe *oncall.Error
		switch {
		case err == nil:
			c.saw("%s: %s", r.Name, got)
		case errors.Is(err, oncall.ErrNotConfigured):
			env := map[string]string{"pagerduty": "PAGERDUTY_TOKEN (a read-only REST API key: PagerDuty → Integrations → API Access Keys)",
				"opsgenie": "OPSGENIE_API_KEY (an API integration's key: Opsgenie → Settings → Integrations → API)"}[rule.Provider]
			c.saw("%s: %s is not configured", r.Name, rule.Provider)
			c.missing("%s's on-call waiver needs %s; until it is set, its approvers decide.", r.Name, env)
		case errors.As(err, &oe) && (oe.Status == http.StatusUnauthorized || oe.Status == http.StatusForbidden):
			c.saw("%s: %s refused the key (%d)", r.Name, oe.Provider, oe.Status)
			c.missing("%s refused Elevate's key (%d): create a new read-only key and set it in the environment.", oe.Provider, oe.Status)
		case errors.As(err, &oe) && oe.Status == http.StatusNotFound:
			c.saw("%s: not found: %s", r.Name, graph.Cause(err))
			c.missing("%s does not know the schedule, escalation policy or service that %s's on_call names (%s): fix the id in the config.", oe.Provider, r.Name, graph.Cause(err))
		default:
			c.saw("%s: %s", r.Name, graph.Cause(err))
			c.missing("%s's on-call service could not be checked: %s.%s", r.Name, graph.Cause(err), tlsHint(err))
		}
	}
}

// checkDatabase says which store serve would use (ELEVATE_DATABASE_URL) and, for PostgreSQL, how
// it authenticates (ELEVATE_DATABASE_AUTH): with Entra it gets a token for the database and logs
// in with it. A bbolt file is not opened: a running serve holds its lock.
func checkDatabase(ctx context.Context, c *checker, env checkEnv) {
	db := or(env.Getenv("ELEVATE_DATABASE_URL"), "elevate.db")
	auth, err := newDBAuth(env.Getenv("ELEVATE_DATABASE_AUTH"), db, env.Getenv)
	if err != nil {
		c.missing("ELEVATE_DATABASE_AUTH: %v.", err)
		return
	}
	if !isPostgresURL(db) {
		c.saw("store: the bbolt file %s (not opened here: a running serve holds its lock)", db)
		return
	}
	c.saw("store: PostgreSQL %s", dbName(db))
	c.saw("database authentication: %s", auth.describe())
	if w := store.PostgresTLSWarning(db, env.Getenv); w != "" {
		c.saw("warning: %s", w)
	}
	if auth.cred != nil {
		if _, err := pgconn.Token(ctx, auth.cred); err != nil {
			fix := " Assign the managed identity to this app (Container App → Identity → User assigned) and set ELEVATE_DATABASE_CLIENT_ID to its client id."
			if auth.cred.Kind == pgconn.KindWorkloadIdentity {
				fix = " Add a federated credential for this pod's service account on the identity " + auth.cred.ClientID + " (`az identity federated-credential create`)."
			}
			c.saw("database token: none (%v)", err)
			c.missing("Elevate could not get a database token with the %s: %v.%s", auth.cred.Describe(), err, fix)
			return
		}
		c.saw("database token: obtained for %s with the %s", pgconn.Scope, auth.cred.Describe())
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(cctx, db, auth.credential(), nil)
	if err != nil {
		err = store.ScrubPassword(err, db)
		fix := ""
		if auth.cred != nil {
			fix = " The identity needs its own role on the server, created by the Entra administrator with pgaadauth_create_principal (docs/deploy.md, the database role), and the URL's user must be that role's name."
		}
		c.missing("Elevate could not log in to PostgreSQL %s: %v.%s", dbName(db), err, fix)
		return
	}
	defer conn.Close(context.Background())
	var user string
	if err := conn.QueryRow(cctx, "SELECT current_user").Scan(&user); err != nil {
		c.missing("PostgreSQL %s: %v.", dbName(db), store.ScrubPassword(err, db))
		return
	}
	c.saw("database: logged in as %s", user)
}
