package bot_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/oncall"
	"github.com/elevate-pim/elevate/oncall/oncalltest"
	"github.com/elevate-pim/elevate/store"
)

const onCallConfig = `
channels:
  approvals: "#pim-approvals"
  security: "#security"
roles:
  - name: Exchange Administrator
    approval:
      approvers: [bob@contoso.example, carol@contoso.example]
      on_call:
        pagerduty: {schedule: P123ABC, incident_service: PSVC1}
`

func cardField(m bot.Message, name string) string {
	for _, f := range m.Fields {
		if f.Label == name {
			return f.Value
		}
	}
	return ""
}

func auditActions(t *testing.T, s *store.Store, id uint64) []string {
	t.Helper()
	var out []string
	if err := s.Audit(func(ev store.AuditRecord) error {
		if ev.RequestID == id {
			out = append(out, ev.Action+": "+ev.Detail)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Alice is on call in PagerDuty with an incident open on the named service: her Exchange
// Administrator request needs no approver; the card and the audit record say why.
func TestOnCallWaivesApproval(t *testing.T) {
	fake := oncalltest.New()
	defer fake.Close()
	fake.OnCall("P123ABC", "alice@contoso.example")
	fake.AddIncident(oncalltest.Incident{Number: 4521, Service: "PSVC1", Status: "triggered"})
	oc := oncall.New(oncall.Config{PagerDutyToken: oncalltest.PagerDutyToken, PagerDutyURL: fake.PagerDutyURL()})
	w := newWorld(t, setup{config: []byte(onCallConfig), onCall: oc})

	w.say("alice", "exchange 1h fixing mail flow")
	w.signIn("alice")
	r := w.only("alice")
	if r.State != store.StateActive {
		t.Fatalf("state %s (%s), want active without an approver", r.State, r.FailureMessage)
	}
	want := "alice is on call for Exchange Administrator (PagerDuty schedule P123ABC with incident #4521 open)"
	if r.Waived != want {
		t.Errorf("waived %q, want %q", r.Waived, want)
	}
	card, ok := w.rec.latestCard(w.cfg.Channels.Approvals)
	if !ok {
		t.Fatal("no card in the approvals channel")
	}
	if got := cardField(card, "Approvals"); got != "auto-approved: "+want {
		t.Errorf("card's approvals %q", got)
	}
	if len(card.Buttons) != 0 {
		t.Errorf("an auto-approved card has buttons: %+v", card.Buttons)
	}
	if acts := strings.Join(auditActions(t, w.store, r.ID), "\n"); !strings.Contains(acts, "request.auto_approved: auto-approved: "+want) {
		t.Errorf("audit:\n%s", acts)
	}
	// The card as first posted, before the activation: it says what is happening, not that the
	// requester still has to sign in.
	posted := w.rec.to(w.cfg.Channels.Approvals)
	if len(posted) == 0 {
		t.Fatal("no card posted")
	}
	if got := posted[0]; got != "Auto-approved: alice is on call. Activating Exchange Administrator for 1h." {
		t.Errorf("the auto-approved card as posted says %q", got)
	}
	contains(t, strings.Join(w.rec.to("alice"), "\n"), "No approval needed: you are on call (PagerDuty schedule P123ABC with incident #4521 open)")
	if n := len(w.activations()); n != 1 {
		t.Errorf("%d activations, want 1", n)
	}
}

// Whenever the waiver does not apply, approvers decide and the card says why.
func TestOnCallFallsBackToApprovers(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*oncalltest.Server)
		nilOC bool
		note  string
	}{
		{"not on call", func(f *oncalltest.Server) { f.OnCall("P123ABC", "bob@contoso.example") },
			false, "alice is not on call in PagerDuty schedule P123ABC, so approvers decide."},
		{"no incident open", func(f *oncalltest.Server) {
			f.OnCall("P123ABC", "alice@contoso.example")
			f.AddIncident(oncalltest.Incident{Number: 1, Service: "PSVC1", Status: "resolved"})
		}, false, "alice is on call, but no incident is open on PagerDuty service PSVC1, so approvers decide."},
		{"pagerduty down", func(f *oncalltest.Server) {
			f.OnCall("P123ABC", "alice@contoso.example")
			f.Fail(10, http.StatusServiceUnavailable)
		}, false, "Could not check whether alice is on call (PagerDuty answered 503), so approvers decide."},
		{"not set up", func(*oncalltest.Server) {}, true, "PAGERDUTY_TOKEN is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := oncalltest.New()
			defer fake.Close()
			tt.setup(fake)
			var oc bot.OnCall = oncall.New(oncall.Config{PagerDutyToken: oncalltest.PagerDutyToken, PagerDutyURL: fake.PagerDutyURL()})
			if tt.nilOC {
				oc = nil
			}
			w := newWorld(t, setup{config: []byte(onCallConfig), onCall: oc})
			w.say("alice", "exchange 1h fixing mail flow")
			w.signIn("alice")
			r := w.only("alice")
			if r.State != store.StateAwaitingApproval || r.Waived != "" {
				t.Fatalf("state %s, waived %q: want awaiting approval", r.State, r.Waived)
			}
			card, _ := w.rec.latestCard(w.cfg.Channels.Approvals)
			contains(t, cardField(card, "On call"), tt.note)
			if len(card.Buttons) != 2 {
				t.Errorf("card buttons %+v, want Approve and Deny", card.Buttons)
			}
			if n := len(w.activations()); n != 0 {
				t.Errorf("%d activations before any approval", n)
			}
		})
	}
}

// The on-call check's cost, recorded in docs/benchmarks.md: one Graph read (the requester's mail
// address, which PagerDuty and Opsgenie know people by) and, in PagerDuty, the on-call list and
// the incident list; the dry run and the activation are PIM's two writes-with-a-body.
func TestOnCallGraphCalls(t *testing.T) {
	fake := oncalltest.New()
	defer fake.Close()
	fake.OnCall("P123ABC", "alice@contoso.example")
	fake.AddIncident(oncalltest.Incident{Number: 4521, Service: "PSVC1", Status: "triggered"})
	oc := oncall.New(oncall.Config{PagerDutyToken: oncalltest.PagerDutyToken, PagerDutyURL: fake.PagerDutyURL()})
	w := newWorld(t, setup{config: []byte(onCallConfig), onCall: oc})
	w.say("alice", "exchange 1h fixing mail flow")
	w.tenant.ResetCalls()
	w.signIn("alice")
	if r := w.only("alice"); r.State != store.StateActive {
		t.Fatalf("state %s", r.State)
	}
	var userReads, dry, writes int
	for _, c := range w.tenant.Calls() {
		switch {
		case c.Method == http.MethodGet && strings.HasPrefix(c.Path, "/v1.0/users/"):
			userReads++
		case c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/roleAssignmentScheduleRequests") && c.ValidationOnly():
			dry++
		case c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/roleAssignmentScheduleRequests"):
			writes++
		}
	}
	// One user read links the account at sign-in (as for every first sign-in); the other is the
	// on-call check's.
	if userReads != 2 || dry != 1 || writes != 1 {
		t.Errorf("after the sign-in: %d user reads, %d dry runs, %d writes; want 2 (sign-in + on-call), 1, 1", userReads, dry, writes)
	}
	if n := len(fake.Calls()); n != 2 {
		t.Errorf("%d PagerDuty calls, want 2 (on-calls, incidents): %v", n, fake.Calls())
	}
}
