package oncall_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/oncall"
	"github.com/elevate-pim/elevate/oncall/oncalltest"
)

func newClient(fake *oncalltest.Server, pdToken, ogKey string) *oncall.Client {
	return oncall.New(oncall.Config{PagerDutyToken: pdToken, PagerDutyURL: fake.PagerDutyURL(), OpsgenieKey: ogKey, OpsgenieURL: fake.OpsgenieURL()})
}

func TestOnCall(t *testing.T) {
	fake := oncalltest.New()
	defer fake.Close()
	fake.OnCall("P123ABC", "bob@contoso.example", "Alice@Contoso.example")
	fake.OnCall("PESC001", "alice@contoso.example")
	fake.OnCall("ops-team", "alice@contoso.example")
	fake.AddIncident(oncalltest.Incident{Number: 4521, Service: "PSVC1", Status: "acknowledged"})
	fake.AddIncident(oncalltest.Incident{Number: 4400, Service: "PSVC2", Status: "resolved"})
	fake.AddIncident(oncalltest.Incident{Number: 77, Service: "svc-exchange", Status: "open"})
	c := newClient(fake, oncalltest.PagerDutyToken, oncalltest.OpsgenieKey)
	alice := []string{"alice@contoso.example"}
	tests := []struct {
		name   string
		emails []string
		rule   oncall.Rule
		on     bool
		words  string
	}{
		{"pd schedule", alice, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC"}, true, "PagerDuty schedule P123ABC"},
		{"pd escalation policy", alice, oncall.Rule{Provider: "pagerduty", EscalationPolicy: "PESC001"}, true, "PagerDuty escalation policy PESC001"},
		{"pd not on call", []string{"carol@contoso.example"}, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC"}, false, ""},
		{"pd incident open", alice, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC", IncidentService: "PSVC1"}, true, "PagerDuty schedule P123ABC with incident #4521 open"},
		{"pd incident resolved", alice, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC", IncidentService: "PSVC2"}, false, ""},
		{"og schedule", alice, oncall.Rule{Provider: "opsgenie", Schedule: "ops-team"}, true, "Opsgenie schedule ops-team"},
		{"og incident", alice, oncall.Rule{Provider: "opsgenie", Schedule: "ops-team", IncidentService: "svc-exchange"}, true, "Opsgenie schedule ops-team with incident #77 open"},
		{"og no incident", alice, oncall.Rule{Provider: "opsgenie", Schedule: "ops-team", IncidentService: "svc-other"}, false, ""},
		// The mail address as PagerDuty has it may differ from the UPN: any of the person's addresses counts.
		{"second address", []string{"a.admin@contoso.example", "alice@contoso.example"}, oncall.Rule{Provider: "opsgenie", Schedule: "ops-team"}, true, "Opsgenie schedule ops-team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.OnCall(context.Background(), tt.emails, tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if got.OnCall != tt.on {
				t.Fatalf("OnCall = %+v, want on call %v", got, tt.on)
			}
			if tt.on && got.Words() != tt.words {
				t.Errorf("Words() = %q, want %q", got.Words(), tt.words)
			}
			if !tt.on && got.Reason == "" {
				t.Errorf("no reason for %+v", got)
			}
		})
	}
	var sawInclude bool
	for _, call := range fake.Calls() {
		sawInclude = sawInclude || strings.Contains(call, "include%5B%5D=users")
	}
	if !sawInclude {
		t.Errorf("PagerDuty on-calls were not asked with include[]=users (no emails without it): %v", fake.Calls())
	}
}

func TestOnCallErrors(t *testing.T) {
	fake := oncalltest.New()
	defer fake.Close()
	fake.OnCall("P123ABC", "alice@contoso.example")
	alice := []string{"alice@contoso.example"}
	ctx := context.Background()

	if _, err := newClient(fake, "", "").OnCall(ctx, alice, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC"}); !errors.Is(err, oncall.ErrNotConfigured) {
		t.Errorf("without a token: %v, want ErrNotConfigured", err)
	}
	var oe *oncall.Error
	_, err := newClient(fake, "wrong", "wrong").OnCall(ctx, alice, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC"})
	if !errors.As(err, &oe) || oe.Status != http.StatusUnauthorized || oe.Provider != "PagerDuty" {
		t.Errorf("wrong PagerDuty token: %v", err)
	}
	_, err = newClient(fake, "wrong", "wrong").OnCall(ctx, alice, oncall.Rule{Provider: "opsgenie", Schedule: "ops"})
	if !errors.As(err, &oe) || oe.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "Could not authenticate") {
		t.Errorf("wrong Opsgenie key: %v", err)
	}
	c := newClient(fake, oncalltest.PagerDutyToken, oncalltest.OpsgenieKey)
	_, err = c.OnCall(ctx, alice, oncall.Rule{Provider: "opsgenie", Schedule: "nope"})
	if !errors.As(err, &oe) || oe.Status != http.StatusNotFound || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown Opsgenie schedule: %v", err)
	}
	fake.Fail(1, http.StatusServiceUnavailable)
	_, err = c.OnCall(ctx, alice, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC"})
	if !errors.As(err, &oe) || oe.Status != http.StatusServiceUnavailable {
		t.Errorf("PagerDuty 503: %v", err)
	}
	fake.Close()
	_, err = c.OnCall(ctx, alice, oncall.Rule{Provider: "opsgenie", Schedule: "ops"})
	if !errors.As(err, &oe) || oe.Status != 0 || !strings.Contains(err.Error(), "could not be reached") {
		t.Errorf("Opsgenie down: %v", err)
	}
}

func TestCheck(t *testing.T) {
	fake := oncalltest.New()
	defer fake.Close()
	fake.OnCall("P123ABC")
	fake.OnCall("ops-team")
	fake.AddService("PSVC1", "Exchange Online")
	c := newClient(fake, oncalltest.PagerDutyToken, oncalltest.OpsgenieKey)
	ctx := context.Background()
	got, err := c.Check(ctx, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC", IncidentService: "PSVC1"})
	if err != nil || got != "PagerDuty schedule P123ABC (Schedule P123ABC), service PSVC1 (Exchange Online)" {
		t.Errorf("pagerduty check: %q, %v", got, err)
	}
	if got, err := c.Check(ctx, oncall.Rule{Provider: "opsgenie", Schedule: "ops-team"}); err != nil || got != "Opsgenie schedule ops-team" {
		t.Errorf("opsgenie check: %q, %v", got, err)
	}
	var oe *oncall.Error
	if _, err := c.Check(ctx, oncall.Rule{Provider: "pagerduty", Schedule: "PNOPE"}); !errors.As(err, &oe) || oe.Status != http.StatusNotFound {
		t.Errorf("unknown schedule: %v", err)
	}
	if _, err := c.Check(ctx, oncall.Rule{Provider: "opsgenie", Schedule: "ops-team", IncidentService: "nope"}); !errors.As(err, &oe) || oe.Status != http.StatusNotFound {
		t.Errorf("unknown Opsgenie service: %v", err)
	}
	if _, err := newClient(fake, "bad", "bad").Check(ctx, oncall.Rule{Provider: "pagerduty", Schedule: "P123ABC"}); !errors.As(err, &oe) || oe.Status != http.StatusUnauthorized {
		t.Errorf("bad key: %v", err)
	}
}
