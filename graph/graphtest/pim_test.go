package graphtest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

const requestsPath = "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests"

func activation(principal, role, duration, justification string) map[string]any {
	return map[string]any{
		"action": "selfActivate", "principalId": principal, "roleDefinitionId": role, "directoryScopeId": "/",
		"justification": justification,
		"scheduleInfo": map[string]any{"startDateTime": "2026-11-26T09:00:00Z",
			"expiration": map[string]any{"type": "afterDuration", "duration": duration}},
	}
}

func TestSelfActivateGranted(t *testing.T) {
	tn, _ := newDemo(t)
	body := activation(alice, exRole, "PT4H", "INC-1234 mailbox restore")
	body["ticketInfo"] = map[string]any{"ticketNumber": "INC-1234", "ticketSystem": "ServiceNow"}
	r := call(t, tn, "POST", requestsPath, userToken(t, tn, "alice@contoso.example"), body)
	if r.Status != http.StatusCreated || r.Body["status"] != "Granted" {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	// Reference §3.1 response.
	checkShape(t, "request", r.Body, `{
	  "@odata.context": "x", "id": "x", "status": "Granted", "createdDateTime": "x", "completedDateTime": "x",
	  "approvalId": null, "action": "selfActivate", "principalId": "x", "roleDefinitionId": "x",
	  "directoryScopeId": "/", "isValidationOnly": false, "targetScheduleId": "x", "justification": "x",
	  "createdBy": {}, "scheduleInfo": {}, "ticketInfo": {}}`)
	if !strings.HasSuffix(r.Body["@odata.context"].(string), "$metadata#roleManagement/directory/roleAssignmentScheduleRequests/$entity") {
		t.Errorf("context %v", r.Body["@odata.context"])
	}
	si := r.Body["scheduleInfo"].(map[string]any)
	checkShape(t, "scheduleInfo", si, `{"startDateTime":"x","recurrence":null,"expiration":{}}`)
	if exp := si["expiration"].(map[string]any); exp["type"] != "afterDuration" || exp["duration"] != "PT4H" {
		t.Errorf("expiration echo %v", exp)
	}
	if u := r.Body["createdBy"].(map[string]any)["user"].(map[string]any); u["id"] != alice {
		t.Errorf("createdBy %v", u)
	}
	if ti := r.Body["ticketInfo"].(map[string]any); ti["ticketNumber"] != "INC-1234" || ti["ticketSystem"] != "ServiceNow" {
		t.Errorf("ticketInfo %v", ti)
	}
	// The instance: Activated, Direct, ends start+duration.
	vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
		url.QueryEscape("principalId eq '"+alice+"' and roleDefinitionId eq '"+exRole+"'")+"&$expand=roleDefinition", tn.AppToken(), nil))
	if len(vs) != 1 || vs[0]["assignmentType"] != "Activated" || vs[0]["memberType"] != "Direct" ||
		vs[0]["startDateTime"] != "2026-11-26T09:00:00.000Z" || vs[0]["endDateTime"] != "2026-11-26T13:00:00.000Z" {
		t.Fatalf("instances %v", vs)
	}
	if vs[0]["roleAssignmentScheduleId"] != r.Body["targetScheduleId"] {
		t.Errorf("schedule id %v, request's target %v", vs[0]["roleAssignmentScheduleId"], r.Body["targetScheduleId"])
	}
	// GET the request back.
	g := call(t, tn, "GET", requestsPath+"/"+r.Body["id"].(string), tn.AppToken(), nil)
	if g.Status != 200 || g.Body["status"] != "Granted" || g.Body["id"] != r.Body["id"] {
		t.Errorf("GET request: %d %s", g.Status, g.Raw)
	}
	// A second activation of the same role.
	again := call(t, tn, "POST", requestsPath, userToken(t, tn, alice), body)
	if again.Status != 400 || errCode(again) != "RoleAssignmentExists" || errMessage(again) != "The Role assignment already exists." {
		t.Errorf("again: %d %s", again.Status, again.Raw)
	}
}

