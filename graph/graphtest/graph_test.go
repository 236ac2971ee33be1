package graphtest_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

func TestAuthentication(t *testing.T) {
	tn, _ := newDemo(t)
	other, _ := newDemo(t)
	cases := []struct {
		name, token string
		want        int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"garbage", "not.a.jwt", http.StatusUnauthorized},
		{"other tenant's key", other.AppToken(), http.StatusUnauthorized},
		{"app", tn.AppToken(), http.StatusOK},
		{"user", userToken(t, tn, "alice@contoso.example"), http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, tn, "GET", "/v1.0/users/alice@contoso.example", c.token, nil)
			if r.Status != c.want {
				t.Fatalf("status %d, want %d: %s", r.Status, c.want, r.Raw)
			}
			if c.want == http.StatusUnauthorized {
				if got := errCode(r); got != "InvalidAuthenticationToken" {
					t.Errorf("code %q, want InvalidAuthenticationToken", got)
				}
				e := r.Body["error"].(map[string]any)
				inner, _ := e["innerError"].(map[string]any)
				if inner["request-id"] == nil || inner["date"] == nil {
					t.Errorf("innerError lacks request-id/date: %s", r.Raw)
				}
			}
		})
	}
}

func TestExpiredToken(t *testing.T) {
	tn, clk := newDemo(t)
	tok := userToken(t, tn, "alice@contoso.example")
	clk.Add(2 * time.Hour)
	r := call(t, tn, "GET", "/v1.0/users/"+alice, tok, nil)
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", r.Status)
	}
}

