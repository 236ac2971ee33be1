package graphtest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// GraphAudience is the aud of the Graph access tokens this tenant issues and accepts.
const GraphAudience = "https://graph.microsoft.com"

// graphAppID is Microsoft Graph's well-known application id, also accepted as an audience.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// session is what a sign-in established: who, how (amr), and which auth contexts were satisfied.
type session struct {
	UserID   string
	AMR      []string
	ACRS     []string
	AuthTime time.Time
	ClientID string
	Scope    string
	// Granted are the Graph permissions the sign-in asked for (all consented); the token's scp.
	// Empty: every consented permission (UserToken, for tests that skip the browser).
	Granted []string
	XmsCC   []string
	Nonce   string
}

// caller is the verified identity behind a Graph request.
type caller struct {
	App    bool
	UserID string // oid (users)
	AppID  string
	Scopes []string
	Roles  []string
	AMR    []string
	ACRS   []string
}

// id is the caller's object or application id, as createdBy shows it.
func (c *caller) id() string {
	if c.App {
		return c.AppID
	}
	return c.UserID
}

func (c *caller) String() string {
	switch {
	case c == nil:
		return ""
	case c.App:
		return "app"
	default:
		return c.UserID
	}
}

func (t *Tenant) sign(claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = t.kid
	tok.Header["x5t"] = t.kid
	s, err := tok.SignedString(t.key)
	if err != nil {
		panic(fmt.Sprintf("graphtest: signing: %v", err)) // only on a broken key: a bug here
	}
	return s
}

func (t *Tenant) stsIssuer() string { return "https://sts.windows.net/" + t.seed.TenantID + "/" }

// v2Issuer is the OIDC issuer on the sign-in server (MSAL checks it shares the authority's host).
func (t *Tenant) v2Issuer() string { return t.login.URL + "/" + t.seed.TenantID + "/v2.0" }

// accessToken mints a delegated Graph token for a session; u must exist. Lock held or not needed.
func (t *Tenant) accessToken(u *User, s *session) (string, time.Time) {
	now := t.now()
	scp := s.Granted
	if len(scp) == 0 {
		scp = t.seed.Client.Scopes
	}
	exp := now.Add(time.Hour)
	c := jwt.MapClaims{
		"aud": GraphAudience, "iss": t.stsIssuer(), "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"tid": t.seed.TenantID, "oid": u.ID, "sub": u.ID, "upn": u.UPN, "unique_name": u.UPN, "name": u.DisplayName,
		"scp": strings.Join(scp, " "), "amr": s.AMR, "auth_time": s.AuthTime.Unix(),
		"appid": s.ClientID, "azp": s.ClientID, "idtyp": "user", "ver": "1.0", "uti": newID(),
	}
	if len(s.ACRS) > 0 {
		c["acrs"] = s.ACRS
	}
	if len(s.XmsCC) > 0 {
		c["xms_cc"] = s.XmsCC
	}
	return t.sign(c), exp
}

func (t *Tenant) idToken(u *User, s *session) string {
	now := t.now()
	c := jwt.MapClaims{
		"aud": s.ClientID, "iss": t.v2Issuer(), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"tid": t.seed.TenantID, "oid": u.ID, "sub": u.ID, "preferred_username": u.UPN, "name": u.DisplayName,
		"auth_time": s.AuthTime.Unix(), "amr": s.AMR, "ver": "2.0",
	}
	if s.Nonce != "" {
		c["nonce"] = s.Nonce
	}
	if len(s.ACRS) > 0 {
		c["acrs"] = s.ACRS
	}
	return t.sign(c)
}

func (t *Tenant) appToken() (string, time.Time) {
	now := t.now()
	exp := now.Add(time.Hour)
	cl := t.seed.Client
	c := jwt.MapClaims{
		"aud": GraphAudience, "iss": t.stsIssuer(), "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"tid": t.seed.TenantID, "oid": cl.ObjectID, "sub": cl.ObjectID, "appid": cl.ClientID, "azp": cl.ClientID,
		"idtyp": "app", "roles": cl.Roles, "ver": "1.0", "uti": newID(),
	}
	return t.sign(c), exp
}

func (t *Tenant) clientInfo(userID string) string {
	b, _ := json.Marshal(map[string]string{"uid": userID, "utid": t.seed.TenantID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// UserToken mints a delegated Graph access token for user (UPN or id) as if they had just signed in
// to the seeded client: MFA performed unless WithoutMFA, auth contexts from WithACRS. Tests that do
// not need the browser flow use it with a static credential.
func (t *Tenant) UserToken(user string, opts ...BrowseOption) (string, error) {
	var o browseOptions
	for _, f := range opts {
		f(&o)
	}
	t.mu.Lock()
	u := t.st.user(user)
	t.mu.Unlock()
	if u == nil {
		return "", fmt.Errorf("graphtest: no user %q in the tenant", user)
	}
	s := &session{UserID: u.ID, AMR: o.amr(), ACRS: o.acrs, AuthTime: t.now(), ClientID: t.seed.Client.ClientID}
	tok, _ := t.accessToken(u, s)
	return tok, nil
}

// AppToken mints an app-only Graph access token for the seeded client (idtyp app, roles).
func (t *Tenant) AppToken() string {
	tok, _ := t.appToken()
	return tok
}

// verify checks a Graph bearer token: signature with this tenant's key, expiry by the tenant
// clock, audience Graph, issuer this tenant.
func (t *Tenant) verify(raw string) (*caller, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		if kid, _ := tok.Header["kid"].(string); kid != t.kid {
			return nil, fmt.Errorf("unknown signing key %q", kid)
		}
		return &t.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(t.now), jwt.WithExpirationRequired(),
		jwt.WithIssuer(t.stsIssuer()), jwt.WithLeeway(5*time.Minute))
	if err != nil {
		return nil, err
	}
	aud, _ := claims.GetAudience()
	if !slices.Contains(aud, GraphAudience) && !slices.Contains(aud, graphAppID) {
		return nil, errors.New("the token's audience is not Microsoft Graph")
	}
	c := &caller{AppID: str(claims["appid"])}
	if str(claims["idtyp"]) == "app" {
		c.App = true
		c.Roles = strs(claims["roles"])
		return c, nil
	}
	c.UserID = str(claims["oid"])
	if c.UserID == "" {
		return nil, errors.New("the token has no oid")
	}
	c.Scopes = strings.Fields(str(claims["scp"]))
	c.AMR = strs(claims["amr"])
	c.ACRS = strs(claims["acrs"])
	return c, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}
