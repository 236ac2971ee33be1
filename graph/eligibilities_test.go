package graph_test

import (
	"errors"
	"testing"

	"github.com/elevate-pim/elevate/graph"
)

const (
	exchangeRole = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	gaRole       = "62e90394-69f5-4237-9190-012177145e10"
)

func TestTenantEligibilitiesAndRemove(t *testing.T) {
	tenant, c := newTenant(t)
	els, err := c.TenantEligibilities(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var group, exo bool
	for _, e := range els {
		if e.PrincipalID == tier0 && e.RoleID == gaRole && e.PrincipalType == "group" && e.PrincipalName == "Tier0 Admins" {
			group = true
		}
		if e.PrincipalID == alice && e.RoleID == exchangeRole && e.PrincipalUPN == "alice@contoso.example" && e.RoleName == "Exchange Administrator" {
			exo = true
		}
	}
	if len(els) != 5 || !group || !exo {
		t.Fatalf("TenantEligibilities = %+v", els)
	}

	// Erin holds Global Administrator: her delegated token may remove an eligibility.
	raw, err := tenant.UserToken("erin@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	tok := graph.UserToken{AccessToken: raw, UserID: erin}
	if err := c.RemoveEligibility(t.Context(), tok, alice, exchangeRole, "quarterly review: removed"); err != nil {
		t.Fatalf("RemoveEligibility: %v", err)
	}
	els, _ = c.TenantEligibilities(t.Context())
	if len(els) != 4 {
		t.Errorf("after removal %d eligibilities, want 4", len(els))
	}
	err = c.RemoveEligibility(t.Context(), tok, alice, exchangeRole, "again")
	if err == nil {
		t.Error("removing a removed eligibility succeeded")
	}

	// Bob holds no privileged role: PIM refuses.
	raw, _ = tenant.UserToken("bob@contoso.example")
	err = c.RemoveEligibility(t.Context(), graph.UserToken{AccessToken: raw, UserID: "22222222-2222-4222-8222-222222222222"}, alice, gaRole, "x")
	if !errors.Is(err, graph.ErrForbidden) {
		t.Errorf("RemoveEligibility by a non-admin: %v, want ErrForbidden", err)
	}
}
