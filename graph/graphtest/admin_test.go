package graphtest_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

const eligibilityRequestsPath = "/v1.0/roleManagement/directory/roleEligibilityScheduleRequests"

func instancesOf(t *testing.T, tn *graphtest.Tenant, kind, principal string) []map[string]any {
	t.Helper()
	return values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/role"+kind+"ScheduleInstances?$filter="+
		url.QueryEscape("principalId eq '"+principal+"'"), tn.AppToken(), nil))
}

// TestConvertStandingAccess is reference §4: eligibility first, then the standing assignment removed,
// with the acting admin's delegated token.
func TestConvertStandingAccess(t *testing.T) {
	tn, _ := newDemo(t)
	assign := map[string]any{"action": "adminAssign", "principalId": erin, "roleDefinitionId": gaRole,
		"directoryScopeId": "/", "justification": "Convert standing GA to eligible",
		"scheduleInfo": map[string]any{"startDateTime": "2026-11-26T09:00:00Z",
			"expiration": map[string]any{"type": "afterDateTime", "endDateTime": "2027-11-01T00:00:00Z"}}}
	remove := map[string]any{"action": "adminRemove", "principalId": erin, "roleDefinitionId": gaRole,
		"directoryScopeId": "/", "justification": "Standing access replaced by eligibility"}

	// Refused: the app's read-only permissions, and a user without an active admin role.
	r := call(t, tn, "POST", eligibilityRequestsPath, tn.AppToken(), assign)
	if r.Status != 403 || errCode(r) != "UnknownError" || !strings.Contains(errMessage(r), "PermissionScopeNotGranted") {
		t.Errorf("app: %d %s", r.Status, r.Raw)
	}
	alice := userToken(t, tn, "alice@contoso.example")
	if r := call(t, tn, "POST", eligibilityRequestsPath, alice, assign); r.Status != 403 {
		t.Errorf("alice without an active role: %d %s", r.Status, r.Raw)
	}
	// Alice activates Global Administrator (through Tier0 Admins), then converts Erin.
	if r := call(t, tn, "POST", requestsPath, alice, activation("11111111-1111-4111-8111-111111111111", gaRole, "PT1H", "convert erin")); r.Status != 201 {
		t.Fatalf("activate GA: %s", r.Raw)
	}
	r = call(t, tn, "POST", eligibilityRequestsPath, alice, assign)
	if r.Status != 201 || r.Body["status"] != "Provisioned" || r.Body["action"] != "adminAssign" {
		t.Fatalf("adminAssign eligibility: %d %s", r.Status, r.Raw)
	}
	var got []map[string]any
	for _, e := range instancesOf(t, tn, "Eligibility", erin) {
		if e["roleDefinitionId"] == gaRole {
			got = append(got, e)
		}
	}
	if len(got) != 1 || got[0]["endDateTime"] != "2027-11-01T00:00:00.000Z" {
		t.Errorf("erin's eligibility: %v", got)
	}
	if r := call(t, tn, "POST", eligibilityRequestsPath, alice, assign); errCode(r) != "RoleEligibilityExists" {
		t.Errorf("twice: %s", r.Raw)
	}
	r = call(t, tn, "POST", requestsPath, alice, remove)
	if r.Status != 201 || r.Body["status"] != "Revoked" {
		t.Fatalf("adminRemove: %d %s", r.Status, r.Raw)
	}
	if got := instancesOf(t, tn, "Assignment", erin); len(got) != 0 {
		t.Errorf("erin still has %v", got)
	}
	if r := call(t, tn, "POST", requestsPath, alice, remove); errCode(r) != "RoleAssignmentDoesNotExist" {
		t.Errorf("removing again: %s", r.Raw)
	}
	// Erin can now activate it.
	if r := call(t, tn, "POST", requestsPath, userToken(t, tn, erin), activation(erin, gaRole, "PT1H", "x")); r.Status != 201 {
		t.Errorf("erin activates: %s", r.Raw)
	}
	// And eligibilities can be removed.
	rm := map[string]any{"action": "adminRemove", "principalId": erin, "roleDefinitionId": gaRole, "directoryScopeId": "/"}
	if r := call(t, tn, "POST", eligibilityRequestsPath, alice, rm); r.Status != 201 || r.Body["status"] != "Revoked" {
		t.Errorf("remove eligibility: %s", r.Raw)
	}
}

func TestScenarioHelpers(t *testing.T) {
	tn, clk := newDemo(t)
	if err := tn.PortalActivate("dave@contoso.example", "SharePoint Administrator", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := instancesOf(t, tn, "Assignment", dave); len(got) != 1 || got[0]["assignmentType"] != "Activated" {
		t.Errorf("portal activation: %v", got)
	}
	if err := tn.PortalActivate("bob@contoso.example", "Global Administrator", time.Hour); err == nil {
		t.Error("portal activation without eligibility")
	}
	if err := tn.AssignPermanent("carol@contoso.example", "Exchange Administrator"); err != nil {
		t.Fatal(err)
	}
	if got := instancesOf(t, tn, "Assignment", carol); len(got) != 1 || got[0]["endDateTime"] != nil {
		t.Errorf("permanent: %v", got)
	}
	if err := tn.SetPolicy(graphtest.PolicyConfig{Role: "Exchange Administrator", MaxDuration: graphtest.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r := call(t, tn, "POST", requestsPath, userToken(t, tn, alice), activation(alice, exRole, "PT2H", "x"))
	if !strings.Contains(errMessage(r), "ExpirationRule") {
		t.Errorf("after SetPolicy: %s", r.Raw)
	}
	if err := tn.SetPolicy(graphtest.PolicyConfig{Role: "Nope"}); err == nil {
		t.Error("SetPolicy accepted an unknown role")
	}
	clk.Add(2 * time.Hour)
	if got := instancesOf(t, tn, "Assignment", dave); len(got) != 0 {
		t.Errorf("portal activation outlived its end: %v", got)
	}
}

// PortalExtend lengthens a running activation as the instances show it, and refuses what there
// is nothing to extend.
func TestPortalExtend(t *testing.T) {
	tn, clk := newDemo(t)
	if err := tn.PortalExtend("alice@contoso.example", "Exchange Administrator", clk.Now().Add(3*time.Hour)); err == nil {
		t.Error("extended an activation that does not exist")
	}
	if err := tn.PortalActivate("alice@contoso.example", "Exchange Administrator", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := tn.PortalExtend("alice@contoso.example", "Exchange Administrator", clk.Now().Add(30*time.Minute)); err == nil {
		t.Error("shortened an activation")
	}
	if err := tn.PortalExtend("alice@contoso.example", "Exchange Administrator", clk.Now().Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter=principalId%20eq%20'"+alice+"'", tn.AppToken(), nil))
	if len(vs) != 1 || vs[0]["endDateTime"] != "2026-11-26T12:00:00.000Z" {
		t.Errorf("instances after the extension: %v", vs)
	}
}
