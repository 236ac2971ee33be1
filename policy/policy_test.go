package policy

import (
	"testing"

	"github.com/elevate-pim/elevate/examples"
)

// example is the shipped example config, which the tests use as the demo tenant's policy.
func example(t testing.TB) *Config {
	t.Helper()
	c, err := Parse("elevate.yaml", examples.Config)
	if err != nil {
		t.Fatalf("Parse(examples/elevate.yaml): %v", err)
	}
	return c
}

func mustParse(t testing.TB, yaml string) *Config {
	t.Helper()
	c, err := Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// The role index Parse builds finds what scanning the roles finds: every key of every role,
// enabled or disabled, and nothing for a word that is no role's.
func TestRoleIndexMatchesScan(t *testing.T) {
	c, err := Parse("elevate.yaml", []byte("roles:\n  - name: Billing Administrator\n    enabled: false\n  - name: Mailbox Support\n    template_id: 0c0a0000-0000-4000-8000-00000000beef\n    aliases: [mailbox]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.index == nil {
		t.Fatal("Parse built no role index")
	}
	scan := &Config{Roles: c.Roles, disabled: c.disabled}
	var keys []string
	for _, r := range append(append([]*Role{}, c.Roles...), c.disabled...) {
		keys = append(keys, r.keys()...)
	}
	keys = append(keys, "no such role", "", "exchange admin", "billing")
	if len(c.disabled) == 0 {
		t.Fatal("the fixture disables no role")
	}
	for _, k := range keys {
		gotR, gotD := c.lookup(k)
		wantR, wantD := scan.lookup(k)
		if gotR != wantR || gotD != wantD {
			t.Errorf("lookup(%q) = %v, %v; scanning finds %v, %v", k, name(gotR), gotD, name(wantR), wantD)
		}
	}
	if got, want := c.maxRoleWords(), scan.maxRoleWords(); got != want {
		t.Errorf("maxRoleWords = %d, scanning finds %d", got, want)
	}
}

func name(r *Role) string {
	if r == nil {
		return "<nil>"
	}
	return r.Name
}
