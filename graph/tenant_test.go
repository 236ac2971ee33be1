package graph_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/go-cmp/cmp"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

// The simulated tenant these tests run against. Alice is eligible for Exchange directly and for
// Global Administrator through a nested group (Tier0 Admins ⊃ Tier0 Core ∋ alice).
const seedYAML = `
tenant_id: 7c3a0000-0000-4000-8000-00000000c0de
domain: contoso.example
client:
  client_id: e1e70000-0000-4000-8000-0000000000a9
  client_secret: test-secret
users:
  - {id: 11111111-1111-4111-8111-111111111111, upn: alice@contoso.example, display_name: Alice Admin, mail: alice@contoso.example}
  - {id: 22222222-2222-4222-8222-222222222222, upn: bob@contoso.example, display_name: Bob Builder}
  - {id: 55555555-5555-4555-8555-555555555555, upn: erin@contoso.example, display_name: Erin Evans}
groups:
  - {id: 9a000000-0000-4000-8000-000000000001, display_name: Tier0 Admins, members: [Tier0 Core]}
  - {id: 9a000000-0000-4000-8000-000000000002, display_name: Tier0 Core, members: [alice@contoso.example]}
  - {id: 5e6c0000-0000-4000-8000-0000000000a1, display_name: PIM Approvers, members: [bob@contoso.example]}
eligibilities:
  - {principal: alice@contoso.example, role: Exchange Administrator}
  - {principal: alice@contoso.example, role: SharePoint Administrator, end: 2099-01-01T00:00:00Z}
  - {principal: alice@contoso.example, role: Security Administrator}
  - {principal: alice@contoso.example, role: User Administrator}
  - {principal: Tier0 Admins, role: Global Administrator}
assignments:
  - {principal: erin@contoso.example, role: Global Administrator}
policies:
  - {role: Exchange Administrator, max_duration: PT8H, mfa: true, justification: true}
  - {role: SharePoint Administrator, max_duration: PT2H}
  - {role: Global Administrator, max_duration: PT4H, mfa: true, justification: true, ticket: true}
  - {role: Security Administrator, max_duration: PT1H, auth_context: c1}
  - {role: User Administrator, approval: {approvers: [PIM Approvers]}}
  - {group: PIM Approvers, max_duration: PT2H}
`

const (
	alice    = "11111111-1111-4111-8111-111111111111"
	bob      = "22222222-2222-4222-8222-222222222222"
	erin     = "55555555-5555-4555-8555-555555555555"
	tier0    = "9a000000-0000-4000-8000-000000000001"
	approver = "5e6c0000-0000-4000-8000-0000000000a1"
	redirect = "https://elevate.test/auth/callback"
)

func newTenant(t *testing.T, opts ...graphtest.Option) (*graphtest.Tenant, *graph.Client) {
	t.Helper()
	seed, err := graphtest.ParseSeed([]byte(seedYAML))
	if err != nil {
		t.Fatalf("ParseSeed: %v", err)
	}
	tenant, err := graphtest.New(seed, opts...)
	if err != nil {
		t.Fatalf("graphtest.New: %v", err)
	}
	t.Cleanup(tenant.Close)
	// The app credential exactly as the demo wires it.
	cred, err := azidentity.NewClientSecretCredential(tenant.TenantID(), tenant.ClientID(), tenant.ClientSecret(),
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: tenant.AuthorityURL()},
				Transport: tenant.HTTPClient()},
			DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatalf("NewClientSecretCredential: %v", err)
	}
	c, err := graph.New(graph.Config{
		GraphURL: tenant.GraphURL(), AuthorityHost: tenant.AuthorityURL(),
		TenantID: tenant.TenantID(), ClientID: tenant.ClientID(), ClientSecret: tenant.ClientSecret(),
		RedirectURL: redirect, HTTPClient: tenant.HTTPClient(), AppCredential: cred,
		PollInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("graph.New: %v", err)
	}
	return tenant, c
}

// signIn runs the browser round trip: SignInURL with a PKCE challenge, the simulated browser,
// the callback's code redeemed with the verifier. It asks for every delegated permission.
func signIn(t *testing.T, tenant *graphtest.Tenant, c *graph.Client, user, claims string, opts ...graphtest.BrowseOption) graph.UserToken {
	t.Helper()
	var all []string
	for _, s := range graph.DelegatedScopes {
		all = append(all, s.Name)
	}
	return signInFor(t, tenant, c, user, claims, all, opts...)
}

