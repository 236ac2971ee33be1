package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/elevate-pim/elevate/internal/pgconn"
	"github.com/elevate-pim/elevate/internal/pgconn/pgconntest"
	"github.com/elevate-pim/elevate/internal/pgtest"
)

// identityEndpoint is a fake of the managed identity endpoint Azure Container Apps and App
// Service give a container (IDENTITY_ENDPOINT with the IDENTITY_HEADER secret, API 2019-08-01):
// it refuses a request without the header and answers with token for the resource asked, or
// with refuse's error when set.
type identityEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	token    string
	refuse   string
	requests []string // resource and client_id of each request
}

const identityHeaderSecret = "identity-header-secret"

func newIdentityEndpoint(t *testing.T, token string) *identityEndpoint {
	t.Helper()
	e := &identityEndpoint{token: token}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		e.mu.Lock()
		defer e.mu.Unlock()
		e.requests = append(e.requests, q.Get("resource")+" "+q.Get("client_id"))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Header.Get("X-IDENTITY-HEADER") != identityHeaderSecret || q.Get("api-version") != "2019-08-01":
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":"Unauthorized","message":"missing or wrong X-IDENTITY-HEADER"}}`)
		case e.refuse != "":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"statusCode":400,"message":%q}`, e.refuse)
		default:
			json.NewEncoder(w).Encode(map[string]string{"access_token": e.token, "token_type": "Bearer",
				"resource": q.Get("resource"), "client_id": q.Get("client_id"),
				"expires_on": fmt.Sprint(time.Now().Add(time.Hour).Unix())})
		}
	}))
	t.Cleanup(e.Close)
	t.Setenv("IDENTITY_ENDPOINT", e.URL)
	t.Setenv("IDENTITY_HEADER", identityHeaderSecret)
	return e
}

func (e *identityEndpoint) asked() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.requests...)
}

// A fresh client id per test: MSAL keeps managed identity tokens in one cache per process.
func newClientID() string {
	return fmt.Sprintf("c1d00000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12)
}

// `elevate check` with ELEVATE_DATABASE_AUTH=entra names the identity, gets a token for the
// database from the host's managed identity endpoint (the real azidentity credential against a
// fake endpoint), and logs in with it as the role; the token is never printed.
func TestCheckDatabaseEntra(t *testing.T) {
	admin := pgtest.URL(t)
	token := pgconntest.Token()
	role, roleURL := pgtest.Role(t, admin, token)
	ep := newIdentityEndpoint(t, token)
	clientID := newClientID()
	env := map[string]string{"ELEVATE_DATABASE_URL": roleURL, "ELEVATE_DATABASE_AUTH": "entra",
		"ELEVATE_DATABASE_CLIENT_ID": clientID, "AZURE_CLIENT_ID": "the-graph-app-registration"}
	var out bytes.Buffer
	c := &checker{out: &out}
	checkDatabase(context.Background(), c, checkEnv{Getenv: func(k string) string { return env[k] }})
	if len(c.problems) > 0 {
		t.Fatalf("check found problems: %q\n%s", c.problems, out.String())
	}
	for _, want := range []string{
		"database authentication: Microsoft Entra, tokens from the user-assigned managed identity " + clientID,
		"database token: obtained for " + pgconn.Scope,
		"database: logged in as " + role,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), token) {
		t.Errorf("check printed the token:\n%s", out.String())
	}
	want := "https://ossrdbms-aad.database.windows.net " + clientID
	if got := ep.asked(); len(got) == 0 || got[0] != want {
		t.Errorf("the identity endpoint was asked %q; want %q (the database resource, ELEVATE_DATABASE_CLIENT_ID, not AZURE_CLIENT_ID)", got, want)
	}

	// The identity endpoint refuses: check says so, with the scope.
	ep.mu.Lock()
	ep.refuse = "Unable to load the proper Managed Identity."
	ep.mu.Unlock()
	env["ELEVATE_DATABASE_CLIENT_ID"] = newClientID()
	out.Reset()
	c = &checker{out: &out}
	checkDatabase(context.Background(), c, checkEnv{Getenv: func(k string) string { return env[k] }})
	if len(c.problems) != 1 || !strings.Contains(c.problems[0], pgconn.Scope) || !strings.Contains(c.problems[0], "Container App → Identity") {
		t.Errorf("check with a refusing identity endpoint: problems %q; want one naming %s and the fix\n%s", c.problems, pgconn.Scope, out.String())
	}
}

// `elevate store migrate` and `elevate audit verify` with -db-auth entra log in with the managed
// identity's token; a URL with a password is refused, as is entra for a bbolt file.
func TestStoreCommandsEntra(t *testing.T) {
	admin := pgtest.URL(t)
	token := pgconntest.Token()
	_, roleURL := pgtest.Role(t, admin, token)
	newIdentityEndpoint(t, token)
	t.Setenv("ELEVATE_DATABASE_CLIENT_ID", newClientID())
	path := boltStoreWithRequests(t, 3)

	out, err := runCLI(t, "store", "migrate", "-from", path, "-to", roleURL, "-db-auth", "entra")
	if err != nil || !strings.Contains(out, "audit chain intact on both sides") {
		t.Fatalf("store migrate -db-auth entra: %v\n%s", err, out)
	}
	out, err = runCLI(t, "audit", "verify", "-db", roleURL, "-db-auth", "entra")
	if err != nil || !strings.Contains(out, "3 audit records, hash chain intact") {
		t.Errorf("audit verify -db-auth entra: %v\n%s", err, out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the token was printed:\n%s", out)
	}
	// Without the token the role cannot log in: the commands above did use it.
	if _, err := runCLI(t, "audit", "verify", "-db", roleURL); err == nil {
		t.Error("audit verify with password authentication and no password succeeded; the server does not check the role's password")
	}

	withPassword := strings.Replace(roleURL, "@", ":pw@", 1)
	if out, err := runCLI(t, "audit", "verify", "-db", withPassword, "-db-auth", "entra"); !errors.Is(err, pgconn.ErrPasswordInURL) {
		t.Errorf("audit verify -db-auth entra with a password in the URL = %v; want ErrPasswordInURL\n%s", err, out)
	}
	var ue *usageError
	if _, err := runCLI(t, "audit", "verify", "-db", path, "-db-auth", "entra"); !errors.As(err, &ue) {
		t.Errorf("-db-auth entra with a bbolt file = %v; want a usage error", err)
	}
	if _, err := runCLI(t, "audit", "verify", "-db", roleURL, "-db-auth", "token"); !errors.As(err, &ue) {
		t.Errorf("-db-auth token = %v; want a usage error", err)
	}
}

// Which identity -db-auth entra uses: ELEVATE_DATABASE_CLIENT_ID's managed identity, never
// AZURE_CLIENT_ID's app registration; on AKS the workload identity, AZURE_CLIENT_ID by default.
func TestDBAuthIdentity(t *testing.T) {
	const db = "postgres://elevate-id@db.example/elevate?sslmode=verify-full"
	for _, tc := range []struct {
		name     string
		env      map[string]string
		kind, id string
	}{
		{"managed identity", map[string]string{"ELEVATE_DATABASE_CLIENT_ID": "mi-1", "AZURE_CLIENT_ID": "graph-app"}, pgconn.KindManagedIdentity, "mi-1"},
		{"system-assigned", map[string]string{"AZURE_CLIENT_ID": "graph-app"}, pgconn.KindManagedIdentity, ""},
		{"workload identity", map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
			"AZURE_CLIENT_ID": "wi-1", "AZURE_TENANT_ID": "t"}, pgconn.KindWorkloadIdentity, "wi-1"},
		{"workload identity, own id", map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/token", "ELEVATE_DATABASE_CLIENT_ID": "wi-2",
			"AZURE_CLIENT_ID": "graph-app", "AZURE_TENANT_ID": "t"}, pgconn.KindWorkloadIdentity, "wi-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newDBAuth("entra", db, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if a.cred.Kind != tc.kind || a.cred.ClientID != tc.id {
				t.Errorf("credential = %s %q; want %s %q", a.cred.Kind, a.cred.ClientID, tc.kind, tc.id)
			}
		})
	}
	if a, err := newDBAuth("", db, func(string) string { return "" }); err != nil || a.credential() != nil {
		t.Errorf("default auth = %v, %v; want password, no credential", a.credential(), err)
	}
}

// `elevate serve -db-auth entra` leads on PostgreSQL as the identity's role: the leader election
// and the store both log in with the managed identity's token (the role has no other password),
// and the log says which authentication is in use, never the token.
func TestServeEntra(t *testing.T) {
	admin := pgtest.URL(t)
	token := pgconntest.Token()
	role, roleURL := pgtest.Role(t, admin, token)
	ep := newIdentityEndpoint(t, token)
	t.Setenv("ELEVATE_DATABASE_CLIENT_ID", newClientID())

	p := startServe(t, roleURL, "-db-auth", "entra")
	// A standby is ready too (it forwards): wait for the leader's "listening" line, logged once
	// it leads and its store is open.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.logs.String(), `"msg":"listening",`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve -db-auth entra did not come to lead:\n%s", p.logs.String())
		}
	}
	p.waitFor(t, "/readyz", http.StatusOK)
	if len(ep.asked()) == 0 {
		t.Error("serve never asked the identity endpoint for a token")
	}
	logs := p.logs.String()
	if !strings.Contains(logs, `"db_auth":"Microsoft Entra, tokens from the user-assigned managed identity`) {
		t.Errorf("the log does not say serve logs in with Entra:\n%s", logs)
	}
	if strings.Contains(logs, token) {
		t.Error("the token is in serve's log")
	}
	// What the leader wrote, it wrote as the role: it owns the store's tables.
	c, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var owner string
	if err := c.QueryRow(context.Background(), `SELECT tableowner FROM pg_tables WHERE tablename = 'elevate_kv'`).Scan(&owner); err != nil || owner != role {
		t.Errorf("elevate_kv's owner = %q, %v; want the identity's role %s", owner, err, role)
	}
}
