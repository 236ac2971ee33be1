package slack_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/store"
)

// fakeClock is the core's clock in the outbox tests: real time plus what the test advanced.
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// approvalConfig is the example config with Exchange Administrator needing two approvals (bob,
// carol): not tier 0, so an approver signs in once.
func approvalConfig(t *testing.T) []byte {
	t.Helper()
	cfg := bytes.Replace(examples.Config, []byte("  - name: Exchange Administrator      # aliases: exchange, exo\n    max_duration: 8h\n    approval: none\n"),
		[]byte("  - name: Exchange Administrator\n    max_duration: 8h\n    approval:\n      required: 2\n      approvers: [bob@contoso.example, carol@contoso.example]\n"), 1)
	if bytes.Equal(cfg, examples.Config) {
		t.Fatal("the example config changed: Exchange Administrator's entry not found")
	}
	return cfg
}

// outboxWorld starts the Slack adapter against the fake Slack with the core on clk and the store
// at path; #pim-approvals does not exist yet.
func outboxWorld(t *testing.T, clk *fakeClock, path string) *env {
	t.Helper()
	e := startEnv(t, false, examples.Tenant, approvalConfig(t), func(o *demo.Options) {
		o.Now, o.StorePath = clk.now, path
	})
	e.fake.RemoveChannel("C0APPROVALS")
	return e
}

// texts are the plain texts of msgs, in order.
func texts(msgs []slacktest.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Plain())
	}
	return out
}

// index is where the first text containing sub is in ts, -1 if none; it fails the test when
// more than one does (a message delivered twice).
func index(t *testing.T, ts []string, sub string) int {
	t.Helper()
	at := -1
	for i, s := range ts {
		if strings.Contains(s, sub) {
			if at >= 0 {
				t.Errorf("%q delivered twice: %q", sub, ts)
			}
			at = i
		}
	}
	return at
}

// queued starts: bob is bound (he signed in for a role of his own), alice asked for Exchange
// Administrator and signed in, with the approvals channel unknown, then Slack went down and bob
// approved. It returns alice's request.
func queued(t *testing.T, e *env) store.Request {
	t.Helper()
	e.command(t, "bob", general, "user 30m onboarding a new hire")
	e.settle()
	e.signIn(t, "bob")
	e.command(t, "alice", general, "exchange 1h mail flow is broken")
	e.settle()
	e.signIn(t, "alice")
	rs, err := e.w.Store.Requests(store.Filter{Platform: "slack", ChatUser: uid("alice")})
	if err != nil || len(rs) != 1 || rs[0].State != store.StateAwaitingApproval {
		t.Fatalf("alice's requests: %+v %v", rs, err)
	}
	if n := len(e.fake.InChannel("C0APPROVALS")); n != 0 {
		t.Fatalf("%d messages in a channel that does not exist", n)
	}
	if i := index(t, texts(e.fake.Private(uid("alice"))), "I've asked in"); i >= 0 {
		t.Fatal("alice was told the approvers were asked before the card was posted")
	}
	// Slack goes down; meanwhile the channel is created and bob approves.
	e.fake.Outage(true)
	e.fake.AddChannel("C0APPROVALS", "pim-approvals")
	e.command(t, "bob", general, "approve "+strconv.FormatUint(rs[0].ID, 10))
	e.settle()
	return rs[0]
}

// check asserts what everyone sees once the outbox is empty: one card showing the request as it
// is, and alice told each thing once, in order.
func check(t *testing.T, e *env, core *bot.Core, r store.Request) {
	t.Helper()
	cards := e.fake.InChannel("C0APPROVALS")
	if len(cards) != 1 {
		t.Fatalf("%d messages in #pim-approvals, want the one card: %q", len(cards), texts(cards))
	}
	if got := cards[0].Plain(); !strings.Contains(got, "1 of 2") || !strings.Contains(got, "Approved by bob@contoso.example") {
		t.Errorf("the card shows %q, want bob's approval (1 of 2)", got)
	}
	alice := texts(e.fake.Private(uid("alice")))
	asked := index(t, alice, "I've asked in <#C0APPROVALS>")
	approved := index(t, alice, "bob@contoso.example approved your request for Exchange Administrator (1 of 2)")
	if asked < 0 || approved < 0 || asked > approved {
		t.Errorf("alice saw %q: want \"I've asked in\" (at %d) once, then bob's approval (at %d) once", alice, asked, approved)
	}
	st, err := core.Outbox()
	if err != nil || st.Depth != 0 || st.Dropped != 0 {
		t.Errorf("outbox %+v %v: want empty, nothing dropped", st, err)
	}
}

// TestOutboxOutage: Slack answers 503 to everything for a minute and the approvals channel does
// not exist at first; once both are over, every message arrives exactly once, in order per
// conversation, and the card shows the request as it stands.
func TestOutboxOutage(t *testing.T) {
	clk := &fakeClock{}
	e := outboxWorld(t, clk, filepath.Join(t.TempDir(), "elevate.db"))
	r := queued(t, e)
	core := e.w.Core
	before := len(e.fake.Messages())
	for range 6 { // a minute of outage: the worker tries, backs off, tries again
		clk.advance(10 * time.Second)
		core.DeliverDue(context.Background())
	}
	if got := len(e.fake.Messages()); got != before {
		t.Fatalf("%d messages delivered during the outage", got-before)
	}
	st, _ := core.Outbox()
	if st.Depth == 0 || st.Failures == 0 || st.OldestAge < time.Minute {
		t.Fatalf("outbox during the outage: %+v", st)
	}
	e.fake.Outage(false)
	for i := 0; st.Depth > 0; i++ {
		if i == 40 {
			t.Fatalf("the outbox still holds %d items 20 minutes after the outage", st.Depth)
		}
		clk.advance(30 * time.Second)
		core.DeliverDue(context.Background())
		st, _ = core.Outbox()
	}
	check(t, e, core, r)
}

// TestOutboxRestart: messages queued during the outage survive a restart; a new core on the same
// file delivers each of them once.
func TestOutboxRestart(t *testing.T) {
	clk := &fakeClock{}
	path := filepath.Join(t.TempDir(), "elevate.db")
	e := outboxWorld(t, clk, path)
	r := queued(t, e)
	st, _ := e.w.Core.Outbox()
	if st.Depth == 0 {
		t.Fatal("nothing queued before the restart")
	}
	e.w.Close() // the process stops before anything was delivered

	e.fake.Outage(false)
	w, err := demo.Start(demo.Options{Config: approvalConfig(t), ConfigName: "examples/elevate.yaml", Tenant: examples.Tenant,
		StorePath: path, Now: clk.now, Messengers: []bot.Messenger{e.a}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	e.a.Use(w.Core)
	clk.advance(time.Minute)
	w.Core.DeliverDue(context.Background())
	w.Core.DeliverDue(context.Background()) // again: nothing is delivered twice
	check(t, e, w.Core, r)
}
