package main

import (
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/policy"
)

// tenant.redirect_url wins for the sign-in redirect; ELEVATE_PUBLIC_URL wins for the public URL;
// each falls back to the other.
func TestResolveURLs(t *testing.T) {
	withRedirect := &policy.Config{Tenant: policy.Tenant{RedirectURL: "https://login-cb.contoso.com/auth/callback"}}
	tests := []struct {
		name                  string
		cfg                   *policy.Config
		env                   string
		wantRedirect, wantPub string
		wantErr               string
	}{
		{"both", withRedirect, "https://elevate.contoso.com/", "https://login-cb.contoso.com/auth/callback", "https://elevate.contoso.com", ""},
		{"config only", withRedirect, "", "https://login-cb.contoso.com/auth/callback", "https://login-cb.contoso.com", ""},
		{"env only", &policy.Config{}, "https://elevate.contoso.com/elevate", "https://elevate.contoso.com/elevate/auth/callback", "https://elevate.contoso.com/elevate", ""},
		{"neither", &policy.Config{}, "", "", "", ""},
		{"env http loopback", &policy.Config{}, "http://localhost:8080", "http://localhost:8080/auth/callback", "http://localhost:8080", ""},
		{"env http remote", &policy.Config{}, "http://elevate.contoso.com", "", "", "ELEVATE_PUBLIC_URL: the sign-in redirect \"http://elevate.contoso.com/auth/callback\" uses http://"},
		{"env not a URL", &policy.Config{}, "elevate.contoso.com", "", "", "is not an absolute http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, p, err := resolveURLs(tt.cfg, func(k string) string {
				if k == "ELEVATE_PUBLIC_URL" {
					return tt.env
				}
				return ""
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || r != tt.wantRedirect || p != tt.wantPub {
				t.Errorf("resolveURLs = %q, %q, %v; want %q, %q", r, p, err, tt.wantRedirect, tt.wantPub)
			}
		})
	}
}
