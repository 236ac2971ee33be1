package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
)

// checkGraph is the rest of `elevate check` once the config parsed: the Graph application
// permissions actually granted (the roles in the app's own token) against those Elevate needs,
// the endpoints reached, the chat tokens present, and what is missing, in plain words. It
// returns an error (exit status 1) when something required is missing.
//
// main.go's "check" case calls it after printing the config's OK line:
//
//	return checkGraph(ctx, cfg, os.Getenv, stdout)
func checkGraph(ctx context.Context, cfg *policy.Config, getenv func(string) string, out io.Writer) error {
	t := cfg.Tenant
	gc := graph.Config{GraphURL: t.GraphURL, AuthorityHost: t.AuthorityHost, RedirectURL: t.RedirectURL,
		TenantID: or(getenv("AZURE_TENANT_ID"), t.TenantID), ClientID: or(getenv("AZURE_CLIENT_ID"), t.ClientID),
		ClientSecret: getenv("AZURE_CLIENT_SECRET")}
	return checkWith(ctx, cfg, gc, getenv, out)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checkWith(ctx context.Context, cfg *policy.Config, gc graph.Config, getenv func(string) string, out io.Writer) error {
	var problems []string
	fmt.Fprintln(out, "\nMicrosoft Graph")
	if gc.TenantID == "" || gc.ClientID == "" {
		problems = append(problems, "Elevate doesn't know its tenant: set tenant.tenant_id and tenant.client_id in the config (or AZURE_TENANT_ID and AZURE_CLIENT_ID).")
	} else {
		problems = append(problems, checkTenant(ctx, cfg, gc, out)...)
	}
	fmt.Fprintln(out, "\nChat")
	problems = append(problems, checkChat(cfg, getenv, out)...)
	if len(problems) == 0 {
		fmt.Fprintln(out, "\nEverything Elevate needs is in place.")
		return nil
	}
	fmt.Fprintln(out, "\nWhat is missing:")
	for _, p := range problems {
		fmt.Fprintln(out, "  - "+p)
	}
	return fmt.Errorf("%d thing%s to fix", len(problems), map[bool]string{true: "", false: "s"}[len(problems) == 1])
}

func checkTenant(ctx context.Context, cfg *policy.Config, gc graph.Config, out io.Writer) []string {
	if gc.ClientSecret == "" {
		// Without a secret the app may still use a managed or workload identity (DefaultAzureCredential).
		fmt.Fprintln(out, "  AZURE_CLIENT_SECRET is not set: using the managed or workload identity from the environment.")
	}
	g, err := graph.New(gc)
	if err != nil {
		return []string{"The Graph settings don't work: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	granted, err := g.GrantedPermissions(ctx)
	if err != nil {
		return []string{"Elevate could not sign in as its app registration (" + gc.ClientID + "): check the client id, the secret or the managed identity, and the tenant. (" + err.Error() + ")"}
	}
	var problems []string
	fmt.Fprintf(out, "  signed in as the app %s; application permissions granted: %s\n", gc.ClientID, listOr(granted, "none"))
	missing, optional, excess := graph.Grants(granted)
	withGroups := false
	for _, r := range cfg.Roles {
		withGroups = withGroups || r.Group
	}
	for _, p := range missing {
		problems = append(problems, fmt.Sprintf("Grant the application permission %s (admin consent) so Elevate can %s.", p.Name, p.For))
	}
	for _, p := range optional {
		if p.Name == "PrivilegedAccess.Read.AzureADGroup" && withGroups {
			problems = append(problems, fmt.Sprintf("Grant %s: the config lists PIM for Groups groups, and Elevate needs it to %s.", p.Name, p.For))
			continue
		}
		fmt.Fprintf(out, "  optional, not granted: %s (to %s)\n", p.Name, p.For)
	}
	for _, e := range excess {
		problems = append(problems, fmt.Sprintf("Remove the application permission %s: with it the app itself could grant roles. Elevate needs read-only permissions; activations use each user's own sign-in.", e))
	}
	for _, p := range g.Probes(ctx, withGroups) {
		switch {
		case p.Err == nil:
			fmt.Fprintf(out, "  reached %-30s %s (%s)\n", p.Name, p.Path, p.Elapsed.Round(time.Millisecond))
		case errors.Is(p.Err, graph.ErrForbidden), errors.Is(p.Err, graph.ErrUnauthorized):
			fmt.Fprintf(out, "  refused %-30s %s\n", p.Name, p.Path)
			problems = append(problems, fmt.Sprintf("Graph refused to show %s: check the permissions above (and for the sign-in log, an Entra ID P1/P2 licence).", p.Name))
		default:
			fmt.Fprintf(out, "  failed  %-30s %s: %v\n", p.Name, p.Path, p.Err)
			problems = append(problems, fmt.Sprintf("Graph did not answer for %s (%s): check the network path to %s.", p.Name, p.Err, gc.GraphURL))
		}
	}
	if gc.ClientSecret == "" {
		problems = append(problems, "Set AZURE_CLIENT_SECRET: users' own sign-ins (needed for every activation) use the app's client secret.")
	}
	if gc.RedirectURL == "" {
		problems = append(problems, "Set tenant.redirect_url: users' browsers return there after signing in.")
	}
	return problems
}

func checkChat(cfg *policy.Config, getenv func(string) string, out io.Writer) []string {
	slack := getenv("SLACK_BOT_TOKEN") != ""
	teams := getenv("MICROSOFT_APP_ID") != ""
	var problems []string
	switch {
	case slack:
		fmt.Fprintln(out, "  Slack: SLACK_BOT_TOKEN is set")
		if getenv("SLACK_SIGNING_SECRET") == "" && getenv("SLACK_APP_TOKEN") == "" {
			problems = append(problems, "Slack needs SLACK_SIGNING_SECRET (HTTP requests) or SLACK_APP_TOKEN (Socket Mode) besides SLACK_BOT_TOKEN.")
		}
	}
	if teams {
		fmt.Fprintln(out, "  Teams: MICROSOFT_APP_ID is set")
		if getenv("MICROSOFT_APP_PASSWORD") == "" {
			problems = append(problems, "Teams needs MICROSOFT_APP_PASSWORD with MICROSOFT_APP_ID.")
		}
	}
	if !slack && !teams {
		problems = append(problems, "No chat platform is configured: set SLACK_BOT_TOKEN (with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN) for Slack, or MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD for Teams.")
	}
	if cfg.Channels.Approvals == "" || cfg.Channels.Security == "" {
		problems = append(problems, "Set channels.approvals and channels.security: approval cards and security alerts have nowhere to go.")
	}
	return problems
}

func listOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}
