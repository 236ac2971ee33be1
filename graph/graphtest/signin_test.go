package graphtest_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

const redirect = "https://elevate.contoso.example/auth/callback"

func getJSON(t *testing.T, tn *graphtest.Tenant, u string) map[string]any {
	t.Helper()
	resp, err := tn.HTTPClient().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func postForm(t *testing.T, tn *graphtest.Tenant, v url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := tn.HTTPClient().PostForm(tn.AuthorityURL()+tn.TenantID()+"/oauth2/v2.0/token", v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func pkce(verifier string) string {
	s := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func authorizeURL(tn *graphtest.Tenant, extra url.Values) string {
	q := url.Values{
		"client_id": {tn.ClientID()}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope":          {"https://graph.microsoft.com/.default openid offline_access profile"},
		"state":          {"st-1"},
		"code_challenge": {pkce("verifier-0123456789-0123456789-0123456789")}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return tn.AuthorityURL() + tn.TenantID() + "/oauth2/v2.0/authorize?" + q.Encode()
}

func redeem(t *testing.T, tn *graphtest.Tenant, code, verifier string) (int, map[string]any) {
	t.Helper()
	return postForm(t, tn, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {redirect}, "client_id": {tn.ClientID()}, "client_secret": {tn.ClientSecret()},
		"scope": {"https://graph.microsoft.com/.default openid offline_access profile"},
	})
}

// jwksKeyfunc verifies tokens with the published JWKS, as a relying party would.
func jwksKeyfunc(t *testing.T, tn *graphtest.Tenant) jwt.Keyfunc {
	t.Helper()
	cfg := getJSON(t, tn, tn.AuthorityURL()+tn.TenantID()+"/v2.0/.well-known/openid-configuration")
	set := getJSON(t, tn, cfg["jwks_uri"].(string))
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set["keys"].([]any) {
		m := k.(map[string]any)
		n, _ := base64.RawURLEncoding.DecodeString(m["n"].(string))
		e, _ := base64.RawURLEncoding.DecodeString(m["e"].(string))
		keys[m["kid"].(string)] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return func(tok *jwt.Token) (any, error) {
		return keys[tok.Header["kid"].(string)], nil
	}
}

func TestOpenIDConfiguration(t *testing.T) {
	tn, _ := newDemo(t)
	for _, tenant := range []string{tn.TenantID(), "contoso.example"} {
		cfg := getJSON(t, tn, tn.AuthorityURL()+tenant+"/v2.0/.well-known/openid-configuration")
		for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"} {
			s, _ := cfg[k].(string)
			// MSAL requires the issuer on the authority's scheme and host.
			if !strings.HasPrefix(s, strings.TrimSuffix(tn.AuthorityURL(), "/")) {
				t.Errorf("%s = %q", k, s)
			}
		}
	}
	resp, err := tn.HTTPClient().Get(tn.AuthorityURL() + "nope.example/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unknown tenant: %s", resp.Status)
	}
}

func TestSignInFlow(t *testing.T) {
	tn, clk := newDemo(t)
	verifier := "verifier-0123456789-0123456789-0123456789"
	loc, err := tn.Browse(context.Background(), authorizeURL(tn, url.Values{"nonce": {"n-1"}}), "alice@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		t.Errorf("redirected to %s", got)
	}
	if loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	code := loc.Query().Get("code")
	// A wrong verifier is refused, and the code is spent.
	if st, m := redeem(t, tn, code, "wrong-verifier"); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %v", st, m)
	}
	if st, _ := redeem(t, tn, code, verifier); st != 400 {
		t.Fatalf("a spent code: %d", st)
	}

	loc, err = tn.Browse(context.Background(), authorizeURL(tn, url.Values{"nonce": {"n-2"}}), "alice@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	code = loc.Query().Get("code")
	st, m := redeem(t, tn, code, verifier)
	if st != 200 {
		t.Fatalf("redeem: %d %v", st, m)
	}
	for _, k := range []string{"access_token", "id_token", "refresh_token", "client_info", "token_type", "expires_in", "scope"} {
		if m[k] == nil {
			t.Errorf("token response lacks %s: %v", k, m)
		}
	}
	if st, _ := redeem(t, tn, code, verifier); st != 400 {
		t.Errorf("code redeemed twice: %d", st)
	}
	ci, _ := base64.RawURLEncoding.DecodeString(m["client_info"].(string))
	var info map[string]string
	if err := json.Unmarshal(ci, &info); err != nil || info["uid"] != alice || info["utid"] != tn.TenantID() {
		t.Errorf("client_info %s", ci)
	}

	kf := jwksKeyfunc(t, tn)
	at := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(m["access_token"].(string), at, kf, jwt.WithAudience("https://graph.microsoft.com"),
		jwt.WithIssuer("https://sts.windows.net/"+tn.TenantID()+"/"), jwt.WithTimeFunc(clk.Now)); err != nil {
		t.Fatalf("access token does not verify with the JWKS: %v", err)
	}
	if at["oid"] != alice || at["upn"] != "alice@contoso.example" || at["tid"] != tn.TenantID() || at["scp"] == nil ||
		at["auth_time"] == nil || !slices.Equal(toStrings(at["amr"]), []string{"pwd", "mfa"}) {
		t.Errorf("access token claims %v", at)
	}
	id := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(m["id_token"].(string), id, kf, jwt.WithAudience(tn.ClientID()), jwt.WithTimeFunc(clk.Now)); err != nil {
		t.Fatalf("id token does not verify with the JWKS: %v", err)
	}
	if id["nonce"] != "n-2" || id["preferred_username"] != "alice@contoso.example" || id["oid"] != alice {
		t.Errorf("id token claims %v", id)
	}
	// The access token works on Graph.
	if r := call(t, tn, "GET", "/v1.0/users/"+alice, m["access_token"].(string), nil); r.Status != 200 {
		t.Errorf("Graph with the signed-in token: %d", r.Status)
	}
	// Refresh.
	st, r := postForm(t, tn, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)},
		"client_id": {tn.ClientID()}, "client_secret": {tn.ClientSecret()}})
	if st != 200 || r["access_token"] == nil {
		t.Errorf("refresh: %d %v", st, r)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestSignInClaimsAndMFA(t *testing.T) {
	tn, clk := newDemo(t)
	verifier := "verifier-0123456789-0123456789-0123456789"
	claims := `{"access_token":{"xms_cc":{"values":["CP1"]},"acrs":{"essential":true,"value":"c1"}}}`
	cases := []struct {
		name     string
		opts     []graphtest.BrowseOption
		wantAMR  []string
		wantACRS []string
	}{
		{"mfa", nil, []string{"pwd", "mfa"}, []string{"c1"}},
		{"without mfa", []graphtest.BrowseOption{graphtest.WithoutMFA()}, []string{"pwd"}, nil},
		{"cannot satisfy", []graphtest.BrowseOption{graphtest.WithACRS()}, []string{"pwd", "mfa"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loc, err := tn.Browse(context.Background(), authorizeURL(tn, url.Values{"claims": {claims}, "prompt": {"login"}}),
				alice, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			st, m := redeem(t, tn, loc.Query().Get("code"), verifier)
			if st != 200 {
				t.Fatalf("%d %v", st, m)
			}
			at := jwt.MapClaims{}
			if _, err := jwt.ParseWithClaims(m["access_token"].(string), at, jwksKeyfunc(t, tn), jwt.WithTimeFunc(clk.Now)); err != nil {
				t.Fatal(err)
			}
			if got := toStrings(at["amr"]); !slices.Equal(got, c.wantAMR) {
				t.Errorf("amr %v, want %v", got, c.wantAMR)
			}
			var acrs []string
			if at["acrs"] != nil {
				acrs = toStrings(at["acrs"])
			}
			if !slices.Equal(acrs, c.wantACRS) {
				t.Errorf("acrs %v, want %v", acrs, c.wantACRS)
			}
			if cc := at["xms_cc"]; cc == nil || toStrings(cc)[0] != "CP1" {
				t.Errorf("xms_cc %v", cc)
			}
		})
	}
}

func TestSignInRefusals(t *testing.T) {
	tn, _ := newDemo(t)
	ctx := context.Background()
	if _, err := tn.Browse(ctx, authorizeURL(tn, nil), "mallory@contoso.example"); err == nil {
		t.Error("unknown user signed in")
	}
	if _, err := tn.Browse(ctx, authorizeURL(tn, url.Values{"client_id": {"00000000-0000-4000-8000-000000000000"}}), alice); err == nil {
		t.Error("unknown client accepted")
	}
	loc, err := tn.Browse(ctx, authorizeURL(tn, url.Values{"code_challenge": {""}}), alice)
	if err == nil || loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("no PKCE: %v %v", loc, err)
	}
	loc, _ = tn.Browse(ctx, authorizeURL(tn, nil), alice)
	code := loc.Query().Get("code")
	st, m := postForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {"verifier-0123456789-0123456789-0123456789"}, "redirect_uri": {redirect},
		"client_id": {tn.ClientID()}, "client_secret": {"wrong"}})
	if st != 401 || m["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", st, m)
	}
	loc, _ = tn.Browse(ctx, authorizeURL(tn, nil), alice)
	st, m = postForm(t, tn, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"code_verifier": {"verifier-0123456789-0123456789-0123456789"}, "redirect_uri": {"https://evil.example/cb"},
		"client_id": {tn.ClientID()}, "client_secret": {tn.ClientSecret()}})
	if st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("other redirect_uri: %d %v", st, m)
	}
}

