package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/policy"
)

func TestGroupsAdminsAndExtensionBudget(t *testing.T) {
	cfg, err := policy.Parse("t.yaml", []byte(`
channels: {approvals: "#pim"}
admins:
  users: [alice@contoso.example]
  group: 5e6c0000-0000-4000-8000-0000000000a1
groups:
  - name: Tier1 Admins
    group_id: 71E10000-0000-4000-8000-000000000001
    aliases: [tier1-admins, tier1]
    max_duration: 4h
    approval: {approvers: [bob@contoso.example]}
roles:
  - name: Exchange Administrator
    extension_budget: 2h
  - name: SharePoint Administrator
    extension_budget: none
`))
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := cfg.ParseCommand("tier1-admins 2h rotate the helpdesk queue")
	if err != nil {
		t.Fatal(err)
	}
	g := cmd.Role
	if !g.Group || g.Access != "member" || g.TemplateID != "71e10000-0000-4000-8000-000000000001" || g.MaxDuration != 4*time.Hour ||
		g.DefaultDuration != time.Hour || g.Approval.Required != 1 || g.ExtensionBudget != 4*time.Hour {
		t.Errorf("group: %+v", g)
	}
	if cmd.Duration != 2*time.Hour || cmd.Justification != "rotate the helpdesk queue" {
		t.Errorf("command: %+v", cmd)
	}
	if cfg.RoleByID("71e10000-0000-4000-8000-000000000001") != g {
		t.Error("RoleByID does not find the group")
	}
	if r, _ := cfg.Role("exchange"); r.ExtensionBudget != 2*time.Hour {
		t.Errorf("exchange budget %v", r.ExtensionBudget)
	}
	if r, _ := cfg.Role("sharepoint"); r.ExtensionBudget != 0 {
		t.Errorf("sharepoint budget %v", r.ExtensionBudget)
	}
	if r, _ := cfg.Role("teams"); r.ExtensionBudget != r.MaxDuration {
		t.Errorf("default budget %v, want max duration", r.ExtensionBudget)
	}
	if !cfg.IsPIMAdmin("", "ALICE@contoso.example") || cfg.IsPIMAdmin("", "bob@contoso.example") || cfg.Admins.Group == "" {
		t.Errorf("admins: %+v", cfg.Admins)
	}
}

func TestGroupsErrors(t *testing.T) {
	_, err := policy.Parse("t.yaml", []byte(`
groups:
  - name: Tier1 Admins
    group_id: not-a-guid
  - name: Tier2
    group_id: 71e10000-0000-4000-8000-000000000002
    max_duration: 10h
    aliases: [exchange]
  - group_id: 71e10000-0000-4000-8000-000000000003
admins:
  users: [nobody]
roles:
  - name: Teams Administrator
    extension_budget: 30h
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"t.yaml:4: groups[0].group_id", "PIM for Groups activations last at most 8h",
		`"exchange" would mean both`, "groups[2]: name is missing", "admins.users[0]", "extension_budget: 30h"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