// signInFor is signIn asking for scopes only.
func signInFor(t *testing.T, tenant *graphtest.Tenant, c *graph.Client, user, claims string, scopes []string, opts ...graphtest.BrowseOption) graph.UserToken {
	t.Helper()
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	state := rand.Text()
	u, err := c.SignInURL(t.Context(), state, challenge, user, claims, scopes)
	if err != nil {
		t.Fatalf("SignInURL: %v", err)
	}
	back, err := tenant.Browse(t.Context(), u, user, opts...)
	if err != nil {
		t.Fatalf("Browse: %v", err)
	}
	if got := back.Query().Get("state"); got != state {
		t.Fatalf("callback state = %q, want %q", got, state)
	}
	tok, err := c.CompleteSignIn(t.Context(), back.Query().Get("code"), verifier, claims, scopes)
	if err != nil {
		t.Fatalf("CompleteSignIn: %v", err)
	}
	return tok
}

func TestTenantUser(t *testing.T) {
	_, c := newTenant(t)
	want := graph.User{ID: alice, UPN: "alice@contoso.example", DisplayName: "Alice Admin", Mail: "alice@contoso.example"}
	for _, ref := range []string{alice, "alice@contoso.example"} {
		got, err := c.User(t.Context(), ref)
		if err != nil {
			t.Fatalf("User(%s): %v", ref, err)
		}
		if got != want {
			t.Errorf("User(%s) = %+v, want %+v", ref, got, want)
		}
	}
	if _, err := c.User(t.Context(), "nobody@contoso.example"); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("User(nobody) error = %v, want ErrNotFound", err)
	}
}

func TestTenantEligibleRolesIncludeGroups(t *testing.T) {
	for _, pageSize := range []int{0, 1} {
		t.Run(fmt.Sprintf("page size %d", pageSize), func(t *testing.T) {
			var opts []graphtest.Option
			if pageSize > 0 {
				opts = append(opts, graphtest.WithPageSize(pageSize))
			}
			tenant := testEligibleRoles(t, opts...)
			paged := slices.ContainsFunc(tenant.Calls(), func(c graphtest.Call) bool { return strings.Contains(c.Query, "skiptoken") })
			if paged != (pageSize == 1) {
				t.Errorf("followed a nextLink: %v, want %v", paged, pageSize == 1)
			}
		})
	}
}

func testEligibleRoles(t *testing.T, opts ...graphtest.Option) *graphtest.Tenant {
	t.Helper()
	tenant, c := newTenant(t, opts...)
	got, err := c.EligibleRoles(t.Context(), alice)
	if err != nil {
		t.Fatalf("EligibleRoles: %v", err)
	}
	want := []graph.Eligibility{
		{RoleID: graphtest.RoleExchangeAdministrator, RoleName: "Exchange Administrator"},
		{RoleID: graphtest.RoleGlobalAdministrator, RoleName: "Global Administrator", ViaGroupID: tier0, ViaGroupName: "Tier0 Admins"},
		{RoleID: graphtest.RoleSecurityAdministrator, RoleName: "Security Administrator"},
		{RoleID: graphtest.RoleSharePointAdministrator, RoleName: "SharePoint Administrator", EndsAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)},
		{RoleID: graphtest.RoleUserAdministrator, RoleName: "User Administrator"},
	}
	if d := cmp.Diff(got, want, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("EligibleRoles (-got +want):\n%s", d)
	}
	none, err := c.EligibleRoles(t.Context(), erin)
	if err != nil || len(none) != 0 {
		t.Errorf("EligibleRoles(erin) = %v, %v; want none", none, err)
	}
	return tenant
}

