package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/elevate-pim/elevate/policy"
)

// resolveURLs says where users' browsers and the chat platforms reach Elevate. Two settings can
// say it, and each wins for one thing:
//
//   - the sign-in redirect (where Entra sends the browser back; it must equal a redirect URI
//     registered on the app): tenant.redirect_url, else ELEVATE_PUBLIC_URL + "/auth/callback";
//   - the public URL (Slack's request URLs, the Teams manifest, the privacy and terms pages):
//     ELEVATE_PUBLIC_URL, else the scheme and host of tenant.redirect_url.
//
// A redirect over plain http to a host other than this machine is refused.
func resolveURLs(cfg *policy.Config, getenv func(string) string) (redirect, public string, err error) {
	env := strings.TrimRight(strings.TrimSpace(getenv("ELEVATE_PUBLIC_URL")), "/")
	if env != "" {
		u, perr := url.Parse(env)
		if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", "", fmt.Errorf("ELEVATE_PUBLIC_URL %q is not an absolute http(s) URL such as https://elevate.contoso.com", env)
		}
		public = u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/")
	}
	if cfg != nil {
		redirect = cfg.Tenant.RedirectURL
	}
	switch {
	case redirect == "" && public != "":
		redirect = public + "/auth/callback"
		if err := policy.CheckRedirectURL(redirect); err != nil {
			return "", "", fmt.Errorf("ELEVATE_PUBLIC_URL: the sign-in redirect %w", err)
		}
	case public == "" && redirect != "":
		if r, perr := url.Parse(redirect); perr == nil && r.Host != "" {
			public = r.Scheme + "://" + r.Host
		}
	}
	return redirect, public, nil
}
