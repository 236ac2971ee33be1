package graphtest_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

func TestSignInLog(t *testing.T) {
	tn, clk := newDemo(t)
	since := clk.Now().Format(time.RFC3339)
	bg := "0b9a0000-0000-4000-8000-000000000001"
	if err := tn.SimulateSignIn(bg, "Azure Portal"); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if _, err := tn.Browse(context.Background(), authorizeURL(tn, nil), "alice@contoso.example"); err != nil {
		t.Fatal(err)
	}
	app := tn.AppToken()
	f := "userId eq '" + bg + "' and createdDateTime ge " + since
	vs := values(t, call(t, tn, "GET", "/v1.0/auditLogs/signIns?$filter="+url.QueryEscape(f)+"&$top=500", app, nil))
	if len(vs) != 1 || vs[0]["appDisplayName"] != "Azure Portal" || vs[0]["userPrincipalName"] != "breakglass1@contoso.example" {
		t.Fatalf("break-glass sign-ins: %v", vs)
	}
	checkShape(t, "signIn", vs[0], `{"id":"x","createdDateTime":"x","userId":"x","userPrincipalName":"x","userDisplayName":"x",
		"appId":"x","appDisplayName":"x","ipAddress":"x","isInteractive":true,"status":{},"location":{}}`)
	vs = values(t, call(t, tn, "GET", "/v1.0/auditLogs/signIns", app, nil))
	if len(vs) != 2 || vs[0]["userId"] != alice {
		t.Errorf("all sign-ins, newest first: %v", vs)
	}
	f = "createdDateTime ge " + clk.Now().Add(time.Second).Format(time.RFC3339)
	if vs := values(t, call(t, tn, "GET", "/v1.0/auditLogs/signIns?$filter="+url.QueryEscape(f), app, nil)); len(vs) != 0 {
		t.Errorf("after the last sign-in: %v", vs)
	}
}

func TestDirectoryAudits(t *testing.T) {
	tn, clk := newDemo(t)
	start := clk.Now()
	r := call(t, tn, "POST", requestsPath, userToken(t, tn, alice), activation(alice, exRole, "PT1H", "INC-7 mail"))
	if r.Status != 201 {
		t.Fatal(r.Raw)
	}
	if err := tn.PortalActivate("dave@contoso.example", "SharePoint Administrator", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Hour)
	app := tn.AppToken()
	f := "activityDisplayName eq 'Add member to role completed (PIM activation)' and activityDateTime ge " + start.Format(time.RFC3339)
	vs := values(t, call(t, tn, "GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape(f), app, nil))
	if len(vs) != 2 {
		t.Fatalf("completed activations: %v", vs)
	}
	checkShape(t, "directoryAudit", vs[0], `{"id":"x","category":"RoleManagement","activityDisplayName":"x",
		"activityDateTime":"x","loggedByService":"PIM","result":"success","operationType":"Add","initiatedBy":{},
		"targetResources":[],"additionalDetails":[]}`)
	f = "loggedByService eq 'PIM' and activityDisplayName eq 'Remove member from role (PIM activation expired)'"
	if vs := values(t, call(t, tn, "GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape(f), app, nil)); len(vs) != 2 {
		t.Errorf("expiries: %v", vs)
	}
	f = "initiatedBy/user/id eq '" + alice + "'"
	vs = values(t, call(t, tn, "GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape(f), app, nil))
	if len(vs) != 1 || vs[0]["activityDisplayName"] != "Add member to role requested (PIM activation)" {
		t.Errorf("alice's events: %v", vs)
	}
	if err := tn.AssignPermanent("bob@contoso.example", graphtest.RoleGlobalAdministrator); err != nil {
		t.Fatal(err)
	}
	f = "activityDisplayName eq 'Add member to role outside of PIM (permanent)'"
	vs = values(t, call(t, tn, "GET", "/v1.0/auditLogs/directoryAudits?$filter="+url.QueryEscape(f), app, nil))
	if len(vs) != 1 || vs[0]["loggedByService"] != "Core Directory" {
		t.Errorf("outside PIM: %v", vs)
	}
}
