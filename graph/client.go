package graph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	formser "github.com/microsoft/kiota-serialization-form-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	multipartser "github.com/microsoft/kiota-serialization-multipart-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	graphauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
)

// Defaults for the zero values of Config.
const (
	DefaultGraphURL      = "https://graph.microsoft.com"
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
	DefaultPollInterval  = 2 * time.Second
	DefaultPolicyTTL     = 5 * time.Minute
)

// Config says where Graph and Entra are and who the bot is.
type Config struct {
	GraphURL      string // "https://graph.microsoft.com" (the client appends /v1.0)
	AuthorityHost string // "https://login.microsoftonline.com/"
	TenantID      string
	ClientID      string
	ClientSecret  string // for the user sign-in (MSAL confidential client) and, when AppCredential is nil, app-only Graph
	RedirectURL   string // the bot's /auth/callback, registered on the app
	HTTPClient    *http.Client
	// AppCredential is the bot's app-only identity. nil: AppCredential(cfg).
	AppCredential azcore.TokenCredential
	PollInterval  time.Duration // WaitUsable's polling period; default 2s
	PolicyTTL     time.Duration // how long role policies are cached; default 5m
}

// Client talks to Graph and Entra ID. It is safe for concurrent use.
type Client struct {
	cfg       Config
	baseURL   string   // GraphURL + "/v1.0"
	hosts     []string // hosts that receive the bearer token
	resource  string   // the Graph resource for token scopes, e.g. https://graph.microsoft.com
	graphHTTP *http.Client
	app       abstractions.RequestAdapter
	appCred   azcore.TokenCredential // the app-only identity, also read by Permissions
	msal      *confidential.Client   // nil without a client secret: no user sign-in

	mu       sync.Mutex
	policies map[string]cachedPolicy
	roleDefs map[string]string // role id → display name, read once
}

var registerSerializers sync.Once

// New builds a client. It does no network I/O.
func New(cfg Config) (*Client, error) {
	if cfg.GraphURL == "" {
		cfg.GraphURL = DefaultGraphURL
	}
	if cfg.AuthorityHost == "" {
		cfg.AuthorityHost = DefaultAuthorityHost
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 100 * time.Second}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.PolicyTTL <= 0 {
		cfg.PolicyTTL = DefaultPolicyTTL
	}
	gu, err := url.Parse(strings.TrimRight(cfg.GraphURL, "/"))
	if err != nil || gu.Host == "" {
		return nil, fmt.Errorf("graph: GraphURL %q is not an absolute URL", cfg.GraphURL)
	}
	if gu.Scheme != "https" && !isLoopback(gu.Hostname()) {
		// kiota refuses to send anything but https outside localhost; say so now, not per request.
		return nil, fmt.Errorf("graph: GraphURL %q must use https", cfg.GraphURL)
	}
	c := &Client{
		cfg:      cfg,
		baseURL:  strings.TrimRight(gu.String(), "/") + "/v1.0",
		hosts:    []string{gu.Hostname()},
		resource: graphResource(gu),
		policies: map[string]cachedPolicy{},
	}
	registerSerializers.Do(func() {
		// What msgraph-sdk-go's NewGraphBaseServiceClient does; we do not import that package.
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return formser.NewFormSerializationWriterFactory() })
		abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
			return multipartser.NewMultipartSerializationWriterFactory()
		})
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
		abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return formser.NewFormParseNodeFactory() })
	})
	c.graphHTTP = newGraphHTTPClient(cfg.HTTPClient)

	cred := cfg.AppCredential
	if cred == nil {
		if cred, err = AppCredential(cfg); err != nil {
			return nil, err
		}
	}
	c.appCred = cred
	if c.app, err = c.adapter(cred); err != nil {
		return nil, err
	}
	if cfg.ClientSecret != "" {
		if c.msal, err = newMSAL(cfg); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// AppCredential builds the bot's app-only credential from cfg: a client secret credential when
// ClientSecret is set, else DefaultAzureCredential (environment, workload identity, managed
// identity, ...). Both talk to cfg.AuthorityHost through cfg.HTTPClient.
func AppCredential(cfg Config) (azcore.TokenCredential, error) {
	authority := cfg.AuthorityHost
	if authority == "" {
		authority = DefaultAuthorityHost
	}
	opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authority}}
	if cfg.HTTPClient != nil {
		opts.Transport = cfg.HTTPClient
	}
	// Instance discovery asks login.microsoftonline.com about the authority; off for anything else
	// (sovereign clouds are known to azidentity, private authorities and tests are not).
	noDiscovery := authority != DefaultAuthorityHost
	if cfg.ClientSecret != "" {
		cred, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
		if err != nil {
			return nil, fmt.Errorf("graph: app credential: %w", err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: opts, TenantID: cfg.TenantID, DisableInstanceDiscovery: noDiscovery})
	if err != nil {
		return nil, fmt.Errorf("graph: app credential: %w", err)
	}
	return cred, nil
}

// newGraphHTTPClient is the one *http.Client every Graph adapter (app and per user) shares: the
// Graph middleware in a fixed order, without the compression handler (a retried POST could carry
// a gzip header over a plain body: kiota-http-go #183), over base's transport.
func newGraphHTTPClient(base *http.Client) *http.Client {
	opts := msgraphcore.GraphClientOptions{GraphServiceLibraryVersion: "1.89.0"}
	mw := []khttp.Middleware{
		msgraphcore.NewGraphTelemetryHandler(&opts),
		khttp.NewUrlReplaceHandler(true, msgraphcore.ReplacementPairs),
		khttp.NewRetryHandler(),
		khttp.NewRedirectHandler(),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
		khttp.NewHeadersInspectionHandler(),
	}
	timeout := base.Timeout
	if timeout == 0 {
		timeout = 100 * time.Second
	}
	return &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(base.Transport, mw...),
		// The redirect middleware follows redirects; net/http must not follow them again.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
}

// adapter builds a request adapter that authenticates with cred. The allowed hosts are exactly
// the Graph host: the SDK's defaults would silently send no token to a sovereign cloud alias, a
// proxy or a test server.
func (c *Client) adapter(cred azcore.TokenCredential) (abstractions.RequestAdapter, error) {
	auth, err := graphauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		cred, []string{c.resource + "/.default"}, c.hosts)
	if err != nil {
		return nil, fmt.Errorf("graph: auth provider: %w", err)
	}
	ad, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, msgraphcore.GraphClientOptions{GraphServiceLibraryVersion: "1.89.0"}, nil, nil, c.graphHTTP)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	ad.SetBaseUrl(c.baseURL)
	// nil: kiota's default factory stays as it is. Passing it re-assigns a package global on
	// every adapter (one per activation), a data race with concurrent reads.
	ad.EnableBackingStore(nil)
	return ad, nil
}

// staticToken is a token the user already gave us (from CompleteSignIn) as an
// azcore.TokenCredential, so a per-call adapter sends exactly that token and nothing else.
type staticToken struct{ tok azcore.AccessToken }

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return s.tok, nil
}

// graphResource is the resource whose scopes we ask Entra for: the Graph origin, except for a
// loopback test server, which stands in for the public cloud's Graph.
func graphResource(u *url.URL) string {
	if isLoopback(u.Hostname()) {
		return "https://graph.microsoft.com"
	}
	return "https://" + u.Host
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// odataQuote quotes s as an OData string literal.
func odataQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (c *Client) now() time.Time { return time.Now() }

var errNoSignIn = errors.New("graph: user sign-in is not configured (no client secret)")
