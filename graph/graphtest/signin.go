package graphtest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The sign-in server: the Entra v2.0 endpoints MSAL Go's confidential client uses, under
// /{tenant}/ where tenant is the tenant id or the seed's domain.

// browserUserHeader carries the simulated browser's signed-in user to the authorize endpoint.
const (
	browserUserHeader = "X-Graphtest-User"
	browserMFAHeader  = "X-Graphtest-Mfa"
	browserACRSHeader = "X-Graphtest-Acrs" // space-separated auth contexts the user can satisfy
)

type authCode struct {
	session
	RedirectURI   string
	Challenge     string
	Expires       time.Time
	RequestClaims string
}

// BrowseOption changes how the simulated user signs in.
type BrowseOption func(*browseOptions)

type browseOptions struct {
	noMFA   bool
	acrs    []string
	acrsSet bool
}

func (o browseOptions) amr() []string {
	if o.noMFA {
		return []string{"pwd"}
	}
	return []string{"pwd", "mfa"}
}

// WithoutMFA makes the sign-in password-only: amr ["pwd"], and no authentication context is
// satisfied.
func WithoutMFA() BrowseOption { return func(o *browseOptions) { o.noMFA = true } }

// WithACRS sets the authentication contexts the sign-in satisfies. In Browse, by default every
// context the authorize request's claims ask for is satisfied (when MFA was done); WithACRS()
// with no values satisfies none. In UserToken it sets the token's acrs.
func WithACRS(values ...string) BrowseOption {
	return func(o *browseOptions) { o.acrs, o.acrsSet = values, true }
}

func (t *Tenant) loginMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /common/discovery/instance", t.instanceDiscovery)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", t.openIDConfig)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", t.jwks)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", t.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", t.token)
	return mux
}

func (t *Tenant) knownTenant(r *http.Request) bool {
	tn := strings.ToLower(r.PathValue("tenant"))
	return tn == t.seed.TenantID || (t.seed.Domain != "" && tn == strings.ToLower(t.seed.Domain))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oauthError answers like Entra's token endpoint: error, error_description with an AADSTS code.
func (t *Tenant) oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace, corr, now := newID(), newID(), t.now().UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, desc, trace, corr, now),
		"error_codes": []int{aadsts}, "timestamp": now, "trace_id": trace, "correlation_id": corr,
		"error_uri": fmt.Sprintf("%s/error?code=%d", t.login.URL, aadsts),
	})
}

func (t *Tenant) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := t.login.Listener.Addr().String()
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": t.login.URL + "/" + t.seed.TenantID + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

func (t *Tenant) openIDConfig(w http.ResponseWriter, r *http.Request) {
	if !t.knownTenant(r) {
		t.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", r.PathValue("tenant")))
		return
	}
	base := t.login.URL + "/" + t.seed.TenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                t.v2Issuer(),
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
			"preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"code_challenge_methods_supported": []string{"S256"},
		"request_uri_parameter_supported":  false,
		"tenant_region_scope":              "EU",
		"cloud_instance_name":              "microsoftonline.com",
		"msgraph_host":                     "graph.microsoft.com",
	})
}

func (t *Tenant) jwks(w http.ResponseWriter, r *http.Request) {
	pub := t.key.PublicKey
	e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": t.kid, "x5t": t.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()), "e": e, "issuer": t.v2Issuer(),
	}}})
}

// validRedirect checks a redirect URI against the registration (any http(s) URI when none is set).
func (t *Tenant) validRedirect(uri string) bool {
	if len(t.seed.Client.RedirectURIs) > 0 {
		return slices.Contains(t.seed.Client.RedirectURIs, uri)
	}
	u, err := url.Parse(uri)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == ""
}

