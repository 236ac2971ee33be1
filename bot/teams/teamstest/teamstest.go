// Package teamstest is a stateful fake of what the Teams adapter talks to: the Bot Connector
// (conversations, activities, members), the token endpoint (the app's tenant, and
// botframework.com for a multi-tenant app; a client secret, a certificate's client assertion or
// a workload identity's federated token, checked as Entra does), the App Service / Container
// Apps managed identity endpoint, and the Bot Framework's OpenID metadata with a self-signed key
// set, all over https. The connector accepts only tokens the fake issued (identity.go). It records every
// activity the bot posts, applies updates in place, can answer 429, refuses an activity over
// the Bot Connector's size limits (413 MessageSizeTooBig, MessageSize), and signs activities the
// way the Bot Connector does so tests can post them to the adapter's /api/messages.
package teamstest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the Bot Framework's token issuer.
const Issuer = "https://api.botframework.com"

// Options configure a Server.
type Options struct {
	AppID, AppSecret, TenantID string
	// TokenLifetime of issued bot tokens (default one hour).
	TokenLifetime time.Duration
	// MultiTenant registers the bot's app as multi-tenant: its tokens also come from the
	// botframework.com tenant's endpoint (a single-tenant app is not found there).
	MultiTenant bool
	// Certificate is registered on the app: a client assertion signed with its key is accepted
	// in place of the secret (identity.go).
	Certificate *x509.Certificate
	// FederatedSubject, when set, is the one workload identity subject (system:serviceaccount:
	// ns:name) the app trusts, from the fake's own issuer (FederatedIssuer, ServiceAccountToken).
	FederatedSubject string
	// ManagedIdentity makes AppID a user-assigned managed identity's client id: tokens for it
	// come from ManagedIdentityEndpoint (App Service / Container Apps protocol).
	ManagedIdentity bool
}

// Server is the fake. All its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server
	o   Options

	mu          sync.Mutex
	keys        []*Key
	tokens      map[string]time.Time
	issued      map[string]string // token → how it was obtained (Grant*)
	tokenCalls  int
	bearers     []string // the bearer token of each connector call, in order
	fed         *rsa.PrivateKey
	miHeader    string
	throttle    int
	retryAfter  string
	seq         int
	convs       map[string]*Conversation
	members     map[string]Member
	requests    []Request
	personalFor map[string]string    // user id → 1:1 conversation id
	teams       map[string][]Channel // team id → its channels, the General channel first
	// createdServiceURL is the serviceUrl createConversation answers with ("" for none).
	createdServiceURL string
	watch             func(conv string, a Activity)
	maxMessage        int // MessageSize above which an activity is refused; MaxMessageSize unless set
}

// Size limits of the Bot Connector, as Microsoft documents them ("Format your bot messages"):
// Teams refuses a bot message whose size, counted in UTF-16 and without the base64 data of
// embedded images, is over its limit, with 413 and {"error":{"code":"MessageSizeTooBig",
// "message":"Message size too large."}}; and the Bot Service refuses any request body over 256
// KiB with the same code. The message limit was documented as about 28 KB (Teams' limits), then
// 40 KB, now 100 KB ("approximate"; stay within 80 KB): the fake takes 40 KB, so that what
// passes here passes every documented limit but the oldest, which was never stated per
// encoding. SetMaxMessageSize sets another.
const (
	MaxMessageSize = 40 << 10
	MaxRequestBody = 256 << 10
)

// SetMaxMessageSize sets the message size (MessageSize) above which activities are refused.
func (s *Server) SetMaxMessageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxMessage = n
}

// MessageSize is an activity's size as the Bot Connector counts it against its message limit:
// its JSON in UTF-16 (two bytes a unit), without the base64 data of data: URLs (embedded images).
func MessageSize(activity map[string]any) int {
	b, err := json.Marshal(stripData(activity))
	if err != nil {
		return 0
	}
	return 2 * len(utf16.Encode([]rune(string(b))))
}

// stripData is v with every data: URL's payload left out.
func stripData(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = stripData(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripData(e)
		}
		return out
	case string:
		if head, _, ok := strings.Cut(x, ";base64,"); ok && strings.HasPrefix(x, "data:") {
			return head + ";base64,"
		}
	}
	return v
}

