package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// The Bot Framework's app types (its MicrosoftAppType setting; MICROSOFT_APP_TYPE here).
const (
	AppTypeSingleTenant    = "SingleTenant"
	AppTypeMultiTenant     = "MultiTenant"
	AppTypeUserAssignedMSI = "UserAssignedMSI"
)

// The kinds of credential the bot can get its Bot Connector token with.
const (
	KindSecret           = "client secret"
	KindCertificate      = "certificate"
	KindWorkloadIdentity = "workload identity"
	KindManagedIdentity  = "managed identity"
)

// multiTenantAuthority is the tenant a multi-tenant bot gets its tokens from.
const multiTenantAuthority = "botframework.com"

// CredentialConfig is the bot's identity as the Bot Framework names it (MicrosoftAppType,
// MicrosoftAppId, MicrosoftAppPassword, MicrosoftAppTenantId), with what picks the credential.
type CredentialConfig struct {
	AppType  string // MICROSOFT_APP_TYPE: SingleTenant (default), MultiTenant or UserAssignedMSI
	AppID    string // MICROSOFT_APP_ID: the app registration's, or the managed identity's, client id
	Password string // MICROSOFT_APP_PASSWORD: a client secret
	TenantID string // MICROSOFT_APP_TENANT_ID
	// CertificatePath is a PEM (certificate and unencrypted key) or PKCS#12 file
	// (MICROSOFT_APP_CERTIFICATE_PATH), CertificatePassword its password, if any.
	CertificatePath, CertificatePassword string
	// FederatedTokenFile is the workload identity token (AZURE_FEDERATED_TOKEN_FILE, which AKS
	// sets in a pod whose service account is federated).
	FederatedTokenFile string
	// AuthorityHost is the Entra login host (https://login.microsoftonline.com/). TokenURL, when
	// set, is the whole token endpoint (BOTFRAMEWORK_TOKEN_URL: sovereign clouds, tests).
	AuthorityHost, TokenURL string
	HTTPClient              *http.Client
	Now                     func() time.Time
}

// Credential is the bot's credential for the Bot Connector and what it is.
type Credential struct {
	azcore.TokenCredential
	Kind    string // KindSecret, …
	AppType string // AppTypeSingleTenant, …
	// Authority is where its tokens come from: the token endpoint, or the managed identity
	// endpoint of the host.
	Authority string
}

// Describe is the credential in the operator's words, e.g. "client secret (MICROSOFT_APP_PASSWORD),
// SingleTenant, tokens from https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token".
func (c *Credential) Describe() string {
	setting := map[string]string{KindSecret: " (MICROSOFT_APP_PASSWORD)", KindCertificate: " (MICROSOFT_APP_CERTIFICATE_PATH)",
		KindWorkloadIdentity: " (AZURE_FEDERATED_TOKEN_FILE)", KindManagedIdentity: ""}[c.Kind]
	return fmt.Sprintf("%s%s, %s, tokens from %s", c.Kind, setting, c.AppType, c.Authority)
}

