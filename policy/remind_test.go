package policy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReminders(t *testing.T) {
	c := mustParse(t, `
channels:
  approvals: "#pim-approvals"
  security: "#security"
roles:
  - name: Global Administrator
    approval:
      approvers: [bob@contoso.example]
  - name: Exchange Administrator
    approval:
      approvers: [bob@contoso.example]
      remind: [10m, 30m, 10m]
      escalate:
        before: 3m
        to: ["#it-leads", carol@contoso.example]
  - name: SharePoint Administrator
    approval:
      approvers: [bob@contoso.example]
      remind: none
  - name: Teams Administrator
`)
	tests := []struct {
		role string
		want ReminderPlan
	}{
		// Tier 0 by default: reminded at the default point, escalated to the security channel.
		{"Global Administrator", ReminderPlan{Remind: []time.Duration{15 * time.Minute}, Escalate: 5 * time.Minute, EscalateTo: []string{"#security"}}},
		{"Exchange Administrator", ReminderPlan{Remind: []time.Duration{30 * time.Minute, 10 * time.Minute}, Escalate: 3 * time.Minute, EscalateTo: []string{"#it-leads", "carol@contoso.example"}}},
		{"SharePoint Administrator", ReminderPlan{Remind: []time.Duration{}}},
		// No approval, no plan.
		{"Teams Administrator", ReminderPlan{}},
	}
	for _, tt := range tests {
		role, err := c.Role(tt.role)
		if err != nil {
			t.Fatal(err)
		}
		got := c.Reminders(role)
		if !slices.Equal(got.Remind, tt.want.Remind) || got.Escalate != tt.want.Escalate || !slices.Equal(got.EscalateTo, tt.want.EscalateTo) {
			t.Errorf("Reminders(%s) = %+v, want %+v", tt.role, got, tt.want)
		}
	}
}

func TestRemindersConfigErrors(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"remind: [soon]", `.remind[0]: "soon" is not a duration`},
		{"remind: [25h]", "out of range"},
		{"escalate: {before: 0m}", `escalate.before: "0m" is not a duration`},
		{"escalate: {before: 30h}", "escalate.before: 30h is out of range"},
		{"escalate: {to: [it leads]}", `"it leads" should be a channel`},
		{"escalate: {after: 5m}", "after"},
	} {
		_, err := Parse("test.yaml", []byte(`
channels: {approvals: "#pim-approvals"}
roles:
  - name: Exchange Administrator
    approval:
      approvers: [bob@contoso.example]
      `+tt.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.yaml, err, tt.want)
		}
	}
}

func TestParseDecision(t *testing.T) {
	c := example(t)
	for _, tt := range []struct {
		in     string
		kind   Kind
		id     uint64
		reason string
	}{
		{"approve 3", KindApprove, 3, ""},
		{"/elevate approve #12", KindApprove, 12, ""},
		{"deny 3 not during the freeze", KindDeny, 3, "not during the freeze"},
		{"DENY #4 use the break-glass runbook", KindDeny, 4, "use the break-glass runbook"},
	} {
		got, err := c.ParseCommand(tt.in)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tt.in, err)
			continue
		}
		if got.Kind != tt.kind || got.RequestID != tt.id || got.Reason != tt.reason {
			t.Errorf("ParseCommand(%q) = %+v, want %v #%d %q", tt.in, got, tt.kind, tt.id, tt.reason)
		}
	}
}

func TestOnCallConfig(t *testing.T) {
	c := mustParse(t, `
channels: {approvals: "#pim-approvals"}
roles:
  - name: Exchange Administrator
    approval:
      approvers: [bob@contoso.example]
      on_call:
        pagerduty: {schedule: P123ABC, incident_service: PSVC1}
  - name: Global Administrator
    approval:
      approvers: [bob@contoso.example]
      on_call:
        opsgenie: {schedule: ops-team}
        tier0: true
`)
	ex, _ := c.Role("exchange")
	if oc := ex.Approval.OnCall; oc == nil || oc.Provider != "pagerduty" || oc.Schedule != "P123ABC" || oc.IncidentService != "PSVC1" || oc.Tier0 {
		t.Errorf("exchange on_call = %+v", ex.Approval.OnCall)
	}
	ga, _ := c.Role("ga")
	if oc := ga.Approval.OnCall; oc == nil || oc.Provider != "opsgenie" || oc.Schedule != "ops-team" || !oc.Tier0 {
		t.Errorf("ga on_call = %+v", ga.Approval.OnCall)
	}
	for _, tt := range []struct{ role, yaml, want string }{
		{"Global Administrator", "on_call: {pagerduty: {schedule: P1}}", "tier-0 role, and being on call never waives"},
		{"Exchange Administrator", "on_call: {pagerduty: {incident_service: S}}", "say whose on-call counts"},
		{"Exchange Administrator", "on_call: {pagerduty: {schedule: P1}, opsgenie: {schedule: x}}", "exactly one of pagerduty or opsgenie"},
		{"Exchange Administrator", "on_call: {opsgenie: {escalation_policy: x}}", "escalation_policy"},
	} {
		_, err := Parse("test.yaml", []byte(`
channels: {approvals: "#pim-approvals"}
roles:
  - name: `+tt.role+`
    approval:
      approvers: [bob@contoso.example]
      `+tt.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.yaml, err, tt.want)
		}
	}
}

func TestPilotConfig(t *testing.T) {
	c := mustParse(t, `
pilot:
  users: [alice@contoso.example]
  group: 5e6c0000-0000-4000-8000-0000000000a1
  meanwhile: "Use the Entra portal meanwhile."
`)
	if c.Pilot == nil || !c.Pilot.Listed("", "Alice@Contoso.example") || c.Pilot.Listed("", "bob@contoso.example") ||
		c.Pilot.Group != "5e6c0000-0000-4000-8000-0000000000a1" || c.Pilot.Meanwhile != "Use the Entra portal meanwhile." {
		t.Errorf("pilot = %+v", c.Pilot)
	}
	if c := mustParse(t, "version: 1\n"); c.Pilot != nil {
		t.Errorf("no pilot configured, got %+v", c.Pilot)
	}
	if _, err := Parse("test.yaml", []byte("pilot:\n  meanwhile: soon\n")); err == nil || !strings.Contains(err.Error(), "name who is in the pilot") {
		t.Errorf("empty pilot: %v", err)
	}
	cmd, err := mustParse(t, "version: 1\n").ParseCommand("feedback the form should remember my role")
	if err != nil || cmd.Kind != KindFeedback || cmd.Reason != "the form should remember my role" {
		t.Errorf("feedback command: %+v, %v", cmd, err)
	}
}