// tooBig answers 413 MessageSizeTooBig, as the Bot Connector does, when activity is over the
// message limit; s.mu is held.
func (s *Server) tooBig(w http.ResponseWriter, activity map[string]any) bool {
	limit := s.maxMessage
	if limit == 0 {
		limit = MaxMessageSize
	}
	if MessageSize(activity) <= limit {
		return false
	}
	connError(w, http.StatusRequestEntityTooLarge, "MessageSizeTooBig", "Message size too large.")
	return true
}

// Key is a signing key of the fake's key set.
type Key struct {
	ID           string
	Endorsements []string
	priv         *rsa.PrivateKey
	published    bool
}

// Member is a Teams user known to the fake.
type Member struct {
	ID                string `json:"id"` // 29:…
	Name              string `json:"name"`
	AadObjectID       string `json:"aadObjectId"`
	Email             string `json:"email,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	TenantID          string `json:"tenantId,omitempty"`
}

// Conversation is one conversation the bot has posted into, with its activities.
type Conversation struct {
	ID         string
	Personal   bool
	Member     string // the user of a 1:1 conversation
	Activities []*Activity
}

// Activity is one activity the bot posted, with updates applied.
type Activity struct {
	ID      string
	Seq     int            // order of posting across all conversations
	Body    map[string]any // as last posted or put
	Updates int
	Deleted bool
}

// Request is one call the fake answered, for assertions.
type Request struct {
	Method, Path string
	Status       int
}

// New starts a fake; Close it when done.
func New(o Options) *Server {
	if o.TokenLifetime == 0 {
		o.TokenLifetime = time.Hour
	}
	s := &Server{o: o, tokens: map[string]time.Time{}, issued: map[string]string{}, fed: newKey("fed", "").priv, miHeader: newGUID(), convs: map[string]*Conversation{}, members: map[string]Member{}, personalFor: map[string]string{}}
	s.keys = []*Key{newKey("key-1", "msteams")}
	s.keys[0].published = true
	mux := http.NewServeMux()
	mux.HandleFunc("GET /botframework/openidconfiguration", s.metadata)
	mux.HandleFunc("GET /botframework/keys", s.jwks)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.tenantConfig)
	mux.HandleFunc("GET /msi/token", s.managedIdentityToken)
	mux.HandleFunc("POST /amer/v3/conversations", s.connector(s.createConversation))
	mux.HandleFunc("POST /amer/v3/conversations/{conv}/activities", s.connector(s.postActivity))
	mux.HandleFunc("PUT /amer/v3/conversations/{conv}/activities/{id}", s.connector(s.putActivity))
	mux.HandleFunc("DELETE /amer/v3/conversations/{conv}/activities/{id}", s.connector(s.deleteActivity))
	mux.HandleFunc("GET /amer/v3/conversations/{conv}/members/{user}", s.connector(s.getMember))
	mux.HandleFunc("GET /amer/v3/teams/{team}/conversations", s.connector(s.teamConversations))
	// https, as the real services are: the adapter refuses a service URL that is not.
	s.srv = httptest.NewTLSServer(mux)
	return s
}

func newKey(id string, endorsements ...string) *Key {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return &Key{ID: id, Endorsements: endorsements, priv: priv}
}

// Close stops the fake.
func (s *Server) Close() { s.srv.Close() }

// Certificate is the fake's TLS certificate (self-signed): a process that must trust the fake
// without code (a load test's server) can be given it in the file SSL_CERT_FILE names.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// OnActivity makes the fake call f with the conversation id and a copy of every activity the
// bot posts or updates, in the order the fake takes them (load tests time what people see
// without polling). f runs while the fake's lock is held: it must return quickly and must not
// call the Server.
func (s *Server) OnActivity(f func(conv string, a Activity)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watch = f
}

// changed tells the OnActivity watcher of a; s.mu is held.
func (s *Server) changed(conv string, a *Activity) {
	if s.watch != nil {
		s.watch(conv, *a)
	}
}

// URL is the fake's base URL (https).
func (s *Server) URL() string { return s.srv.URL }

// Host is the fake's host:port, to put on the adapter's service URL allowlist.
func (s *Server) Host() string { return s.srv.Listener.Addr().String() }

// Client is an HTTP client that trusts the fake's certificate (httptest's, which every
// httptest TLS server shares), for the adapter, its validator and its connector.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// MetadataURL is the OpenID metadata URL to configure in the validator.
func (s *Server) MetadataURL() string { return s.srv.URL + "/botframework/openidconfiguration" }

// AuthorityHost is the login host: the token URL is AuthorityHost + tenant + /oauth2/v2.0/token.
func (s *Server) AuthorityHost() string { return s.srv.URL + "/" }

// ServiceURL is the Bot Connector's service URL, as activities carry it.
func (s *Server) ServiceURL() string { return s.srv.URL + "/amer/" }

// AddMember makes a user known (for GetMember and 1:1 conversations).
func (s *Server) AddMember(m Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.TenantID == "" {
		m.TenantID = s.o.TenantID
	}
	s.members[m.ID] = m
}

// Throttle makes the next n connector calls answer 429 with Retry-After retryAfter.
func (s *Server) Throttle(n int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.retryAfter = n, retryAfter
}

// TokenCalls is how many bot tokens were issued.
func (s *Server) TokenCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// MemberGets is how many member lookups (GET …/members/{id}) reached the fake, throttled or not.
func (s *Server) MemberGets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if strings.Contains(r.Path, "/members/") {
			n++
		}
	}
	return n
}

// Requests are the connector calls answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Conversations returns copies of every conversation the bot posted into or created.
func (s *Server) Conversations() []Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Conversation
	for _, c := range s.convs {
		out = append(out, copyConv(c))
	}
	slices.SortFunc(out, func(a, b Conversation) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Conversation returns a copy of conversation id as it is now.
func (s *Server) Conversation(id string) (Conversation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.convs[id]
	if !ok {
		return Conversation{}, false
	}
	return copyConv(c), true
}

// Personal returns the 1:1 conversation of user, if the bot created or was told of one.
func (s *Server) Personal(user string) (Conversation, bool) {
	s.mu.Lock()
	id, ok := s.personalFor[user]
	s.mu.Unlock()
	if !ok {
		return Conversation{}, false
	}
	return s.Conversation(id)
}

// OpenPersonal registers the 1:1 conversation the user has with the bot (as when the user
// first writes to it) and returns its id.
func (s *Server) OpenPersonal(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openPersonal(user)
}

func (s *Server) openPersonal(user string) string {
	if id, ok := s.personalFor[user]; ok {
		return id
	}
	id := "a:1" + base64.RawURLEncoding.EncodeToString([]byte(user))
	s.personalFor[user] = id
	s.convs[id] = &Conversation{ID: id, Personal: true, Member: user}
	return id
}

func copyConv(c *Conversation) Conversation {
	out := *c
	out.Activities = nil
	for _, a := range c.Activities {
		cp := *a
		out.Activities = append(out.Activities, &cp)
	}
	return out
}

// RotateKey publishes a new signing key (endorsed for msteams), drops the old ones from the
// key set, and signs with it from now on. It returns the new key id.
func (s *Server) RotateKey() string {
	k := newKey(fmt.Sprintf("key-%d", time.Now().UnixNano()), "msteams")
	k.published = true
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = []*Key{k}
	return k.ID
}

// UnpublishedKey returns a key the key set does not list (a forger's key, or a rotated key
// before the metadata shows it). Publish adds it to the key set.
func (s *Server) UnpublishedKey(id string, endorsements ...string) *Key {
	return newKey(id, endorsements...)
}

// Publish adds k to the key set.
func (s *Server) Publish(k *Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k.published = true
	s.keys = append(s.keys, k)
}

// SigningKey is the key the fake signs with.
func (s *Server) SigningKey() *Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1]
}

// Claims returns the claims the Bot Connector puts in a token for an activity from serviceURL.
func (s *Server) Claims(serviceURL string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": Issuer, "aud": s.o.AppID, "serviceurl": serviceURL,
		"nbf": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// Sign signs claims with k (RS256), putting k's id in the header.
func Sign(k *Key, claims jwt.Claims) string {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.priv)
	if err != nil {
		panic(err)
	}
	return s
}

// Token is a valid Bot Connector token for an activity from serviceURL.
func (s *Server) Token(serviceURL string) string { return Sign(s.SigningKey(), s.Claims(serviceURL)) }

// Deliver posts activity to the bot's endpoint the way the Bot Connector does, signed, and
// returns the response status and body.
func (s *Server) Deliver(endpoint string, activity any) (int, []byte, error) {
	body, err := json.Marshal(activity)
	if err != nil {
		return 0, nil, err
	}
	var probe struct {
		ServiceURL string `json:"serviceUrl"`
	}
	_ = json.Unmarshal(body, &probe)
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token(probe.ServiceURL))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, err = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes(), err
}

func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": Issuer, "authorization_endpoint": "https://invalid.example/v1/.well-known/keys",
		"jwks_uri": s.srv.URL + "/botframework/keys", "id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	var keys []map[string]any
	for _, k := range s.keys {
		if !k.published {
			continue
		}
		keys = append(keys, map[string]any{
			"kty": "RSA", "use": "sig", "kid": k.ID,
			"n":            base64.RawURLEncoding.EncodeToString(k.priv.N.Bytes()),
			"e":            base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
			"endorsements": k.Endorsements,
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	tenant := r.PathValue("tenant")
	grant := GrantSecret
	switch {
	case tenant != s.o.TenantID && (!s.o.MultiTenant || tenant != "botframework.com"):
		// A single-tenant bot must use its own tenant's endpoint.
		oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. "+
			"This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
			"You may have sent your authentication request to the wrong tenant.", r.PostForm.Get("client_id"), tenant))
		return
	case r.PostForm.Get("grant_type") != "client_credentials":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	case r.PostForm.Get("client_id") != s.o.AppID:
		oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.",
			r.PostForm.Get("client_id"), tenant))
		return
	case r.PostForm.Get("client_assertion_type") != "":
		var ok bool
		if grant, ok = s.checkAssertion(w, r, tenant); !ok {
			return
		}
	case s.o.AppSecret == "" || r.PostForm.Get("client_secret") != s.o.AppSecret:
		// Entra's answer to a wrong secret, body and status as sent.
		oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. "+
			"Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.o.AppID))
		return
	}
	// MSAL adds openid, profile and offline_access to every request; Entra ignores them in a
	// client credentials grant. What is left must be the Bot Framework's .default alone.
	var scopes []string
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		if sc != "openid" && sc != "profile" && sc != "offline_access" {
			scopes = append(scopes, sc)
		}
	}
	if scope := strings.Join(scopes, " "); scope != "https://api.botframework.com/.default" {
		oauthError(w, http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided request must include a 'scope' input parameter. "+
			"The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope))
		return
	}
	tok := s.issue(grant)
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(s.o.TokenLifetime.Seconds()), "ext_expires_in": int(s.o.TokenLifetime.Seconds()), "access_token": tok})
}

// issue records and returns a new bot token obtained by grant.
func (s *Server) issue(grant string) string {
	b := make([]byte, 24)
	rand.Read(b)
	tok := "bot-" + base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.o.TokenLifetime)
	s.issued[tok] = grant
	s.tokenCalls++
	s.mu.Unlock()
	return tok
}

// oauthError answers as Entra's token endpoint does: the AADSTS code and description, the
// code list, trace and correlation ids, and the error page link.
func oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace, corr := newGUID(), newGUID()
	now := time.Now().UTC()
	writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes": []int{aadsts}, "timestamp": now.Format("2006-01-02 15:04:05Z"),
		"trace_id": trace, "correlation_id": corr,
		"error_uri": fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// connector wraps a connector endpoint: bearer check, throttling, recording. fn runs with s.mu held.
func (s *Server) connector(fn func(w http.ResponseWriter, r *http.Request, body map[string]any) int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
			raw, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
			if err == nil && len(raw) > MaxRequestBody {
				connError(w, http.StatusRequestEntityTooLarge, "MessageSizeTooBig", fmt.Sprintf("The request content length exceeded limit of %d bytes.", MaxRequestBody))
				s.mu.Lock()
				s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: http.StatusRequestEntityTooLarge})
				s.mu.Unlock()
				return
			}
			if err == nil {
				err = json.Unmarshal(raw, &body)
			}
			if err != nil {
				connError(w, http.StatusBadRequest, "BadSyntax", "body is not JSON: "+err.Error())
				return
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		status := s.serve(w, r, body, fn)
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: status})
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, body map[string]any, fn func(http.ResponseWriter, *http.Request, map[string]any) int) int {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.bearers = append(s.bearers, tok)
	if exp, known := s.tokens[tok]; !ok || !known || time.Now().After(exp) {
		connError(w, http.StatusUnauthorized, "Unauthorized", "Authorization has been denied for this request.")
		return http.StatusUnauthorized
	}
	if s.throttle > 0 {
		s.throttle--
		w.Header().Set("Retry-After", s.retryAfter)
		connError(w, http.StatusTooManyRequests, "Throttled", "Too many requests")
		return http.StatusTooManyRequests
	}
	return fn(w, r, body)
}

func (s *Server) createConversation(w http.ResponseWriter, _ *http.Request, body map[string]any) int {
	var p struct {
		IsGroup     bool                  `json:"isGroup"`
		Members     []struct{ ID string } `json:"members"`
		TenantID    string                `json:"tenantId"`
		Activity    map[string]any        `json:"activity"`
		ChannelData struct {
			Channel struct{ ID string } `json:"channel"`
			Tenant  struct{ ID string } `json:"tenant"`
		} `json:"channelData"`
	}
	remarshal(body, &p)
	tenant := p.TenantID
	if tenant == "" {
		tenant = p.ChannelData.Tenant.ID
	}
	if tenant != s.o.TenantID {
		connError(w, http.StatusBadRequest, "BadArgument", "tenant id missing or not the bot's")
		return http.StatusBadRequest
	}
	if p.IsGroup {
		if p.ChannelData.Channel.ID == "" || p.Activity == nil {
			connError(w, http.StatusBadRequest, "BadArgument", "a channel thread needs channelData.channel.id and an activity")
			return http.StatusBadRequest
		}
		if s.tooBig(w, p.Activity) {
			return http.StatusRequestEntityTooLarge
		}
		id := s.nextID()
		conv := p.ChannelData.Channel.ID + ";messageid=" + id
		s.convs[conv] = &Conversation{ID: conv, Activities: []*Activity{{ID: id, Seq: s.seq, Body: p.Activity}}}
		s.changed(conv, s.convs[conv].Activities[0])
		writeJSON(w, http.StatusCreated, map[string]any{"id": conv, "activityId": id})
		return http.StatusCreated
	}
	if len(p.Members) != 1 {
		connError(w, http.StatusBadRequest, "BadArgument", "a 1:1 conversation needs exactly one member")
		return http.StatusBadRequest
	}
	if _, ok := s.members[p.Members[0].ID]; !ok {
		connError(w, http.StatusNotFound, "MemberNotFound", "no such user in the tenant")
		return http.StatusNotFound
	}
	id := s.openPersonal(p.Members[0].ID)
	resp := map[string]any{"id": id}
	if s.createdServiceURL != "" {
		resp["serviceUrl"] = s.createdServiceURL
	}
	writeJSON(w, http.StatusCreated, resp)
	return http.StatusCreated
}

// AnswerServiceURL makes createConversation answer with serviceUrl u (ConversationResourceResponse
// has the field; the connector may name another regional URL).
func (s *Server) AnswerServiceURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createdServiceURL = u
}

func (s *Server) nextID() string {
	s.seq++
	return fmt.Sprint(1700000000000 + s.seq)
}

func (s *Server) conv(id string) *Conversation {
	c, ok := s.convs[id]
	if !ok && strings.HasPrefix(id, "19:") {
		// Channels exist once the bot is installed in their team; the tests post into any.
		c = &Conversation{ID: id}
		s.convs[id] = c
	}
	return c
}

func (s *Server) postActivity(w http.ResponseWriter, r *http.Request, body map[string]any) int {
	c := s.conv(r.PathValue("conv"))
	if c == nil {
		connError(w, http.StatusNotFound, "ConversationNotFound", "Conversation not found.")
		return http.StatusNotFound
	}
	if body["type"] != "message" {
		connError(w, http.StatusBadRequest, "BadArgument", "unknown activity type")
		return http.StatusBadRequest
	}
	if s.tooBig(w, body) {
		return http.StatusRequestEntityTooLarge
	}
	id := s.nextID()
	c.Activities = append(c.Activities, &Activity{ID: id, Seq: s.seq, Body: body})
	s.changed(c.ID, c.Activities[len(c.Activities)-1])
	writeJSON(w, http.StatusCreated, map[string]any{"id": id})
	return http.StatusCreated
}

func (s *Server) find(w http.ResponseWriter, r *http.Request) *Activity {
	c := s.conv(r.PathValue("conv"))
	if c != nil {
		for _, a := range c.Activities {
			if a.ID == r.PathValue("id") && !a.Deleted {
				return a
			}
		}
	}
	connError(w, http.StatusNotFound, "ActivityNotFound", "Activity not found.")
	return nil
}

func (s *Server) putActivity(w http.ResponseWriter, r *http.Request, body map[string]any) int {
	a := s.find(w, r)
	if a == nil {
		return http.StatusNotFound
	}
	if s.tooBig(w, body) {
		return http.StatusRequestEntityTooLarge
	}
	a.Body = body
	a.Updates++
	s.changed(r.PathValue("conv"), a)
	writeJSON(w, http.StatusOK, map[string]any{"id": a.ID})
	return http.StatusOK
}

func (s *Server) deleteActivity(w http.ResponseWriter, r *http.Request, _ map[string]any) int {
	a := s.find(w, r)
	if a == nil {
		return http.StatusNotFound
	}
	a.Deleted = true
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// getMember finds a member by Teams user id, Entra object id or UPN, as the Bot Connector does.
func (s *Server) getMember(w http.ResponseWriter, r *http.Request, _ map[string]any) int {
	id := r.PathValue("user")
	m, ok := s.members[id]
	if !ok {
		for _, x := range s.members {
			if strings.EqualFold(x.AadObjectID, id) || (x.UserPrincipalName != "" && strings.EqualFold(x.UserPrincipalName, id)) {
				m, ok = x, true
				break
			}
		}
	}
	if !ok {
		connError(w, http.StatusNotFound, "MemberNotFound", "The member was not found.")
		return http.StatusNotFound
	}
	writeJSON(w, http.StatusOK, m)
	return http.StatusOK
}

func connError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func remarshal(from, to any) {
	b, _ := json.Marshal(from)
	_ = json.Unmarshal(b, to)
}

// Text flattens an activity as a person would read it: its text, then every text of its
// Adaptive Card attachments (text blocks, facts as "label: value", input labels and
// placeholders, action titles in brackets), one per line.
func Text(activity map[string]any) string {
	var lines []string
	if t, _ := activity["text"].(string); t != "" {
		lines = append(lines, t)
	}
	atts, _ := activity["attachments"].([]any)
	for _, a := range atts {
		am, _ := a.(map[string]any)
		walkCard(am["content"], &lines)
	}
	return strings.Join(lines, "\n")
}

// CardText flattens one Adaptive Card (e.g. an invoke response's value) like Text.
func CardText(card any) string {
	var lines []string
	walkCard(card, &lines)
	return strings.Join(lines, "\n")
}

func walkCard(v any, lines *[]string) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			walkCard(e, lines)
		}
	case map[string]any:
		switch x["type"] {
		case "TextBlock":
			if t, _ := x["text"].(string); t != "" {
				*lines = append(*lines, t)
			}
		case "FactSet":
			facts, _ := x["facts"].([]any)
			for _, f := range facts {
				fm, _ := f.(map[string]any)
				*lines = append(*lines, fmt.Sprintf("%v: %v", fm["title"], fm["value"]))
			}
		case "Action.Execute", "Action.Submit", "Action.OpenUrl", "Action.ShowCard":
			*lines = append(*lines, fmt.Sprintf("[%v]", x["title"]))
		}
		for _, k := range []string{"body", "items", "columns", "actions", "card"} {
			walkCard(x[k], lines)
		}
	}
}

// Channel is a channel of a team the bot is in. The General channel's id is the team's id and
// its name is empty, as the Bot Connector lists it.
type Channel struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// AddTeam puts the bot in team teamID with these channels besides General.
func (s *Server) AddTeam(teamID string, channels ...Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.teams == nil {
		s.teams = map[string][]Channel{}
	}
	s.teams[teamID] = append([]Channel{{ID: teamID}}, channels...)
}

// teamConversations is GET /v3/teams/{teamId}/conversations (Bot Framework REST: Teams
// channels): the team's channels with their names; a team the bot is not in is refused.
func (s *Server) teamConversations(w http.ResponseWriter, r *http.Request, _ map[string]any) int {
	chs, ok := s.teams[r.PathValue("team")]
	if !ok {
		connError(w, http.StatusForbidden, "BotNotInConversationRoster", "The bot is not part of the conversation roster.")
		return http.StatusForbidden
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": chs})
	return http.StatusOK
}

// OpenURL is the URL of the first Action.OpenUrl (a sign-in link) in an activity or card, or "".
func OpenURL(v any) string {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if u := OpenURL(e); u != "" {
				return u
			}
		}
	case map[string]any:
		if x["type"] == "Action.OpenUrl" {
			u, _ := x["url"].(string)
			return u
		}
		for _, k := range []string{"attachments", "content", "actions", "body"} {
			if u := OpenURL(x[k]); u != "" {
				return u
			}
		}
	}
	return ""
}
