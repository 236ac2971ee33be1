package teams_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
)

const saSubject = "system:serviceaccount:elevate:elevate"

// testCert writes a self-signed certificate and its key as one PEM file, as `az ad app
// credential reset --create-cert` gives them.
func testCert(t *testing.T) (*x509.Certificate, string, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "elevate-bot"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pk, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM...)
	path := filepath.Join(t.TempDir(), "bot.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path, pk
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// credentialCase is one way of configuring the bot's identity against a fake set up for it.
type credentialCase struct {
	name  string
	appID string // the credential's MICROSOFT_APP_ID when not appID
	fake  teamstest.Options
	// cfg fills the credential's settings once the fake runs (and may set the environment).
	cfg      func(t *testing.T, f *teamstest.Server) teams.CredentialConfig
	kind     string
	appType  string
	secrets  func(f *teamstest.Server) []string // what must never show in logs or errors
	wantLine string                             // the refusal's cause, in the failing variant
}

// freshID is a client id no earlier test used: MSAL keeps managed identity tokens in one cache
// for the whole process, keyed by client id, so a repeated run (-count) must not find one.
func freshID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("b07e0000-0000-4000-8000-%x", b)
}

func credentialCases(t *testing.T) (ok, failing []credentialCase) {
	cert, certPath, keyDER := testCert(t)
	otherCert, _, _ := testCert(t)
	keyText := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	keyLine := strings.Split(keyText, "\n")[1] // a line of the key's base64
	msi := func(t *testing.T, f *teamstest.Server) {
		ep, hdr := f.ManagedIdentityEndpoint()
		t.Setenv("IDENTITY_ENDPOINT", ep)
		t.Setenv("IDENTITY_HEADER", hdr)
	}
	base := teamstest.Options{AppID: appID, TenantID: tenantID}
	msiID := freshID(t)
	with := func(edit func(*teamstest.Options)) teamstest.Options { o := base; edit(&o); return o }
	ok = []credentialCase{
		{name: "client secret", fake: with(func(o *teamstest.Options) { o.AppSecret = secret }), kind: teams.KindSecret, appType: teams.AppTypeSingleTenant,
			cfg: func(*testing.T, *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{Password: secret}
			}},
		{name: "multi-tenant client secret", fake: with(func(o *teamstest.Options) { o.AppSecret = secret; o.MultiTenant = true }), kind: teams.KindSecret, appType: teams.AppTypeMultiTenant,
			cfg: func(*testing.T, *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{AppType: "multitenant", Password: secret}
			}},
		{name: "certificate", fake: with(func(o *teamstest.Options) { o.Certificate = cert }), kind: teams.KindCertificate, appType: teams.AppTypeSingleTenant,
			cfg: func(*testing.T, *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{CertificatePath: certPath}
			}},
		{name: "multi-tenant certificate", fake: with(func(o *teamstest.Options) { o.Certificate = cert; o.MultiTenant = true }), kind: teams.KindCertificate, appType: teams.AppTypeMultiTenant,
			cfg: func(*testing.T, *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{AppType: "MultiTenant", CertificatePath: certPath}
			}},
		{name: "workload identity of the app registration", fake: with(func(o *teamstest.Options) { o.FederatedSubject = saSubject }), kind: teams.KindWorkloadIdentity, appType: teams.AppTypeSingleTenant,
			cfg: func(t *testing.T, f *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{FederatedTokenFile: writeFile(t, f.ServiceAccountToken(saSubject))}
			}},
		{name: "workload identity of a user-assigned managed identity (AKS)", fake: with(func(o *teamstest.Options) { o.FederatedSubject = saSubject }), kind: teams.KindWorkloadIdentity, appType: teams.AppTypeUserAssignedMSI,
			cfg: func(t *testing.T, f *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{AppType: "UserAssignedMSI", FederatedTokenFile: writeFile(t, f.ServiceAccountToken(saSubject))}
			}},
		{name: "managed identity (Container Apps)", appID: msiID, fake: with(func(o *teamstest.Options) { o.ManagedIdentity = true; o.AppID = msiID }), kind: teams.KindManagedIdentity, appType: teams.AppTypeUserAssignedMSI,
			cfg: func(t *testing.T, f *teamstest.Server) teams.CredentialConfig {
				msi(t, f)
				return teams.CredentialConfig{AppType: "UserAssignedMSI"}
			}},
	}
	failing = []credentialCase{
		{name: "wrong client secret", fake: with(func(o *teamstest.Options) { o.AppSecret = secret }), kind: teams.KindSecret, wantLine: "invalid_client: AADSTS7000215: Invalid client secret provided.",
			cfg: func(*testing.T, *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{Password: "wrong-secret-value"}
			},
			secrets: func(*teamstest.Server) []string { return []string{"wrong-secret-value", secret} }},
		{name: "certificate not registered", fake: with(func(o *teamstest.Options) { o.Certificate = otherCert }), kind: teams.KindCertificate, wantLine: "invalid_client: AADSTS700027: Client assertion failed signature validation.",
			cfg: func(*testing.T, *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{CertificatePath: certPath}
			},
			secrets: func(*teamstest.Server) []string { return []string{keyLine, "eyJ"} }},
		{name: "workload identity not federated for this service account", fake: with(func(o *teamstest.Options) { o.FederatedSubject = "system:serviceaccount:other:other" }), kind: teams.KindWorkloadIdentity,
			wantLine: "invalid_client: AADSTS70021: No matching federated identity record found for presented assertion.",
			cfg: func(t *testing.T, f *teamstest.Server) teams.CredentialConfig {
				return teams.CredentialConfig{AppType: "UserAssignedMSI", FederatedTokenFile: writeFile(t, f.ServiceAccountToken(saSubject))}
			},
			secrets: func(f *teamstest.Server) []string { return []string{f.ServiceAccountToken(saSubject)[:60], "eyJ"} }},
		{name: "managed identity not assigned to the app", appID: freshID(t), fake: base, kind: teams.KindManagedIdentity, wantLine: "/msi/token answered 400 Bad Request: Unable to load the proper Managed Identity.",
			cfg: func(t *testing.T, f *teamstest.Server) teams.CredentialConfig {
				msi(t, f)
				return teams.CredentialConfig{AppType: "UserAssignedMSI"}
			},
			secrets: func(f *teamstest.Server) []string { _, hdr := f.ManagedIdentityEndpoint(); return []string{hdr} }},
	}
	return ok, failing
}

