package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

// The approvers' requests that PIM would refuse are answered at once and never reach approvers:
// Alice already holds Global Administrator (activated in the Entra portal), so PIM's dry run
// answers RoleAssignmentExists; she hears it in the words an activation's refusal gets, no card
// is posted, nothing is activated, and the audit says it was PIM's dry run.
func TestDryRunRefusalBeforeApprovers(t *testing.T) {
	w := newWorld(t, setup{})
	if err := w.tenant.PortalActivate("alice@"+w.domain, "Global Administrator", time.Hour); err != nil {
		t.Fatal(err)
	}
	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	if r.State != store.StateFailed {
		t.Fatalf("state %s, want failed by PIM's dry run", r.State)
	}
	contains(t, w.rec.lastTo("alice"), "Global Administrator was not activated. Global Administrator is already active for you")
	if _, ok := w.rec.latestCard(w.cfg.Channels.Approvals); ok {
		t.Error("a card was posted for a request PIM would refuse")
	}
	var dry, writes int
	for _, c := range w.tenant.Calls() {
		if c.Method == "POST" && strings.HasSuffix(c.Path, "/roleAssignmentScheduleRequests") {
			if c.ValidationOnly() {
				dry++
			} else {
				writes++
			}
		}
	}
	if dry != 1 || writes != 0 {
		t.Errorf("%d dry runs and %d writes, want 1 and 0", dry, writes)
	}
	if acts := strings.Join(auditActions(t, w.store, r.ID), "\n"); !strings.Contains(acts, "(PIM's dry run, before approval)") {
		t.Errorf("audit:\n%s", acts)
	}
}

// A sign-in without the MFA PIM wants is caught by the dry run: a new sign-in is asked for before
// any approver is, and once it is made the card goes out.
func TestDryRunAsksForMFABeforeApprovers(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice", graphtest.WithoutMFA())
	r := w.only("alice")
	if r.State != store.StateAwaitingSignIn {
		t.Fatalf("state %s, want awaiting_sign_in", r.State)
	}
	contains(t, w.rec.lastTo("alice"), "multi-factor")
	if _, ok := w.rec.latestCard(w.cfg.Channels.Approvals); ok {
		t.Fatal("a card was posted before PIM's MFA rule was met")
	}
	w.signIn("alice")
	if got := w.request(r.ID); got.State != store.StateAwaitingApproval {
		t.Fatalf("after the MFA sign-in: %s (%s)", got.State, got.FailureMessage)
	}
	if _, ok := w.rec.latestCard(w.cfg.Channels.Approvals); !ok {
		t.Error("no card after the MFA sign-in")
	}
	if n := len(w.activations()); n != 0 {
		t.Errorf("%d activations before approval", n)
	}
}

// A Graph outage during the dry run does not hold the request up: approvers are asked, and PIM
// judges the activation itself later.
func TestDryRunOutageAsksApproversAnyway(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "isValidationOnly", Status: 500})
	w.signIn("alice")
	if got := w.only("alice"); got.State != store.StateAwaitingApproval {
		t.Fatalf("state %s (%s), want awaiting approval", got.State, got.FailureMessage)
	}
	if n := w.tenant.Faults(); n != 0 {
		t.Errorf("the dry run's fault was not used (%d left): no dry run was made", n)
	}
}

// A PIM for Groups membership that needs Elevate's approval is dry-run on the groups endpoint.
func TestDryRunForGroups(t *testing.T) {
	cfg := strings.Replace(string(pimConfig()), "    aliases: [tier1-admins, tier1]\n", "    aliases: [tier1-admins, tier1]\n    approval:\n      approvers: [bob@contoso.example]\n", 1)
	w := newWorld(t, setup{config: []byte(cfg)})
	w.say("dave", "tier1 1h rotating the SQL keys")
	w.signIn("dave")
	if got := w.only("dave"); got.State != store.StateAwaitingApproval {
		t.Fatalf("state %s (%s), want awaiting approval", got.State, got.FailureMessage)
	}
	var dry, writes int
	for _, c := range w.tenant.Calls() {
		if c.Method == "POST" && strings.HasSuffix(c.Path, "/privilegedAccess/group/assignmentScheduleRequests") {
			if c.ValidationOnly() {
				dry++
			} else {
				writes++
			}
		}
	}
	if dry != 1 || writes != 0 {
		t.Errorf("%d group dry runs and %d writes before approval, want 1 and 0", dry, writes)
	}
}