// NewCredential picks the bot's credential: for UserAssignedMSI the managed identity (the
// workload identity when AZURE_FEDERATED_TOKEN_FILE is set, as on AKS), otherwise the client
// secret, the certificate, or the workload identity of an app registration. Single-tenant bots
// get their tokens from their tenant, multi-tenant ones from botframework.com. It does no I/O
// besides reading the certificate file.
func NewCredential(c CredentialConfig) (*Credential, error) {
	appType, err := parseAppType(c.AppType)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.TrimSpace(c.AppID) == "":
		return nil, errors.New("teams: MICROSOFT_APP_ID is required")
	case strings.TrimSpace(c.TenantID) == "":
		return nil, errors.New("teams: MICROSOFT_APP_TENANT_ID is required (Elevate serves one tenant)")
	case c.Password != "" && c.CertificatePath != "":
		return nil, errors.New("teams: set MICROSOFT_APP_PASSWORD or MICROSOFT_APP_CERTIFICATE_PATH, not both")
	case appType == AppTypeUserAssignedMSI && (c.Password != "" || c.CertificatePath != ""):
		return nil, errors.New("teams: MICROSOFT_APP_TYPE=UserAssignedMSI authenticates as the managed identity MICROSOFT_APP_ID: unset MICROSOFT_APP_PASSWORD and MICROSOFT_APP_CERTIFICATE_PATH")
	}
	tenant := c.TenantID
	if appType == AppTypeMultiTenant {
		tenant = multiTenantAuthority
	}
	authority := c.AuthorityHost
	if authority == "" {
		authority = "https://login.microsoftonline.com/"
	}
	tokenURL := c.TokenURL
	if tokenURL == "" {
		tokenURL = TokenURL(authority, tenant)
	} else if appType != AppTypeUserAssignedMSI && c.Password == "" {
		// azidentity builds the endpoint from the authority host and tenant.
		if authority, tenant, err = splitTokenURL(tokenURL); err != nil {
			return nil, err
		}
	}
	opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authority}}
	if c.HTTPClient != nil {
		opts.Transport = c.HTTPClient
	}
	// Instance discovery asks login.microsoftonline.com about the authority: off elsewhere.
	noDiscovery := strings.TrimRight(authority, "/") != "https://login.microsoftonline.com"
	out := &Credential{AppType: appType, Authority: tokenURL}
	switch {
	case appType == AppTypeUserAssignedMSI && c.FederatedTokenFile == "":
		out.Kind = KindManagedIdentity
		out.Authority = "the host's managed identity endpoint"
		out.TokenCredential, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: opts, ID: azidentity.ClientID(c.AppID)})
	case c.Password != "":
		out.Kind = KindSecret
		// Our own client credentials request, as before azidentity came in: same endpoint, same
		// form, same refusals (TokenError).
		out.TokenCredential = NewTokenSource(tokenURL, c.AppID, c.Password, c.HTTPClient, c.Now)
	case c.CertificatePath != "":
		out.Kind = KindCertificate
		data, rerr := os.ReadFile(c.CertificatePath)
		if rerr != nil {
			return nil, fmt.Errorf("teams: MICROSOFT_APP_CERTIFICATE_PATH: %w", rerr)
		}
		var pw []byte
		if c.CertificatePassword != "" {
			pw = []byte(c.CertificatePassword)
		}
		certs, key, perr := azidentity.ParseCertificates(data, pw)
		if perr != nil {
			return nil, fmt.Errorf("teams: MICROSOFT_APP_CERTIFICATE_PATH %s: %w (a PEM file with the certificate and its unencrypted private key, or a PKCS#12 file)", c.CertificatePath, perr)
		}
		out.TokenCredential, err = azidentity.NewClientCertificateCredential(tenant, c.AppID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery, SendCertificateChain: true})
	case c.FederatedTokenFile != "":
		if appType == AppTypeMultiTenant {
			return nil, errors.New("teams: a MultiTenant bot needs MICROSOFT_APP_PASSWORD or MICROSOFT_APP_CERTIFICATE_PATH (workload identity is for SingleTenant and UserAssignedMSI bots)")
		}
		out.Kind = KindWorkloadIdentity
		out.TokenCredential, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: c.AppID, TenantID: tenant, TokenFilePath: c.FederatedTokenFile, DisableInstanceDiscovery: noDiscovery})
	default:
		return nil, errors.New("teams: the bot has no credential: set MICROSOFT_APP_PASSWORD (client secret) or MICROSOFT_APP_CERTIFICATE_PATH, or MICROSOFT_APP_TYPE=UserAssignedMSI with the managed identity's client id as MICROSOFT_APP_ID")
	}
	if err != nil {
		return nil, fmt.Errorf("teams: bot credential (%s): %w", out.Kind, err)
	}
	return out, nil
}

func parseAppType(s string) (string, error) {
	for _, t := range []string{AppTypeSingleTenant, AppTypeMultiTenant, AppTypeUserAssignedMSI} {
		if strings.EqualFold(strings.TrimSpace(s), t) {
			return t, nil
		}
	}
	if strings.TrimSpace(s) == "" {
		return AppTypeSingleTenant, nil
	}
	return "", fmt.Errorf("teams: MICROSOFT_APP_TYPE %q: want SingleTenant, MultiTenant or UserAssignedMSI", s)
}

