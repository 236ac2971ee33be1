package graph_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

// A tenant for the rest of PIM: PIM for Groups (Tier1 Admins, with an approval variant) and
// a standing group assignment.
const groupSeedYAML = seedYAML + `
group_eligibilities:
  - {principal: alice@contoso.example, group: Tier1 Admins}
  - {principal: alice@contoso.example, group: Tier1 Approved}
`

func newGroupTenant(t *testing.T, opts ...graphtest.Option) (*graphtest.Tenant, *graph.Client) {
	t.Helper()
	y := strings.Replace(groupSeedYAML, "groups:\n", "groups:\n  - {id: 71e10000-0000-4000-8000-000000000001, display_name: Tier1 Admins}\n"+
		"  - {id: 71e10000-0000-4000-8000-000000000002, display_name: Tier1 Approved}\n", 1)
	y = strings.Replace(y, "policies:\n", "policies:\n  - {group: Tier1 Admins, max_duration: PT4H}\n"+
		"  - {group: Tier1 Approved, max_duration: PT4H, approval: {approvers: [PIM Approvers]}}\n", 1)
	seed, err := graphtest.ParseSeed([]byte(y))
	if err != nil {
		t.Fatalf("ParseSeed: %v", err)
	}
	tenant, err := graphtest.New(seed, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tenant.Close)
	c, err := graph.New(graph.Config{GraphURL: tenant.GraphURL(), AuthorityHost: tenant.AuthorityURL(),
		TenantID: tenant.TenantID(), ClientID: tenant.ClientID(), ClientSecret: tenant.ClientSecret(),
		RedirectURL: redirect, HTTPClient: tenant.HTTPClient(), PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return tenant, c
}

// userTok mints a user's token without the browser (the sign-in round trip is tested elsewhere).
func userTok(t *testing.T, tenant *graphtest.Tenant, id string, opts ...graphtest.BrowseOption) graph.UserToken {
	t.Helper()
	raw, err := tenant.UserToken(id, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return graph.UserToken{AccessToken: raw, UserID: id, ExpiresOn: time.Now().Add(time.Hour)}
}

const (
	tier1         = "71e10000-0000-4000-8000-000000000001"
	tier1Approved = "71e10000-0000-4000-8000-000000000002"
)

func TestPIMForGroups(t *testing.T) {
	tenant, c := newGroupTenant(t)
	ctx := t.Context()
	els, err := c.EligibleGroups(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(els) != 2 || els[0].GroupName != "Tier1 Admins" || els[0].AccessID != "member" {
		t.Fatalf("eligible groups: %+v", els)
	}
	tok := userTok(t, tenant, alice)
	act, err := c.ActivateGroup(ctx, tok, graph.GroupActivationRequest{UserID: alice, GroupID: tier1, Duration: 2 * time.Hour, Justification: "rotate"})
	if err != nil || act.Status != "Provisioned" {
		t.Fatalf("activate: %+v %v", act, err)
	}
	if err := c.WaitGroupUsable(ctx, alice, tier1); err != nil {
		t.Fatal(err)
	}
	body := tenant.Calls()[len(tenant.Calls())-2].Body
	for _, want := range []string{`"action":"selfActivate"`, `"accessId":"member"`, `"duration":"PT2H"`, `"groupId":"` + tier1 + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("activation body %s lacks %s", body, want)
		}
	}
	if _, err := c.DeactivateGroup(ctx, tok, alice, tier1, ""); !errors.Is(err, graph.ErrActiveDurationTooShort) {
		t.Errorf("deactivate at once: %v, want ErrActiveDurationTooShort", err)
	}
	tenant.Advance(6 * time.Minute)
	if _, err := c.DeactivateGroup(ctx, tok, alice, tier1, ""); err != nil {
		t.Errorf("deactivate: %v", err)
	}

	// With PIM's approval: the v1.0 stages, by an approver's token; a second decision is a conflict.
	act, err = c.ActivateGroup(ctx, tok, graph.GroupActivationRequest{UserID: alice, GroupID: tier1Approved, Duration: time.Hour, Justification: "x"})
	if err != nil || act.Status != "PendingApproval" || act.ApprovalID != act.RequestID {
		t.Fatalf("activate with approval: %+v %v", act, err)
	}
	if err := c.ReviewGroupApproval(ctx, tok, act.ApprovalID, true, "mine"); !errors.Is(err, graph.ErrForbidden) {
		t.Errorf("self-approval: %v", err)
	}
	if err := c.ReviewGroupApproval(ctx, userTok(t, tenant, bob), act.ApprovalID, true, "ok"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if err := c.ReviewGroupApproval(ctx, userTok(t, tenant, bob), act.ApprovalID, true, "ok"); !errors.Is(err, graph.ErrConflict) {
		t.Errorf("second approval: %v, want ErrConflict", err)
	}
	if r, err := c.GroupRequest(ctx, tok, act.RequestID); err != nil || r.Status != "Provisioned" {
		t.Errorf("after approval: %+v %v", r, err)
	}
}

func TestReviewAndCancelRoleRequest(t *testing.T) {
	tenant, c := newTenant(t)
	ctx := t.Context()
	tok := userTok(t, tenant, alice)
	req := graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleUserAdministrator, Duration: time.Hour, Justification: "reset"}
	act, err := c.Activate(ctx, tok, req)
	if err != nil || act.Status != "PendingApproval" {
		t.Fatalf("%+v %v", act, err)
	}
	if err := c.CancelRoleRequest(ctx, tok, act.RequestID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if r, err := c.RoleRequest(ctx, tok, act.RequestID); err != nil || r.Status != "Canceled" {
		t.Errorf("after cancel: %+v %v", r, err)
	}
	act, err = c.Activate(ctx, tok, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReviewRoleRequest(ctx, userTok(t, tenant, bob), act.RequestID, true, "approved in chat"); err != nil {
		t.Fatalf("review: %v", err)
	}
	if err := c.ReviewRoleRequest(ctx, userTok(t, tenant, bob), act.RequestID, false, "late"); !errors.Is(err, graph.ErrConflict) {
		t.Errorf("second review: %v, want ErrConflict", err)
	}
	if _, err := c.WaitUsable(ctx, alice, graphtest.RoleUserAdministrator); err != nil {
		t.Error(err)
	}
}

func TestStandingAssignmentsAndConvert(t *testing.T) {
	tenant, c := newTenant(t)
	ctx := t.Context()
	if err := tenant.AssignPermanent(approver, "Exchange Administrator"); err != nil {
		t.Fatal(err)
	}
	got, err := c.StandingAssignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("standing: %+v", got)
	}
	ex, ga := got[0], got[1]
	if ex.RoleName != "Exchange Administrator" || ex.PrincipalType != "group" || len(ex.Members) != 1 || ex.Members[0].ID != bob {
		t.Errorf("group assignment: %+v", ex)
	}
	if ga.RoleName != "Global Administrator" || ga.PrincipalID != erin || ga.PrincipalUPN != "erin@contoso.example" {
		t.Errorf("erin's assignment: %+v", ga)
	}
	// Only an admin with an active privileged role may convert.
	admin := userTok(t, tenant, alice)
	if _, err := c.ConvertToEligible(ctx, admin, erin, graphtest.RoleGlobalAdministrator, "convert"); !errors.Is(err, graph.ErrForbidden) {
		t.Fatalf("convert without an active role: %v", err)
	}
	if _, err := c.Activate(ctx, admin, graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleGlobalAdministrator,
		Duration: time.Hour, Justification: "INC-1 convert erin", TicketNumber: "INC-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitUsable(ctx, alice, graphtest.RoleGlobalAdministrator); err != nil {
		t.Fatal(err)
	}
	tenant.ResetCalls()
	conv, err := c.ConvertToEligible(ctx, admin, erin, graphtest.RoleGlobalAdministrator, "standing access replaced by eligibility")
	if err != nil || conv.EligibilityRequestID == "" || conv.RemovalRequestID == "" {
		t.Fatalf("convert: %+v %v", conv, err)
	}
	var order []string
	for _, call := range tenant.Calls() {
		if call.Method == http.MethodPost {
			order = append(order, call.Path[strings.LastIndex(call.Path, "/")+1:])
			if call.Caller != alice {
				t.Errorf("%s made by %q, want the admin's own token", call.Path, call.Caller)
			}
		}
	}
	if !slices.Equal(order, []string{"roleEligibilityScheduleRequests", "roleAssignmentScheduleRequests"}) {
		t.Errorf("writes %v: the eligibility must come first", order)
	}
	if got, _ := c.StandingAssignments(ctx); slices.ContainsFunc(got, func(s graph.StandingAssignment) bool { return s.PrincipalID == erin }) {
		t.Errorf("erin is still standing: %+v", got)
	}
}

func TestAuditsAndBreakGlassSignIns(t *testing.T) {
	tenant, c := newTenant(t)
	ctx := t.Context()
	since := time.Now().Add(-time.Minute)
	if err := tenant.PortalActivate("alice@contoso.example", "Exchange Administrator", time.Hour); err != nil {
		t.Fatal(err)
	}
	evs, err := c.DirectoryAudits(ctx, graph.ActivityActivationCompleted, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].RoleName != "Exchange Administrator" || evs[0].TargetID != alice || evs[0].RequestID == "" {
		t.Errorf("audits: %+v", evs)
	}
	if err := tenant.SimulateSignIn("erin@contoso.example", "Azure Portal"); err != nil {
		t.Fatal(err)
	}
	ins, err := c.BreakGlassSignIns(ctx, []string{erin, bob}, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].UserID != erin || ins[0].App != "Azure Portal" || !ins[0].MFA {
		t.Errorf("sign-ins: %+v", ins)
	}
}

func TestPermissionsAndProbes(t *testing.T) {
	_, c := newTenant(t)
	granted, err := c.GrantedPermissions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	missing, optional, excess := graph.Grants(granted)
	if len(missing) != 0 || len(excess) != 0 {
		t.Errorf("default grants: missing %v, excess %v", missing, excess)
	}
	if len(optional) != 1 || optional[0].Name != "RoleEligibilitySchedule.Remove.Directory" {
		t.Errorf("optional: %v", optional)
	}
	missing, _, excess = graph.Grants([]string{"RoleManagement.ReadWrite.Directory", "User.Read.All"})
	if len(excess) != 1 || !slices.ContainsFunc(missing, func(p graph.Permission) bool { return p.Name == "AuditLog.Read.All" }) {
		t.Errorf("missing %v, excess %v", missing, excess)
	}
	for _, p := range c.Probes(t.Context(), true) {
		if p.Err != nil {
			t.Errorf("%s: %v", p.Name, p.Err)
		}
	}
}

func TestOutageIsUnavailable(t *testing.T) {
	tenant, c := newTenant(t)
	tenant.Outage(1, http.StatusInternalServerError)
	if _, err := c.ActiveAssignments(t.Context(), alice); !errors.Is(err, graph.ErrUnavailable) {
		t.Errorf("500: %v, want ErrUnavailable", err)
	}
	tenant.LoseResponses(1)
	_, err := c.Activate(t.Context(), userTok(t, tenant, alice), graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator,
		Duration: time.Hour, Justification: "x"})
	if !errors.Is(err, graph.ErrUnavailable) {
		t.Fatalf("lost answer: %v, want ErrUnavailable", err)
	}
	// The write went through: a look shows it, so a retry must not post again.
	if as, _ := c.ActiveAssignments(t.Context(), alice); len(as) != 1 {
		t.Errorf("after a lost answer: %+v", as)
	}
}

// Cost: one activation with warm caches (policy read before, token held) is one write and one
// read (the first "usable?" poll) when PIM provisions at once. docs/benchmarks.md records it.
func TestActivationCostWarm(t *testing.T) {
	tenant, c := newTenant(t)
	ctx := t.Context()
	if _, err := c.RolePolicy(ctx, graphtest.RoleExchangeAdministrator); err != nil {
		t.Fatal(err)
	}
	tok := userTok(t, tenant, alice)
	tenant.ResetCalls()
	if _, err := c.RolePolicy(ctx, graphtest.RoleExchangeAdministrator); err != nil { // cached: no call
		t.Fatal(err)
	}
	if _, err := c.Activate(ctx, tok, graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator, Duration: time.Hour, Justification: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitUsable(ctx, alice, graphtest.RoleExchangeAdministrator); err != nil {
		t.Fatal(err)
	}
	var writes, reads int
	for _, call := range tenant.Calls() {
		if call.Method == http.MethodGet {
			reads++
		} else {
			writes++
		}
	}
	if writes != 1 || reads != 1 {
		t.Errorf("activation: %d writes, %d reads; want 1 and 1", writes, reads)
	}
}