func newCredential(t *testing.T, c credentialCase, f *teamstest.Server) *teams.Credential {
	t.Helper()
	cfg := c.cfg(t, f)
	cfg.AppID, cfg.TenantID, cfg.AuthorityHost, cfg.HTTPClient = appID, tenantID, f.AuthorityHost(), f.Client()
	if c.appID != "" {
		cfg.AppID = c.appID
	}
	cred, err := teams.NewCredential(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Kind != c.kind {
		t.Errorf("kind %q, want %q", cred.Kind, c.kind)
	}
	return cred
}

// TestCredentialTokenReachesConnector: whichever credential is configured, the token it got
// from its issuer is the one the Bot Connector receives, obtained once for several calls.
func TestCredentialTokenReachesConnector(t *testing.T) {
	ok, _ := credentialCases(t)
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			f := teamstest.New(c.fake)
			defer f.Close()
			cred := newCredential(t, c, f)
			if cred.AppType != c.appType {
				t.Errorf("app type %q, want %q", cred.AppType, c.appType)
			}
			if c.appType == teams.AppTypeMultiTenant && !strings.Contains(cred.Authority, "/botframework.com/") {
				t.Errorf("a multi-tenant bot's tokens come from %s, want the botframework.com tenant", cred.Authority)
			}
			if c.appType == teams.AppTypeSingleTenant && !strings.Contains(cred.Authority, "/"+tenantID+"/") {
				t.Errorf("a single-tenant bot's tokens come from %s, want its tenant %s", cred.Authority, tenantID)
			}
			conn := teams.NewConnector(cred.Tokens(nil, nil), f.Client())
			conn.ServiceURLs = allowFake(t, f)
			for i := range 3 {
				if _, err := conn.Send(context.Background(), f.ServiceURL(), "19:abc@thread.tacv2", teams.Activity{Type: "message", Text: "hello"}); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			bearers := f.Bearers()
			if len(bearers) != 3 {
				t.Fatalf("%d connector calls, want 3", len(bearers))
			}
			for _, b := range bearers {
				if got := f.Grant(b); got != c.kind || b != bearers[0] {
					t.Errorf("the connector got a token obtained by %q (%d calls), want the %s's one token", got, len(bearers), c.kind)
				}
			}
			if n := f.TokenCalls(); n != 1 {
				t.Errorf("%d tokens issued for 3 calls, want 1", n)
			}
		})
	}
}

