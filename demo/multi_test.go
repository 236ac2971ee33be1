package demo_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestMultiRoleStory plays the multi-role scene after the story: one request for two roles, the
// strictest rule, one card, one line for both.
func TestMultiRoleStory(t *testing.T) {
	var out bytes.Buffer
	w := start(t, &out)
	if err := w.Story(context.Background()); err != nil {
		t.Fatalf("story: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := w.MultiRoleStory(context.Background()); err != nil {
		t.Fatalf("multi-role story: %v\n%s", err, out.String())
	}
	transcript := out.String()
	for _, want := range []string{
		`"glbal" isn't a role I know — did you mean`,
		"Sign in with your Microsoft account to activate Exchange Administrator and Global Administrator for 1h",
		"needs 2 approvals (the strictest rule of its roles)",
		"Exchange Administrator; Global Administrator (tier 0)",
		"the strictest of its roles: 2 approvals, tier-0 sign-ins",
		"Approved. Exchange Administrator active until",
		"You approved alice@contoso.example's request for Exchange Administrator and Global Administrator for 1h (1 of 2)",
		"Exchange Administrator active until",
		"; Global Administrator active until",
		"(with #",
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("the scene does not show %q", want)
		}
	}
	if t.Failed() {
		t.Log(transcript)
	}
}
