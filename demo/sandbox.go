package demo

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

// Sandbox is the simulated tenant behind `elevate serve --sandbox`: real chat adapters, simulated
// Graph and Entra. People sign in through a page on Elevate's own listener where they pick a
// seeded user, so no browser ever meets the tenant's self-signed certificate.
type Sandbox struct {
	Tenant *graphtest.Tenant
	Graph  *SandboxGraph
	users  []graphtest.User
	public string
}

// SandboxGraph is the real Graph client pointed at the simulated tenant, with sign-in links
// routed through the sandbox's sign-in page.
type SandboxGraph struct {
	*graph.Client
	page string
}

// SignInURL wraps the simulated tenant's authorize URL in the sandbox's sign-in page.
func (g *SandboxGraph) SignInURL(ctx context.Context, state, challenge, hint, claims string, scopes []string) (string, error) {
	u, err := g.Client.SignInURL(ctx, state, challenge, hint, claims, scopes)
	if err != nil {
		return "", err
	}
	return g.page + "?to=" + url.QueryEscape(u), nil
}

// StartSandbox starts the simulated tenant from seed for a service reachable at publicURL (what
// users' browsers use, e.g. http://localhost:8080). Mount SignInPage at /sandbox/sign-in.
// wrap, when set, wraps the transport Elevate uses towards the tenant (metrics).
func StartSandbox(seedYAML []byte, publicURL string, wrap func(http.RoundTripper) http.RoundTripper, so SandboxOptions) (*Sandbox, error) {
	var opts []graphtest.Option
	if so.StateFile != "" {
		opts = append(opts, graphtest.WithStateFile(so.StateFile))
	}
	if so.MinActive > 0 {
		opts = append(opts, graphtest.WithMinActiveDuration(so.MinActive))
	}
	seed, err := graphtest.ParseSeed(seedYAML)
	if err != nil {
		return nil, fmt.Errorf("sandbox tenant: %w", err)
	}
	publicURL = strings.TrimRight(publicURL, "/")
	redirect := publicURL + "/auth/callback"
	seed.Client.RedirectURIs = append(seed.Client.RedirectURIs, redirect)
	tenant, err := graphtest.New(seed, append([]graphtest.Option{graphtest.WithActivationDelay(5 * time.Second)}, opts...)...)
	if err != nil {
		return nil, err
	}
	hc := tenant.HTTPClient()
	if wrap != nil {
		hc = &http.Client{Transport: wrap(hc.Transport), CheckRedirect: hc.CheckRedirect, Timeout: hc.Timeout}
	}
	g, err := graph.New(graph.Config{GraphURL: tenant.GraphURL(), AuthorityHost: tenant.AuthorityURL(),
		TenantID: tenant.TenantID(), ClientID: tenant.ClientID(), ClientSecret: tenant.ClientSecret(),
		RedirectURL: redirect, HTTPClient: hc})
	if err != nil {
		tenant.Close()
		return nil, err
	}
	return &Sandbox{Tenant: tenant, Graph: &SandboxGraph{Client: g, page: publicURL + "/sandbox/sign-in"},
		users: seed.Users, public: publicURL}, nil
}

// SandboxOptions are the crash tests' knobs for the simulated tenant.
type SandboxOptions struct {
	// StateFile keeps PIM's state in that file across restarts (graphtest.WithStateFile).
	StateFile string
	// MinActive is how long an activation must run before it can be ended (PIM: 5 minutes).
	MinActive time.Duration
}

// Close stops the simulated tenant.
func (s *Sandbox) Close() { s.Tenant.Close() }

var signInPage = template.Must(template.New("sign-in").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox sign-in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}button{margin:.2rem 0;padding:.4rem .8rem}</style></head>
<body><h1>Sandbox sign-in</h1>
<p>This is Elevate's simulated tenant: pick who you are. Nothing here touches a real Microsoft tenant.</p>
<form method="post">
<input type="hidden" name="to" value="{{.To}}">
<p><label><input type="checkbox" name="mfa" checked> complete multi-factor authentication</label></p>
{{range .Users}}<div><button name="user" value="{{.UPN}}">{{.DisplayName}} ({{.UPN}})</button></div>
{{end}}</form></body></html>
`))

// SignInPage serves /sandbox/sign-in: GET shows the user picker, POST signs the chosen user in
// at the simulated tenant and sends the browser on to /auth/callback.
func (s *Sandbox) SignInPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		to := r.FormValue("to")
		// Only the tenant's own authorize endpoint: the page must not fetch arbitrary URLs.
		if !strings.HasPrefix(to, s.Tenant.AuthorityURL()) {
			http.Error(w, "this sign-in link is not for the sandbox tenant", http.StatusBadRequest)
			return
		}
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = signInPage.Execute(w, struct {
				To    string
				Users []graphtest.User
			}{to, s.users})
		case http.MethodPost:
			var opts []graphtest.BrowseOption
			if r.FormValue("mfa") == "" {
				opts = append(opts, graphtest.WithoutMFA())
			}
			back, err := s.Tenant.Browse(r.Context(), to, r.FormValue("user"), opts...)
			if err != nil && back == nil {
				// The simulated tenant's reason names the user or the link problem; it holds no secret.
				http.Error(w, "The sandbox sign-in did not complete: pick a user from the list, or ask Elevate for a new link. ("+strings.TrimPrefix(err.Error(), "graphtest: ")+")", http.StatusBadRequest)
				return
			}
			if !strings.HasPrefix(back.String(), s.public+"/") {
				http.Error(w, "the sandbox tenant redirected somewhere unexpected", http.StatusBadGateway)
				return
			}
			http.Redirect(w, r, back.String(), http.StatusFound)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}