func TestSelfActivateRules(t *testing.T) {
	seed := demoSeed(t)
	seed.Policies = append(seed.Policies,
		graphtest.PolicyConfig{Role: "User Administrator", Ticket: ptr(true)},
		graphtest.PolicyConfig{Role: "Helpdesk Administrator", AuthContext: "c1"},
	)
	seed.Eligibilities = append(seed.Eligibilities, graphtest.Eligibility{Principal: "bob@contoso.example", Role: "Helpdesk Administrator"})
	tn, err := graphtest.New(seed, graphtest.WithClock(func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }))
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	helpdesk := "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	ticketed := func(b map[string]any) map[string]any {
		b["ticketInfo"] = map[string]any{"ticketNumber": "INC-9", "ticketSystem": "Jira"}
		return b
	}
	cases := []struct {
		name      string
		token     string
		body      map[string]any
		status    int
		code, msg string
	}{
		{"not eligible", userToken(t, tn, bob), activation(bob, exRole, "PT1H", "x"),
			400, "RoleAssignmentRequestPolicyValidationFailed", `The following policy rules failed: ["EligibilityRule"]`},
		{"unknown role", userToken(t, tn, bob), activation(bob, "00000000-0000-4000-8000-000000000000", "PT1H", "x"),
			400, "RoleAssignmentRequestPolicyValidationFailed", `["EligibilityRule"]`},
		{"too long", userToken(t, tn, dave), activation(dave, spRole, "PT3H", "x"),
			400, "RoleAssignmentRequestPolicyValidationFailed", `The following policy rules failed: ["ExpirationRule"]`},
		{"no mfa", userToken(t, tn, dave, graphtest.WithoutMFA()), activation(dave, spRole, "PT1H", "x"),
			400, "RoleAssignmentRequestPolicyValidationFailed", `The following policy rules failed: ["MfaRule"]`},
		{"no justification", userToken(t, tn, dave), activation(dave, spRole, "PT1H", ""),
			400, "RoleAssignmentRequestPolicyValidationFailed", `The following policy rules failed: ["JustificationRule"]`},
		{"no ticket", userToken(t, tn, bob), activation(bob, graphtest.RoleUserAdministrator, "PT1H", "x"),
			400, "RoleAssignmentRequestPolicyValidationFailed", `The following policy rules failed: ["TicketingRule"]`},
		{"auth context missing", userToken(t, tn, bob), activation(bob, helpdesk, "PT1H", "x"),
			400, "RoleAssignmentRequestAcrsValidationFailed", `claims={"access_token":{"acrs":{"essential":true,"value":"c1"}}}`},
		{"auth context present", userToken(t, tn, bob, graphtest.WithACRS("c1")), activation(bob, helpdesk, "PT1H", "x"),
			201, "", ""},
		{"other principal", userToken(t, tn, bob), activation(alice, exRole, "PT1H", "x"),
			403, "Forbidden", "signed-in user"},
		{"app-only", tn.AppToken(), activation(alice, exRole, "PT1H", "x"),
			403, "Forbidden", "application-only"},
		{"PascalCase action", userToken(t, tn, carol), func() map[string]any {
			b := ticketed(activation(carol, graphtest.RoleUserAdministrator, "PT1H", "x"))
			b["action"] = "SelfActivate"
			return b
		}(), 201, "", ""},
		{"via group", userToken(t, tn, alice), activation(alice, gaRole, "PT8H", "x"), 201, "", ""},
		{"standing assignment exists", userToken(t, tn, erin), activation(erin, gaRole, "PT1H", "x"),
			400, "RoleAssignmentRequestPolicyValidationFailed", "EligibilityRule"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, tn, "POST", requestsPath, c.token, c.body)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Raw)
			}
			if c.status == 201 {
				if r.Body["status"] != "Granted" {
					t.Errorf("status %v", r.Body["status"])
				}
				return
			}
			if got := errCode(r); got != c.code {
				t.Errorf("code %q, want %q", got, c.code)
			}
			if got := errMessage(r); !strings.Contains(got, c.msg) {
				t.Errorf("message %q, want it to contain %q", got, c.msg)
			}
		})
	}
}

