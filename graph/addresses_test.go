package graph_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

func TestTenantAddresses(t *testing.T) {
	seed, err := graphtest.ParseSeed(examples.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Close)
	c, err := graph.New(graph.Config{GraphURL: tn.GraphURL(), AuthorityHost: tn.AuthorityURL(), TenantID: tn.TenantID(),
		ClientID: tn.ClientID(), ClientSecret: tn.ClientSecret(), RedirectURL: "https://elevate.example/auth/callback", HTTPClient: tn.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, upn string
		want      []string
	}{
		{"bob", "bob@contoso.example", []string{"bob@contoso.example", "robert@contoso.example"}},               // UPN = mail; an SMTP alias
		{"frank", "frank.ext@contoso.example", []string{"frank.ext@contoso.example", "frank@fabrikam.example"}}, // mail differs from the UPN
		{"break-glass", "breakglass1@contoso.example", []string{"breakglass1@contoso.example"}},                 // no mail
	} {
		u, err := c.User(t.Context(), tc.upn)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Addresses(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s's addresses (-want +got):\n%s", tc.user, diff)
		}
	}
}
