package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// UserToken is a user's delegated Graph token and what the sign-in says about them. It lives in
// memory only, as long as the request needs it; never log or store it.
type UserToken struct {
	AccessToken string
	UserID, UPN string   // oid, preferred_username/upn
	AMR, ACRS   []string // how they signed in ("pwd", "mfa"), which auth contexts they satisfied ("c1")
	Scopes      []string // the delegated permissions the token carries (scp), e.g. ScopeActivate
	AuthTime    time.Time
	ExpiresOn   time.Time
}

// String keeps the token out of logs and %v.
func (t UserToken) String() string {
	return fmt.Sprintf("UserToken{UserID:%s UPN:%s AMR:%v ACRS:%v AuthTime:%s ExpiresOn:%s}",
		t.UserID, t.UPN, t.AMR, t.ACRS, t.AuthTime.Format(time.RFC3339), t.ExpiresOn.Format(time.RFC3339))
}

// Has says whether the token carries the delegated permission scope.
func (t UserToken) Has(scope string) bool {
	for _, s := range t.Scopes {
		if strings.EqualFold(s, scope) {
			return true
		}
	}
	return false
}

// GoString keeps the token out of %#v.
func (t UserToken) GoString() string { return t.String() }

func newMSAL(cfg Config) (*confidential.Client, error) {
	cred, err := confidential.NewCredFromSecret(cfg.ClientSecret)
	if err != nil {
		return nil, fmt.Errorf("graph: sign-in credential: %w", err)
	}
	authority := strings.TrimRight(cfg.AuthorityHost, "/") + "/" + cfg.TenantID
	cl, err := confidential.New(authority, cfg.ClientID, cred,
		// CP1: we can handle claims challenges, so Entra and PIM may ask for auth contexts (acrs).
		confidential.WithClientCapabilities([]string{"CP1"}),
		confidential.WithInstanceDiscovery(false),
		confidential.WithHTTPClient(cfg.HTTPClient),
		confidential.WithCache(forgetful{}),
	)
	if err != nil {
		return nil, fmt.Errorf("graph: sign-in client: %w", err)
	}
	return &cl, nil
}

// forgetful is an MSAL cache that keeps nothing between calls: each sign-in returns its token
// to the caller and MSAL holds no access or refresh token afterwards (the design keeps user
// tokens only as long as a request needs them).
type forgetful struct{}

func (forgetful) Replace(_ context.Context, c cache.Unmarshaler, _ cache.ReplaceHints) error {
	return c.Unmarshal([]byte("{}"))
}

func (forgetful) Export(_ context.Context, c cache.Marshaler, _ cache.ExportHints) error {
	if u, ok := c.(cache.Unmarshaler); ok {
		return u.Unmarshal([]byte("{}"))
	}
	return nil
}

// scopes are the resource scopes a sign-in asks for: names, among DelegatedScopes (ScopeActivate
// when none). Consent is incremental: each sign-in asks only for what the action it was started
// for needs (docs/security.md says when). MSAL adds openid, profile and offline_access. Entra
// grants only what the signed-in user's roles allow, so a plain user's token cannot write
// eligibilities whatever it asks for.
func (c *Client) scopes(names []string) []string {
	if len(names) == 0 {
		names = []string{ScopeActivate}
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, c.resource+"/"+n)
	}
	return out
}

