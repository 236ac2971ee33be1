package graphtest_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

const (
	groupBase = "/v1.0/identityGovernance/privilegedAccess/group"
	tier1     = "71e10000-0000-4000-8000-000000000001"
)

func groupActivation(principal, duration string) map[string]any {
	return map[string]any{"action": "selfActivate", "principalId": principal, "groupId": tier1, "accessId": "member",
		"justification": "rotate the queue", "scheduleInfo": map[string]any{
			"expiration": map[string]any{"type": "afterDuration", "duration": duration}}}
}

func TestGroupActivateAndDeactivate(t *testing.T) {
	tn, clk := newDemo(t)
	f := url.QueryEscape("principalId eq '" + dave + "'")
	if vs := values(t, call(t, tn, "GET", groupBase+"/eligibilityScheduleInstances?$filter="+f, tn.AppToken(), nil)); len(vs) != 1 || vs[0]["groupId"] != tier1 || vs[0]["accessId"] != "member" {
		t.Fatalf("eligible memberships: %v", vs)
	}
	if r := call(t, tn, "GET", groupBase+"/eligibilityScheduleInstances", tn.AppToken(), nil); r.Status != 400 {
		t.Errorf("list without a filter: %d", r.Status)
	}
	if r := call(t, tn, "POST", groupBase+"/assignmentScheduleRequests", tn.AppToken(), groupActivation(dave, "PT2H")); r.Status != 403 {
		t.Errorf("app-only selfActivate: %d", r.Status)
	}
	if r := call(t, tn, "POST", groupBase+"/assignmentScheduleRequests", userToken(t, tn, alice), groupActivation(alice, "PT2H")); errCode(r) != "RoleAssignmentRequestPolicyValidationFailed" {
		t.Errorf("not eligible: %s", r.Raw)
	}
	if r := call(t, tn, "POST", groupBase+"/assignmentScheduleRequests", userToken(t, tn, dave), groupActivation(dave, "PT6H")); errCode(r) != "RoleAssignmentRequestPolicyValidationFailed" {
		t.Errorf("over the group's 4h maximum: %s", r.Raw)
	}
	r := call(t, tn, "POST", groupBase+"/assignmentScheduleRequests", userToken(t, tn, dave), groupActivation(dave, "PT2H"))
	if r.Status != 201 || r.Body["status"] != "Provisioned" {
		t.Fatalf("activate: %d %s", r.Status, r.Raw)
	}
	if vs := values(t, call(t, tn, "GET", groupBase+"/assignmentScheduleInstances?$filter="+f, tn.AppToken(), nil)); len(vs) != 1 {
		t.Fatalf("active memberships: %v", vs)
	}
	if r := call(t, tn, "POST", groupBase+"/assignmentScheduleRequests", userToken(t, tn, dave), groupActivation(dave, "PT2H")); errCode(r) != "RoleAssignmentExists" {
		t.Errorf("twice: %s", r.Raw)
	}
	deact := map[string]any{"action": "selfDeactivate", "principalId": dave, "groupId": tier1, "accessId": "member"}
	if r := call(t, tn, "POST", groupBase+"/assignmentScheduleRequests", userToken(t, tn, dave), deact); errCode(r) != "ActiveDurationTooShort" {
		t.Errorf("deactivate at once: %s", r.Raw)
	}
	clk.Add(6 * time.Minute)
	if r := call(t, tn, "POST", groupBase+"/assignmentScheduleRequests", userToken(t, tn, dave), deact); r.Status != 201 || r.Body["status"] != "Revoked" {
		t.Errorf("deactivate: %d %s", r.Status, r.Raw)
	}
}

