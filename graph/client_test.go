package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"
)

// appCred stands in for the bot's app-only credential.
type appCred struct{ calls atomic.Int32 }

func (c *appCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{Token: "app-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// seen is one request as the fake Graph received it.
type seen struct {
	Method, Path, Query, Auth, ContentEncoding string
	Body                                       []byte
}

// fakeGraph answers from a route table ("METHOD /v1.0/path" → handler) and records requests.
type fakeGraph struct {
	mu     sync.Mutex
	reqs   []seen
	routes map[string]http.HandlerFunc
}

func (f *fakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), ContentEncoding: r.Header.Get("Content-Encoding"), Body: body})
	h := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if h == nil {
		writeJSON(w, 404, `{"error":{"code":"Request_ResourceNotFound","message":"no route"}}`)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	h(w, r)
}

func (f *fakeGraph) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		writeJSON(w, status, body)
	}
}

func newFake(t *testing.T, routes map[string]http.HandlerFunc) (*Client, *fakeGraph, *appCred) {
	t.Helper()
	f := &fakeGraph{routes: routes}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cred := &appCred{}
	c, err := New(Config{GraphURL: srv.URL, TenantID: "t1", ClientID: "c1", HTTPClient: srv.Client(),
		AppCredential: cred, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, f, cred
}

var userTok = UserToken{AccessToken: "user-token", UserID: "u1", ExpiresOn: time.Now().Add(time.Hour)}

func TestActivateWire(t *testing.T) {
	c, f, cred := newFake(t, map[string]http.HandlerFunc{
		"POST /v1.0/roleManagement/directory/roleAssignmentScheduleRequests": reply(201,
			`{"id":"req1","status":"PendingApproval","approvalId":"req1"}`),
	})
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := c.Activate(t.Context(), userTok, ActivationRequest{UserID: "u1", RoleID: "r1",
		Duration: 90*time.Minute + 20*time.Second, Justification: "INC-1 mail flow", TicketNumber: "INC-1",
		TicketSystem: "Jira", Start: start})
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if want := (Activation{RequestID: "req1", Status: "PendingApproval", ApprovalID: "req1"}); got != want {
		t.Errorf("Activate = %+v, want %+v", got, want)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Auth != "Bearer user-token" {
		t.Errorf("Authorization = %q, want the user's token", r.Auth)
	}
	if cred.calls.Load() != 0 {
		t.Errorf("app credential called %d times for an activation", cred.calls.Load())
	}
	if r.ContentEncoding != "" {
		t.Errorf("Content-Encoding = %q, want none (compression off)", r.ContentEncoding)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	want := map[string]any{
		"action": "selfActivate", "principalId": "u1", "roleDefinitionId": "r1", "directoryScopeId": "/",
		"justification": "INC-1 mail flow",
		"scheduleInfo": map[string]any{"startDateTime": "2025-01-02T03:04:05Z",
			"expiration": map[string]any{"type": "afterDuration", "duration": "PT1H30M"}},
		"ticketInfo": map[string]any{"ticketNumber": "INC-1", "ticketSystem": "Jira"},
	}
	if d := cmp.Diff(body, want); d != "" {
		t.Errorf("body (-got +want):\n%s", d)
	}
}

func TestActivateRefusesBeforeSending(t *testing.T) {
	c, f, _ := newFake(t, nil)
	req := ActivationRequest{UserID: "u1", RoleID: "r1", Duration: time.Hour}
	tests := []struct {
		name string
		tok  UserToken
		req  ActivationRequest
		is   error
	}{
		{"no token", UserToken{}, req, ErrUnauthorized},
		{"expired", UserToken{AccessToken: "x", UserID: "u1", ExpiresOn: time.Now().Add(-time.Minute)}, req, ErrUnauthorized},
		{"other user's token", UserToken{AccessToken: "x", UserID: "u2"}, req, nil},
		{"no duration", userTok, ActivationRequest{UserID: "u1", RoleID: "r1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Activate(t.Context(), tt.tok, tt.req)
			if err == nil {
				t.Fatal("Activate succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached Graph, want 0", n)
	}
}

func TestErrorMapping(t *testing.T) {
	const acrsClaims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	tests := []struct {
		name     string
		status   int
		body     string
		headers  []string
		is       error
		want     Error // compared: Status, Code, Rule, Claims, RequestID, RetryAfter
		attempts int
	}{
		{name: "mfa rule", status: 400,
			body:    `{"error":{"code":"RoleAssignmentRequestPolicyValidationFailed","message":"The following policy rules failed: [\"MfaRule\"]","innerError":{"request-id":"rid-1"}}}`,
			headers: []string{"request-id", "rid-1"}, is: ErrPolicyValidation,
			want: Error{Status: 400, Code: CodePolicyValidation, Rule: "MfaRule", RequestID: "rid-1"}, attempts: 1},
		{name: "expiration rule", status: 400,
			body: `{"error":{"code":"RoleAssignmentRequestPolicyValidationFailed","message":"The following policy rules failed: [\"ExpirationRule\"]"}}`,
			is:   ErrPolicyValidation, want: Error{Status: 400, Code: CodePolicyValidation, Rule: "ExpirationRule"}, attempts: 1},
		{name: "acrs claims", status: 400,
			body: `{"error":{"code":"RoleAssignmentRequestAcrsValidationFailed","message":"The role assignment request requires authentication context. claims=` + strings.ReplaceAll(acrsClaims, `"`, `\"`) + `"}}`,
			is:   ErrAcrsRequired, want: Error{Status: 400, Code: CodeAcrsValidation, Claims: acrsClaims}, attempts: 1},
		{name: "acrs claims url-encoded", status: 400,
			body: `{"error":{"code":"RoleAssignmentRequestAcrsValidationFailed","message":"Auth context needed: claims=%7B%22access_token%22%3A%7B%22acrs%22%3A%7B%22essential%22%3Atrue%2C%22value%22%3A%22c1%22%7D%7D%7D"}}`,
			is:   ErrAcrsRequired, want: Error{Status: 400, Code: CodeAcrsValidation, Claims: acrsClaims}, attempts: 1},
		{name: "exists", status: 400,
			body: `{"error":{"code":"RoleAssignmentExists","message":"The Role assignment already exists."}}`,
			is:   ErrRoleAssignmentExists, want: Error{Status: 400, Code: CodeRoleAssignmentExists}, attempts: 1},
		{name: "unknown error wrapping json", status: 403,
			body: `{"error":{"code":"UnknownError","message":"{\"errorCode\":\"PermissionScopeNotGranted\",\"message\":\"Authorization failed due to missing permission scope\"}"}}`,
			is:   ErrForbidden, want: Error{Status: 403, Code: "PermissionScopeNotGranted"}, attempts: 1},
		{name: "empty error body does not panic", status: 403, body: `{}`, is: ErrForbidden,
			want: Error{Status: 403}, attempts: 1},
		{name: "no body at all", status: 401, body: ``, is: ErrUnauthorized, want: Error{Status: 401}, attempts: 1},
		{name: "throttled until retries are exhausted", status: 429,
			body:    `{"error":{"code":"TooManyRequests","message":"Please retry again later."}}`,
			headers: []string{"Retry-After", "0.5"}, // the retry handler truncates to 0s; we report 500ms
			is:      ErrThrottled, want: Error{Status: 429, Code: "TooManyRequests", RetryAfter: 500 * time.Millisecond},
			attempts: 4},
		{name: "gateway timeout not retried for a write", status: 504, body: `{"error":{"code":"GatewayTimeout","message":"x"}}`,
			want: Error{Status: 504, Code: "GatewayTimeout"}, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, _ := newFake(t, map[string]http.HandlerFunc{
				"POST /v1.0/roleManagement/directory/roleAssignmentScheduleRequests": func(w http.ResponseWriter, r *http.Request) {
					for i := 0; i+1 < len(tt.headers); i += 2 {
						w.Header().Set(tt.headers[i], tt.headers[i+1])
					}
					if tt.body == "" {
						w.WriteHeader(tt.status)
						return
					}
					writeJSON(w, tt.status, tt.body)
				},
			})
			_, err := c.Activate(t.Context(), userTok, ActivationRequest{UserID: "u1", RoleID: "r1", Duration: time.Hour})
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			got := Error{Status: ge.Status, Code: ge.Code, Rule: ge.Rule, Claims: ge.Claims, RequestID: ge.RequestID, RetryAfter: ge.RetryAfter}
			if d := cmp.Diff(got, tt.want, cmp.AllowUnexported(Error{})); d != "" {
				t.Errorf("error fields (-got +want):\n%s", d)
			}
			if n := len(f.requests()); n != tt.attempts {
				t.Errorf("Graph saw %d attempts, want %d", n, tt.attempts)
			}
			for _, r := range f.requests() {
				if r.ContentEncoding != "" || !json.Valid(r.Body) {
					t.Errorf("attempt sent Content-Encoding %q body %q, want a plain JSON body", r.ContentEncoding, r.Body)
				}
			}
			msg := err.Error()
			if strings.Contains(msg, "user-token") {
				t.Errorf("Error() leaks the token: %s", msg)
			}
			if tt.want.Code != "" && !strings.Contains(msg, tt.want.Code) {
				t.Errorf("Error() = %q, want the code %q in it", msg, tt.want.Code)
			}
			if tt.want.RequestID != "" && !strings.Contains(msg, tt.want.RequestID) {
				t.Errorf("Error() = %q, want the request id in it", msg)
			}
		})
	}
}

func TestThrottledPOSTRetriedWithSameBody(t *testing.T) {
	var n atomic.Int32
	c, f, _ := newFake(t, map[string]http.HandlerFunc{
		"POST /v1.0/roleManagement/directory/roleAssignmentScheduleRequests": func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				w.Header().Set("Retry-After", "0")
				writeJSON(w, 429, `{"error":{"code":"TooManyRequests","message":"slow down"}}`)
				return
			}
			writeJSON(w, 201, `{"id":"req1","status":"Granted"}`)
		},
	})
	got, err := c.Activate(t.Context(), userTok, ActivationRequest{UserID: "u1", RoleID: "r1", Duration: time.Hour})
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if got.Status != "Granted" {
		t.Errorf("Status = %q, want Granted", got.Status)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d attempts, want 2", len(reqs))
	}
	if string(reqs[0].Body) != string(reqs[1].Body) || reqs[1].ContentEncoding != "" {
		t.Errorf("retry sent %q (encoding %q), want the first body %q unencoded", reqs[1].Body, reqs[1].ContentEncoding, reqs[0].Body)
	}
}

func TestReadsUseAppTokenAndMapNotFound(t *testing.T) {
	c, f, cred := newFake(t, map[string]http.HandlerFunc{
		"GET /v1.0/users/alice@contoso.com": reply(200,
			`{"id":"u1","userPrincipalName":"alice@contoso.com","displayName":"Alice","mail":"alice@contoso.com"}`),
	})
	got, err := c.User(t.Context(), "alice@contoso.com")
	if err != nil {
		t.Fatalf("User: %v", err)
	}
	if want := (User{ID: "u1", UPN: "alice@contoso.com", DisplayName: "Alice", Mail: "alice@contoso.com"}); got != want {
		t.Errorf("User = %+v, want %+v", got, want)
	}
	if _, err := c.User(t.Context(), "nobody@contoso.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("User(nobody) error = %v, want ErrNotFound", err)
	}
	for _, r := range f.requests() {
		if r.Auth != "Bearer app-token" {
			t.Errorf("%s %s: Authorization = %q, want the app token (allowed hosts must include the Graph host)", r.Method, r.Path, r.Auth)
		}
	}
	if cred.calls.Load() == 0 {
		t.Error("app credential never asked for a token")
	}
}

// policyJSON is the documented role policy shape (graph-pim.md §5.1), trimmed.
const policyJSON = `{"value":[{"id":"DirectoryRole_t_p_r1","policyId":"DirectoryRole_t_p","scopeId":"/","scopeType":"DirectoryRole","roleDefinitionId":"r1",
 "policy":{"id":"DirectoryRole_t_p","rules":[
  {"@odata.type":"#microsoft.graph.unifiedRoleManagementPolicyExpirationRule","id":"Expiration_Admin_Eligibility","isExpirationRequired":false,"maximumDuration":"P365D",
   "target":{"caller":"Admin","operations":["all"],"level":"Eligibility"}},
  {"@odata.type":"#microsoft.graph.unifiedRoleManagementPolicyExpirationRule","id":"Expiration_EndUser_Assignment","isExpirationRequired":true,"maximumDuration":"PT4H",
   "target":{"caller":"EndUser","operations":["all"],"level":"Assignment"}},
  {"@odata.type":"#microsoft.graph.unifiedRoleManagementPolicyEnablementRule","id":"Enablement_Admin_Assignment","enabledRules":["Ticketing"],
   "target":{"caller":"Admin","level":"Assignment"}},
  {"@odata.type":"#microsoft.graph.unifiedRoleManagementPolicyEnablementRule","id":"Enablement_EndUser_Assignment","enabledRules":["MultiFactorAuthentication","Justification","Ticketing"],
   "target":{"caller":"EndUser","level":"Assignment"}},
  {"@odata.type":"#microsoft.graph.unifiedRoleManagementPolicyApprovalRule","id":"Approval_EndUser_Assignment",
   "setting":{"isApprovalRequired":true,"approvalMode":"SingleStage","approvalStages":[]},"target":{"caller":"EndUser","level":"Assignment"}},
  {"@odata.type":"#microsoft.graph.unifiedRoleManagementPolicyAuthenticationContextRule","id":"AuthenticationContext_EndUser_Assignment","isEnabled":true,"claimValue":"c1",
   "target":{"caller":"EndUser","level":"Assignment"}},
  {"@odata.type":"#microsoft.graph.unifiedRoleManagementPolicyNotificationRule","id":"Notification_Admin_EndUser_Assignment","notificationType":"Email",
   "target":{"caller":"EndUser","level":"Assignment"}}
 ]}}]}`

func TestRolePolicyParsedAndCached(t *testing.T) {
	c, f, _ := newFake(t, map[string]http.HandlerFunc{
		"GET /v1.0/policies/roleManagementPolicyAssignments": reply(200, policyJSON),
	})
	for range 2 {
		got, err := c.RolePolicy(t.Context(), "r1")
		if err != nil {
			t.Fatalf("RolePolicy: %v", err)
		}
		want := RolePolicy{RoleID: "r1", MaxDuration: 4 * time.Hour, RequireMFA: true, RequireJustification: true,
			RequireTicket: true, RequireApproval: true, AuthContext: "c1"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("RolePolicy = %+v, want %+v", got, want)
		}
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1 (the second read is cached)", len(reqs))
	}
	q, _ := url.ParseQuery(reqs[0].Query)
	if got, want := q.Get("$filter"), "scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq 'r1'"; got != want {
		t.Errorf("$filter = %q, want %q", got, want)
	}
	if got, want := q.Get("$expand"), "policy($expand=rules)"; got != want {
		t.Errorf("$expand = %q, want %q", got, want)
	}
}

func TestRolePolicyMissing(t *testing.T) {
	c, _, _ := newFake(t, map[string]http.HandlerFunc{
		"GET /v1.0/policies/roleManagementPolicyAssignments": reply(200, `{"value":[]}`),
	})
	if _, err := c.RolePolicy(t.Context(), "r9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RolePolicy error = %v, want ErrNotFound", err)
	}
}

func TestPaging(t *testing.T) {
	var base string
	c, _, _ := newFake(t, map[string]http.HandlerFunc{
		"GET /v1.0/roleManagement/directory/roleAssignmentScheduleInstances": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "2" {
				writeJSON(w, 200, `{"value":[{"id":"a2","roleDefinitionId":"r2","principalId":"u1","assignmentType":"Assigned","memberType":"Direct","startDateTime":"2021-03-01T00:00:00Z","endDateTime":null}]}`)
				return
			}
			if got, want := r.URL.Query().Get("$filter"), "principalId eq 'u1'"; got != want {
				writeJSON(w, 400, fmt.Sprintf(`{"error":{"code":"BadRequest","message":"$filter [%s], want [%s]"}}`, got, want))
				return
			}
			writeJSON(w, 200, fmt.Sprintf(`{"value":[{"id":"a1","roleDefinitionId":"r1","principalId":"u1","assignmentType":"Activated","memberType":"Direct","startDateTime":"2025-01-02T03:04:05Z","endDateTime":"2025-01-02T07:04:05Z"}],"@odata.nextLink":"%s/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?page=2"}`, base))
		},
	})
	base = strings.TrimSuffix(c.baseURL, "/v1.0")
	got, err := c.ActiveAssignments(t.Context(), "u1")
	if err != nil {
		t.Fatalf("ActiveAssignments: %v", err)
	}
	want := []Assignment{
		{ID: "a1", RoleID: "r1", PrincipalID: "u1", AssignmentType: "Activated", MemberType: "Direct",
			Start: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), End: time.Date(2025, 1, 2, 7, 4, 5, 0, time.UTC)},
		{ID: "a2", RoleID: "r2", PrincipalID: "u1", AssignmentType: "Assigned", MemberType: "Direct",
			Start: time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	if d := cmp.Diff(got, want, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("ActiveAssignments (-got +want):\n%s", d)
	}
}

func TestNewValidates(t *testing.T) {
	for _, u := range []string{"graph.microsoft.com", "http://graph.example.com", "://"} {
		if _, err := New(Config{GraphURL: u, AppCredential: &appCred{}}); err == nil {
			t.Errorf("New(GraphURL %q) succeeded, want an error", u)
		}
	}
	c, err := New(Config{AppCredential: &appCred{}})
	if err != nil {
		t.Fatalf("New(defaults): %v", err)
	}
	if c.baseURL != "https://graph.microsoft.com/v1.0" || c.hosts[0] != "graph.microsoft.com" {
		t.Errorf("defaults: base %q hosts %v", c.baseURL, c.hosts)
	}
	if _, err := c.SignInURL(t.Context(), "s", "c", "", "", nil); !errors.Is(err, errNoSignIn) {
		t.Errorf("SignInURL without a secret: %v, want errNoSignIn", err)
	}
}

func TestMessageClaims(t *testing.T) {
	const want = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	tests := []struct{ msg, want string }{
		{`... claims=` + want, want},
		{`... claims=` + want + ` and more text`, want},
		{`claims="` + want + `"`, want},
		{`claims=%7B%22access_token%22%3A%7B%22acrs%22%3A%7B%22essential%22%3Atrue%2C%22value%22%3A%22c1%22%7D%7D%7D`, want},
		{`claims=%7b%22access_token%22%3a%7b%22acrs%22%3a%7b%22essential%22%3atrue%2c%22value%22%3a%22c1%22%7d%7d%7d.`, want},
		{`no claims here`, ``},
		{`claims={"broken":`, ``},
	}
	for _, tt := range tests {
		if got := messageClaims(tt.msg); got != tt.want {
			t.Errorf("messageClaims(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

// A nextLink to another host is followed without the token: the allowed hosts are exactly the
// configured Graph host.
func TestTokenOnlyToGraphHost(t *testing.T) {
	other := &fakeGraph{routes: map[string]http.HandlerFunc{
		"GET /v1.0/roleManagement/directory/roleAssignmentScheduleInstances": reply(200, `{"value":[]}`),
	}}
	osrv := httptest.NewServer(other)
	defer osrv.Close()
	elsewhere := strings.Replace(osrv.URL, "127.0.0.1", "localhost", 1)
	c, f, _ := newFake(t, map[string]http.HandlerFunc{
		"GET /v1.0/roleManagement/directory/roleAssignmentScheduleInstances": reply(200,
			`{"value":[],"@odata.nextLink":"`+elsewhere+`/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?page=2"}`),
	})
	if _, err := c.ActiveAssignments(t.Context(), "u1"); err != nil {
		t.Fatalf("ActiveAssignments: %v", err)
	}
	if got := f.requests()[0].Auth; got != "Bearer app-token" {
		t.Errorf("Graph host got Authorization %q, want the app token", got)
	}
	reqs := other.requests()
	if len(reqs) != 1 || reqs[0].Auth != "" {
		t.Errorf("other host got %+v, want one request without Authorization", reqs)
	}
}

// Only this package may import the msgraph SDK, and never its root package (minutes of build
// time and tens of megabytes for the GraphServiceClient).
func TestNoRootSDKImport(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "github.com/microsoftgraph/msgraph-sdk-go" {
				t.Errorf("%s imports the msgraph-sdk-go root package", name)
			}
		}
	}
}

// TestDeactivateAndBetaApprovalWire checks the bodies and URLs of the raw-JSON writes against
// graph-pim.md §3.1 (selfDeactivate) and §4 (beta approval steps).
func TestDeactivateAndBetaApprovalWire(t *testing.T) {
	c, f, _ := newFake(t, map[string]http.HandlerFunc{
		"POST /v1.0/roleManagement/directory/roleAssignmentScheduleRequests": reply(201,
			`{"id":"req2","status":"Revoked","approvalId":null,"action":"selfDeactivate"}`),
		"GET /beta/roleManagement/directory/roleAssignmentApprovals/ap 1": reply(200,
			`{"id":"ap 1","steps":[{"id":"s0","reviewResult":"NotReviewed","status":"InProgress","assignedToMe":false},
			  {"id":"s/1","reviewResult":"NotReviewed","status":"InProgress","assignedToMe":true}]}`),
		"PATCH /beta/roleManagement/directory/roleAssignmentApprovals/ap 1/steps/s/1": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		},
	})
	got, err := c.Deactivate(t.Context(), userTok, "u1", "r1")
	if err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if want := (Activation{RequestID: "req2", Status: "Revoked"}); got != want {
		t.Errorf("Deactivate = %+v, want %+v", got, want)
	}
	if err := c.ReviewApproval(t.Context(), userTok, "ap 1", true, "ok by bob"); err != nil {
		t.Fatalf("ReviewApproval: %v", err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	wantBodies := []map[string]any{
		{"action": "selfDeactivate", "principalId": "u1", "roleDefinitionId": "r1", "directoryScopeId": "/"},
		nil,
		{"reviewResult": "Approve", "justification": "ok by bob"},
	}
	for i, r := range reqs {
		if r.Auth != "Bearer user-token" {
			t.Errorf("%s %s: Authorization = %q, want the user's token", r.Method, r.Path, r.Auth)
		}
		if wantBodies[i] == nil {
			if len(r.Body) != 0 {
				t.Errorf("%s %s sent a body %q", r.Method, r.Path, r.Body)
			}
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("%s %s body %q: %v", r.Method, r.Path, r.Body, err)
		}
		if d := cmp.Diff(body, wantBodies[i]); d != "" {
			t.Errorf("%s %s body (-got +want):\n%s", r.Method, r.Path, d)
		}
	}
}

// TestEligibilitiesWire checks the eligibility read (graph-pim.md §2.2): the filter, the
// roleDefinition expansion, the fields read, and that an administrative-unit eligibility is
// left out (activation is tenant-wide).
func TestEligibilitiesWire(t *testing.T) {
	c, f, _ := newFake(t, map[string]http.HandlerFunc{
		"GET /v1.0/roleManagement/directory/roleEligibilityScheduleInstances": reply(200, `{"value":[
		  {"id":"e1","principalId":"u1","roleDefinitionId":"r1","directoryScopeId":"/","appScopeId":null,
		   "startDateTime":"2022-04-12T14:44:50.287Z","endDateTime":"2024-04-10T00:00:00Z","memberType":"Direct",
		   "roleDefinition":{"id":"r1","displayName":"Exchange Administrator","templateId":"r1"}},
		  {"id":"e2","principalId":"u1","roleDefinitionId":"r2","directoryScopeId":"/administrativeUnits/au1",
		   "endDateTime":null,"memberType":"Direct","roleDefinition":{"id":"r2","displayName":"User Administrator"}},
		  {"id":"e3","principalId":"u1","roleDefinitionId":"r3","directoryScopeId":"/","endDateTime":null,"memberType":"Direct",
		   "roleDefinition":{"id":"r3","displayName":"Global Reader"}}]}`),
		"GET /v1.0/users/u1/transitiveMemberOf/microsoft.graph.group": reply(200, `{"value":[]}`),
	})
	got, err := c.EligibleRoles(t.Context(), "u1")
	if err != nil {
		t.Fatalf("EligibleRoles: %v", err)
	}
	want := []Eligibility{
		{RoleID: "r1", RoleName: "Exchange Administrator", EndsAt: time.Date(2024, 4, 10, 0, 0, 0, 0, time.UTC)},
		{RoleID: "r3", RoleName: "Global Reader"},
	}
	if d := cmp.Diff(got, want, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("EligibleRoles (-got +want):\n%s", d)
	}
	r := f.requests()[0]
	q, _ := url.ParseQuery(r.Query)
	if got, want := q.Get("$filter"), "principalId eq 'u1'"; got != want {
		t.Errorf("$filter = %q, want %q", got, want)
	}
	if got, want := q.Get("$expand"), "roleDefinition"; got != want {
		t.Errorf("$expand = %q, want %q", got, want)
	}
	if r.Auth != "Bearer app-token" {
		t.Errorf("Authorization = %q, want the app token", r.Auth)
	}
}