func TestTenantRolePolicy(t *testing.T) {
	_, c := newTenant(t)
	tests := []struct {
		role string
		want graph.RolePolicy
	}{
		{graphtest.RoleExchangeAdministrator, graph.RolePolicy{MaxDuration: 8 * time.Hour, RequireMFA: true, RequireJustification: true}},
		{graphtest.RoleSharePointAdministrator, graph.RolePolicy{MaxDuration: 2 * time.Hour, RequireMFA: true, RequireJustification: true}},
		{graphtest.RoleGlobalAdministrator, graph.RolePolicy{MaxDuration: 4 * time.Hour, RequireMFA: true, RequireJustification: true, RequireTicket: true}},
		{graphtest.RoleSecurityAdministrator, graph.RolePolicy{MaxDuration: time.Hour, RequireMFA: true, RequireJustification: true, AuthContext: "c1"}},
		{graphtest.RoleUserAdministrator, graph.RolePolicy{MaxDuration: 8 * time.Hour, RequireMFA: true, RequireJustification: true, RequireApproval: true}},
	}
	for _, tt := range tests {
		got, err := c.RolePolicy(t.Context(), tt.role)
		if err != nil {
			t.Fatalf("RolePolicy(%s): %v", tt.role, err)
		}
		tt.want.RoleID = tt.role
		if tt.role == graphtest.RoleUserAdministrator && (len(got.ApproverGroups) != 1 || got.ApproverGroups[0] != approver) {
			t.Errorf("RolePolicy(%s) approvers = %v %v, want the PIM Approvers group", tt.role, got.ApproverUsers, got.ApproverGroups)
		}
		got.ApproverUsers, got.ApproverGroups = nil, nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("RolePolicy(%s) = %+v, want %+v", tt.role, got, tt.want)
		}
	}
}

// TestTenantGroupPolicy: a PIM for Groups member policy is read with scopeType Group.
func TestTenantGroupPolicy(t *testing.T) {
	_, c := newTenant(t)
	got, err := c.GroupPolicy(t.Context(), approver, "member")
	if err != nil {
		t.Fatalf("GroupPolicy: %v", err)
	}
	if got.MaxDuration != 2*time.Hour || got.RoleID != approver {
		t.Errorf("GroupPolicy = %+v, want a 2h maximum", got)
	}
	if _, err := c.GroupPolicy(t.Context(), "00000000-0000-4000-8000-00000000dead", "member"); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("GroupPolicy(unknown group) = %v, want not found", err)
	}
}

func TestTenantMemberOfAny(t *testing.T) {
	_, c := newTenant(t)
	got, err := c.MemberOfAny(t.Context(), bob, []string{approver, tier0})
	if err != nil {
		t.Fatalf("MemberOfAny: %v", err)
	}
	if !slices.Equal(got, []string{approver}) {
		t.Errorf("MemberOfAny(bob) = %v, want [%s]", got, approver)
	}
	got, err = c.MemberOfAny(t.Context(), alice, []string{approver, tier0})
	if err != nil || !slices.Equal(got, []string{tier0}) {
		t.Errorf("MemberOfAny(alice) = %v, %v; want [%s] (transitive)", got, err, tier0)
	}
}

func TestTenantActiveAssignments(t *testing.T) {
	_, c := newTenant(t)
	got, err := c.ActiveAssignments(t.Context(), erin)
	if err != nil {
		t.Fatalf("ActiveAssignments: %v", err)
	}
	if len(got) != 1 || got[0].RoleID != graphtest.RoleGlobalAdministrator || got[0].AssignmentType != "Assigned" ||
		!got[0].End.IsZero() || got[0].PrincipalID != erin {
		t.Errorf("ActiveAssignments(erin) = %+v, want one permanent Assigned Global Administrator", got)
	}
}

