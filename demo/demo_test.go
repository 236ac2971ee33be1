package demo_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/bottest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/store"
)

func start(t *testing.T, out *bytes.Buffer) *demo.World {
	t.Helper()
	return startLogged(t, out, nil)
}

func startLogged(t *testing.T, out *bytes.Buffer, logs *logbuf.Buffer) *demo.World {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w, err := demo.Start(demo.Options{Config: examples.Config, ConfigName: "examples/elevate.yaml", Tenant: examples.Tenant,
		Out: out, ActivationDelay: 30 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		StorePath: filepath.Join(t.TempDir(), "elevate.db"), Logger: log})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(w.Close)
	return w
}

// TestStory is the end-to-end test of the walking skeleton: the demo's whole story through the
// real Graph client, MSAL sign-in and store against the simulated tenant.
func TestStory(t *testing.T) {
	var out bytes.Buffer
	var logs logbuf.Buffer
	w := startLogged(t, &out, &logs)
	if err := w.Story(context.Background()); err != nil {
		t.Fatalf("story: %v\n%s", err, out.String())
	}
	transcript := out.String()
	for _, want := range []string{
		"Exchange Administrator is usable now",
		"You can't approve or deny your own request",
		"You approved alice@contoso.example's request for Global Administrator (1 of 2)",
		"Global Administrator is usable now",
		"Exchange Administrator allows at most 8h — use 8h?",
		"SharePoint Administrator allows at most 1h in PIM — use 1h?",
		"You are not eligible for Exchange Administrator in PIM",
		"did you mean",
		"(updated in place)",
		"PIM itself requires approval for Teams Administrator",
		"You approved erin@contoso.example's request for Teams Administrator in PIM",
		"Teams Administrator is usable now",
		"Tier1 Admins is usable now",
		"Done: Exchange Administrator is deactivated in PIM",
		"Standing access in PIM",
		"`/elevate convert erin@contoso.example ga`",
		"Global Administrators with standing access: 3", // erin and the two break-glass accounts
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("the transcript lacks %q", want)
		}
	}
	rs, err := w.Store.Requests(store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]store.State{}
	for _, r := range rs {
		states[r.UPN+" "+r.RoleName] = r.State
	}
	wantStates := map[string]store.State{
		"alice@contoso.example Exchange Administrator":  store.StateEnded, // an early done
		"alice@contoso.example Global Administrator":    store.StateActive,
		"dave@contoso.example Exchange Administrator":   store.StateActive,
		"erin@contoso.example Teams Administrator":      store.StateActive,   // approved in PIM
		"dave@contoso.example Tier1 Admins":             store.StateActive,   // PIM for Groups
		"dave@contoso.example SharePoint Administrator": store.StateReceived, // PIM's maximum offered, not taken
		"erin@contoso.example Exchange Administrator":   store.StateFailed,   // not eligible: refused before any sign-in
	}
	// One Elevate across platforms: the card was in Teams too, and Carol approved there.
	for _, want := range []string{"Elevate in Teams → #pim-approvals", "carol ▸ clicks [Approve] on #"} {
		if !strings.Contains(transcript, want) {
			t.Errorf("the transcript lacks %q", want)
		}
	}
	fromTeams := false
	for _, r := range rs {
		for _, ap := range r.Approvals {
			fromTeams = fromTeams || (r.RoleName == "Global Administrator" && ap.Platform == "teams" && strings.HasPrefix(ap.ApproverName, "carol@"))
		}
	}
	if !fromTeams {
		t.Error("no approval of Global Administrator was given from Teams")
	}
	for k, want := range wantStates {
		if got := states[k]; got != want {
			t.Errorf("%s: state %q, want %q", k, got, want)
		}
	}
	if len(rs) != len(wantStates) {
		t.Errorf("%d requests stored, want %d: %v", len(rs), len(wantStates), states)
	}
	// One PIM write per activation, each with the requester's own token.
	var writes []string
	for _, c := range w.Tenant.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/roleAssignmentScheduleRequests") && !c.ValidationOnly() {
			writes = append(writes, c.Caller)
		}
	}
	// 4 activations and alice's early selfDeactivate; the group activation has its own endpoint.
	if len(writes) != 5 {
		t.Errorf("%d role schedule request writes, want 5", len(writes))
	}
	for _, caller := range writes {
		if caller == "" || caller == "app" {
			t.Errorf("an activation was made by %q, not by a user's delegated token", caller)
		}
	}
	if n, err := w.Store.VerifyAudit(); err != nil || n == 0 {
		t.Errorf("audit chain: %d records, %v", n, err)
	}
	if strings.Contains(transcript, "eyJ") {
		t.Errorf("the transcript shows something token-shaped")
	}
	// Secrets and tokens never in logs: nothing JWT-shaped, no client secret, no PKCE verifier
	// material, in everything the core logged during the whole story.
	w.Core.Wait()
	logged := logs.String()
	if len(logged) == 0 {
		t.Fatal("the story logged nothing; the scan below would prove nothing")
	}
	if m := tokenShaped.FindString(logged); m != "" {
		t.Errorf("the log holds something token-shaped: %.40s…", m)
	}
	if secret := w.Tenant.ClientSecret(); strings.Contains(logged, secret) {
		t.Errorf("the log holds the client secret")
	}
}