// authorize is the browser leg. Without the simulated browser's user header it answers a sign-in
// page; with it, the user has signed in and is redirected back with a code.
func (t *Tenant) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := func(status int, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><title>Sign in</title><p>%s</p>\n", msg)
	}
	if !t.knownTenant(r) {
		page(http.StatusBadRequest, "AADSTS90002: Tenant not found.")
		return
	}
	clientID, redirect := q.Get("client_id"), q.Get("redirect_uri")
	if !strings.EqualFold(clientID, t.seed.Client.ClientID) {
		page(http.StatusBadRequest, fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", clientID))
		return
	}
	if !t.validRedirect(redirect) {
		page(http.StatusBadRequest, fmt.Sprintf("AADSTS50011: The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application.", redirect))
		return
	}
	back, _ := url.Parse(redirect)
	bq := back.Query()
	redirectErr := func(code, desc string) {
		bq.Set("error", code)
		bq.Set("error_description", desc)
		if s := q.Get("state"); s != "" {
			bq.Set("state", s)
		}
		back.RawQuery = bq.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		redirectErr("unsupported_response_type", "AADSTS700054: response_type must be 'code'.")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge == "" {
		// Real Entra makes PKCE optional for web apps; Elevate always uses it, so its absence is a bug.
		redirectErr("invalid_request", "AADSTS50148: code_challenge is required (PKCE, S256) by this tenant.")
		return
	}
	if method != "S256" {
		redirectErr("invalid_request", "AADSTS501491: code_challenge_method must be S256.")
		return
	}
	userRef := r.Header.Get(browserUserHeader)
	if userRef == "" {
		page(http.StatusOK, "Sign in to your account (graphtest: use Tenant.Browse).")
		return
	}
	t.mu.Lock()
	u := t.st.user(userRef)
	t.mu.Unlock()
	if u == nil {
		page(http.StatusBadRequest, "AADSTS50034: The user account does not exist in this directory.")
		return
	}
	// Consent: every Graph permission asked for must have been consented for the tenant (the
	// PIM scopes need an admin's consent); otherwise Entra ends the sign-in with AADSTS65001.
	asked, other := requestedScopes(q.Get("scope"))
	if len(other) > 0 {
		redirectErr("invalid_client", fmt.Sprintf("AADSTS650057: Invalid resource. The client has requested access to a resource which is not listed in the requested permissions in the client's application registration. (%s)", strings.Join(other, " ")))
		return
	}
	t.mu.Lock()
	consented := slices.Clone(t.seed.Client.Scopes)
	t.mu.Unlock()
	if i := slices.Index(asked, ".default"); i >= 0 {
		// .default: every permission consented for the app, and nothing else.
		asked = slices.Delete(asked, i, i+1)
		for _, c := range consented {
			if !slices.Contains(asked, c) && !slices.Contains(oidcScopes, strings.ToLower(c)) {
				asked = append(asked, c)
			}
		}
	}
	var missing []string
	for _, s := range asked {
		if !slices.ContainsFunc(consented, func(c string) bool { return strings.EqualFold(c, s) }) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		redirectErr("consent_required", fmt.Sprintf("AADSTS65001: The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource. (Missing permission: %s)",
			t.seed.Client.ClientID, t.clientName(), strings.Join(missing, " ")))
		return
	}
	mfa := r.Header.Get(browserMFAHeader) != "false"
	s := session{UserID: u.ID, AMR: []string{"pwd"}, AuthTime: t.now(), ClientID: t.seed.Client.ClientID,
		Scope: q.Get("scope"), Granted: asked, Nonce: q.Get("nonce")}
	if mfa {
		s.AMR = []string{"pwd", "mfa"}
	}
	claims := q.Get("claims")
	acrs, cc, err := parseClaims(claims)
	if err != nil {
		redirectErr("invalid_request", "AADSTS90014: the claims parameter is not valid JSON: "+err.Error())
		return
	}
	s.XmsCC = cc
	if h, ok := r.Header[http.CanonicalHeaderKey(browserACRSHeader)]; ok {
		can := strings.Fields(strings.Join(h, " "))
		for _, a := range acrs {
			if slices.Contains(can, a) {
				s.ACRS = append(s.ACRS, a)
			}
		}
	} else if mfa {
		s.ACRS = acrs
	}
	code := newID() + newID()
	t.mu.Lock()
	t.logSignIn(u.ID, t.seed.Client.ClientID, t.clientName(), mfa, s.AuthTime.UTC())
	t.codes[code] = &authCode{session: s, RedirectURI: redirect, Challenge: challenge,
		Expires: t.now().Add(10 * time.Minute), RequestClaims: claims}
	t.mu.Unlock()
	bq.Set("code", code)
	if st := q.Get("state"); st != "" {
		bq.Set("state", st)
	}
	bq.Set("session_state", newID())
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// parseClaims reads the OIDC claims request: the acrs values asked for the access token and the
// client capabilities (xms_cc, e.g. CP1) MSAL merges into it.
func parseClaims(s string) (acrs, cc []string, err error) {
	if s == "" {
		return nil, nil, nil
	}
	var req map[string]map[string]struct {
		Essential bool     `json:"essential"`
		Value     string   `json:"value"`
		Values    []string `json:"values"`
	}
	if err := json.Unmarshal([]byte(s), &req); err != nil {
		return nil, nil, err
	}
	for _, part := range []string{"access_token", "id_token"} {
		if a, ok := req[part]["acrs"]; ok {
			for _, v := range append([]string{a.Value}, a.Values...) {
				if v != "" && !slices.Contains(acrs, v) {
					acrs = append(acrs, v)
				}
			}
		}
		if x, ok := req[part]["xms_cc"]; ok {
			cc = append(cc, x.Values...)
		}
	}
	return acrs, cc, nil
}

func (t *Tenant) clientName() string {
	if t.seed.Client.DisplayName != "" {
		return t.seed.Client.DisplayName
	}
	return "Elevate"
}

func (t *Tenant) clientAuth(r *http.Request) (string, bool) {
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	ok := strings.EqualFold(id, t.seed.Client.ClientID) &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(t.seed.Client.ClientSecret)) == 1
	return id, ok
}

func (t *Tenant) token(w http.ResponseWriter, r *http.Request) {
	if !t.knownTenant(r) {
		t.oauthError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", r.PathValue("tenant")))
		return
	}
	if err := r.ParseForm(); err != nil {
		t.oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must be form-encoded.")
		return
	}
	f := r.PostForm
	id, ok := t.clientAuth(r)
	if !ok {
		if !strings.EqualFold(id, t.seed.Client.ClientID) {
			t.oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
				fmt.Sprintf("Application with identifier '%s' was not found in the directory.", id))
			return
		}
		t.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+id+"'.")
		return
	}
	switch f.Get("grant_type") {
	case "client_credentials":
		// MSAL adds the OpenID scopes to every request; Entra ignores them for client
		// credentials. The one resource scope must be <resource>/.default.
		scope := f.Get("scope")
		var resource []string
		for _, s := range strings.Fields(scope) {
			if s != "openid" && s != "profile" && s != "offline_access" {
				resource = append(resource, s)
			}
		}
		if len(resource) != 1 || resource[0] != GraphAudience+"/.default" {
			t.oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012,
				fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", scope))
			return
		}
		tok, _ := t.appToken()
		writeJSON(w, http.StatusOK, map[string]any{
			"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok,
		})
	case "authorization_code":
		t.redeemCode(w, f)
	case "refresh_token":
		t.redeemRefresh(w, f)
	default:
		t.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", f.Get("grant_type")))
	}
}