func TestTenantSignInAndActivate(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	tenant, c := newTenant(t, graphtest.WithActivationDelay(time.Minute), graphtest.WithClock(clock.Now))
	tok := signIn(t, tenant, c, "alice@contoso.example", "")
	if tok.UserID != alice || tok.UPN != "alice@contoso.example" || !slices.Contains(tok.AMR, "mfa") ||
		tok.AccessToken == "" || time.Until(tok.ExpiresOn) < 30*time.Minute || time.Since(tok.AuthTime) > time.Minute {
		t.Fatalf("token = %v, want alice's MFA sign-in, fresh", tok)
	}
	if strings.Contains(tok.String(), tok.AccessToken) {
		t.Error("UserToken.String() prints the access token")
	}

	tenant.ResetCalls()
	act, err := c.Activate(t.Context(), tok, graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator,
		Duration: time.Hour, Justification: "INC-42 mail flow", TicketNumber: "INC-42", TicketSystem: "Jira"})
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if act.Status != "Granted" || act.RequestID == "" {
		t.Errorf("Activate = %+v, want Granted with a request id", act)
	}
	calls := tenant.Calls()
	if len(calls) != 1 || calls[0].Method != "POST" || calls[0].Caller != alice {
		t.Fatalf("calls = %+v, want one POST made with alice's token", calls)
	}
	for _, want := range []string{`"action":"selfActivate"`, `"duration":"PT1H"`, `"ticketNumber":"INC-42"`} {
		if !strings.Contains(calls[0].Body, want) {
			t.Errorf("body %s lacks %s", calls[0].Body, want)
		}
	}

	// PIM's provisioning lag: granted, not usable yet. WaitUsable keeps polling until the
	// tenant's clock passes the delay.
	if as, err := c.ActiveAssignments(t.Context(), alice); err != nil || len(as) != 0 {
		t.Errorf("ActiveAssignments right after Activate = %+v, %v; want none yet", as, err)
	}
	type result struct {
		a   graph.Assignment
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := c.WaitUsable(t.Context(), alice, graphtest.RoleExchangeAdministrator)
		done <- result{a, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for polls := 0; polls < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("WaitUsable polled %d times in 10s", polls)
		}
		polls = 0
		for _, call := range tenant.Calls() {
			if strings.HasSuffix(call.Path, "/roleAssignmentScheduleInstances") {
				polls++
			}
		}
		select {
		case r := <-done:
			t.Fatalf("WaitUsable returned %+v, %v before the activation delay passed", r.a, r.err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	clock.Add(2 * time.Minute)
	res := <-done
	a, err := res.a, res.err
	if err != nil {
		t.Fatalf("WaitUsable: %v", err)
	}
	if a.AssignmentType != "Activated" || a.PrincipalID != alice || a.End.Sub(a.Start) != time.Hour {
		t.Errorf("assignment = %+v, want alice's 1h activation", a)
	}
	for _, call := range tenant.Calls()[1:] {
		if call.Caller != "app" {
			t.Errorf("%s %s made as %q, want the app identity", call.Method, call.Path, call.Caller)
		}
	}

	// Again: PIM says it exists.
	_, err = c.Activate(t.Context(), tok, graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator,
		Duration: time.Hour, Justification: "again"})
	if !errors.Is(err, graph.ErrRoleAssignmentExists) {
		t.Errorf("second Activate error = %v, want ErrRoleAssignmentExists", err)
	}
}

func TestTenantWaitUsableGivesUp(t *testing.T) {
	tenant, c := newTenant(t, graphtest.WithActivationDelay(time.Hour))
	tok := signIn(t, tenant, c, "alice@contoso.example", "")
	if _, err := c.Activate(t.Context(), tok, graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator,
		Duration: time.Hour, Justification: "x"}); err != nil {
		t.Fatalf("Activate: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.WaitUsable(ctx, alice, graphtest.RoleExchangeAdministrator); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitUsable error = %v, want DeadlineExceeded", err)
	}
}

func TestTenantPolicyErrors(t *testing.T) {
	tenant, c := newTenant(t)
	withMFA := signIn(t, tenant, c, "alice@contoso.example", "")
	noMFA := signIn(t, tenant, c, "alice@contoso.example", "", graphtest.WithoutMFA())
	tests := []struct {
		name string
		tok  graph.UserToken
		req  graph.ActivationRequest
		is   error
		rule string
	}{
		{"mfa", noMFA, graph.ActivationRequest{RoleID: graphtest.RoleExchangeAdministrator, Duration: time.Hour, Justification: "x"},
			graph.ErrPolicyValidation, "MfaRule"},
		{"too long", withMFA, graph.ActivationRequest{RoleID: graphtest.RoleSharePointAdministrator, Duration: 4 * time.Hour, Justification: "x"},
			graph.ErrPolicyValidation, "ExpirationRule"},
		{"no justification", withMFA, graph.ActivationRequest{RoleID: graphtest.RoleExchangeAdministrator, Duration: time.Hour},
			graph.ErrPolicyValidation, "JustificationRule"},
		{"no ticket", withMFA, graph.ActivationRequest{RoleID: graphtest.RoleGlobalAdministrator, Duration: time.Hour, Justification: "x"},
			graph.ErrPolicyValidation, "TicketingRule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.UserID = alice
			_, err := c.Activate(t.Context(), tt.tok, tt.req)
			var ge *graph.Error
			if !errors.Is(err, tt.is) || !errors.As(err, &ge) {
				t.Fatalf("Activate error = %v, want %v", err, tt.is)
			}
			if ge.Rule != tt.rule || ge.Status != 400 || ge.RequestID == "" {
				t.Errorf("error = %+v, want rule %s, status 400, a request id", ge, tt.rule)
			}
		})
	}
}