func TestClientCredentials(t *testing.T) {
	tn, clk := newDemo(t)
	st, m := postForm(t, tn, url.Values{"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"},
		"client_id": {tn.ClientID()}, "client_secret": {tn.ClientSecret()}})
	if st != 200 {
		t.Fatalf("%d %v", st, m)
	}
	c := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(m["access_token"].(string), c, jwksKeyfunc(t, tn), jwt.WithTimeFunc(clk.Now)); err != nil {
		t.Fatal(err)
	}
	if c["idtyp"] != "app" || c["roles"] == nil || c["appid"] != tn.ClientID() {
		t.Errorf("app token %v", c)
	}
	if r := call(t, tn, "GET", "/v1.0/users/"+alice, m["access_token"].(string), nil); r.Status != 200 {
		t.Errorf("Graph with the app token: %d", r.Status)
	}
	if st, _ := postForm(t, tn, url.Values{"grant_type": {"client_credentials"}, "scope": {"User.Read"},
		"client_id": {tn.ClientID()}, "client_secret": {tn.ClientSecret()}}); st != 400 {
		t.Errorf("scope without /.default: %d", st)
	}
	req, _ := http.NewRequest("POST", tn.AuthorityURL()+tn.TenantID()+"/oauth2/v2.0/token",
		strings.NewReader("grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(tn.ClientID(), tn.ClientSecret())
	resp, err := tn.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("basic client auth: %s", resp.Status)
	}
}
