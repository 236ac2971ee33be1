package bot_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// In a pilot, only its people can request roles: Dave, not in it, is told politely after his
// first sign-in (Elevate could not know who he was before) and, once known, at once, without a
// sign-in; nothing reaches PIM for him. Carol is in through the pilot group; Alice is listed.
func TestPilot(t *testing.T) {
	cfg := string(examples.Config) + `
pilot:
  users: [alice@contoso.example]
  group: 5e6c0000-0000-4000-8000-0000000000a1   # PIM Approvers: bob, carol
  meanwhile: "Ask in #it-help meanwhile."
`
	w := newWorld(t, setup{config: []byte(cfg)})
	w.say("dave", "exchange 1h fixing mail flow")
	w.signIn("dave")
	r := w.only("dave")
	if r.State != store.StateFailed || r.FailureCode != "not_in_pilot" {
		t.Fatalf("dave's request: %s %s", r.State, r.FailureCode)
	}
	contains(t, w.rec.lastTo("dave"), "It is in a pilot with a few people for now")
	contains(t, w.rec.lastTo("dave"), "Ask in #it-help meanwhile.")

	n := len(w.rec.to("dave"))
	w.say("dave", "exchange 1h again")
	got := w.rec.to("dave")[n:]
	if len(got) != 1 {
		t.Fatalf("dave's second request got %d messages, want just the pilot answer: %q", len(got), got)
	}
	contains(t, got[0], "in a pilot")
	if a := len(w.activations()); a != 0 {
		t.Errorf("%d activations for someone outside the pilot", a)
	}

	w.say("alice", "exchange 1h fixing mail flow")
	w.signIn("alice")
	if got := w.only("alice"); got.State != store.StateActive {
		t.Fatalf("alice (listed): %s (%s)", got.State, got.FailureMessage)
	}
	w.say("carol", "tier1 1h rotating keys")
	w.signIn("carol")
	if got := w.only("carol"); got.State != store.StateActive {
		t.Fatalf("carol (in the pilot group): %s (%s)", got.State, got.FailureMessage)
	}
}

// Three refused activations by one person within the hour alert the security channel once; a
// fourth in the same burst does not alert again.
func TestFailureBurstAlertsOnce(t *testing.T) {
	w := newWorld(t, setup{})
	security := w.cfg.Channels.Security
	// Dave is not eligible for Teams Administrator in PIM: each try is refused before any sign-in.
	for range 4 {
		w.say("dave", "teams 1h fixing a policy")
	}
	rs, _ := w.store.Requests(store.Filter{Platform: "test", ChatUser: "dave"})
	failed := 0
	for _, r := range rs {
		if r.State == store.StateFailed {
			failed++
		}
	}
	if failed != 4 {
		t.Fatalf("%d failed requests, want 4: %+v", failed, rs)
	}
	n := 0
	for _, s := range w.rec.to(security) {
		if strings.Contains(s, "failed or refused activations by test user dave") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d burst alerts in %s, want 1: %q", n, security, w.rec.to(security))
	}
}

// Without a pilot the digest has no feedback line, so the acknowledgement must not promise one:
// the note is kept in the audit log, and the user is told so.
func TestFeedbackWithoutPilotSaysWhereItGoes(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "feedback the form should remember my last role")
	got := w.rec.lastTo("alice")
	if strings.Contains(got, "weekly digest") {
		t.Errorf("without a pilot, the ack promises the digest: %q", got)
	}
	contains(t, got, "Thanks! Your note is kept in Elevate's audit log for the team.")
	found := false
	if err := w.store.Audit(func(ev store.AuditRecord) error {
		found = found || (ev.Action == "pilot.feedback" && ev.Detail == "the form should remember my last role")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Error("the note is not in the audit log")
	}
}

// Dave's Exchange Administrator was active when the admins started a pilot without him (a new
// config and a restart). Using Elevate is over for him for now: `status`, `extend` and the Extend
// button answer in the pilot's words and extend nothing. Giving the role back is not using it:
// `done` still ends it in PIM.
func TestPilotStartedWhileActive(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("dave", "exchange 1h fixing mail flow")
	w.signIn("dave")
	r := w.only("dave")
	if r.State != store.StateActive {
		t.Fatalf("dave's request: %s (%s)", r.State, r.FailureMessage)
	}
	cfg, err := policy.Parse("elevate.yaml", []byte(string(examples.Config)+`
pilot:
  users: [alice@contoso.example]
  meanwhile: "Ask in #it-help meanwhile."
`))
	if err != nil {
		t.Fatal(err)
	}
	w.opts.Config = cfg
	w.restart()

	const polite = "It is in a pilot with a few people for now, and you'll be able to use it once it opens up. Ask in #it-help meanwhile."
	for _, cmd := range []string{"status", "extend 1h", "roles"} {
		w.say("dave", cmd)
		contains(t, w.rec.lastTo("dave"), polite)
	}
	if err := w.core.Click(context.Background(), w.actor("dave"), bot.ActionExtend, fmt.Sprint(r.ID), ""); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
	contains(t, w.rec.lastTo("dave"), polite)
	if got := w.request(r.ID); got.Extension != nil || !got.EndsAt.Equal(r.EndsAt) {
		t.Errorf("dave's activation was extended outside the pilot: ends %s, extension %+v", got.EndsAt, got.Extension)
	}

	w.tenant.Advance(6 * time.Minute) // PIM refuses to end an activation in its first 5 minutes
	w.say("dave", "done exchange")
	if strings.Contains(w.rec.lastTo("dave"), "pilot") {
		t.Fatalf("dave's done was refused: %q", w.rec.lastTo("dave"))
	}
	w.signIn("dave") // the restart dropped his token: done asks for a sign-in
	contains(t, w.rec.lastTo("dave"), "Done: Exchange Administrator is deactivated in PIM")
	if got := w.request(r.ID); got.State != store.StateEnded {
		t.Errorf("dave's activation after done: %s, want ended", got.State)
	}
}

