package bot_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

// asked is the Graph permissions user's newest sign-in link asks for, OpenID scopes apart.
func (w *world) asked(user string) []string {
	w.t.Helper()
	u, err := url.Parse(w.link(user))
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, s := range strings.Fields(u.Query().Get("scope")) {
		switch s {
		case "openid", "profile", "offline_access":
		default:
			out = append(out, strings.TrimPrefix(s, graphtest.GraphAudience+"/"))
		}
	}
	slices.Sort(out)
	return out
}

// Incremental consent: a first sign-in asks only what activating a directory role needs; the
// PIM for Groups permission only when that user activates a group; the eligibility-write
// permission only when an admin converts, at that moment.
func TestSignInAsksOnlyWhatTheActionNeeds(t *testing.T) {
	w := pimWorld(t, func(s *graphtest.Seed) {
		s.Client.Scopes = []string{graph.ScopeActivate, graph.ScopeGroups, graph.ScopeEligibility}
	})
	w.say("dave", "exchange 1h check quarantine")
	if got := w.asked("dave"); !slices.Equal(got, []string{graph.ScopeActivate}) {
		t.Errorf("first sign-in asks %v, want only %s", got, graph.ScopeActivate)
	}
	w.signIn("dave")

	// A group needs the groups permission: the roles-only token held is not enough.
	w.say("dave", "tier1-admins 2h rotate the helpdesk queue")
	if got := w.asked("dave"); !slices.Equal(got, []string{graph.ScopeGroups}) {
		t.Fatalf("group sign-in asks %v, want %s", got, graph.ScopeGroups)
	}
	w.signIn("dave")
	rs, _ := w.store.Requests(store.Filter{Platform: "test", ChatUser: "dave"})
	for _, r := range rs {
		if r.State != store.StateActive {
			t.Errorf("%s: %s (%s)", r.RoleName, r.State, r.FailureMessage)
		}
	}

	// An admin's conversion asks for the eligibility permission, then.
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	if err := w.tenant.PortalActivate("alice@contoso.example", "Global Administrator", time.Hour); err != nil {
		t.Fatal(err)
	}
	w.say("alice", "convert erin@contoso.example global")
	w.click("alice", bot.ActionConvert, "")
	want := []string{graph.ScopeActivate, graph.ScopeEligibility}
	slices.Sort(want)
	if got := w.asked("alice"); !slices.Equal(got, want) {
		t.Errorf("convert sign-in asks %v, want %v", got, want)
	}
}

// A tenant consented for activation only: users activate directory roles; a group activation's
// sign-in ends with Entra's consent error, and nothing is activated.
func TestConsentForActivationOnly(t *testing.T) {
	w := pimWorld(t, func(s *graphtest.Seed) { s.Client.Scopes = []string{graph.ScopeActivate} })
	w.say("dave", "exchange 1h check quarantine")
	w.signIn("dave")
	w.say("dave", "tier1-admins 2h rotate the helpdesk queue")
	back, err := w.tenant.Browse(t.Context(), w.link("dave"), "dave@"+w.domain)
	if err == nil || back.Query().Get("error") != "consent_required" {
		t.Fatalf("group sign-in without consent: %v %v", back, err)
	}
	status, page := w.get(back.String())
	if status != 400 {
		t.Errorf("callback: %d", status)
	}
	contains(t, page, "AADSTS65001")
	for _, r := range mustRequests(t, w, "dave") {
		if r.RoleName == "Tier1 Admins" && r.State == store.StateActive {
			t.Error("the group was activated without consent")
		}
	}
}

func mustRequests(t *testing.T, w *world, user string) []store.Request {
	t.Helper()
	rs, err := w.store.Requests(store.Filter{Platform: "test", ChatUser: user})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