// TestCredentialFailureOneLine: a refused credential is one line in the log, once for repeated
// attempts, naming the credential and Entra's (or the identity endpoint's) cause, with no
// secret, key, assertion or identity header in it, and the error says the same.
func TestCredentialFailureOneLine(t *testing.T) {
	_, failing := credentialCases(t)
	for _, c := range failing {
		t.Run(c.name, func(t *testing.T) {
			f := teamstest.New(c.fake)
			defer f.Close()
			cred := newCredential(t, c, f)
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			conn := teams.NewConnector(cred.Tokens(log, nil), f.Client())
			conn.ServiceURLs = allowFake(t, f)
			var errs []string
			for range 2 {
				_, err := conn.Send(context.Background(), f.ServiceURL(), "19:abc@thread.tacv2", teams.Activity{Type: "message"})
				var ce *teams.CredentialError
				if !errors.As(err, &ce) || ce.Kind != c.kind {
					t.Fatalf("error %v, want the %s's CredentialError", err, c.kind)
				}
				if !strings.Contains(ce.Cause, c.wantLine) {
					t.Errorf("cause %q, want %q", ce.Cause, c.wantLine)
				}
				errs = append(errs, err.Error())
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.kind) || !strings.Contains(lines[0], strings.ReplaceAll(c.wantLine, `"`, `\"`)) {
				t.Errorf("log for two failures:\n%s\nwant one line naming the %s and %q", logs.String(), c.kind, c.wantLine)
			}
			all := logs.String() + strings.Join(errs, "\n")
			for _, e := range errs {
				if strings.Contains(e, "\n") {
					t.Errorf("error spans lines: %q", e)
				}
			}
			for _, s := range c.secrets(f) {
				if strings.Contains(all, s) {
					t.Errorf("%q leaked into the log or error:\n%s", s, all)
				}
			}
			if len(f.Bearers()) != 0 {
				t.Errorf("the connector was called without a token: %d calls", len(f.Bearers()))
			}
		})
	}
}

type countingCredential struct {
	n    atomic.Int32
	next azcore.TokenCredential
}

func (c *countingCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.n.Add(1)
	return c.next.GetToken(ctx, o)
}