func (t *Tenant) redeemCode(w http.ResponseWriter, f url.Values) {
	code := f.Get("code")
	t.mu.Lock()
	ac := t.codes[code]
	delete(t.codes, code) // single use, even when the redemption fails
	t.mu.Unlock()
	switch {
	case ac == nil:
		t.oauthError(w, http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed or is not valid.")
		return
	case t.now().After(ac.Expires):
		t.oauthError(w, http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired.")
		return
	case f.Get("redirect_uri") != ac.RedirectURI:
		t.oauthError(w, http.StatusBadRequest, "invalid_grant", 70001, "The redirect_uri does not match the one the code was issued for.")
		return
	}
	verifier := f.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	if verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != ac.Challenge {
		t.oauthError(w, http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		return
	}
	s := ac.session
	// MSAL sends the same claims on redemption; the client capabilities may arrive only here.
	if _, cc, err := parseClaims(f.Get("claims")); err == nil {
		for _, c := range cc {
			if !slices.Contains(s.XmsCC, c) {
				s.XmsCC = append(s.XmsCC, c)
			}
		}
	}
	t.issueUserTokens(w, &s, f.Get("scope"))
}

func (t *Tenant) redeemRefresh(w http.ResponseWriter, f url.Values) {
	t.mu.Lock()
	s := t.refresh[f.Get("refresh_token")]
	t.mu.Unlock()
	if s == nil {
		t.oauthError(w, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
		return
	}
	cp := *s
	cp.Nonce = ""
	t.issueUserTokens(w, &cp, f.Get("scope"))
}

func (t *Tenant) issueUserTokens(w http.ResponseWriter, s *session, scope string) {
	t.mu.Lock()
	u := t.st.users[s.UserID]
	t.mu.Unlock()
	if scope == "" {
		scope = s.Scope
	}
	at, _ := t.accessToken(u, s)
	rt := newID() + "." + newID()
	t.mu.Lock()
	t.refresh[rt] = s
	t.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "scope": scope, "expires_in": 3599, "ext_expires_in": 3599,
		"access_token": at, "refresh_token": rt, "id_token": t.idToken(u, s), "client_info": t.clientInfo(u.ID),
	})
}

// Browse is a simulated browser: it opens authorizeURL signed in as user (UPN or object id) and
// returns the redirect it is sent to (redirect_uri?code=...&state=...) without following it.
// MFA is performed unless WithoutMFA; the authentication contexts the claims parameter asks for
// are satisfied when MFA was done (see WithACRS). An authorize request the tenant refuses with a
// redirect (error=...) returns that URL together with an error.
func (t *Tenant) Browse(ctx context.Context, authorizeURL, user string, opts ...BrowseOption) (*url.URL, error) {
	var o browseOptions
	for _, f := range opts {
		f(&o)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, fmt.Errorf("graphtest: browse: %w", err)
	}
	req.Header.Set(browserUserHeader, user)
	if o.noMFA {
		req.Header.Set(browserMFAHeader, "false")
	}
	if o.acrsSet {
		req.Header.Set(browserACRSHeader, strings.Join(o.acrs, " "))
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("graphtest: browse: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("graphtest: browse %s as %s: %s: %s", authorizeURL, user, resp.Status, strings.TrimSpace(stripTags(string(body))))
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("graphtest: browse: %w", err)
	}
	if e := loc.Query().Get("error"); e != "" {
		return loc, fmt.Errorf("graphtest: browse: sign-in refused: %s: %s", e, loc.Query().Get("error_description"))
	}
	return loc, nil
}

func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