func TestSelfActivateAfterDateTimeAndValidationOnly(t *testing.T) {
	tn, _ := newDemo(t)
	tok := userToken(t, tn, dave)
	b := activation(dave, exRole, "", "x")
	b["isValidationOnly"] = true
	b["scheduleInfo"] = map[string]any{"expiration": map[string]any{"type": "afterDateTime", "endDateTime": "2026-11-26T10:30:00Z"}}
	r := call(t, tn, "POST", requestsPath, tok, b)
	if r.Status != 201 || r.Body["isValidationOnly"] != true {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
		url.QueryEscape("principalId eq '"+dave+"'"), tn.AppToken(), nil)); len(vs) != 0 {
		t.Errorf("validation-only created %v", vs)
	}
	delete(b, "isValidationOnly")
	if r := call(t, tn, "POST", requestsPath, tok, b); r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
		url.QueryEscape("principalId eq '"+dave+"'"), tn.AppToken(), nil))
	if len(vs) != 1 || vs[0]["endDateTime"] != "2026-11-26T10:30:00.000Z" {
		t.Errorf("instances %v", vs)
	}
}

func TestActivationDelayAndExpiry(t *testing.T) {
	tn, clk := newDemo(t, graphtest.WithActivationDelay(90*time.Second))
	instances := func() []map[string]any {
		return values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
			url.QueryEscape("principalId eq '"+alice+"'"), tn.AppToken(), nil))
	}
	r := call(t, tn, "POST", requestsPath, userToken(t, tn, alice), activation(alice, exRole, "PT1H", "x"))
	if r.Status != 201 {
		t.Fatal(r.Raw)
	}
	if got := instances(); len(got) != 0 {
		t.Fatalf("instance visible before the delay: %v", got)
	}
	clk.Add(89 * time.Second)
	if got := instances(); len(got) != 0 {
		t.Fatalf("instance visible before the delay: %v", got)
	}
	clk.Add(time.Second)
	if got := instances(); len(got) != 1 {
		t.Fatalf("after the delay: %v", got)
	}
	clk.Add(time.Hour)
	if got := instances(); len(got) != 0 {
		t.Fatalf("after expiry: %v", got)
	}
	// Expired: activating again works.
	r = call(t, tn, "POST", requestsPath, userToken(t, tn, alice), activation(alice, exRole, "PT1H", "x"))
	if r.Status != 201 {
		t.Fatalf("re-activation: %s", r.Raw)
	}
}

func TestSelfDeactivate(t *testing.T) {
	tn, clk := newDemo(t)
	tok := userToken(t, tn, alice)
	deact := map[string]any{"action": "selfDeactivate", "principalId": alice, "roleDefinitionId": exRole, "directoryScopeId": "/"}
	if r := call(t, tn, "POST", requestsPath, tok, deact); r.Status != 400 || errCode(r) != "RoleAssignmentDoesNotExist" {
		t.Errorf("nothing to deactivate: %d %s", r.Status, r.Raw)
	}
	call(t, tn, "POST", requestsPath, tok, activation(alice, exRole, "PT1H", "x"))
	clk.Add(4 * time.Minute)
	if r := call(t, tn, "POST", requestsPath, tok, deact); r.Status != 400 || errCode(r) != "ActiveDurationTooShort" {
		t.Errorf("deactivating 4 minutes after activation: %d %s", r.Status, r.Raw)
	}
	clk.Add(2 * time.Minute)
	r := call(t, tn, "POST", requestsPath, tok, deact)
	if r.Status != 201 || r.Body["status"] != "Revoked" {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
		url.QueryEscape("principalId eq '"+alice+"'"), tn.AppToken(), nil)); len(vs) != 0 {
		t.Errorf("still active: %v", vs)
	}
}