// The pilot group's answer for a person is kept for five minutes: Dave, outside it, asks for his
// status three times after the sign-in that told Elevate who he is and the group is asked no
// more; five minutes on, it is asked again.
func TestPilotGroupAnswerKept(t *testing.T) {
	const group = "5e6c0000-0000-4000-8000-0000000000a1"
	cfg := string(examples.Config) + `
pilot:
  users: [alice@contoso.example]
  group: ` + group + `
`
	w := newWorld(t, setup{config: []byte(cfg)})
	checks := func() int {
		n := 0
		for _, c := range w.tenant.Calls() {
			if strings.HasSuffix(c.Path, "/checkMemberGroups") && strings.Contains(c.Body, group) {
				n++
			}
		}
		return n
	}
	w.say("dave", "exchange 1h fixing mail flow")
	w.signIn("dave")
	contains(t, w.rec.lastTo("dave"), "It is in a pilot with a few people for now")
	before := checks()
	if before == 0 {
		t.Fatal("the pilot group was never asked about dave")
	}
	for range 3 {
		w.say("dave", "status")
		contains(t, w.rec.lastTo("dave"), "It is in a pilot with a few people for now")
	}
	if n := checks() - before; n != 0 {
		t.Errorf("the pilot group was asked %d more times within five minutes, want 0", n)
	}
	w.clock.advance(5*time.Minute + time.Second)
	w.say("dave", "status")
	if n := checks() - before; n != 1 {
		t.Errorf("the pilot group was asked %d more times after five minutes, want 1", n)
	}
}

// When the pilot group cannot be read, the person is told that their membership in the pilot
// could not be checked and what to do, in words about that read: never "PIM refused it", which
// would say their role request was refused. The cause stays in the log.
func TestPilotCheckFailedWords(t *testing.T) {
	const group = "5e6c0000-0000-4000-8000-0000000000a1"
	cfg := string(examples.Config) + `
pilot:
  users: [alice@contoso.example]
  group: ` + group + `
`
	for _, tc := range []struct {
		name   string
		status int
		want   []string
	}{
		{"group read refused with a code", http.StatusNotFound, []string{"would not give me your group membership", "Try again in a minute", "`elevate check`"}},
		{"permission missing", http.StatusForbidden, []string{"isn't allowed to read the pilot's members", "`elevate check`"}},
		{"graph failing", http.StatusInternalServerError, []string{"Microsoft Graph did not answer", "Try again in a minute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, setup{config: []byte(cfg)})
			w.say("dave", "exchange 1h fixing mail flow")
			w.signIn("dave") // Elevate now knows who dave is; his answer is kept five minutes
			w.clock.advance(5*time.Minute + time.Second)
			w.tenant.Inject(graphtest.Fault{Path: "checkMemberGroups", Status: tc.status})
			w.say("dave", "status")
			if w.tenant.Faults() != 0 {
				t.Fatal("the pilot group was not asked")
			}
			got := w.rec.lastTo("dave")
			contains(t, got, "Elevate is in a pilot and I couldn't check whether you are in it just now")
			for _, s := range tc.want {
				contains(t, got, s)
			}
			if strings.Contains(got, "PIM") {
				t.Errorf("dave was told %q: a group membership read is not PIM", got)
			}
		})
	}
}

// A kept answer is for the pilot group it came from: were the pilot's group changed while Elevate
// runs (today the config is read once, at start; a reload would do this), carol, in the old group
// and not in the new one, is not let in on the old group's answer.
func TestPilotAnswerKeptPerGroup(t *testing.T) {
	cfg := string(examples.Config) + `
pilot:
  users: [alice@contoso.example]
  group: 5e6c0000-0000-4000-8000-0000000000a1   # PIM Approvers: bob, carol
`
	w := newWorld(t, setup{config: []byte(cfg)})
	w.say("carol", "tier1 1h rotating keys")
	w.signIn("carol")
	if got := w.only("carol"); got.State != store.StateActive {
		t.Fatalf("carol (in the pilot group): %s (%s)", got.State, got.FailureMessage)
	}
	pl := *w.cfg.Pilot
	pl.Group = "9a000000-0000-4000-8000-000000000001" // Tier0 Admins: alice only
	w.cfg.Pilot = &pl
	w.say("carol", "status")
	contains(t, w.rec.lastTo("carol"), "It is in a pilot with a few people for now")
}
