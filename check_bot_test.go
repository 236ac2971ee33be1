package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/teams/teamstest"
)

const (
	checkBotID     = "b07e0000-0000-4000-8000-0000000000b1"
	checkBotTenant = "7c3a0000-0000-4000-8000-00000000c0de"
)

func botCert(t *testing.T) (*x509.Certificate, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "elevate-bot"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pk, _ := x509.MarshalPKCS8PrivateKey(key)
	path := filepath.Join(t.TempDir(), "bot.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path
}

// TestCheckBotCredentialKinds: `elevate check` gets a real token through whichever credential
// the bot is configured with, says which kind it is, and names the fix for that kind.
func TestCheckBotCredentialKinds(t *testing.T) {
	// Client ids no earlier run used: MSAL caches managed identity tokens process-wide.
	fresh := func() string {
		b := make([]byte, 6)
		rand.Read(b)
		return fmt.Sprintf("b07e0000-0000-4000-8000-%x", b)
	}
	msiID := fresh()
	cert, certPath := botCert(t)
	_, otherPath := botCert(t)
	for _, c := range []struct {
		name string
		fake teamstest.Options
		env  func(f *teamstest.Server) map[string]string
		want []string
		fail bool
	}{
		{name: "certificate", fake: teamstest.Options{Certificate: cert},
			env: func(*teamstest.Server) map[string]string {
				return map[string]string{"MICROSOFT_APP_CERTIFICATE_PATH": certPath}
			},
			want: []string{"bot credential: certificate (MICROSOFT_APP_CERTIFICATE_PATH), SingleTenant, tokens from https://", "Bot Framework token: obtained for the bot " + checkBotID + " in tenant " + checkBotTenant + " with its certificate"}},
		{name: "certificate not uploaded", fake: teamstest.Options{Certificate: cert}, fail: true,
			env: func(*teamstest.Server) map[string]string {
				return map[string]string{"MICROSOFT_APP_CERTIFICATE_PATH": otherPath}
			},
			want: []string{"Bot Framework token: refused (AADSTS700027: Client assertion failed signature validation.)",
				"The Bot Framework refused the bot's certificate (MICROSOFT_APP_CERTIFICATE_PATH): AADSTS700027", "Upload certificate"}},
		{name: "managed identity", fake: teamstest.Options{ManagedIdentity: true, AppID: msiID},
			env: func(f *teamstest.Server) map[string]string {
				ep, hdr := f.ManagedIdentityEndpoint()
				t.Setenv("IDENTITY_ENDPOINT", ep)
				t.Setenv("IDENTITY_HEADER", hdr)
				return map[string]string{"MICROSOFT_APP_TYPE": "UserAssignedMSI", "MICROSOFT_APP_ID": msiID}
			},
			want: []string{"bot credential: managed identity, UserAssignedMSI", "with its managed identity"}},
		{name: "managed identity not assigned", fake: teamstest.Options{}, fail: true,
			env: func(f *teamstest.Server) map[string]string {
				ep, hdr := f.ManagedIdentityEndpoint()
				t.Setenv("IDENTITY_ENDPOINT", ep)
				t.Setenv("IDENTITY_HEADER", hdr)
				return map[string]string{"MICROSOFT_APP_TYPE": "UserAssignedMSI", "MICROSOFT_APP_ID": fresh()}
			},
			want: []string{"Bot Framework token: refused (", "Unable to load the proper Managed Identity.", "Container App → Identity → User assigned"}},
		{name: "managed identity with a secret set", fake: teamstest.Options{}, fail: true,
			env: func(*teamstest.Server) map[string]string {
				return map[string]string{"MICROSOFT_APP_TYPE": "UserAssignedMSI", "MICROSOFT_APP_PASSWORD": "s"}
			},
			want: []string{"The Teams bot's credential is not usable: teams: MICROSOFT_APP_TYPE=UserAssignedMSI authenticates as the managed identity"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.fake.AppID == "" {
				c.fake.AppID = checkBotID
			}
			c.fake.TenantID = checkBotTenant
			f := teamstest.New(c.fake)
			defer f.Close()
			env := map[string]string{"MICROSOFT_APP_ID": checkBotID, "BOTFRAMEWORK_TOKEN_URL": f.AuthorityHost() + checkBotTenant + "/oauth2/v2.0/token"}
			for k, v := range c.env(f) {
				env[k] = v
			}
			var out bytes.Buffer
			ch := &checker{out: &out}
			checkBotToken(context.Background(), ch, checkEnv{Getenv: func(k string) string { return env[k] }, HTTP: f.Client()}, env["MICROSOFT_APP_ID"], checkBotTenant)
			all := out.String() + strings.Join(ch.problems, "\n")
			wantLines(t, all, c.want...)
			if c.fail != (len(ch.problems) > 0) {
				t.Errorf("problems %q, want failure %v", ch.problems, c.fail)
			}
			for _, l := range strings.Split(all, "\n") {
				if strings.Contains(l, "Trace ID") || strings.Contains(l, "eyJ") {
					t.Errorf("not one clear line: %q", l)
				}
			}
		})
	}
}
