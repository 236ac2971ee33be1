package graph_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/graph"
)

// docs/security.md's table of what users are asked for lists exactly the permissions sign-in may
// ask for (SignInURL refuses any other), plus the OpenID scopes MSAL adds.
func TestDelegatedScopesDocumented(t *testing.T) {
	raw, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "## What users are asked for")
	if start < 0 {
		t.Fatal("docs/security.md has no section \"What users are asked for\"")
	}
	section := doc[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var documented []string
	row := regexp.MustCompile("(?m)^\\| (`[^|]+) \\|")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		for _, name := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[1], -1) {
			documented = append(documented, name[1])
		}
	}
	want := []string{"openid", "profile", "offline_access"}
	for _, s := range graph.DelegatedScopes {
		want = append(want, s.Name)
	}
	slices.Sort(documented)
	slices.Sort(want)
	if !slices.Equal(documented, want) {
		t.Errorf("docs/security.md lists %v; sign-in may ask for %v", documented, want)
	}
}

func TestSignInURLRefusesUnlistedScope(t *testing.T) {
	_, c := newTenant(t)
	if _, err := c.SignInURL(t.Context(), "st", "challenge", "", "", []string{"Directory.ReadWrite.All"}); err == nil {
		t.Error("SignInURL asked for a permission that is not in DelegatedScopes")
	}
}
