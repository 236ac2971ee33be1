package graph_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

func TestAppConsent(t *testing.T) {
	tenant, c := newTenant(t)
	got, err := c.AppConsent(context.Background())
	if err != nil {
		t.Fatalf("AppConsent: %v", err)
	}
	for _, p := range []string{"RoleManagement.Read.Directory", "AuditLog.Read.All", "Directory.Read.All"} {
		if !slices.Contains(got.AppPermissions, p) {
			t.Errorf("AppPermissions = %v, lacks %s", got.AppPermissions, p)
		}
	}
	for _, s := range graph.DelegatedScopes {
		if !slices.Contains(got.Delegated, s.Name) {
			t.Errorf("Delegated = %v, lacks %s", got.Delegated, s.Name)
		}
		// One name is both an application and a delegated permission, with different ids.
		if got.ScopeIDs[s.Name] == "" || got.ScopeIDs[s.Name] == got.RoleIDs[s.Name] {
			t.Errorf("%s: scope id %q, role id %q", s.Name, got.ScopeIDs[s.Name], got.RoleIDs[s.Name])
		}
	}
	// The calls are the documented ones: the service principals by appId, then the app's
	// assignments and grants.
	var paths []string
	for _, call := range tenant.Calls() {
		q, _ := url.QueryUnescape(call.Query)
		paths = append(paths, call.Path+"?"+q)
	}
	for _, want := range []string{"/v1.0/servicePrincipals?$filter=appId eq '" + tenant.ClientID() + "'",
		"/v1.0/servicePrincipals?$filter=appId eq '" + graph.GraphAppID + "'", "/appRoleAssignments?", "/oauth2PermissionGrants?"} {
		if !slices.ContainsFunc(paths, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("no call to %s among %v", want, paths)
		}
	}
}

func TestAppConsentNeedsDirectoryRead(t *testing.T) {
	seed, err := graphtest.ParseSeed([]byte(seedYAML))
	if err != nil {
		t.Fatal(err)
	}
	seed.Client.Roles = []string{"RoleManagement.Read.Directory", "User.Read.All"}
	tenant, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close()
	c, err := graph.New(graph.Config{GraphURL: tenant.GraphURL(), AuthorityHost: tenant.AuthorityURL(), TenantID: tenant.TenantID(),
		ClientID: tenant.ClientID(), ClientSecret: tenant.ClientSecret(), HTTPClient: tenant.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppConsent(context.Background()); !errors.Is(err, graph.ErrForbidden) {
		t.Errorf("AppConsent without Directory.Read.All: %v, want ErrForbidden", err)
	}
	if _, err := c.PIMLicence(context.Background()); !errors.Is(err, graph.ErrForbidden) {
		t.Errorf("PIMLicence without Directory.Read.All: %v, want ErrForbidden", err)
	}
}

func TestPIMLicence(t *testing.T) {
	tenant, c := newTenant(t)
	ctx := context.Background()
	tests := []struct {
		name string
		skus []graphtest.Sku
		want string // plan; "" for ErrNoPIMLicence
	}{
		{"P2", []graphtest.Sku{{PartNumber: "AAD_PREMIUM_P2", Plans: []string{"AAD_PREMIUM_P2"}}}, "AAD_PREMIUM_P2"},
		{"E5", []graphtest.Sku{{PartNumber: "SPE_E5", Plans: []string{"EXCHANGE_S_ENTERPRISE", "AAD_PREMIUM_P2"}}}, "AAD_PREMIUM_P2"},
		{"governance", []graphtest.Sku{{PartNumber: "Microsoft_Entra_ID_Governance", Plans: []string{"Entra_Identity_Governance"}}}, "Entra_Identity_Governance"},
		{"P1 only", []graphtest.Sku{{PartNumber: "AAD_PREMIUM", Plans: []string{"AAD_PREMIUM"}}}, ""},
		{"P2 suspended", []graphtest.Sku{{PartNumber: "AAD_PREMIUM_P2", Status: "Suspended", Plans: []string{"AAD_PREMIUM_P2"}}}, ""},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant.SetSubscribedSkus(tt.skus...)
			got, err := c.PIMLicence(ctx)
			switch {
			case tt.want == "" && !errors.Is(err, graph.ErrNoPIMLicence):
				t.Errorf("PIMLicence = %+v, %v; want ErrNoPIMLicence", got, err)
			case tt.want != "" && (err != nil || got.Plan != tt.want):
				t.Errorf("PIMLicence = %+v, %v; want plan %s", got, err, tt.want)
			}
		})
	}
}

func TestParseEntraError(t *testing.T) {
	e := graph.ParseEntraError("invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 'x'. Trace ID: 1 Correlation ID: 2 Timestamp: 2026-01-01 00:00:00Z")
	if e.AADSTS != "7000215" || e.Description != "Invalid client secret provided." {
		t.Errorf("ParseEntraError = %+v", e)
	}
	if got := graph.Cause(e); got != "AADSTS7000215: Invalid client secret provided. (the client secret is wrong: use the secret's Value (shown once when it is created), not its Secret ID)" {
		t.Errorf("Cause = %q", got)
	}
}

// Sign-in asks only for delegated permissions in graph.DelegatedScopes, the list `elevate check`
// proves the consent for: the two cannot drift apart.
func TestSignInScopesAreListed(t *testing.T) {
	_, c := newTenant(t)
	var asked []string
	for _, ask := range [][]string{nil, {graph.ScopeActivate}, {graph.ScopeGroups}, {graph.ScopeEligibility, graph.ScopeActivate}} {
		raw, err := c.SignInURL(context.Background(), "state", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "", "", ask)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		asked = append(asked, strings.Fields(u.Query().Get("scope"))...)
	}
	if len(asked) == 0 {
		t.Fatal("no scope asked")
	}
	for _, s := range asked {
		if s == "openid" || s == "profile" || s == "offline_access" {
			continue
		}
		name := s[strings.LastIndex(s, "/")+1:]
		if !slices.ContainsFunc(graph.DelegatedScopes, func(d graph.Scope) bool { return d.Name == name }) {
			t.Errorf("sign-in asks for %s, which graph.DelegatedScopes (and so elevate check) does not list", s)
		}
	}
}