// SignInURL is the Entra authorize URL to send the user to: authorization code with PKCE
// (codeChallenge is the S256 challenge of the verifier the caller keeps), client capability CP1,
// claims from a step-up challenge when set (decoded JSON, e.g. Error.Claims), and the delegated
// permissions scopes (ScopeActivate when none).
//
// It always asks for prompt=login: the sign-in is the user's proof of presence for an
// activation, so an SSO session must not answer for them (and AuthTime is then the sign-in's).
func (c *Client) SignInURL(ctx context.Context, state, codeChallenge, loginHint, claims string, scopes []string) (string, error) {
	if c.msal == nil {
		return "", errNoSignIn
	}
	if state == "" || codeChallenge == "" {
		return "", errors.New("graph: SignInURL: state and code challenge are required")
	}
	for _, n := range scopes {
		if !slices.ContainsFunc(DelegatedScopes, func(s Scope) bool { return s.Name == n }) {
			// docs/security.md lists what users are asked for; DelegatedScopes is that list.
			return "", fmt.Errorf("graph: SignInURL: %s is not a permission Elevate asks users for", n)
		}
	}
	var opts []confidential.AuthCodeURLOption
	if loginHint != "" {
		opts = append(opts, confidential.WithLoginHint(loginHint))
	}
	if claims != "" {
		opts = append(opts, confidential.WithClaims(claims))
	}
	raw, err := c.msal.AuthCodeURL(ctx, c.cfg.ClientID, c.cfg.RedirectURL, c.scopes(scopes), opts...)
	if err != nil {
		return "", fmt.Errorf("graph: sign-in URL: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("graph: sign-in URL: %w", err)
	}
	// MSAL's confidential AuthCodeURL has no state or PKCE options.
	q := u.Query()
	q.Set("state", state)
	q.Set("code_challenge", codeChallenge)
	q.Set("code_challenge_method", "S256")
	q.Set("prompt", "login")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// CompleteSignIn redeems the authorization code from the callback, with the PKCE verifier and
// the same claims and scopes the sign-in URL carried.
func (c *Client) CompleteSignIn(ctx context.Context, code, codeVerifier, claims string, scopes []string) (UserToken, error) {
	if c.msal == nil {
		return UserToken{}, errNoSignIn
	}
	if code == "" || codeVerifier == "" {
		return UserToken{}, errors.New("graph: CompleteSignIn: code and verifier are required")
	}
	opts := []confidential.AcquireByAuthCodeOption{confidential.WithChallenge(codeVerifier)}
	if claims != "" {
		opts = append(opts, confidential.WithClaims(claims))
	}
	res, err := c.msal.AcquireTokenByAuthCode(ctx, code, c.cfg.RedirectURL, c.scopes(scopes), opts...)
	if err != nil {
		// MSAL's errors describe the token endpoint's answer; they do not contain tokens.
		return UserToken{}, fmt.Errorf("graph: sign-in: %w", err)
	}
	// Reading the JWTs without verifying their signatures is sound only because they came
	// straight from the token endpoint over TLS in answer to our own code redemption; they are
	// never accepted from anywhere else. (Graph access tokens are not meant to be verified by
	// clients at all.)
	at, _ := jwtClaims(res.AccessToken)
	id, _ := jwtClaims(res.IDToken.RawToken)
	t := UserToken{
		AccessToken: res.AccessToken,
		UserID:      firstString(at.Oid, id.Oid, res.IDToken.Oid),
		UPN:         firstString(id.PreferredUsername, at.UPN, id.UPN, res.IDToken.PreferredUsername, at.UniqueName),
		AMR:         firstSlice(at.AMR, id.AMR),
		ACRS:        firstSlice(at.ACRS, id.ACRS),
		Scopes:      strings.Fields(at.Scp),
		ExpiresOn:   res.ExpiresOn,
	}
	switch {
	case at.AuthTime > 0:
		t.AuthTime = time.Unix(at.AuthTime, 0)
	case id.AuthTime > 0:
		t.AuthTime = time.Unix(id.AuthTime, 0)
	case id.IssuedAt > 0:
		// No auth_time: the sign-in was forced (prompt=login), so it happened when the ID
		// token was issued.
		t.AuthTime = time.Unix(id.IssuedAt, 0)
	}
	if t.UserID == "" {
		return UserToken{}, errors.New("graph: sign-in: the token has no oid claim")
	}
	return t, nil
}

type tokenClaims struct {
	Oid               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username"`
	UPN               string   `json:"upn"`
	UniqueName        string   `json:"unique_name"`
	AMR               []string `json:"amr"`
	ACRS              []string `json:"acrs"`
	Scp               string   `json:"scp"`
	AuthTime          int64    `json:"auth_time"`
	IssuedAt          int64    `json:"iat"`
}

// jwtClaims decodes a JWT's payload without verifying it (see CompleteSignIn for why that is
// acceptable there and nowhere else).
func jwtClaims(tok string) (tokenClaims, error) {
	var c tokenClaims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

func firstString(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstSlice(vs ...[]string) []string {
	for _, v := range vs {
		if len(v) > 0 {
			return v
		}
	}
	return nil
}