func TestUsers(t *testing.T) {
	tn, _ := newDemo(t)
	app := tn.AppToken()
	r := call(t, tn, "GET", "/v1.0/users/alice@contoso.example?$select=id,userPrincipalName", app, nil)
	if r.Status != 200 || r.Body["id"] != alice || r.Body["displayName"] != "Alice Admin" {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	checkShape(t, "user", r.Body, `{"@odata.context":"","id":"","userPrincipalName":"","displayName":"","mail":""}`)
	if r := call(t, tn, "GET", "/v1.0/users/"+strings.ToUpper(bob), app, nil); r.Body["userPrincipalName"] != "bob@contoso.example" {
		t.Errorf("by id: %s", r.Raw)
	}
	r = call(t, tn, "GET", "/v1.0/users/nobody@contoso.example", app, nil)
	if r.Status != 404 || errCode(r) != "Request_ResourceNotFound" {
		t.Errorf("unknown user: %d %s", r.Status, r.Raw)
	}
	for _, f := range []string{"mail eq 'carol@contoso.example'", "userPrincipalName eq 'CAROL@contoso.example'"} {
		vs := values(t, call(t, tn, "GET", "/v1.0/users?$filter="+url.QueryEscape(f)+"&$select=id,userPrincipalName,mail", app, nil))
		if len(vs) != 1 || vs[0]["id"] != carol {
			t.Errorf("%s: got %v", f, vs)
		}
	}
	if vs := values(t, call(t, tn, "GET", "/v1.0/users?$filter="+url.QueryEscape("mail eq 'x@y'"), app, nil)); len(vs) != 0 {
		t.Errorf("no match: got %v", vs)
	}
	if r := call(t, tn, "GET", "/v1.0/users?$filter="+url.QueryEscape("startswith(mail,'a')"), app, nil); r.Status != 400 {
		t.Errorf("unsupported filter: %d", r.Status)
	}
}

func TestGroups(t *testing.T) {
	tn, _ := newDemo(t)
	app := tn.AppToken()
	r := call(t, tn, "POST", "/v1.0/users/"+alice+"/checkMemberGroups", app,
		map[string]any{"groupIds": []string{tier0, "5e6c0000-0000-4000-8000-0000000000a1"}})
	if vs, _ := r.Body["value"].([]any); len(vs) != 1 || vs[0] != tier0 {
		t.Errorf("checkMemberGroups: %s", r.Raw)
	}
	for _, p := range []string{"microsoft.graph.group", "graph.group"} {
		vs := values(t, call(t, tn, "GET", "/v1.0/users/"+alice+"/transitiveMemberOf/"+p, app, nil))
		if len(vs) != 1 || vs[0]["id"] != tier0 || vs[0]["displayName"] != "Tier0 Admins" ||
			vs[0]["@odata.type"] != "#microsoft.graph.group" {
			t.Errorf("%s: %v", p, vs)
		}
	}
}

func TestNestedGroups(t *testing.T) {
	seed := graphtest.Seed{
		TenantID: "7c3a0000-0000-4000-8000-00000000c0de",
		Client:   graphtest.Client{ClientID: "e1e70000-0000-4000-8000-0000000000a9", ClientSecret: "s"},
		Users:    []graphtest.User{{ID: alice, UPN: "alice@x.example"}},
		Groups: []graphtest.Group{
			{ID: "9a000000-0000-4000-8000-000000000001", DisplayName: "Outer", Members: []string{"Inner"}},
			{ID: "9a000000-0000-4000-8000-000000000002", DisplayName: "Inner", Members: []string{"alice@x.example"}},
		},
		Eligibilities: []graphtest.Eligibility{{Principal: "Outer", Role: "Global Administrator"}},
	}
	tn, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	app := tn.AppToken()
	r := call(t, tn, "POST", "/v1.0/users/"+alice+"/checkMemberGroups", app,
		map[string]any{"groupIds": []string{"9a000000-0000-4000-8000-000000000001"}})
	if vs, _ := r.Body["value"].([]any); len(vs) != 1 {
		t.Errorf("transitive checkMemberGroups: %s", r.Raw)
	}
	if vs := values(t, call(t, tn, "GET", "/v1.0/users/"+alice+"/transitiveMemberOf/graph.group", app, nil)); len(vs) != 2 {
		t.Errorf("transitiveMemberOf: %v", vs)
	}
	r = call(t, tn, "POST", "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests",
		userToken(t, tn, alice), activation(alice, gaRole, "PT1H", "nested"))
	if r.Status != 201 {
		t.Errorf("activation through nested group: %d %s", r.Status, r.Raw)
	}
}

func TestEligibilityInstances(t *testing.T) {
	tn, _ := newDemo(t)
	app := tn.AppToken()
	q := "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=" +
		url.QueryEscape("principalId eq '"+alice+"'") + "&$expand=roleDefinition"
	vs := values(t, call(t, tn, "GET", q, app, nil))
	if len(vs) != 1 {
		t.Fatalf("alice's direct eligibilities: %v", vs)
	}
	// Reference §2.2.
	checkShape(t, "eligibility instance", vs[0], `{"id":"x","principalId":"x","roleDefinitionId":"x",
		"directoryScopeId":"/","appScopeId":null,"startDateTime":"2022-04-12T14:44:50.287Z",
		"endDateTime":"2024-04-10T00:00:00Z","memberType":"Direct","roleEligibilityScheduleId":"x",
		"roleDefinition":{}}`)
	rd := vs[0]["roleDefinition"].(map[string]any)
	if vs[0]["roleDefinitionId"] != exRole || rd["displayName"] != "Exchange Administrator" || rd["templateId"] != exRole {
		t.Errorf("got %v", vs[0])
	}
	if _, err := time.Parse(time.RFC3339, vs[0]["startDateTime"].(string)); err != nil {
		t.Error(err)
	}
	// Group eligibility: the group is the principal.
	q = "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=" +
		url.QueryEscape("principalId in ('"+alice+"','"+tier0+"')") + "&$expand=roleDefinition"
	vs = values(t, call(t, tn, "GET", q, app, nil))
	var roles []string
	for _, v := range vs {
		roles = append(roles, v["roleDefinition"].(map[string]any)["displayName"].(string))
	}
	slices.Sort(roles)
	if !slices.Equal(roles, []string{"Exchange Administrator", "Global Administrator"}) {
		t.Errorf("alice + Tier0 Admins: %v", roles)
	}
	// No $expand: no roleDefinition.
	vs = values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter="+
		url.QueryEscape("principalId eq '"+dave+"'"), app, nil))
	if len(vs) != 2 || vs[0]["roleDefinition"] != nil {
		t.Errorf("dave: %v", vs)
	}
}