// TestTokensCachedUntilNearExpiry: a token is reused until five minutes before it expires,
// then a new one is obtained.
func TestTokensCachedUntilNearExpiry(t *testing.T) {
	f := teamstest.New(teamstest.Options{AppID: appID, AppSecret: secret, TenantID: tenantID})
	defer f.Close()
	start := time.Now()
	var offset atomic.Int64
	now := func() time.Time { return start.Add(time.Duration(offset.Load())) }
	cred, err := teams.NewCredential(teams.CredentialConfig{AppID: appID, TenantID: tenantID, Password: secret,
		AuthorityHost: f.AuthorityHost(), HTTPClient: f.Client(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingCredential{next: cred.TokenCredential}
	cred.TokenCredential = counting
	tokens := cred.Tokens(nil, now)
	ctx := context.Background()
	first, err := tokens.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{0, 30 * time.Minute, 54 * time.Minute} {
		offset.Store(int64(at))
		if tok, err := tokens.Token(ctx); err != nil || tok != first {
			t.Errorf("at +%v: a different token (%v)", at, err)
		}
	}
	if n := counting.n.Load(); n != 1 {
		t.Errorf("%d token requests within the token's life, want 1", n)
	}
	offset.Store(int64(56 * time.Minute)) // the fake's tokens live an hour
	again, err := tokens.Token(ctx)
	if err != nil || again == first {
		t.Errorf("four minutes before expiry: the same token (%v)", err)
	}
	if n, issued := counting.n.Load(), f.TokenCalls(); n != 2 || issued != 2 {
		t.Errorf("%d requests, %d tokens issued after the first neared expiry, want 2 and 2", n, issued)
	}
}

func TestNewCredentialRefuses(t *testing.T) {
	_, certPath, _ := testCert(t)
	for _, c := range []struct {
		name string
		cfg  teams.CredentialConfig
		want string
	}{
		{"no credential", teams.CredentialConfig{}, "MICROSOFT_APP_PASSWORD"},
		{"unknown app type", teams.CredentialConfig{AppType: "Managed", Password: secret}, "MICROSOFT_APP_TYPE"},
		{"managed identity with a secret", teams.CredentialConfig{AppType: "UserAssignedMSI", Password: secret}, "unset MICROSOFT_APP_PASSWORD"},
		{"secret and certificate", teams.CredentialConfig{Password: secret, CertificatePath: certPath}, "not both"},
		{"multi-tenant workload identity", teams.CredentialConfig{AppType: "MultiTenant", FederatedTokenFile: "/var/run/token"}, "MultiTenant"},
		{"missing certificate file", teams.CredentialConfig{CertificatePath: filepath.Join(t.TempDir(), "none.pem")}, "MICROSOFT_APP_CERTIFICATE_PATH"},
		{"not a token URL", teams.CredentialConfig{CertificatePath: certPath, TokenURL: "https://login.example/token"}, "BOTFRAMEWORK_TOKEN_URL"},
	} {
		c.cfg.AppID, c.cfg.TenantID = appID, tenantID
		if _, err := teams.NewCredential(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
	// BOTFRAMEWORK_TOKEN_URL works for every credential: the certificate's token comes from it.
	cert, certPath, _ := testCert(t)
	f := teamstest.New(teamstest.Options{AppID: appID, TenantID: tenantID, Certificate: cert})
	defer f.Close()
	cred, err := teams.NewCredential(teams.CredentialConfig{AppID: appID, TenantID: tenantID, CertificatePath: certPath,
		TokenURL: f.URL() + "/" + tenantID + "/oauth2/v2.0/token", HTTPClient: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.Tokens(nil, nil).Token(context.Background()); err != nil || f.TokenCalls() != 1 {
		t.Errorf("certificate through BOTFRAMEWORK_TOKEN_URL: %v (%d tokens)", err, f.TokenCalls())
	}
}

// TestAdapterWithCredential: an adapter given a credential instead of a password is ready once
// that credential gets a token (the fake has no secret for the app: only the identity works).
func TestAdapterWithCredential(t *testing.T) {
	id := freshID(t)
	f := teamstest.New(teamstest.Options{AppID: id, TenantID: tenantID, ManagedIdentity: true})
	defer f.Close()
	ep, hdr := f.ManagedIdentityEndpoint()
	t.Setenv("IDENTITY_ENDPOINT", ep)
	t.Setenv("IDENTITY_HEADER", hdr)
	cred, err := teams.NewCredential(teams.CredentialConfig{AppType: "UserAssignedMSI", AppID: id, TenantID: tenantID, HTTPClient: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := teams.New(teams.Options{AppID: id, TenantID: tenantID, Credential: cred,
		OpenIDMetadataURL: f.MetadataURL(), Conversations: &lateStore{}, HTTPClient: f.Client(), ServiceURLHosts: []string{f.Host()}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if n := f.TokenCalls(); n != 1 {
		t.Errorf("%d tokens issued, want the managed identity's one", n)
	}
	if _, err := teams.New(teams.Options{AppID: appID, TenantID: tenantID, Conversations: &lateStore{}}); err == nil {
		t.Error("an adapter with neither a password nor a credential was made")
	}
}