func TestGroupApprovalStages(t *testing.T) {
	seed := demoSeed(t)
	for i := range seed.Policies {
		if seed.Policies[i].Group == "Tier1 Admins" {
			seed.Policies[i].Approval = &struct {
				Approvers []string `yaml:"approvers"`
			}{Approvers: []string{"PIM Approvers"}}
		}
	}
	tn, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	r := call(t, tn, "POST", groupBase+"/assignmentScheduleRequests", userToken(t, tn, dave), groupActivation(dave, "PT1H"))
	if r.Status != 201 || r.Body["status"] != "PendingApproval" {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	ap := call(t, tn, "GET", groupBase+"/assignmentApprovals/"+id, userToken(t, tn, bob), nil)
	stage := ap.Body["stages"].([]any)[0].(map[string]any)
	if stage["assignedToMe"] != true {
		t.Fatalf("approval: %s", ap.Raw)
	}
	path := groupBase + "/assignmentApprovals/" + id + "/stages/" + stage["id"].(string)
	ok := map[string]any{"reviewResult": "Approve", "justification": "fine"}
	if r := call(t, tn, "PATCH", path, userToken(t, tn, dave), ok); r.Status != 403 {
		t.Errorf("self-approval: %d", r.Status)
	}
	if r := call(t, tn, "PATCH", path, userToken(t, tn, bob), ok); r.Status != 204 {
		t.Fatalf("approve: %d %s", r.Status, r.Raw)
	}
	if r := call(t, tn, "PATCH", path, userToken(t, tn, carol), ok); r.Status != 409 {
		t.Errorf("second decision: %d", r.Status)
	}
}

// PIM refuses an activation that overlaps the current one; one that starts exactly when the
// current one ends is not documented, and the simulated tenant refuses it too (reference §14).
// Once the first has ended, a new activation is taken; a scheduled one can be cancelled until it
// starts.
func TestOverlappingSuccessorRefused(t *testing.T) {
	tn, clk := newDemo(t)
	tok := userToken(t, tn, alice)
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	at := func(start time.Time, d string) map[string]any {
		b := activation(alice, exRole, d, "x")
		b["scheduleInfo"].(map[string]any)["startDateTime"] = start.Format(time.RFC3339)
		return b
	}
	if r := call(t, tn, "POST", requestsPath, tok, at(now, "PT1H")); r.Status != 201 {
		t.Fatalf("activate: %s", r.Raw)
	}
	if r := call(t, tn, "POST", requestsPath, tok, at(now.Add(30*time.Minute), "PT1H")); errCode(r) != "RoleAssignmentExists" {
		t.Errorf("an overlapping successor: %s", r.Raw)
	}
	if r := call(t, tn, "POST", requestsPath, tok, at(now.Add(time.Hour), "PT1H")); errCode(r) != "RoleAssignmentExists" {
		t.Errorf("a successor starting exactly at the end: %s", r.Raw)
	}
	// A request scheduled well after the current one is taken, and can be cancelled until it starts.
	later := call(t, tn, "POST", requestsPath, tok, at(now.Add(2*time.Hour), "PT1H"))
	if later.Status != 201 {
		t.Fatalf("a later activation: %s", later.Raw)
	}
	if c := call(t, tn, "POST", requestsPath+"/"+later.Body["id"].(string)+"/cancel", tok, nil); c.Status != 204 {
		t.Fatalf("cancel scheduled: %d %s", c.Status, c.Raw)
	}
	clk.Add(time.Hour + time.Minute)
	next := call(t, tn, "POST", requestsPath, tok, activation(alice, exRole, "PT1H", "x"))
	if next.Status != 201 || next.Body["status"] != "Granted" {
		t.Fatalf("a new activation after the first ended: %s", next.Raw)
	}
	f := "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter=" + url.QueryEscape("principalId eq '"+alice+"'")
	if vs := values(t, call(t, tn, "GET", f, tn.AppToken(), nil)); len(vs) != 1 {
		t.Errorf("instances after the first ended: %v", vs)
	}
	if c := call(t, tn, "POST", requestsPath+"/"+next.Body["id"].(string)+"/cancel", tok, nil); c.Status != 400 {
		t.Errorf("cancel a started activation: %d", c.Status)
	}
}

func TestTransitiveMembers(t *testing.T) {
	tn, _ := newDemo(t)
	vs := values(t, call(t, tn, "GET", "/v1.0/groups/"+tier0+"/transitiveMembers", tn.AppToken(), nil))
	if len(vs) != 1 || vs[0]["id"] != alice {
		t.Errorf("members: %v", vs)
	}
}