func TestAssignmentInstances(t *testing.T) {
	tn, _ := newDemo(t)
	app := tn.AppToken()
	vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
		url.QueryEscape("assignmentType eq 'Assigned'")+"&$expand=roleDefinition,principal", app, nil))
	if len(vs) != 3 {
		t.Fatalf("standing assignments: %v", vs)
	}
	checkShape(t, "assignment instance", vs[0], `{ "id": "x", "principalId": "x", "roleDefinitionId": "x",
		"directoryScopeId": "/", "appScopeId": null, "startDateTime": "2021-03-01T00:00:00Z", "endDateTime": null,
		"assignmentType": "Assigned", "memberType": "Direct", "roleAssignmentOriginId": "x",
		"roleAssignmentScheduleId": "x", "roleDefinition": {}, "principal": {} }`)
	if vs[0]["endDateTime"] != nil {
		t.Errorf("permanent assignment has endDateTime %v", vs[0]["endDateTime"])
	}
	vs = values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
		url.QueryEscape("principalId eq '"+erin+"' and roleDefinitionId eq '"+gaRole+"'"), app, nil))
	if len(vs) != 1 || vs[0]["principalId"] != erin {
		t.Errorf("erin GA: %v", vs)
	}
	if r := call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="+
		url.QueryEscape("colour eq 'red'"), app, nil); r.Status != 400 {
		t.Errorf("unknown filter property: %d", r.Status)
	}
}

func TestPolicyAssignments(t *testing.T) {
	tn, _ := newDemo(t)
	app := tn.AppToken()
	get := func(role string) map[string]any {
		t.Helper()
		f := "scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '" + role + "'"
		vs := values(t, call(t, tn, "GET", "/v1.0/policies/roleManagementPolicyAssignments?$filter="+
			url.QueryEscape(f)+"&$expand="+url.QueryEscape("policy($expand=rules)"), app, nil))
		if len(vs) != 1 {
			t.Fatalf("%s: %d assignments", role, len(vs))
		}
		return vs[0]
	}
	pa := get(spRole)
	checkShape(t, "policy assignment", pa, `{"id":"x","policyId":"x","scopeId":"/","scopeType":"DirectoryRole",
		"roleDefinitionId":"x","policy":{}}`)
	pol := pa["policy"].(map[string]any)
	if !strings.HasPrefix(pa["policyId"].(string), "DirectoryRole_"+tn.TenantID()+"_") || pol["id"] != pa["policyId"] ||
		pa["id"] != pa["policyId"].(string)+"_"+spRole {
		t.Errorf("ids: %v / %v", pa["id"], pa["policyId"])
	}
	rules := map[string]map[string]any{}
	for _, r := range pol["rules"].([]any) {
		m := r.(map[string]any)
		rules[m["id"].(string)] = m
		if m["@odata.type"] == nil || m["target"] == nil {
			t.Errorf("rule %v lacks @odata.type or target", m["id"])
		}
	}
	if len(rules) != 17 {
		t.Errorf("%d rules, want 17", len(rules))
	}
	if got := rules["Expiration_EndUser_Assignment"]["maximumDuration"]; got != "PT1H" { // examples/tenant.yaml: stricter than Elevate
		t.Errorf("SharePoint max %v, want PT1H", got)
	}
	if got := rules["Enablement_EndUser_Assignment"]["enabledRules"]; len(got.([]any)) != 2 {
		t.Errorf("SharePoint enabledRules %v, want MFA + justification (defaults)", got)
	}
	checkShape(t, "approval rule", rules["Approval_EndUser_Assignment"], `{"@odata.type":"x","id":"x","setting":{},"target":{}}`)
	checkShape(t, "auth context rule", rules["AuthenticationContext_EndUser_Assignment"], `{"@odata.type":"x","id":"x","isEnabled":false,"claimValue":null,"target":{}}`)
	target := rules["Expiration_EndUser_Assignment"]["target"].(map[string]any)
	if target["caller"] != "EndUser" || target["level"] != "Assignment" {
		t.Errorf("target %v", target)
	}
	// An unlisted role gets the default policy.
	if got := get(graphtest.RoleUserAdministrator)["policy"].(map[string]any)["rules"].([]any); len(got) != 17 {
		t.Errorf("default policy: %d rules", len(got))
	}
	// The scope filters are required.
	r := call(t, tn, "GET", "/v1.0/policies/roleManagementPolicyAssignments?$filter="+
		url.QueryEscape("roleDefinitionId eq '"+gaRole+"'"), app, nil)
	if r.Status != 400 {
		t.Errorf("no scope filter: %d", r.Status)
	}
}