// TestRunScripted runs `elevate demo` as a newcomer would: both parts, and the digests' charts
// are still where the transcript says once the demo is over.
func TestRunScripted(t *testing.T) {
	var out bytes.Buffer
	err := demo.Run(context.Background(), demo.Options{Config: examples.Config, ConfigName: "examples/elevate.yaml",
		Tenant: examples.Tenant, Out: &out, ActivationDelay: 20 * time.Millisecond, ChartDir: t.TempDir()})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "hash chain verifies"); n != 2 {
		t.Errorf("demo output has %d audit checks, want one per part:\n%s", n, out.String())
	}
	charts := chartPath.FindAllStringSubmatch(out.String(), -1)
	if len(charts) != 2 {
		t.Fatalf("%d charts named, want the two digests':\n%s", len(charts), out.String())
	}
	for _, m := range charts {
		b, err := os.ReadFile(m[1])
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("the chart the transcript names is not there after the demo: %v", err)
		}
	}
}

var chartPath = regexp.MustCompile(`written to (\S+\.png)\]`)

func TestInteractive(t *testing.T) {
	var out bytes.Buffer
	w := start(t, &out)
	in := strings.NewReader("exchange 1h fixing mail flow\n1\nstatus\nas bob\n99\nquit\n")
	if err := w.Interactive(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"alice ▸ /elevate exchange 1h fixing mail flow", "signs in to Microsoft with MFA", "usable now", "active until", "there is no button 99"} {
		if !strings.Contains(got, want) {
			t.Errorf("interactive transcript lacks %q:\n%s", want, got)
		}
	}
}

// TestConformance runs the adapters' conformance suite against the terminal transcript, which
// keeps the suite itself honest.
func TestConformance(t *testing.T) {
	var out bytes.Buffer
	w := start(t, &out)
	bottest.Run(t, w, transcriptPlatform{w})
}

type transcriptPlatform struct{ w *demo.World }

func (transcriptPlatform) Name() string { return "demo" }

func (p transcriptPlatform) Type(t *testing.T, user, text string) {
	if err := p.w.Say(context.Background(), user, text); err != nil {
		t.Fatal(err)
	}
}

func (p transcriptPlatform) Click(t *testing.T, user string, a bot.Action, reason string) {
	if err := p.w.ClickLast(context.Background(), user, a, reason); err != nil {
		t.Fatal(err)
	}
}

func (p transcriptPlatform) Link(t *testing.T, user string) string {
	u, ok := p.w.LinkFor(user)
	if !ok {
		t.Fatalf("%s was shown no link", user)
	}
	return u
}

func (p transcriptPlatform) Seen(_ *testing.T, user string) []string  { return p.w.Seen(user) }
func (p transcriptPlatform) Channel(_ *testing.T, ch string) []string { return p.w.Channel(ch) }
func (p transcriptPlatform) Settle(*testing.T)                        { p.w.Core.Wait() }

// tokenShaped matches JWTs (three base64url parts, the first a JSON header) and bearer headers.
var tokenShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.|(?i)bearer [A-Za-z0-9._-]{20,}`)