// splitTokenURL reads https://host/<tenant>/oauth2/v2.0/token into its authority host and tenant.
func splitTokenURL(tokenURL string) (authority, tenant string, err error) {
	u, err := url.Parse(tokenURL)
	rest, ok := "", false
	if err == nil {
		rest, ok = strings.CutSuffix(u.Path, "/oauth2/v2.0/token")
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if !ok || u.Host == "" || parts[len(parts)-1] == "" {
		return "", "", fmt.Errorf("teams: BOTFRAMEWORK_TOKEN_URL %q: want https://<login host>/<tenant>/oauth2/v2.0/token", tokenURL)
	}
	tenant = parts[len(parts)-1]
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/oauth2/v2.0/token"), tenant)
	u.RawQuery = ""
	return u.String(), tenant, nil
}

// GetToken makes TokenSource an azcore.TokenCredential for the Bot Framework scope.
func (s *TokenSource) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 || opts.Scopes[0] != BotFrameworkScope {
		return azcore.AccessToken{}, fmt.Errorf("teams: the bot's secret gets tokens for %s only, not %v", BotFrameworkScope, opts.Scopes)
	}
	tok, exp, err := s.token(ctx)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, nil
}

// Tokens are the Bot Connector tokens of a credential, each kept until five minutes before it
// expires (a Connector's token source). A failure is logged once, in one line, until the cause changes or a token
// comes again; the error returned is that line too.
type Tokens struct {
	cred *Credential
	log  *slog.Logger
	now  func() time.Time

	mu         sync.Mutex
	tok        azcore.AccessToken
	lastFailed string
}

// Tokens returns c's token source; failures are logged to log (none when nil).
func (c *Credential) Tokens(log *slog.Logger, now func() time.Time) *Tokens {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{cred: c, log: log, now: now}
}

// Token returns a valid Bot Connector token.
func (t *Tokens) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok.Token != "" && t.now().Before(t.tok.ExpiresOn.Add(-5*time.Minute)) {
		return t.tok.Token, nil
	}
	tok, err := t.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{BotFrameworkScope}})
	if err == nil && tok.Token == "" {
		err = errors.New("the credential returned an empty token")
	}
	if err != nil {
		ce := &CredentialError{Kind: t.cred.Kind, Cause: TokenCause(err), Err: err}
		if ce.Cause != t.lastFailed && ctx.Err() == nil {
			t.log.Error("teams: the bot cannot get a Bot Connector token; nothing can be posted to Teams",
				"credential", t.cred.Kind, "app_type", t.cred.AppType, "cause", ce.Cause)
			t.lastFailed = ce.Cause
		}
		return "", ce
	}
	if t.lastFailed != "" {
		t.log.Info("teams: the bot's Bot Connector token works again", "credential", t.cred.Kind)
		t.lastFailed = ""
	}
	t.tok = tok
	return tok.Token, nil
}

// CredentialError is a credential's failure to get a Bot Connector token, in one line.
type CredentialError struct {
	Kind  string // KindSecret, …
	Cause string // TokenCause(Err)
	Err   error
}

func (e *CredentialError) Error() string {
	return "teams: the bot's " + e.Kind + " got no Bot Connector token: " + e.Cause
}

func (e *CredentialError) Unwrap() error { return e.Err }

// TokenCause is the one line that says why a token request failed: Entra's AADSTS code and
// first sentence, the managed identity endpoint's message, or the network error. Never a
// secret or a token: request bodies are not read.
func TokenCause(err error) string {
	var te *TokenError
	if errors.As(err, &te) {
		return te.Code + ": " + shortDescription(te.Description)
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		where := "the token endpoint"
		if r := af.RawResponse.Request; r != nil && r.URL != nil {
			where = r.URL.Scheme + "://" + r.URL.Host + r.URL.Path
		}
		if body, rerr := runtime.Payload(af.RawResponse); rerr == nil {
			var b struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
				Message     string `json:"message"`
			}
			if json.Unmarshal(body, &b) == nil {
				switch {
				case b.Description != "":
					return b.Error + ": " + shortDescription(b.Description)
				case b.Message != "":
					return fmt.Sprintf("%s answered %s: %s", where, af.RawResponse.Status, firstLine(b.Message))
				}
			}
		}
		return fmt.Sprintf("%s answered %s", where, af.RawResponse.Status)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return firstLine(ue.Error())
	}
	return firstLine(err.Error())
}

// shortDescription is an Entra error description without its trace, correlation id and time.
func shortDescription(d string) string {
	d = firstLine(d)
	for _, cut := range []string{" Trace ID:", " Correlation ID:", " Timestamp:"} {
		d, _, _ = strings.Cut(d, cut)
	}
	return strings.TrimSpace(d)
}