func TestPolicyApproversAndAuthContext(t *testing.T) {
	seed := demoSeed(t)
	seed.Policies = append(seed.Policies, graphtest.PolicyConfig{
		Role: "User Administrator", AuthContext: "c1", Ticket: ptr(true),
		Approval: &struct {
			Approvers []string `yaml:"approvers"`
		}{Approvers: []string{"carol@contoso.example", "PIM Approvers"}},
	})
	tn, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	f := "scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq '" + graphtest.RoleUserAdministrator + "'"
	vs := values(t, call(t, tn, "GET", "/v1.0/policies/roleManagementPolicyAssignments?$filter="+
		url.QueryEscape(f)+"&$expand=policy($expand=rules)", tn.AppToken(), nil))
	rules := map[string]map[string]any{}
	for _, r := range vs[0]["policy"].(map[string]any)["rules"].([]any) {
		rules[r.(map[string]any)["id"].(string)] = r.(map[string]any)
	}
	ac := rules["AuthenticationContext_EndUser_Assignment"]
	if ac["isEnabled"] != true || ac["claimValue"] != "c1" {
		t.Errorf("auth context: %v", ac)
	}
	en := rules["Enablement_EndUser_Assignment"]["enabledRules"].([]any)
	if !slices.Contains(en, any("Ticketing")) || !slices.Contains(en, any("MultiFactorAuthentication")) {
		t.Errorf("enabledRules %v", en)
	}
	set := rules["Approval_EndUser_Assignment"]["setting"].(map[string]any)
	stage := set["approvalStages"].([]any)[0].(map[string]any)
	ap := stage["primaryApprovers"].([]any)
	if set["isApprovalRequired"] != true || len(ap) != 2 {
		t.Fatalf("approval setting %v", set)
	}
	if a := ap[0].(map[string]any); a["@odata.type"] != "#microsoft.graph.singleUser" || a["userId"] != carol {
		t.Errorf("approver 0: %v", a)
	}
	if a := ap[1].(map[string]any); a["@odata.type"] != "#microsoft.graph.groupMembers" || a["groupId"] != "5e6c0000-0000-4000-8000-0000000000a1" {
		t.Errorf("approver 1: %v", a)
	}
}

func ptr[T any](v T) *T { return &v }

func TestUnknownPath(t *testing.T) {
	tn, _ := newDemo(t)
	r := call(t, tn, "GET", "/v1.0/nothingHere", tn.AppToken(), nil)
	if r.Status != 404 || errCode(r) != "ResourceNotFound" {
		t.Errorf("%d %s", r.Status, r.Raw)
	}
}

