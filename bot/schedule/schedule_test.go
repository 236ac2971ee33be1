package schedule_test

import (
	"bytes"
	"image/png"

	"context"
	"fmt"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// clock is the fake clock every part of a world reads: scheduler, core, tenant.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// sent is one message a messenger was asked to deliver.
type sent struct {
	to    bot.Address
	m     bot.Message
	files []bot.Attachment
}

// recorder is a Messenger (with the Uploader capability) that keeps what it was sent.
type recorder struct {
	mu   sync.Mutex
	msgs []sent
}

func (r *recorder) Platform() string { return "test" }

func (r *recorder) Send(_ context.Context, to bot.Address, m bot.Message) (store.MessageRef, error) {
	return r.SendFiles(context.Background(), to, m, nil)
}

func (r *recorder) SendFiles(_ context.Context, to bot.Address, m bot.Message, files []bot.Attachment) (store.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, sent{to: to, m: m, files: files})
	return store.MessageRef{Platform: "test", Channel: to.Channel, MessageID: fmt.Sprint(len(r.msgs))}, nil
}

func (r *recorder) Update(context.Context, store.MessageRef, bot.Message) error { return nil }

// take returns the messages sent since the last take.
func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

func text(m bot.Message) string {
	parts := []string{m.Title, m.Text}
	for _, f := range m.Fields {
		parts = append(parts, f.Label+": "+f.Value)
	}
	return strings.Join(append(parts, m.Footer), "\n")
}

// to filters messages by channel or DM recipient.
func to(msgs []sent, where string) []sent {
	var out []sent
	for _, s := range msgs {
		if s.to.Channel == where || (s.to.Channel == "" && s.to.User == where) {
			out = append(out, s)
		}
	}
	return out
}

// appToken mints an app token on the tenant's (fake) clock for every call: azidentity's cache
// runs on real time and would keep a token the tenant considers expired weeks later.
type appToken struct{ t *graphtest.Tenant }

func (a appToken) GetToken(context.Context, azpolicy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: a.t.AppToken(), ExpiresOn: time.Now().Add(time.Minute)}, nil
}

type world struct {
	clk    *clock
	tenant *graphtest.Tenant
	graph  *graph.Client
	store  *store.Store
	core   *bot.Core
	cfg    *policy.Config
	msgr   *recorder
	sched  *schedule.Scheduler
	path   string
}

const (
	alice = "11111111-1111-4111-8111-111111111111"
	bob   = "22222222-2222-4222-8222-222222222222"
	dave  = "44444444-4444-4444-8444-444444444444"
	erin  = "55555555-5555-4555-8555-555555555555"
	exo   = "29232cdf-9323-42fd-ade2-1d097af3e4de"
)

