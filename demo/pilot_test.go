package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/store"
)

// TestPilotStory is the demo's second part: each of issue #15's items appears in the transcript,
// and the World's store agrees with what was shown.
func TestPilotStory(t *testing.T) {
	var out bytes.Buffer
	dbPath := filepath.Join(t.TempDir(), "pilot.db")
	err := demo.PilotStory(context.Background(), demo.Options{Config: examples.Config, ConfigName: "examples/elevate.yaml",
		Tenant: examples.Tenant, Out: &out, ActivationDelay: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		StorePath: dbPath, ChartDir: t.TempDir()})
	if err != nil {
		t.Fatalf("pilot story: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		// the pilot, in Teams, at once
		"Thanks for trying Elevate! It is in a pilot with a few people for now",
		"Meanwhile, activate roles in the Entra portal or ask in #it-help.",
		// and everything else that is using Elevate for herself, in the same words
		"Everything else that is using Elevate for herself",
		// feedback
		"Thanks! Your note goes to the team in the weekly digest.",
		// on-call auto-approval, on the card on both platforms
		"No approval needed: you are on call (PagerDuty schedule P123ABC with incident #4521 open)",
		"auto-approved: alice is on call for Exchange Administrator (PagerDuty schedule P123ABC with incident #4521 open)",
		"Exchange Administrator is usable now",
		// PIM's dry run
		"Exchange Administrator was not activated. Exchange Administrator is already active for you",
		// the Teams home, then refreshed in place
		"Elevate: your admin roles",
		"Exchange Administrator until",
		"opens the home card again in Teams (refreshed)",
		"nothing: no admin role is active for you through Elevate",
		// the burst alert
		"3 failed or refused activations by dave@contoso.example in the last 1h",
		// the digest: trends and feedback
		"since last week",
		"“please open it to the service desk soon” (erin@contoso.example)",
		"Auto-approved: alice is on call. Activating Exchange Administrator for 2h.",
		"“the on-call waiver saved me a 3am phone call” (alice@contoso.example)",
		"2 weeks of trends",
		"hash chain verifies",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the pilot story lacks %q", want)
		}
	}
	// Erin's request and her `status` get the same polite words.
	if n := strings.Count(got, "Thanks for trying Elevate! It is in a pilot with a few people for now"); n != 2 {
		t.Errorf("the pilot's words shown %d times, want 2 (erin's request and her status)", n)
	}
	// Both platforms see the auto-approved card; the burst alert is posted once on each.
	if n := strings.Count(got, "failed or refused activations by"); n != 2 {
		t.Errorf("%d burst alerts shown, want one on each platform", n)
	}
	// One card, alice's (request #2), on each platform; none for dave's request PIM refused.
	if cards := cardTitle.FindAllString(got, -1); len(cards) == 0 || slices.ContainsFunc(cards, func(c string) bool { return c != "Elevation request #2" }) {
		t.Errorf("cards shown: %q, want only alice's auto-approved one", cards)
	}
	// The store the story left agrees: who got what.
	st, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.Requests(store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, r := range rs {
		states = append(states, fmt.Sprintf("%s %s %s %s", cmpOr(r.UPN, r.ChatName), r.RoleName, r.State, r.FailureCode))
	}
	want := []string{
		"Erin Teams Administrator failed not_in_pilot",
		"alice@contoso.example Exchange Administrator ended ",
		"dave@contoso.example Exchange Administrator failed RoleAssignmentExists",
		"dave@contoso.example Global Administrator failed not_eligible",
		"dave@contoso.example Teams Administrator failed not_eligible",
		"dave@contoso.example Intune Administrator failed not_eligible",
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if rs[1].Waived == "" {
		t.Errorf("alice's request was not waived")
	}
	if t.Failed() {
		t.Log(got)
	}
}

var cardTitle = regexp.MustCompile(`Elevation request #\d+`)

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
