package graph_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

// A sign-in gets a token for exactly the permissions it asked for, and Graph refuses (403, as PIM
// does) a call the token has no permission for: asking for too little fails a test.
func TestSignInScopesAreWhatWasAsked(t *testing.T) {
	tenant, c := newGroupTenant(t)
	ctx := t.Context()
	tok := signInFor(t, tenant, c, "alice@contoso.example", "", []string{graph.ScopeActivate})
	if diff := cmp.Diff([]string{graph.ScopeActivate}, tok.Scopes); diff != "" {
		t.Errorf("token scopes (-want +got):\n%s", diff)
	}
	if !tok.Has(graph.ScopeActivate) || tok.Has(graph.ScopeGroups) {
		t.Errorf("Has: %v", tok.Scopes)
	}
	_, err := c.ActivateGroup(ctx, tok, graph.GroupActivationRequest{UserID: alice, GroupID: tier1, Duration: time.Hour, Justification: "rotate"})
	if !errors.Is(err, graph.ErrForbidden) {
		t.Fatalf("a group activation with a roles-only token: %v, want ErrForbidden", err)
	}
	if _, err := c.Activate(ctx, tok, graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator, Duration: time.Hour, Justification: "mail flow"}); err != nil {
		t.Fatalf("a role activation with a roles token: %v", err)
	}
	groups := signInFor(t, tenant, c, "alice@contoso.example", "", []string{graph.ScopeGroups})
	if _, err := c.ActivateGroup(ctx, groups, graph.GroupActivationRequest{UserID: alice, GroupID: tier1, Duration: time.Hour, Justification: "rotate"}); err != nil {
		t.Fatalf("a group activation with the groups scope: %v", err)
	}
	if _, err := c.ConvertToEligible(ctx, tok, erin, graphtest.RoleGlobalAdministrator, "convert"); !errors.Is(err, graph.ErrForbidden) {
		t.Fatalf("a conversion without the eligibility scope: %v, want ErrForbidden", err)
	}
}

// A permission the tenant has not consented ends the sign-in with AADSTS65001, as Entra does.
func TestSignInWithoutConsent(t *testing.T) {
	seed, err := graphtest.ParseSeed([]byte(seedYAML))
	if err != nil {
		t.Fatal(err)
	}
	seed.Client.Scopes = []string{graph.ScopeActivate} // consented as the docs say for plain users
	tenant, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tenant.Close)
	c, err := graph.New(graph.Config{GraphURL: tenant.GraphURL(), AuthorityHost: tenant.AuthorityURL(),
		TenantID: tenant.TenantID(), ClientID: tenant.ClientID(), ClientSecret: tenant.ClientSecret(),
		RedirectURL: redirect, HTTPClient: tenant.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if tok := signInFor(t, tenant, c, "alice@contoso.example", "", nil); !slices.Equal(tok.Scopes, []string{graph.ScopeActivate}) {
		t.Errorf("first sign-in's scopes: %v", tok.Scopes)
	}
	sum := sha256.Sum256([]byte(rand.Text()))
	u, err := c.SignInURL(t.Context(), "st", base64.RawURLEncoding.EncodeToString(sum[:]), "", "", []string{graph.ScopeActivate, graph.ScopeEligibility})
	if err != nil {
		t.Fatal(err)
	}
	back, err := tenant.Browse(t.Context(), u, "alice@contoso.example")
	if err == nil || back.Query().Get("error") != "consent_required" ||
		!strings.Contains(back.Query().Get("error_description"), "AADSTS65001") ||
		!strings.Contains(back.Query().Get("error_description"), graph.ScopeEligibility) {
		t.Fatalf("sign-in asking an unconsented permission: %v %v", back, err)
	}
}