// newWorld starts the demo tenant and config at start, on the fake clock. Fake times stay before
// the real present: the app's token cache runs on real time.
func newWorld(t testing.TB, start time.Time, edit func(string) string) *world {
	t.Helper()
	w := &world{clk: &clock{t: start}, msgr: &recorder{}}
	cfgText := string(examples.Config)
	if edit != nil {
		cfgText = edit(cfgText)
	}
	var err error
	if w.cfg, err = policy.Parse("elevate.yaml", []byte(cfgText)); err != nil {
		t.Fatal(err)
	}
	seed, err := graphtest.ParseSeed(examples.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	if w.tenant, err = graphtest.New(seed, graphtest.WithClock(w.clk.Now)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.tenant.Close)
	w.graph, err = graph.New(graph.Config{GraphURL: w.tenant.GraphURL(), AuthorityHost: w.tenant.AuthorityURL(),
		TenantID: w.tenant.TenantID(), ClientID: w.tenant.ClientID(), ClientSecret: w.tenant.ClientSecret(),
		RedirectURL: "http://127.0.0.1/auth/callback", HTTPClient: w.tenant.HTTPClient(), PolicyTTL: time.Nanosecond,
		AppCredential: appToken{w.tenant}})
	if err != nil {
		t.Fatal(err)
	}
	w.path = filepath.Join(t.TempDir(), "elevate.db")
	w.open(t)
	return w
}

// open (re)starts store, core and scheduler on w.path: a restart keeps only the file.
func (w *world) open(t testing.TB) {
	t.Helper()
	var err error
	if w.store, err = store.Open(w.path); err != nil {
		t.Fatal(err)
	}
	st := w.store
	t.Cleanup(func() { st.Close() })
	if w.core, err = bot.New(bot.Options{Config: w.cfg, Graph: w.graph, Store: w.store, Now: w.clk.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.core.Close)
	w.core.Register(w.msgr)
	w.sched, err = schedule.New(schedule.Options{Config: w.cfg, Core: w.core, Graph: w.graph, Store: w.store, Now: w.clk.Now,
		AdminToken: func(_ context.Context, a bot.Actor) (graph.UserToken, bool) {
			oid, _, known, _ := w.core.Identity(a)
			if !known {
				return graph.UserToken{}, false
			}
			raw, err := w.tenant.UserToken(oid)
			return graph.UserToken{AccessToken: raw, UserID: oid}, err == nil
		}})
	if err != nil {
		t.Fatal(err)
	}
}

func (w *world) restart(t *testing.T) {
	t.Helper()
	w.core.Close()
	w.store.Close()
	w.open(t)
}

// at sets the clock and runs the scheduler.
func (w *world) at(t *testing.T, when time.Time) []sent {
	t.Helper()
	w.clk.Set(when)
	if err := w.sched.Tick(t.Context()); err != nil {
		t.Fatalf("Tick at %s: %v", when, err)
	}
	return w.msgr.take()
}

// bind makes chat user U-<name> known as the Entra user.
func (w *world) bind(t *testing.T, name, oid string) bot.Actor {
	t.Helper()
	err := w.store.Bind(store.Binding{Platform: "test", ChatUser: "U-" + name, UserID: oid, UPN: name + "@contoso.example", BoundAt: w.clk.Now()},
		store.AuditRecord{Action: "identity.bound"})
	if err != nil {
		t.Fatal(err)
	}
	return bot.Actor{Platform: "test", ChatUser: "U-" + name, Name: name}
}

// activated records an activation made through Elevate, as the core leaves it in the store.
func (w *world) activated(t *testing.T, name, oid, roleID, roleName string, d time.Duration, approvals int) store.Request {
	t.Helper()
	now := w.clk.Now()
	r, err := w.store.CreateRequest(store.Request{Platform: "test", ChatUser: "U-" + name, UserID: oid, UPN: name + "@contoso.example",
		RoleID: roleID, RoleName: roleName, Duration: d, ApprovalsNeeded: approvals, CreatedAt: now.Add(-5 * time.Minute)}, store.AuditRecord{At: now})
	if err != nil {
		t.Fatal(err)
	}
	r, err = w.store.Update(r.ID, store.AuditRecord{At: now, Action: "request.active"}, func(r *store.Request) error {
		r.State, r.ActivatedAt, r.EndsAt, r.GraphRequestID = store.StateActive, now, now.Add(d), fmt.Sprintf("elevate-%d", r.ID)
		if approvals > 0 {
			r.Approvals = []store.Approval{{Approver: bob, Decision: "approve", At: now.Add(-time.Minute)}}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDigestWeeklyAcrossWeeksAndRestarts(t *testing.T) {
	w := newWorld(t, day("2026-01-02T12:00:00Z"), nil)
	if got := to(w.at(t, day("2026-01-02T12:00:00Z")), "#it-admins"); len(got) != 0 {
		t.Fatalf("first start posted a digest: %v", got)
	}
	// The week: two activations through Elevate, one in the portal, one denied request.
	w.clk.Set(day("2026-01-03T10:00:00Z"))
	w.activated(t, "alice", alice, exo, "Exchange Administrator", 4*time.Hour, 0)
	w.activated(t, "alice", alice, "62e90394-69f5-4237-9190-012177145e10", "Global Administrator", time.Hour, 2)
	if err := w.tenant.PortalActivate("dave@contoso.example", "Exchange Administrator", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	now := w.clk.Now()
	r, _ := w.store.CreateRequest(store.Request{Platform: "test", ChatUser: "U-dave", UserID: dave, RoleID: exo, RoleName: "Exchange Administrator", Duration: time.Hour}, store.AuditRecord{At: now})
	w.store.Update(r.ID, store.AuditRecord{At: now, Action: "request.deny"}, func(r *store.Request) error { r.State = store.StateDenied; return nil })

	w.at(t, day("2026-01-04T09:00:00Z")) // Sunday: nothing due
	got := to(w.at(t, day("2026-01-05T09:00:30Z")), "#it-admins")
	if len(got) != 1 {
		t.Fatalf("Monday 09:00: %d digests, want 1", len(got))
	}
	d := text(got[0].m)
	for _, want := range []string{"3 activations: 2 through Elevate, 1 outside", "Exchange Administrator 2 (1 outside)",
		"1 denied", "longest 4h", "Standing access: 1 permanent", "Global Admins: 2", "Break-glass sign-ins: none", "median 4m"} {
		if !strings.Contains(d, want) {
			t.Errorf("digest lacks %q:\n%s", want, d)
		}
	}
	if len(got[0].files) != 1 || !bytes.HasPrefix(got[0].files[0].Data, []byte("\x89PNG")) {
		t.Errorf("digest chart = %v, want one PNG", got[0].files)
	}

	// Ticking again, or restarting, posts nothing more.
	if got := to(w.at(t, day("2026-01-05T09:05:00Z")), "#it-admins"); len(got) != 0 {
		t.Errorf("second tick posted %d digests", len(got))
	}
	w.restart(t)
	if got := to(w.at(t, day("2026-01-05T09:06:00Z")), "#it-admins"); len(got) != 0 {
		t.Errorf("after a restart: %d digests", len(got))
	}

	// Standing access grows; Elevate is down for three Mondays: one digest when it is back.
	if err := w.tenant.AssignPermanent("bob@contoso.example", "Global Administrator"); err != nil {
		t.Fatal(err)
	}
	w.restart(t)
	got = to(w.at(t, day("2026-01-28T15:00:00Z")), "#it-admins")
	if len(got) != 1 {
		t.Fatalf("after downtime over three Mondays: %d digests, want 1", len(got))
	}
	if d := text(got[0].m); !strings.Contains(d, "2 permanent assignments outside break-glass (▲ 1 since last week)") || !strings.Contains(d, "Global Admins: 3") {
		t.Errorf("trend missing:\n%s", d)
	}
	if got := to(w.at(t, day("2026-02-02T09:00:00Z")), "#it-admins"); len(got) != 1 || !strings.Contains(text(got[0].m), "(no change since last week)") {
		t.Errorf("next Monday: %v", got)
	}
}

func TestDigestOnDemand(t *testing.T) {
	w := newWorld(t, day("2026-01-02T12:00:00Z"), nil)
	bob := w.bind(t, "bob", bob)
	dave := w.bind(t, "dave", dave)
	w.at(t, day("2026-01-02T12:00:00Z"))
	if err := w.core.Command(t.Context(), dave, "digest"); err != nil {
		t.Fatal(err)
	}
	if got := w.msgr.take(); len(got) != 1 || !strings.Contains(got[0].m.Text, "Only Elevate's PIM administrators") {
		t.Errorf("dave's digest: %+v", got)
	}
	if err := w.core.Command(t.Context(), bob, "digest"); err != nil {
		t.Fatal(err)
	}
	if got := w.msgr.take(); len(got) != 1 || !strings.HasPrefix(got[0].m.Title, "Weekly PIM digest") {
		t.Errorf("bob's digest: %+v", got)
	}
}

func TestExpiryReminderOnce(t *testing.T) {
	w := newWorld(t, day("2026-01-07T14:00:00Z"), nil)
	w.at(t, day("2026-01-07T14:00:00Z"))
	r := w.activated(t, "alice", alice, exo, "Exchange Administrator", 32*time.Minute, 0) // ends 14:32
	if got := to(w.at(t, day("2026-01-07T14:15:00Z")), "U-alice"); len(got) != 0 {
		t.Errorf("reminder 17 minutes early: %v", got)
	}
	got := to(w.at(t, day("2026-01-07T14:22:00Z")), "U-alice")
	if len(got) != 1 || got[0].m.Text != "Exchange Administrator ends at 14:32 UTC." {
		t.Fatalf("reminder = %+v", got)
	}
	b := got[0].m.Buttons
	if len(b) != 2 || b[0].Action != "extend" || b[0].Label != "Extend 1h" || b[1].Action != "done" || b[1].Label != "I'm done" || b[0].Value != fmt.Sprint(r.ID) {
		t.Errorf("buttons = %+v", b)
	}
	if got := to(w.at(t, day("2026-01-07T14:25:00Z")), "U-alice"); len(got) != 0 {
		t.Errorf("reminded twice: %v", got)
	}
}

func TestBreakGlassWatch(t *testing.T) {
	w := newWorld(t, day("2026-01-07T10:00:00Z"), nil)
	w.at(t, day("2026-01-07T10:00:00Z"))
	w.msgr.take()
	w.clk.Set(day("2026-01-07T10:01:00Z"))
	if err := w.tenant.SimulateSignIn("breakglass1@contoso.example", "Azure Portal"); err != nil {
		t.Fatal(err)
	}
	// The poll interval is 5m: the alert comes at the next poll, 10:05.
	got := to(w.at(t, day("2026-01-07T10:05:00Z")), "#security")
	if len(got) != 1 || !strings.Contains(got[0].m.Text, "Break-glass account breakglass1@contoso.example signed in to Azure Portal") {
		t.Fatalf("alert = %+v", got)
	}
	if got := to(w.at(t, day("2026-01-07T10:10:00Z")), "#security"); len(got) != 0 {
		t.Errorf("alerted twice: %+v", got)
	}
}

func TestDriftAppearsAndClearsOnce(t *testing.T) {
	w := newWorld(t, day("2026-01-07T10:00:00Z"), nil)
	got := to(w.at(t, day("2026-01-07T10:00:00Z")), "#security")
	// The demo tenant: Erin holds Global Administrator permanently.
	if len(got) != 1 || !strings.Contains(got[0].m.Text, "erin@contoso.example holds Global Administrator permanently") {
		t.Fatalf("first drift check = %+v", got)
	}
	mfa := false
	if err := w.tenant.SetPolicy(graphtest.PolicyConfig{Role: "Exchange Administrator", MaxDuration: graphtest.Duration(24 * time.Hour), MFA: &mfa}); err != nil {
		t.Fatal(err)
	}
	got = to(w.at(t, day("2026-01-07T11:00:00Z")), "#security")
	if len(got) != 1 {
		t.Errorf("%d drift posts, want the new findings and the setting changes in one", len(got))
	}
	all := ""
	for _, s := range got {
		all += text(s.m) + "\n"
	}
	for _, want := range []string{"Exchange Administrator: PIM allows activations of 24h (baseline: at most 8h)",
		"Exchange Administrator: PIM activation does not require MFA", "- maximum activation: 8h", "+ maximum activation: 24h", "- MFA on activation: on"} {
		if !strings.Contains(all, want) {
			t.Errorf("drift posts lack %q:\n%s", want, all)
		}
	}
	if got := to(w.at(t, day("2026-01-07T12:00:00Z")), "#security"); len(got) != 0 {
		t.Errorf("same drift alerted again: %+v", got)
	}
	on := true
	w.tenant.SetPolicy(graphtest.PolicyConfig{Role: "Exchange Administrator", MaxDuration: graphtest.Duration(8 * time.Hour), MFA: &on, Justification: &on})
	w.restart(t) // cleared alerts are remembered across restarts too
	got = to(w.at(t, day("2026-01-07T13:00:00Z")), "#security")
	if len(got) != 1 || got[0].m.Title != "Drift cleared" || strings.Count(got[0].m.Text, "✅") != 2 {
		t.Errorf("cleared alerts: %+v, want one post with both", got)
	}
	if got := to(w.at(t, day("2026-01-07T14:00:00Z")), "#security"); len(got) != 0 {
		t.Errorf("cleared twice: %+v", got)
	}
}

// TestDriftOneMessageAtFirstStart: a tenant that drifts in many ways gets one drift post at
// Elevate's first start, not one per finding.
func TestDriftOneMessageAtFirstStart(t *testing.T) {
	w := newWorld(t, day("2026-01-07T10:00:00Z"), nil)
	off := false
	for _, role := range []string{"Exchange Administrator", "SharePoint Administrator", "Teams Administrator", "Intune Administrator"} {
		if err := w.tenant.SetPolicy(graphtest.PolicyConfig{Role: role, MaxDuration: graphtest.Duration(24 * time.Hour), MFA: &off}); err != nil {
			t.Fatal(err)
		}
	}
	got := to(w.at(t, day("2026-01-07T10:00:00Z")), "#security")
	if len(got) != 1 {
		t.Fatalf("%d drift posts at first start, want 1: %+v", len(got), got)
	}
	if n := strings.Count(got[0].m.Text, "⚠"); n != 9 {
		t.Errorf("the drift post has %d findings, want 9 (4 roles × max and MFA, and erin's standing access):\n%s", n, got[0].m.Text)
	}
}

func TestContractWarning(t *testing.T) {
	w := newWorld(t, day("2026-01-07T10:00:00Z"), func(s string) string {
		return strings.Replace(s, "contract_end: 2027-03-31", "contract_end: 2026-01-31", 1)
	})
	got := to(w.at(t, day("2026-01-07T10:00:00Z")), "#security")
	for _, s := range got {
		if strings.Contains(s.m.Title, "outlives the contract") {
			t.Fatalf("warned 24 days ahead: %+v", s)
		}
	}
	got = to(w.at(t, day("2026-01-18T10:00:00Z")), "#security")
	n := 0
	for _, s := range got {
		if strings.Contains(s.m.Title, "outlives the contract") && strings.Contains(s.m.Text, "frank.ext@contoso.example") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("contract warnings = %d, want 1: %+v", n, got)
	}
	for _, s := range to(w.at(t, day("2026-01-18T11:00:00Z")), "#security") {
		if strings.Contains(s.m.Title, "outlives the contract") {
			t.Errorf("warned twice")
		}
	}
}

// With a pilot configured, the digest carries the week's `feedback` notes.
func TestDigestPilotFeedback(t *testing.T) {
	w := newWorld(t, day("2026-01-02T12:00:00Z"), func(s string) string {
		return s + "\npilot:\n  users: [alice@contoso.example, bob@contoso.example]\n"
	})
	bob := w.bind(t, "bob", bob)
	w.at(t, day("2026-01-02T12:00:00Z"))
	if err := w.core.Command(t.Context(), bob, "feedback the form should remember my last role"); err != nil {
		t.Fatal(err)
	}
	if got := w.msgr.take(); len(got) != 1 || !strings.Contains(got[0].m.Text, "weekly digest") {
		t.Fatalf("feedback answer: %+v", got)
	}
	w.clk.Set(day("2026-01-02T12:05:00Z"))
	if err := w.core.Command(t.Context(), bob, "digest"); err != nil {
		t.Fatal(err)
	}
	got := w.msgr.take()
	if len(got) != 1 {
		t.Fatalf("digest: %+v", got)
	}
	var fb string
	for _, f := range got[0].m.Fields {
		if f.Label == "Pilot feedback" {
			fb = f.Value
		}
	}
	if fb != "1 note: “the form should remember my last role” (bob@contoso.example)" {
		t.Errorf("pilot feedback field %q", fb)
	}
}

// The guide's four numbers as week-over-week trends, from the weekly snapshots, and 12 weeks of
// them under the chart's bars.
func TestDigestTrends(t *testing.T) {
	w := newWorld(t, day("2026-01-12T09:00:00Z"), nil)
	to := day("2026-01-12T09:00:00Z")
	for i := 11; i >= 1; i-- {
		at := to.AddDate(0, 0, -7*i)
		if err := w.store.PutSnapshot("weekly", store.Snapshot{At: at, Weekly: true, Permanent: 3 + i, Failed: i % 3,
			Activations: 4, AvgDuration: 3 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	w.clk.Set(to)
	w.activated(t, "alice", alice, exo, "Exchange Administrator", time.Hour, 0)
	d, err := w.sched.BuildDigest(t.Context(), to.AddDate(0, 0, -7), to.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Prev.Weekly || d.Prev.Permanent != 4 || len(d.Weeks) != 12 {
		t.Fatalf("prev %+v, %d weeks", d.Prev, len(d.Weeks))
	}
	fields := map[string]string{}
	for _, f := range d.Message(time.UTC).Fields {
		fields[f.Label] = f.Value
	}
	if got := fields["Duration"]; !strings.Contains(got, "(▼ 120m on average since last week)") {
		t.Errorf("duration trend: %q", got)
	}
	if got := fields["Not granted"]; !strings.Contains(got, "since last week") {
		t.Errorf("failed attempts trend: %q", got)
	}
	plain, err := png.DecodeConfig(bytes.NewReader(mustChart(t, d, nil)))
	if err != nil {
		t.Fatal(err)
	}
	withTrends, err := png.DecodeConfig(bytes.NewReader(d.Chart))
	if err != nil {
		t.Fatal(err)
	}
	if withTrends.Height <= plain.Height {
		t.Errorf("chart with 12 weeks of trends is %dpx high, without %dpx", withTrends.Height, plain.Height)
	}
}

func mustChart(t *testing.T, d schedule.Digest, weeks []store.Snapshot) []byte {
	t.Helper()
	b, err := schedule.ChartWithTrends("x", d.ByRole, weeks, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
