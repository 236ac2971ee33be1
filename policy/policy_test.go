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