func TestApprovalFlow(t *testing.T) {
	seed := demoSeed(t)
	seed.Policies = append(seed.Policies, graphtest.PolicyConfig{Role: "User Administrator",
		Approval: &struct {
			Approvers []string `yaml:"approvers"`
		}{Approvers: []string{"PIM Approvers"}}})
	tn, err := graphtest.New(seed, graphtest.WithClock(func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }))
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	r := call(t, tn, "POST", requestsPath, userToken(t, tn, bob), activation(bob, graphtest.RoleUserAdministrator, "PT1H", "reset"))
	if r.Status != 201 || r.Body["status"] != "PendingApproval" || r.Body["approvalId"] == nil {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if r := call(t, tn, "POST", requestsPath, userToken(t, tn, bob), activation(bob, graphtest.RoleUserAdministrator, "PT1H", "reset")); errCode(r) != "RoleAssignmentExists" {
		t.Errorf("pending duplicate: %s", r.Raw)
	}
	id := r.Body["approvalId"].(string)
	ap := call(t, tn, "GET", "/beta/roleManagement/directory/roleAssignmentApprovals/"+id, userToken(t, tn, carol), nil)
	step := ap.Body["steps"].([]any)[0].(map[string]any)
	if ap.Status != 200 || step["assignedToMe"] != true || step["reviewResult"] != "NotReviewed" || step["status"] != "InProgress" {
		t.Fatalf("approval: %s", ap.Raw)
	}
	stepPath := "/beta/roleManagement/directory/roleAssignmentApprovals/" + id + "/steps/" + step["id"].(string)
	decide := map[string]any{"reviewResult": "Approve", "justification": "ok"}
	if r := call(t, tn, "PATCH", stepPath, userToken(t, tn, bob), decide); r.Status != 403 {
		t.Errorf("requester approving own request: %d", r.Status)
	}
	if r := call(t, tn, "PATCH", stepPath, tn.AppToken(), decide); r.Status != 403 {
		t.Errorf("app approving: %d", r.Status)
	}
	if r := call(t, tn, "PATCH", stepPath, userToken(t, tn, carol), decide); r.Status != 204 {
		t.Fatalf("approve: %d %s", r.Status, r.Raw)
	}
	if r := call(t, tn, "PATCH", stepPath, userToken(t, tn, carol), decide); r.Status != 409 {
		t.Errorf("second decision: %d", r.Status)
	}
	g := call(t, tn, "GET", requestsPath+"/"+r.Body["id"].(string), tn.AppToken(), nil)
	if g.Body["status"] != "Provisioned" {
		t.Errorf("after approval: %s", g.Raw)
	}
	if vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
		url.QueryEscape("principalId eq '"+bob+"'"), tn.AppToken(), nil)); len(vs) != 1 {
		t.Errorf("instances after approval: %v", vs)
	}
}

func TestCancelPending(t *testing.T) {
	seed := demoSeed(t)
	seed.Policies = append(seed.Policies, graphtest.PolicyConfig{Role: "User Administrator",
		Approval: &struct {
			Approvers []string `yaml:"approvers"`
		}{Approvers: []string{"erin@contoso.example"}}})
	tn, err := graphtest.New(seed, graphtest.WithClock(func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }))
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	tok := userToken(t, tn, bob)
	r := call(t, tn, "POST", requestsPath, tok, activation(bob, graphtest.RoleUserAdministrator, "PT1H", "x"))
	id := r.Body["id"].(string)
	if c := call(t, tn, "POST", requestsPath+"/"+id+"/cancel", tok, nil); c.Status != 204 {
		t.Fatalf("cancel: %d %s", c.Status, c.Raw)
	}
	if g := call(t, tn, "GET", requestsPath+"/"+id, tok, nil); g.Body["status"] != "Canceled" {
		t.Errorf("after cancel: %s", g.Raw)
	}
	if r := call(t, tn, "POST", requestsPath, tok, activation(bob, graphtest.RoleUserAdministrator, "PT1H", "x")); r.Status != 201 {
		t.Errorf("after cancel, a new request: %d %s", r.Status, r.Raw)
	}
}