func TestTenantAuthContextStepUp(t *testing.T) {
	tenant, c := newTenant(t)
	req := graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleSecurityAdministrator, Duration: 30 * time.Minute, Justification: "x"}
	tok := signIn(t, tenant, c, "alice@contoso.example", "")
	_, err := c.Activate(t.Context(), tok, req)
	var ge *graph.Error
	if !errors.Is(err, graph.ErrAcrsRequired) || !errors.As(err, &ge) {
		t.Fatalf("Activate error = %v, want ErrAcrsRequired", err)
	}
	const wantClaims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	if ge.Claims != wantClaims {
		t.Fatalf("Claims = %q, want %q", ge.Claims, wantClaims)
	}
	// The step-up sign-in carries the claims (and CP1); the new token satisfies c1.
	stepped := signIn(t, tenant, c, "alice@contoso.example", ge.Claims)
	if !slices.Contains(stepped.ACRS, "c1") {
		t.Fatalf("stepped-up token acrs = %v, want c1", stepped.ACRS)
	}
	if _, err := c.Activate(t.Context(), stepped, req); err != nil {
		t.Errorf("Activate after step-up: %v", err)
	}
}

func TestTenantPendingApproval(t *testing.T) {
	tenant, c := newTenant(t)
	tok := signIn(t, tenant, c, "alice@contoso.example", "")
	act, err := c.Activate(t.Context(), tok, graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleUserAdministrator,
		Duration: time.Hour, Justification: "onboarding"})
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if act.Status != "PendingApproval" || act.ApprovalID == "" {
		t.Errorf("Activate = %+v, want PendingApproval with an approval id", act)
	}
}

func TestTenantThrottling(t *testing.T) {
	tenant, c := newTenant(t)
	if _, err := c.User(t.Context(), alice); err != nil { // gets the app token first
		t.Fatalf("User: %v", err)
	}
	tenant.Throttle(2)
	if _, err := c.User(t.Context(), alice); err != nil {
		t.Errorf("User after 2 throttled answers: %v, want the retries to get through", err)
	}
	tenant.Throttle(100)
	tenant.ResetCalls()
	_, err := c.User(t.Context(), alice)
	var ge *graph.Error
	if !errors.Is(err, graph.ErrThrottled) || !errors.As(err, &ge) || ge.Status != 429 {
		t.Fatalf("User error = %v, want ErrThrottled (429)", err)
	}
	if n := len(tenant.Calls()); n != 4 {
		t.Errorf("Graph saw %d attempts, want 4 (1 + 3 retries)", n)
	}
	tenant.Throttle(0)
}

func TestTenantSignInRefusesWrongVerifier(t *testing.T) {
	tenant, c := newTenant(t)
	sum := sha256.Sum256([]byte("right-verifier-right-verifier-right-verifier"))
	u, err := c.SignInURL(t.Context(), "st", base64.RawURLEncoding.EncodeToString(sum[:]), "", "", nil)
	if err != nil {
		t.Fatalf("SignInURL: %v", err)
	}
	back, err := tenant.Browse(t.Context(), u, "alice@contoso.example")
	if err != nil {
		t.Fatalf("Browse: %v", err)
	}
	if _, err := c.CompleteSignIn(t.Context(), back.Query().Get("code"), "wrong-verifier-wrong-verifier-wrong-verifier", "", nil); err == nil {
		t.Error("CompleteSignIn with the wrong PKCE verifier succeeded")
	}
}

