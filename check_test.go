package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/policy"
)

func checkTenantFor(t *testing.T, roles []string) (*graphtest.Tenant, graph.Config) {
	t.Helper()
	seed, err := graphtest.ParseSeed(examples.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	seed.Client.Roles = roles
	tn, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Close)
	return tn, graph.Config{GraphURL: tn.GraphURL(), AuthorityHost: tn.AuthorityURL(), TenantID: tn.TenantID(),
		ClientID: tn.ClientID(), ClientSecret: tn.ClientSecret(), RedirectURL: "https://elevate.test/auth/callback", HTTPClient: tn.HTTPClient()}
}

func TestCheckAllGood(t *testing.T) {
	cfg, err := policy.Parse("examples/elevate.yaml", examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, gc := checkTenantFor(t, nil) // graphtest's default: the read-only set
	env := map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
	var out bytes.Buffer
	if err := checkWith(context.Background(), cfg, gc, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	for _, want := range []string{"AuditLog.Read.All", "reached directory audit log", "optional, not granted: RoleEligibilitySchedule.Remove.Directory", "Everything Elevate needs is in place"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCheckSaysWhatIsMissing(t *testing.T) {
	cfg, err := policy.Parse("examples/elevate.yaml", examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, gc := checkTenantFor(t, []string{"RoleManagement.ReadWrite.Directory", "User.Read.All", "GroupMember.Read.All", "RoleManagementPolicy.Read.Directory"})
	var out bytes.Buffer
	err = checkWith(context.Background(), cfg, gc, func(string) string { return "" }, &out)
	if err == nil {
		t.Fatalf("check passed:\n%s", out.String())
	}
	for _, want := range []string{"Grant the application permission AuditLog.Read.All", "Remove the application permission RoleManagement.ReadWrite.Directory",
		"No chat platform is configured"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
