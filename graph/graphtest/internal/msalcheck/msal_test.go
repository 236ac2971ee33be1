package msalcheck_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/golang-jwt/jwt/v5"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

const redirect = "http://127.0.0.1:8080/auth/callback"

var scopes = []string{"https://graph.microsoft.com/.default"}

func tenant(t *testing.T) *graphtest.Tenant {
	t.Helper()
	data, err := os.ReadFile("../../../../examples/tenant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := graphtest.ParseSeed(data)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Close)
	return tn
}

func msal(t *testing.T, tn *graphtest.Tenant) confidential.Client {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(tn.ClientSecret())
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(tn.AuthorityURL()+tn.TenantID(), tn.ClientID(), cred,
		confidential.WithHTTPClient(tn.HTTPClient()), confidential.WithInstanceDiscovery(false),
		confidential.WithClientCapabilities([]string{"CP1"}))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// TestMSALAuthCode is the sign-in as Elevate's graph client does it: MSAL's AuthCodeURL (which has
// no PKCE or state options, so they are added to the URL), the browser, AcquireTokenByAuthCode with
// WithChallenge carrying the verifier.
func TestMSALAuthCode(t *testing.T) {
	tn := tenant(t)
	app := msal(t, tn)
	ctx := context.Background()
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	u, err := app.AuthCodeURL(ctx, tn.ClientID(), redirect, scopes,
		confidential.WithClaims(claims), confidential.WithLoginHint("alice@contoso.example"))
	if err != nil {
		t.Fatal(err)
	}
	verifier := "a-verifier-that-is-long-enough-0123456789abcdef"
	sum := sha256.Sum256([]byte(verifier))
	pu, _ := url.Parse(u)
	q := pu.Query()
	if !strings.Contains(q.Get("claims"), "CP1") {
		t.Errorf("MSAL did not merge CP1 into claims: %s", q.Get("claims"))
	}
	q.Set("state", "s1")
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	pu.RawQuery = q.Encode()

	loc, err := tn.Browse(ctx, pu.String(), "alice@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByAuthCode(ctx, loc.Query().Get("code"), redirect, scopes,
		confidential.WithChallenge(verifier), confidential.WithClaims(claims))
	if err != nil {
		t.Fatalf("AcquireTokenByAuthCode: %v", err)
	}
	if res.Account.LocalAccountID != "11111111-1111-4111-8111-111111111111" ||
		res.Account.PreferredUsername != "alice@contoso.example" || res.IDToken.Oid == "" {
		t.Errorf("account %+v", res.Account)
	}
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(res.AccessToken, c); err != nil {
		t.Fatal(err)
	}
	if c["acrs"] == nil || c["xms_cc"] == nil {
		t.Errorf("claims %v", c)
	}
	// The token works on Graph.
	req, _ := http.NewRequest("GET", tn.GraphURL()+"/v1.0/users/alice@contoso.example", nil)
	req.Header.Set("Authorization", "Bearer "+res.AccessToken)
	resp, err := tn.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("Graph: %s", resp.Status)
	}
	// Silent: from MSAL's cache.
	if _, err := app.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account)); err != nil {
		t.Errorf("AcquireTokenSilent: %v", err)
	}

	// A wrong verifier surfaces as an MSAL error.
	loc, err = tn.Browse(ctx, pu.String(), "alice@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.AcquireTokenByAuthCode(ctx, loc.Query().Get("code"), redirect, scopes,
		confidential.WithChallenge("wrong")); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("wrong verifier: %v", err)
	}
}

func TestMSALClientCredentials(t *testing.T) {
	tn := tenant(t)
	res, err := msal(t, tn).AcquireTokenByCredential(context.Background(), scopes)
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(res.AccessToken, c); err != nil || c["idtyp"] != "app" {
		t.Errorf("app token %v %v", c, err)
	}
}

func TestAzidentityClientSecret(t *testing.T) {
	tn := tenant(t)
	cred, err := azidentity.NewClientSecretCredential(tn.TenantID(), tn.ClientID(), tn.ClientSecret(),
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: tn.AuthorityURL()}, Transport: tn.HTTPClient()},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: scopes, EnableCAE: true})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if tok.Token == "" {
		t.Error("empty token")
	}
}
