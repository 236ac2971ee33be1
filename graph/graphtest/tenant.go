package graphtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Tenant is a running simulated tenant: a plain-HTTP Graph server on 127.0.0.1 and a TLS sign-in
// server. It is safe for concurrent use. Close it when done.
type Tenant struct {
	seed      Seed
	now       func() time.Time
	delay     time.Duration
	minActive time.Duration
	pageSize  int
	key       *rsa.PrivateKey
	kid       string

	graph *httptest.Server
	login *httptest.Server
	hc    *http.Client

	skew atomic.Int64 // Advance: nanoseconds added to the clock

	stateFile string // WithStateFile: PIM's state survives restarts

	mu           sync.Mutex
	st           *state
	calls        []Call
	throttle     int
	outage       int // Outage: requests still to refuse
	outageStatus int
	lose         int // LoseResponses: writes whose answers still to lose
	faults       []*Fault
	codes        map[string]*authCode
	refresh      map[string]*session
}

// Call is one recorded Graph request.
type Call struct {
	Method string
	Path   string // as received, e.g. /v1.0/users/alice@contoso.example
	Query  string // raw query
	Body   string // decompressed request body
	Caller string // the token's oid for a user, "app" for an app-only token, "" when unauthenticated
	Status int    // the status answered
}

// Option configures New.
type Option func(*Tenant)

// WithActivationDelay makes a Granted activation's assignment instance appear only d after the
// request, like PIM's provisioning lag (default 0: at once).
func WithActivationDelay(d time.Duration) Option { return func(t *Tenant) { t.delay = d } }

// WithMinActiveDuration sets how long an activation must have run before selfDeactivate is
// accepted (default 5 minutes, as PIM answers ActiveDurationTooShort).
func WithMinActiveDuration(d time.Duration) Option { return func(t *Tenant) { t.minActive = d } }

// WithPageSize makes every Graph collection answer at most n items per page with an
// @odata.nextLink, to exercise a client's paging (default: one page unless $top asks otherwise).
func WithPageSize(n int) Option { return func(t *Tenant) { t.pageSize = n } }

// WithClock sets the tenant's clock (token times, schedules, activation delay). Default time.Now.
func WithClock(now func() time.Time) Option { return func(t *Tenant) { t.now = now } }

// New starts a tenant seeded with seed. Seeds built in Go are checked like ParseSeed's.
func New(seed Seed, opts ...Option) (*Tenant, error) {
	t := &Tenant{
		seed: seed, now: time.Now, minActive: 5 * time.Minute,
		codes: map[string]*authCode{}, refresh: map[string]*session{},
	}
	for _, o := range opts {
		o(t)
	}
	clockBase := t.now
	t.now = func() time.Time { return clockBase().Add(time.Duration(t.skew.Load())) }
	st, err := resolve(seed, t.now().UTC())
	if err != nil {
		return nil, err
	}
	t.st = st
	if t.stateFile != "" {
		if err := t.loadState(); err != nil {
			return nil, err
		}
	}
	t.seed.TenantID = strings.ToLower(seed.TenantID)
	t.seed.Client.ClientID = strings.ToLower(seed.Client.ClientID)
	if t.seed.Client.ObjectID == "" {
		h := sha256.Sum256([]byte("sp:" + t.seed.Client.ClientID))
		t.seed.Client.ObjectID = guidFrom(h[:16])
	}
	if len(t.seed.Client.Roles) == 0 {
		t.seed.Client.Roles = []string{"RoleManagement.Read.Directory", "RoleManagementPolicy.Read.Directory",
			"PrivilegedAccess.Read.AzureADGroup", "RoleManagementPolicy.Read.AzureADGroup", "Directory.Read.All",
			"User.Read.All", "GroupMember.Read.All", "AuditLog.Read.All"}
	}
	if len(t.seed.Client.Scopes) == 0 {
		t.seed.Client.Scopes = []string{"RoleAssignmentSchedule.ReadWrite.Directory", "RoleEligibilitySchedule.ReadWrite.Directory",
			"PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup", "RoleManagement.Read.Directory",
			"User.Read", "openid", "profile", "offline_access"}
	}
	t.key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(t.key.PublicKey.N.Bytes())
	t.kid = base64.RawURLEncoding.EncodeToString(sum[:12])

	t.graph = httptest.NewServer(http.HandlerFunc(t.serveGraph))
	t.login = httptest.NewTLSServer(t.loginMux())
	base := t.login.Client()
	// The TLS client trusts the sign-in server's certificate and speaks plain HTTP to the Graph
	// server too; redirects are left to the caller, as MSAL and Browse expect.
	t.hc = &http.Client{
		Transport: base.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return t, nil
}

// Advance moves the tenant's clock forward by d (on top of WithClock or the wall clock), e.g. to
// get past PIM's first minutes in which an activation cannot be ended.
func (t *Tenant) Advance(d time.Duration) { t.skew.Add(int64(d)) }

// Close shuts both servers down.
func (t *Tenant) Close() {
	t.graph.Close()
	t.login.Close()
}

// GraphURL is the Graph base without version: http://127.0.0.1:PORT (clients append /v1.0, /beta).
func (t *Tenant) GraphURL() string { return t.graph.URL }

// AuthorityURL is the sign-in host with a trailing slash, https://127.0.0.1:PORT/; the MSAL
// authority is AuthorityURL()+TenantID(). MSAL must run with instance discovery disabled.
func (t *Tenant) AuthorityURL() string { return t.login.URL + "/" }

// HTTPClient trusts the sign-in server's certificate and does not follow redirects.
func (t *Tenant) HTTPClient() *http.Client { return t.hc }

// TenantID is the directory (tenant) id.
func (t *Tenant) TenantID() string { return t.seed.TenantID }

// ClientID is the seeded app registration's client id.
func (t *Tenant) ClientID() string { return t.seed.Client.ClientID }

// ClientSecret is the seeded app registration's secret.
func (t *Tenant) ClientSecret() string { return t.seed.Client.ClientSecret }

// BreakGlass returns the object ids of the seeded break-glass accounts.
func (t *Tenant) BreakGlass() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.st.breakGl)
}

// UserID returns the object id of a seeded user given by UPN or id ("" if unknown).
func (t *Tenant) UserID(user string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.st.user(user); u != nil {
		return u.ID
	}
	return ""
}

// Calls returns the Graph requests received so far, oldest first.
func (t *Tenant) Calls() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls)
}

// ResetCalls forgets the recorded calls.
func (t *Tenant) ResetCalls() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = nil
}

// Outage makes the next n Graph requests (after authentication) fail with status (500, 503
// without Retry-After, 504) before anything is processed: Graph is down.
func (t *Tenant) Outage(n, status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.outage, t.outageStatus = n, status
}

// LoseResponses makes the next n writes (POST, PATCH, DELETE) take effect but answer 504
// GatewayTimeout, as when a write reaches Graph and its answer is lost on the way back.
func (t *Tenant) LoseResponses(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lose = n
}

// Throttle makes the next n Graph requests answer 429 TooManyRequests with Retry-After: 0.
func (t *Tenant) Throttle(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.throttle = n
}

// ValidationOnly reports whether the call was a PIM dry run (isValidationOnly: true): checked
// like a request, but nothing was written.
func (c Call) ValidationOnly() bool {
	return strings.Contains(strings.ReplaceAll(c.Body, " ", ""), `"isValidationOnly":true`)
}