func TestThrottle(t *testing.T) {
	tn, _ := newDemo(t)
	app := tn.AppToken()
	tn.Throttle(2)
	for i := range 2 {
		r := call(t, tn, "GET", "/v1.0/users/"+alice, app, nil)
		if r.Status != 429 || r.Header.Get("Retry-After") != "0" || errCode(r) != "TooManyRequests" {
			t.Fatalf("request %d: %d %v %s", i, r.Status, r.Header, r.Raw)
		}
	}
	if r := call(t, tn, "GET", "/v1.0/users/"+alice, app, nil); r.Status != 200 {
		t.Fatalf("after throttling: %d", r.Status)
	}
}

func TestGzipBodiesAndCalls(t *testing.T) {
	tn, _ := newDemo(t)
	tok := userToken(t, tn, "alice@contoso.example")
	body := activation(alice, exRole, "PT1H", "INC-1 mail flow")
	r := call(t, tn, "POST", "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests", tok, gz(t, body),
		"Content-Encoding", "gzip")
	if r.Status != 201 {
		t.Fatalf("gzip POST: %d %s", r.Status, r.Raw)
	}
	// A body labelled gzip that is not (kiota-http-go #183 on retries) is refused like Graph does.
	r = call(t, tn, "POST", "/v1.0/users/"+alice+"/checkMemberGroups", tok, []byte(`{"groupIds":[]}`),
		"Content-Encoding", "gzip")
	if r.Status != 400 {
		t.Errorf("plain body labelled gzip: %d", r.Status)
	}
	calls := tn.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if c.Method != "POST" || c.Path != "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests" ||
		!strings.Contains(c.Body, `"selfActivate"`) || c.Caller != alice || c.Status != 201 {
		t.Errorf("recorded %+v", c)
	}
	call(t, tn, "GET", "/v1.0/users?$filter="+url.QueryEscape("mail eq 'a@b'"), tn.AppToken(), nil)
	if c := tn.Calls()[2]; c.Caller != "app" || !strings.Contains(c.Query, "filter") {
		t.Errorf("recorded %+v", c)
	}
}

func TestBetaPathsAndRoleDefinitions(t *testing.T) {
	tn, _ := newDemo(t)
	app := tn.AppToken()
	if r := call(t, tn, "GET", "/beta/users/"+alice, app, nil); r.Status != 200 {
		t.Errorf("beta user: %d", r.Status)
	}
	vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleDefinitions?$filter="+
		url.QueryEscape("displayName eq 'Exchange Administrator'"), app, nil))
	if len(vs) != 1 || vs[0]["id"] != exRole {
		t.Errorf("roleDefinitions: %v", vs)
	}
}

func TestPaging(t *testing.T) {
	tn, _ := newDemo(t, graphtest.WithPageSize(2))
	app := tn.AppToken()
	var ids []string
	next := tn.GraphURL() + "/v1.0/users"
	for pages := 0; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		u, err := url.Parse(next)
		if err != nil || u.Host != strings.TrimPrefix(tn.GraphURL(), "http://") {
			t.Fatalf("nextLink %q is not absolute on the tenant", next)
		}
		r := call(t, tn, "GET", u.RequestURI(), app, nil)
		for _, v := range values(t, r) {
			ids = append(ids, v["id"].(string))
		}
		next, _ = r.Body["@odata.nextLink"].(string)
	}
	if len(ids) != 8 || ids[0] != alice {
		t.Errorf("paged users: %v", ids)
	}
	// $top overrides the page size.
	r := call(t, tn, "GET", "/v1.0/users?$top=5", app, nil)
	if vs := values(t, r); len(vs) != 5 || r.Body["@odata.nextLink"] == nil {
		t.Errorf("$top=5: %d items, next %v", len(vs), r.Body["@odata.nextLink"])
	}
	if r := call(t, tn, "GET", "/v1.0/users?$top=0", app, nil); r.Status != 400 {
		t.Errorf("$top=0: %d", r.Status)
	}
}