func TestAppCredentialFromConfig(t *testing.T) {
	tenant, _ := newTenant(t)
	cfg := graph.Config{GraphURL: tenant.GraphURL(), AuthorityHost: tenant.AuthorityURL(), TenantID: tenant.TenantID(),
		ClientID: tenant.ClientID(), ClientSecret: tenant.ClientSecret(), RedirectURL: redirect, HTTPClient: tenant.HTTPClient()}
	c, err := graph.New(cfg) // no AppCredential: built from the client secret
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := c.User(t.Context(), alice); err != nil {
		t.Fatalf("User with the config-built credential: %v", err)
	}
	if calls := tenant.Calls(); len(calls) == 0 || calls[len(calls)-1].Caller != "app" {
		t.Errorf("calls = %+v, want the last one made as the app", calls)
	}
}

func TestTenantApprovalAndDeactivate(t *testing.T) {
	tenant, c := newTenant(t)
	aliceTok := signIn(t, tenant, c, "alice@contoso.example", "")
	bobTok := signIn(t, tenant, c, "bob@contoso.example", "")
	act, err := c.Activate(t.Context(), aliceTok, graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleUserAdministrator,
		Duration: time.Hour, Justification: "onboarding"})
	if err != nil || act.Status != "PendingApproval" {
		t.Fatalf("Activate = %+v, %v; want PendingApproval", act, err)
	}
	if err := c.ReviewApproval(t.Context(), aliceTok, act.ApprovalID, true, "me"); !errors.Is(err, graph.ErrForbidden) {
		t.Errorf("self-approval error = %v, want ErrForbidden", err)
	}
	if err := c.ReviewApproval(t.Context(), bobTok, act.ApprovalID, true, "approved in #pim by bob"); err != nil {
		t.Fatalf("ReviewApproval(bob): %v", err)
	}
	if err := c.ReviewApproval(t.Context(), bobTok, act.ApprovalID, false, "changed my mind"); !errors.Is(err, graph.ErrConflict) {
		t.Errorf("second decision error = %v, want ErrConflict", err)
	}
	for _, call := range tenant.Calls() {
		if strings.Contains(call.Path, "roleAssignmentApprovals") && call.Method == "PATCH" && call.Status == 204 && call.Caller != bob {
			t.Errorf("approval made as %q, want bob's token", call.Caller)
		}
	}
	if _, err := c.WaitUsable(t.Context(), alice, graphtest.RoleUserAdministrator); err != nil {
		t.Fatalf("WaitUsable after approval: %v", err)
	}

	if _, err := c.Deactivate(t.Context(), aliceTok, bob, graphtest.RoleUserAdministrator); err == nil {
		t.Error("Deactivate with alice's token for bob succeeded")
	}
	if _, err := c.Deactivate(t.Context(), aliceTok, alice, graphtest.RoleUserAdministrator); !errors.Is(err, graph.ErrActiveDurationTooShort) {
		t.Errorf("Deactivate at once = %v, want ErrActiveDurationTooShort", err)
	}
	tenant.Advance(6 * time.Minute)
	d, err := c.Deactivate(t.Context(), aliceTok, alice, graphtest.RoleUserAdministrator)
	if err != nil || d.Status != "Revoked" {
		t.Fatalf("Deactivate = %+v, %v; want Revoked", d, err)
	}
	as, err := c.ActiveAssignments(t.Context(), alice)
	if err != nil {
		t.Fatalf("ActiveAssignments: %v", err)
	}
	for _, a := range as {
		if a.RoleID == graphtest.RoleUserAdministrator {
			t.Errorf("assignment %+v still active after Deactivate", a)
		}
	}
}

// fakeClock is the simulated tenant's clock, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestTenantWrongAppSecret(t *testing.T) {
	tenant, _ := newTenant(t)
	c, err := graph.New(graph.Config{GraphURL: tenant.GraphURL(), AuthorityHost: tenant.AuthorityURL(), TenantID: tenant.TenantID(),
		ClientID: tenant.ClientID(), ClientSecret: "s3cr3t-wrong-value", RedirectURL: redirect, HTTPClient: tenant.HTTPClient()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = c.User(t.Context(), alice)
	if !errors.Is(err, graph.ErrUnauthorized) {
		t.Errorf("User with a wrong app secret: %v, want ErrUnauthorized", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cr3t-wrong-value") {
		t.Errorf("error shows the secret: %v", err)
	}
}
