package bot_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

// crashGraph is the real Graph client with a crash injected around one write: the process
// "dies" (a panic, which the core's background work recovers from and which leaves everything
// as a crash would) before the write is sent, or after PIM answered and before Elevate could
// record the answer.
type crashGraph struct {
	*graph.Client
	mu    sync.Mutex
	op    string // "activate", "deactivate", "review", "cancel"
	after bool   // crash after the call returned (answer received, not committed)
}

func (g *crashGraph) crash(op string, call func() error) error {
	g.mu.Lock()
	hit := g.op == op
	if hit {
		g.op = "" // once
	}
	after := g.after
	g.mu.Unlock()
	if hit && !after {
		panic("crash before the " + op + " write")
	}
	err := call()
	if hit {
		panic("crash after the " + op + " write")
	}
	return err
}

func (g *crashGraph) Activate(ctx context.Context, tok graph.UserToken, r graph.ActivationRequest) (a graph.Activation, err error) {
	err = g.crash("activate", func() error { a, err = g.Client.Activate(ctx, tok, r); return err })
	return a, err
}

func (g *crashGraph) ActivateGroup(ctx context.Context, tok graph.UserToken, r graph.GroupActivationRequest) (a graph.Activation, err error) {
	err = g.crash("activate", func() error { a, err = g.Client.ActivateGroup(ctx, tok, r); return err })
	return a, err
}

func (g *crashGraph) Deactivate(ctx context.Context, tok graph.UserToken, userID, roleID string) (a graph.Activation, err error) {
	err = g.crash("deactivate", func() error { a, err = g.Client.Deactivate(ctx, tok, userID, roleID); return err })
	return a, err
}

func (g *crashGraph) ReviewRoleRequest(ctx context.Context, tok graph.UserToken, id string, approve bool, just string) error {
	return g.crash("review", func() error { return g.Client.ReviewRoleRequest(ctx, tok, id, approve, just) })
}

func (g *crashGraph) CancelRoleRequest(ctx context.Context, tok graph.UserToken, id string) error {
	return g.crash("cancel", func() error { return g.Client.CancelRoleRequest(ctx, tok, id) })
}

func (g *crashGraph) arm(op string, after bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.op, g.after = op, after
}

// crashWorld is pimWorld with crash injection; write is the core's bound on one PIM write.
func crashWorld(t *testing.T, write time.Duration) (*world, *crashGraph) {
	var cg *crashGraph
	w := newWorld(t, setup{config: pimConfig(), writeTimeout: write,
		wrap: func(g *graph.Client) bot.Graph { cg = &crashGraph{Client: g}; return cg }})
	return w, cg
}

// minute is the minute sweep, a little over a minute on: what is due is looked up in PIM.
func (w *world) minute() {
	w.t.Helper()
	w.clock.advance(61 * time.Second)
	if err := w.core.Expire(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.core.Wait()
}

// pimActive lists user's active assignments of role in PIM, read with Elevate's identity.
func (w *world) pimActive(user, roleID string) int {
	w.t.Helper()
	g := w.graph.(interface {
		ActiveAssignments(context.Context, string) ([]graph.Assignment, error)
	})
	as, err := g.ActiveAssignments(context.Background(), w.tenant.UserID(user))
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, a := range as {
		if strings.EqualFold(a.RoleID, roleID) && a.AssignmentType == "Activated" {
			n++
		}
	}
	return n
}

// told counts the messages to user containing s.
func (w *world) told(user, s string) int {
	return strings.Count(strings.Join(w.rec.to(user), "\n"), s)
}

// audited reports whether request id has an audit record with action.
func (w *world) audited(id uint64, action string) bool {
	w.t.Helper()
	found := false
	err := w.store.Audit(func(r store.AuditRecord) error {
		found = found || r.RequestID == id && r.Action == action
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return found
}

// Activation: each point at which a selfActivate can be cut off, through the core with the real
// Graph client against the simulated tenant and a real store file. After a restart and one sweep
// (and, where the token was lost with the process, the sign-in Elevate asks for) Elevate's record
// equals PIM's, PIM got one activation, and alice was told once that the role is active and never
// that it was not.
func TestActivationConverges(t *testing.T) {
	const exchange = graphtest.RoleExchangeAdministrator
	for _, tc := range []struct {
		name    string
		crash   string // "before" or "after" the call
		fault   *graphtest.Fault
		hold    bool // the fault holds the write until the client gave up (write timeout)
		restart bool
		// signIn: PIM shows nothing and the token died with the process: Elevate asks again.
		signIn bool
	}{
		{name: "crash before the call", crash: "before", restart: true, signIn: true},
		{name: "answer received, not committed", crash: "after", restart: true},
		{name: "PIM applied, answer lost", fault: &graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Apply: true}, restart: true},
		{name: "PIM applied, connection reset", fault: &graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Apply: true, Drop: true}},
		{name: "503 with Retry-After", fault: &graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Status: http.StatusServiceUnavailable, RetryAfter: "1", Times: 4}},
		{name: "500, then a restart", fault: &graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Status: http.StatusInternalServerError}, restart: true, signIn: true},
		{name: "timeout, PIM applies it later", fault: &graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Apply: true, Status: http.StatusCreated}, hold: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write := time.Duration(0)
			if tc.hold {
				write = 300 * time.Millisecond
			}
			w, cg := crashWorld(t, write)
			var release chan struct{}
			if tc.fault != nil {
				f := *tc.fault
				if tc.hold {
					release = make(chan struct{})
					f.Hold = release
					defer func() {
						select {
						case <-release:
						default:
							close(release)
						}
					}()
				}
				w.tenant.Inject(f)
			}
			if tc.crash != "" {
				cg.arm("activate", tc.crash == "after")
			}
			w.say("alice", "exchange 1h mail flow")
			w.signIn("alice")
			r := w.only("alice")
			if r.State.Terminal() {
				t.Fatalf("after the fault: %s (%s): a write of unknown outcome ended the request", r.State, r.FailureMessage)
			}
			if w.told("alice", "was not activated") > 0 || w.told("alice", "nothing was changed") > 0 {
				t.Fatalf("alice was told something not known: %q", w.rec.to("alice"))
			}
			if r.State != store.StateActivating || r.Write == nil || r.Write.Action != store.WriteActivate || r.Write.By != r.UserID {
				t.Fatalf("intent after the fault: %s %+v", r.State, r.Write)
			}
			if release != nil {
				close(release) // PIM takes the write after Elevate gave up waiting
				for deadline := time.Now().Add(10 * time.Second); w.tenant.Faults() > 0 || w.pimActive("alice@contoso.example", exchange) == 0; {
					if time.Now().After(deadline) {
						t.Fatal("PIM never took the held write")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			time.Sleep(60 * time.Millisecond) // past the tenant's provisioning delay (50ms)
			if tc.restart {
				w.restart()
			}
			w.minute()
			r = w.request(r.ID)
			if tc.signIn {
				if r.State != store.StateAwaitingSignIn || w.pimActive("alice@contoso.example", exchange) != 0 {
					t.Fatalf("after restart and sweep: %s, PIM active %d; want awaiting_sign_in and nothing in PIM", r.State, w.pimActive("alice@contoso.example", exchange))
				}
				contains(t, w.rec.lastTo("alice"), "Sign in again")
				w.signIn("alice")
				r = w.request(r.ID)
			}
			if r.State != store.StateActive || r.Write != nil {
				t.Fatalf("after the sweep: %s (%s), write %+v; PIM active %d", r.State, r.FailureMessage, r.Write, w.pimActive("alice@contoso.example", exchange))
			}
			if n := w.pimActive("alice@contoso.example", exchange); n != 1 {
				t.Errorf("PIM has %d activations, want 1", n)
			}
			if n := w.told("alice", "Exchange Administrator active until"); n != 1 {
				t.Errorf("told %d times that it is active, want once: %q", n, w.rec.to("alice"))
			}
			if n := w.told("alice", "was not activated"); n != 0 {
				t.Errorf("told it was not activated: %q", w.rec.to("alice"))
			}
			if !w.audited(r.ID, "request.activating") {
				t.Error("no intent in the audit log")
			}
			if !tc.signIn && tc.crash != "" && !w.audited(r.ID, "request.reconciled") {
				t.Error("no reconciled record")
			}
			// The sweep after convergence changes nothing and tells nobody anything.
			before := len(w.rec.to("alice"))
			w.minute()
			if got := w.request(r.ID); got.State != store.StateActive || len(w.rec.to("alice")) != before {
				t.Errorf("a further sweep: %s, messages %q", got.State, w.rec.to("alice")[before:])
			}
		})
	}
}

// done: the deactivation is cut off at each point — its answer lost or the connection reset (PIM
// took it), the process dying before the call or after PIM's answer, a 500 or 503s before
// processing (PIM did not): after a restart and a sweep Elevate says what PIM says, and alice is
// told once.
func TestDoneConverges(t *testing.T) {
	const exchange = graphtest.RoleExchangeAdministrator
	for _, tc := range []struct {
		name    string
		fault   graphtest.Fault
		crash   bool // the process dies at the write: before the call, or (after) once PIM answered, before the answer was recorded
		after   bool
		applied bool
	}{
		{name: "answer lost", fault: graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfDeactivate", Apply: true}, applied: true},
		{name: "PIM applied, connection reset", fault: graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfDeactivate", Apply: true, Drop: true}, applied: true},
		{name: "answer received, not committed", crash: true, after: true, applied: true},
		{name: "crash before the call", crash: true},
		{name: "500 before processing", fault: graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfDeactivate", Status: http.StatusInternalServerError}},
		{name: "503 with Retry-After", fault: graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfDeactivate", Status: http.StatusServiceUnavailable, RetryAfter: "1", Times: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, cg := crashWorld(t, 0)
			w.say("alice", "exchange 1h mail flow")
			w.signIn("alice")
			w.tenant.Advance(6 * time.Minute) // past PIM's first minutes
			if tc.crash {
				cg.arm("deactivate", tc.after)
			} else {
				w.tenant.Inject(tc.fault)
			}
			func() {
				defer func() { _ = recover() }() // the crash, in the command's own goroutine
				w.say("alice", "done")
			}()
			r := w.only("alice")
			if r.State != store.StateActive || r.Write == nil || r.Write.Action != store.WriteDeactivate {
				t.Fatalf("after the fault: %s %+v", r.State, r.Write)
			}
			w.restart()
			w.minute()
			r = w.request(r.ID)
			inPIM := w.pimActive("alice@contoso.example", exchange)
			if tc.applied {
				if r.State != store.StateEnded || inPIM != 0 {
					t.Fatalf("PIM ended it; Elevate: %s, PIM active %d", r.State, inPIM)
				}
				if n := w.told("alice", "deactivated"); n != 1 {
					t.Errorf("told %d times it was deactivated: %q", n, w.rec.to("alice"))
				}
			} else {
				if r.State != store.StateActive || r.Write != nil || inPIM != 1 {
					t.Fatalf("PIM did not end it; Elevate: %s %+v, PIM active %d", r.State, r.Write, inPIM)
				}
				contains(t, w.rec.lastTo("alice"), "the deactivation did not go through. Say `/elevate done` again")
				if n := w.told("alice", "deactivated"); n != 0 {
					t.Errorf("told it was deactivated: %q", w.rec.to("alice"))
				}
			}
			if !w.audited(r.ID, "request.deactivating") || !w.audited(r.ID, "request.reconciled") {
				t.Error("intent or reconciliation missing from the audit log")
			}
		})
	}
}

// PIM's own approval and a cancellation in PIM whose answers are lost: the sweep reads PIM's
// request and records what it says; the approver and the requester are told once.
func TestPIMDecisionsConverge(t *testing.T) {
	t.Run("approval, answer lost", func(t *testing.T) {
		w := pimWorld(t, nil)
		w.say("erin", "teams 1h fix a meeting policy")
		w.signIn("erin")
		r := w.only("erin")
		if !r.State.Valid() || r.GraphStatus != "PendingApproval" {
			t.Fatalf("setup: %s %s", r.State, r.GraphStatus)
		}
		w.tenant.Inject(graphtest.Fault{Method: "PATCH", Path: "roleAssignmentApprovals", Apply: true})
		w.click("bob", bot.ActionApprove, "")
		w.signIn("bob")
		got := w.request(r.ID)
		if got.State != store.StateAwaitingApproval || got.Write == nil || got.Write.Action != store.WriteApprove {
			t.Fatalf("after the lost answer: %s %+v", got.State, got.Write)
		}
		contains(t, w.rec.lastTo("bob"), "did not answer whether PIM took your decision")
		w.restart()
		w.minute()
		got = w.request(r.ID)
		if got.State != store.StateActive || got.Write != nil {
			t.Fatalf("after the sweep: %s %+v", got.State, got.Write)
		}
		if len(got.Approvals) != 1 || got.Approvals[0].Approver != w.tenant.UserID("bob@contoso.example") {
			t.Errorf("approvals %+v, want bob's", got.Approvals)
		}
		if n := w.told("erin", "Teams Administrator active until"); n != 1 {
			t.Errorf("erin told %d times it is active", n)
		}
		contains(t, w.rec.lastTo("bob"), "PIM took your approval")
		card, _ := w.rec.latestCard(w.cfg.Channels.Approvals)
		contains(t, card.Text, "active until")
	})
	t.Run("approval refused before processing", func(t *testing.T) {
		w := pimWorld(t, nil)
		w.say("erin", "teams 1h fix a meeting policy")
		w.signIn("erin")
		r := w.only("erin")
		w.tenant.Inject(graphtest.Fault{Method: "PATCH", Path: "roleAssignmentApprovals", Status: http.StatusBadGateway})
		w.click("bob", bot.ActionApprove, "")
		w.signIn("bob")
		w.minute()
		got := w.request(r.ID)
		if got.State != store.StateAwaitingApproval || got.Write != nil || len(got.Approvals) != 0 {
			t.Fatalf("PIM still waits; Elevate: %s %+v %+v", got.State, got.Write, got.Approvals)
		}
		contains(t, w.rec.lastTo("bob"), "PIM did not take your approval of request #")
		card, _ := w.rec.latestCard(w.cfg.Channels.Approvals)
		if len(card.Buttons) != 2 {
			t.Errorf("the card lost its buttons: %+v", card)
		}
	})
	t.Run("cancel, answer lost", func(t *testing.T) {
		w := pimWorld(t, nil)
		w.say("erin", "teams 1h fix a meeting policy")
		w.signIn("erin")
		r := w.only("erin")
		w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "/cancel", Apply: true})
		w.say("erin", "cancel")
		if got := w.request(r.ID); got.State != store.StateAwaitingApproval || got.Write == nil {
			t.Fatalf("after the lost answer: %s %+v", got.State, got.Write)
		}
		w.restart()
		w.minute()
		if got := w.request(r.ID); got.State != store.StateCancelled || got.Write != nil {
			t.Fatalf("after the sweep: %s %+v", got.State, got.Write)
		}
		if n := w.told("erin", "was canceled in PIM"); n != 1 {
			t.Errorf("erin told %d times: %q", n, w.rec.to("erin"))
		}
	})
}

// A PIM for Groups activation whose answer is lost converges like a role's.
func TestGroupActivationConverges(t *testing.T) {
	w := pimWorld(t, nil)
	w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "group/assignmentScheduleRequests", Apply: true, Drop: true})
	w.say("dave", "tier1-admins 2h rotate the helpdesk queue")
	w.signIn("dave")
	r := w.only("dave")
	if r.State != store.StateActivating {
		t.Fatalf("after the lost answer: %s", r.State)
	}
	time.Sleep(60 * time.Millisecond)
	w.restart()
	w.minute()
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after the sweep: %s (%s)", got.State, got.FailureMessage)
	}
	writes := 0
	for _, c := range w.tenant.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/privilegedAccess/group/assignmentScheduleRequests") {
			writes++
		}
	}
	if writes != 1 {
		t.Errorf("%d group writes, want 1", writes)
	}
}

// An activation ended in the PIM portal ends in Elevate at the next sweep; status says so.
func TestEndedOutsideElevate(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	r := w.only("alice")
	w.tenant.Advance(6 * time.Minute)
	tok, _ := w.tenant.UserToken("alice@contoso.example")
	graphCall(t, w, http.MethodPost, "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests", tok, map[string]any{
		"action": "selfDeactivate", "principalId": r.UserID, "roleDefinitionId": r.RoleID, "directoryScopeId": "/"})
	w.clock.advance(10 * time.Minute)
	w.minute()
	if got := w.request(r.ID); got.State != store.StateEnded {
		t.Fatalf("after the sweep: %s", got.State)
	}
	if n := w.told("alice", "has ended in PIM (outside Elevate"); n != 1 {
		t.Errorf("told %d times", n)
	}
	w.say("alice", "status")
	contains(t, w.rec.lastTo("alice"), "no pending or active")
}

// Acknowledged work whose next step never ran is resumed after a restart: a sign-in link that
// lived only in the old process's memory is sent again (and works), an approved request that
// was never activated asks its requester to sign in and then activates.
func TestResumeAfterRestart(t *testing.T) {
	t.Run("sign-in link lost", func(t *testing.T) {
		w := newWorld(t, setup{})
		w.say("alice", "exchange 1h mail flow")
		r := w.only("alice")
		old, _ := w.rec.button("alice", bot.ActionOpenURL)
		w.clock.advance(2 * time.Minute)
		w.restart()
		b, ok := w.rec.button("alice", bot.ActionOpenURL)
		if !ok || b.URL == old.URL {
			t.Fatalf("no new sign-in link after the restart: %q", w.rec.lastTo("alice"))
		}
		w.minute() // asked once per process: the sweep does not ask again
		if n := w.told("alice", "Sign in with your Microsoft account"); n != 2 {
			t.Errorf("asked %d times, want 2 (before and after the restart)", n)
		}
		w.signIn("alice")
		if got := w.request(r.ID); got.State != store.StateActive {
			t.Fatalf("after signing in with the new link: %s (%s)", got.State, got.FailureMessage)
		}
	})
	t.Run("approved, never activated", func(t *testing.T) {
		w := newWorld(t, setup{})
		w.say("alice", "ga 1h INC-1234 restore tenant")
		w.signIn("alice")
		r := w.only("alice")
		// The approvals were committed; the process died before the activation began.
		if _, err := w.store.Update(r.ID, store.AuditRecord{Actor: "test", Action: "request.approve"}, func(r *store.Request) error {
			for _, who := range []string{"bob", "carol"} {
				r.Approvals = append(r.Approvals, store.Approval{Approver: w.tenant.UserID(who + "@contoso.example"), Decision: "approve"})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		w.clock.advance(2 * time.Minute)
		w.restart()
		contains(t, w.rec.lastTo("alice"), "was approved. Sign in to activate it now")
		w.signIn("alice")
		if got := w.request(r.ID); got.State != store.StateActive {
			t.Fatalf("after sign-in: %s (%s)", got.State, got.FailureMessage)
		}
		if n := len(w.activations()); n != 1 {
			t.Errorf("%d activation writes", n)
		}
	})
}

// A standby that takes over seconds later (well within the sweep's minute) asks again at once
// for every request waiting for a sign-in, whose link lived only in the old leader's memory:
// one new link, words that say the old one is dead, and the old link's page says where to look.
func TestTakeoverAsksSignInAgain(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h mail flow")
	r := w.only("alice")
	old := w.link("alice")
	w.clock.advance(5 * time.Second)
	w.restart() // a new Core over the same store, as the standby that took over
	if n := w.told("alice", "Sign in with your Microsoft account"); n != 2 {
		t.Fatalf("asked %d times, want 2 (before and after the takeover); messages %q", n, w.rec.to("alice"))
	}
	contains(t, w.rec.lastTo("alice"), "Elevate restarted, so the sign-in link I sent you earlier no longer works.")
	if w.link("alice") == old {
		t.Fatal("the new message carries the old link")
	}
	w.minute()
	if n := w.told("alice", "Sign in with your Microsoft account"); n != 2 {
		t.Errorf("asked %d times after the sweep, want still 2", n)
	}
	status, page := w.browser().open(old, "alice@"+w.domain)
	if status != http.StatusBadRequest {
		t.Errorf("old link: status %d, want 400", status)
	}
	contains(t, page, "Use the newest sign-in link Elevate sent you in chat")
	if got := w.request(r.ID); got.State != store.StateAwaitingSignIn {
		t.Fatalf("after the old link: %s, want still awaiting sign-in", got.State)
	}
	w.signIn("alice")
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after signing in with the new link: %s (%s)", got.State, got.FailureMessage)
	}
	if n := len(w.activations()); n != 1 {
		t.Errorf("%d activation writes, want 1", n)
	}
}

// A conversion whose second write's answer is lost (PIM removed the standing assignment): after
// a restart and a sweep the admin is told what PIM shows, once, and the intent is gone.
func TestConvertConverges(t *testing.T) {
	w := pimWorld(t, nil)
	// alice gets Global Administrator active (PIM wants a privileged role to convert).
	w.say("alice", "ga 1h INC-42 convert standing access")
	w.signIn("alice")
	w.click("bob", bot.ActionApprove, "")
	w.signIn("bob")
	w.click("carol", bot.ActionApprove, "")
	w.signIn("carol")
	w.say("alice", "convert erin@contoso.example ga")
	w.click("alice", bot.ActionConvert, "")
	w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "adminRemove", Apply: true})
	w.signIn("alice")
	contains(t, w.rec.lastTo("alice"), "did not answer whether PIM converted erin@contoso.example's Global Administrator")
	w.restart()
	w.minute()
	if n := w.told("alice", "Converted: PIM shows erin@contoso.example eligible for Global Administrator"); n != 1 {
		t.Fatalf("alice told %d times; messages %q", n, w.rec.to("alice"))
	}
	var actions []string
	if err := w.store.Audit(func(r store.AuditRecord) error {
		if strings.HasPrefix(r.Action, "standing.") {
			actions = append(actions, r.Action)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(actions, ",") != "standing.converting,standing.write_unknown,standing.reconciled" {
		t.Errorf("audit %q", actions)
	}
	w.minute()
	if n := w.told("alice", "Converted"); n != 1 {
		t.Errorf("told again after the intent was settled: %d", n)
	}
}

// A crash right after the conversion's outcome is recorded: the admin's message went with it
// (one transaction), so after a restart she is told what PIM shows, once, and the intent is gone.
func TestConvertSettledThenCrash(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("alice", "ga 1h INC-42 convert standing access")
	w.signIn("alice")
	w.click("bob", bot.ActionApprove, "")
	w.signIn("bob")
	w.click("carol", bot.ActionApprove, "")
	w.signIn("carol")
	w.say("alice", "convert erin@contoso.example ga")
	w.click("alice", bot.ActionConvert, "")
	w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "adminRemove", Apply: true})
	w.signIn("alice")
	contains(t, w.rec.lastTo("alice"), "did not answer whether PIM converted erin@contoso.example's Global Administrator")
	crashed := false
	bot.SetCrash(w.core, func(point string) {
		if point == "conversion settled" && !crashed {
			crashed = true
			panic("crash after the conversion was settled")
		}
	})
	w.clock.advance(time.Hour) // past any backoff: the sweep looks the conversion up
	w.minute()
	if !crashed {
		t.Fatal("the conversion was not looked up")
	}
	w.restart()
	w.minute()
	if n := w.told("alice", "Converted: PIM shows erin@contoso.example eligible for Global Administrator"); n != 1 {
		t.Fatalf("alice told %d times; messages %q", n, w.rec.to("alice"))
	}
	if in, err := w.store.Cursors("intent/convert/"); err != nil || len(in) != 0 {
		t.Errorf("intents left: %v %v", in, err)
	}
}

// crashWatcher panics (the process dies) the first time it is told of a change that at accepts:
// right after that change's commit, before anything the core does next.
type crashWatcher struct {
	at      func(store.Request) bool
	crashed bool
}

func (c *crashWatcher) RequestChanged(_ context.Context, r store.Request) {
	if !c.crashed && c.at(r) {
		c.crashed = true
		panic("crash after the commit")
	}
}

// A crash right after the activation's intent is committed: the "Activating …" line went with
// it, so alice hears it once (after the restart), and the request converges with one write.
func TestActivatingToldWithTheIntent(t *testing.T) {
	w := pimWorld(t, nil)
	const exchange = graphtest.RoleExchangeAdministrator
	cw := &crashWatcher{at: func(r store.Request) bool { return r.State == store.StateActivating && r.Write != nil }}
	w.core.Watch(cw)
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	w.core.Wait()
	if !cw.crashed {
		t.Fatal("no activation intent was committed")
	}
	r := w.only("alice")
	if r.State != store.StateActivating {
		t.Fatalf("after the crash: %s", r.State)
	}
	w.restart()
	w.minute()
	if r = w.request(r.ID); r.State == store.StateAwaitingSignIn {
		w.signIn("alice")
	}
	if r = w.request(r.ID); r.State != store.StateActive {
		t.Fatalf("after the restart: %s (%s)", r.State, r.FailureMessage)
	}
	if n := w.told("alice", "Activating Exchange Administrator for 1h in PIM…"); n != 1 {
		t.Errorf("told %d times that it is activating, want once: %q", n, w.rec.to("alice"))
	}
	if n := w.pimActive("alice@contoso.example", exchange); n != 1 {
		t.Errorf("PIM has %d activations, want 1", n)
	}
}

// cardUpdates counts the updates made to approval cards so far.
func (r *recorder) cardUpdates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sent {
		if s.msg.Kind == bot.KindCard {
			n += len(r.updates[s.ref])
		}
	}
	return n
}

// A crash right after an extension's consent is committed: the refresh of the approval card
// went with it, so the card is refreshed after the restart.
func TestExtendConsentCardWithTheChange(t *testing.T) {
	cfg := strings.Replace(string(pimConfig()), "    extension_budget: 2h\n    approval: none\n", "    extension_budget: 2h\n    approval:\n      approvers: [bob@contoso.example]\n", 1)
	if !strings.Contains(cfg, "extension_budget: 2h\n    approval:\n      approvers") {
		t.Fatal("the test's config did not change")
	}
	w := newWorld(t, setup{config: []byte(cfg)})
	w.say("alice", "exchange 30m mail flow")
	w.signIn("alice")
	w.click("bob", bot.ActionApprove, "")
	if strings.Contains(w.rec.lastTo("bob"), "Sign in") {
		w.signIn("bob")
	}
	w.core.Wait()
	r := w.only("alice")
	if r.State != store.StateActive {
		t.Fatalf("before extend: %s (%s)", r.State, r.FailureMessage)
	}
	if _, ok := w.rec.latestCard(w.cfg.Channels.Approvals); !ok {
		t.Fatal("no approval card")
	}
	cw := &crashWatcher{at: func(r store.Request) bool { return r.Extension != nil && !r.Extension.ConsentAt.IsZero() }}
	w.core.Watch(cw)
	before := w.rec.cardUpdates()
	func() {
		defer func() { _ = recover() }() // the crash, in the command's own goroutine
		w.say("alice", "extend 1h")
	}()
	if !cw.crashed {
		t.Fatal("no consent was committed")
	}
	if got := w.request(r.ID); got.Extension == nil || got.Extension.By != time.Hour {
		t.Fatalf("after the crash: %+v", got.Extension)
	}
	w.restart()
	if n := w.rec.cardUpdates(); n <= before {
		t.Errorf("the card was not refreshed after the consent (%d updates before, %d after)", before, n)
	}
}

// A shutdown while the selfActivate is on its way does not cut it off: the write runs detached
// from the core's cancellation, shutdown waits for it, its answer is recorded, and after the
// restart the request is active, PIM has one activation, and alice was told so once.
func TestShutdownDuringWrite(t *testing.T) {
	w := pimWorld(t, nil)
	release := make(chan struct{})
	w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Hold: release})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	w.linked("alice") // no page to confirm the link: the callback goes straight on
	w.say("alice", "exchange 1h mail flow")
	b, ok := w.rec.button("alice", bot.ActionOpenURL)
	if !ok {
		t.Fatal("no sign-in link")
	}
	back, err := w.tenant.Browse(context.Background(), b.URL, "alice@contoso.example")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(back.String()) // the callback answers; the activation goes on behind it
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); w.tenant.Faults() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the write never reached PIM; alice was told %q", w.rec.to("alice"))
		}
		time.Sleep(time.Millisecond) // the write has reached PIM and is held there
	}
	closed := make(chan struct{})
	go func() { w.core.Close(); close(closed) }() // the shutdown
	select {
	case <-closed:
		t.Fatal("shutdown did not wait for the PIM write")
	default:
	}
	close(release)
	<-closed
	r := w.only("alice")
	if r.State != store.StateActive || r.Write != nil {
		t.Fatalf("after the shutdown: %s (%s) %+v", r.State, r.FailureMessage, r.Write)
	}
	time.Sleep(60 * time.Millisecond)
	w.restart()
	w.minute()
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after the restart: %s", got.State)
	}
	if n := w.pimActive("alice@contoso.example", graphtest.RoleExchangeAdministrator); n != 1 {
		t.Errorf("PIM has %d activations", n)
	}
	if n := w.told("alice", "Exchange Administrator active until"); n != 1 {
		t.Errorf("told %d times it is active: %q", n, w.rec.to("alice"))
	}
	if n := w.told("alice", "was not activated"); n != 0 {
		t.Errorf("told it was not activated: %q", w.rec.to("alice"))
	}
}

// An activation an administrator lengthened in the Entra portal gets PIM's end time in Elevate at
// the next sweep, and the user is told once.
func TestExtendedOutsideElevate(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	r := w.only("alice")
	end := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	if err := w.tenant.PortalExtend("alice@contoso.example", "Exchange Administrator", end); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(10 * time.Minute)
	w.minute()
	got := w.request(r.ID)
	if got.State != store.StateActive || !got.EndsAt.Equal(end) {
		t.Fatalf("after the sweep: %s until %s, want active until %s", got.State, got.EndsAt, end)
	}
	if n := w.told("alice", "changed outside Elevate"); n != 1 {
		t.Errorf("told %d times", n)
	}
	w.minute()
	if n := w.told("alice", "changed outside Elevate"); n != 1 {
		t.Errorf("told again: %d", n)
	}
}

// Crashes around PIM's own approval: before the PATCH (PIM still waits; bob is told to decide
// again) and after PIM's answer, before Elevate recorded it (the request is active, bob's
// approval recorded, each told once).
func TestPIMApprovalCrash(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(map[bool]string{false: "before the call", true: "answer received, not committed"}[after], func(t *testing.T) {
			w, cg := crashWorld(t, 0)
			w.say("erin", "teams 1h fix a meeting policy")
			w.signIn("erin")
			r := w.only("erin")
			cg.arm("review", after)
			w.click("bob", bot.ActionApprove, "")
			w.signIn("bob")
			if got := w.request(r.ID); got.State != store.StateAwaitingApproval || got.Write == nil || got.Write.Action != store.WriteApprove {
				t.Fatalf("after the crash: %s %+v", got.State, got.Write)
			}
			w.restart()
			w.minute()
			got := w.request(r.ID)
			if after {
				if got.State != store.StateActive || got.Write != nil || len(got.Approvals) != 1 {
					t.Fatalf("PIM approved; Elevate: %s %+v %+v", got.State, got.Write, got.Approvals)
				}
				if n := w.told("bob", "PIM took your approval"); n != 1 {
					t.Errorf("bob told %d times", n)
				}
				if n := w.told("erin", "Teams Administrator active until"); n != 1 {
					t.Errorf("erin told %d times it is active", n)
				}
				return
			}
			if got.State != store.StateAwaitingApproval || got.Write != nil || len(got.Approvals) != 0 {
				t.Fatalf("PIM still waits; Elevate: %s %+v %+v", got.State, got.Write, got.Approvals)
			}
			contains(t, w.rec.lastTo("bob"), "PIM did not take your approval")
			w.click("bob", bot.ActionApprove, "")
			w.signIn("bob")
			if got := w.request(r.ID); got.State != store.StateActive {
				t.Fatalf("after deciding again: %s", got.State)
			}
		})
	}
}

// PIM for Groups with PIM's own approval: bob's approval of the stage loses its answer; the sweep
// reads PIM's group request and records the membership active.
func TestGroupApprovalConverges(t *testing.T) {
	w := pimWorld(t, func(s *graphtest.Seed) {
		for i := range s.Policies {
			if s.Policies[i].Group == "Tier1 Admins" {
				s.Policies[i].Approval = &struct {
					Approvers []string `yaml:"approvers"`
				}{Approvers: []string{"PIM Approvers"}}
			}
		}
	})
	w.say("dave", "tier1-admins 2h rotate the helpdesk queue")
	w.signIn("dave")
	r := w.only("dave")
	if r.State != store.StateAwaitingApproval || r.GraphStatus != "PendingApproval" {
		t.Fatalf("setup: %s %s", r.State, r.GraphStatus)
	}
	w.tenant.Inject(graphtest.Fault{Method: "PATCH", Path: "assignmentApprovals", Apply: true, Drop: true})
	w.click("bob", bot.ActionApprove, "")
	w.signIn("bob")
	if got := w.request(r.ID); got.State != store.StateAwaitingApproval || got.Write == nil {
		t.Fatalf("after the lost answer: %s %+v", got.State, got.Write)
	}
	w.restart()
	w.minute()
	if got := w.request(r.ID); got.State != store.StateActive || got.Write != nil {
		t.Fatalf("after the sweep: %s %+v", got.State, got.Write)
	}
	if n := w.told("dave", "Tier1 Admins active until"); n != 1 {
		t.Errorf("dave told %d times", n)
	}
	if n := w.told("bob", "PIM took your approval"); n != 1 {
		t.Errorf("bob told %d times", n)
	}
}

// A restart while Elevate waits for the sign-in it asked for after a lost answer: PIM shows
// nothing, so the new process asks again (the old link died with the old process), and the
// activation then goes through once.
func TestRestartWhileAskingAgain(t *testing.T) {
	w := pimWorld(t, nil)
	w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Status: http.StatusInternalServerError})
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	w.restart() // the token is gone with the process
	w.minute()  // PIM shows nothing: a new sign-in is asked for, keeping the write's intent
	r := w.only("alice")
	if r.State != store.StateAwaitingSignIn || r.Write == nil {
		t.Fatalf("after the sweep: %s %+v", r.State, r.Write)
	}
	w.restart() // and that link dies too
	w.minute()
	contains(t, w.rec.lastTo("alice"), "PIM shows no activation of Exchange Administrator for you yet.")
	w.signIn("alice")
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after signing in: %s (%s)", got.State, got.FailureMessage)
	}
	if n := w.pimActive("alice@contoso.example", graphtest.RoleExchangeAdministrator); n != 1 {
		t.Errorf("PIM has %d activations", n)
	}
}

// A crash between `done`'s intent and its write, right after the activation: PIM does not show
// the new activation yet and recorded no deactivation. That is not "ended": Elevate keeps the
// request active and looks again later (bench/crash found this: Elevate said ended while PIM
// kept the role).
func TestDeactivationIntentOnActivationNotShownYet(t *testing.T) {
	w := newWorld(t, setup{activationDelay: 10 * time.Minute})
	upn := "alice@" + w.domain
	alice := w.tenant.UserID(upn)
	// Alice's own selfActivate, which PIM takes 10 minutes to show.
	raw, err := w.tenant.UserToken(upn)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.New(graph.Config{GraphURL: w.tenant.GraphURL(), AuthorityHost: w.tenant.AuthorityURL(), TenantID: w.tenant.TenantID(),
		ClientID: w.tenant.ClientID(), ClientSecret: w.tenant.ClientSecret(), RedirectURL: "http://127.0.0.1/auth/callback", HTTPClient: w.tenant.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Activate(context.Background(), graph.UserToken{AccessToken: raw, UserID: alice, UPN: upn},
		graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator, Duration: time.Hour, Justification: "mail flow"}); err != nil {
		t.Fatal(err)
	}
	if as, err := g.ActiveAssignments(context.Background(), alice); err != nil || len(as) != 0 {
		t.Fatalf("PIM shows the new activation already (%v, %v): the test proves nothing", as, err)
	}
	now := w.clock.now().UTC()
	r, err := w.store.CreateRequest(store.Request{Platform: "test", ChatUser: "alice", UserID: alice, UPN: upn,
		RoleID: graphtest.RoleExchangeAdministrator, RoleName: "Exchange Administrator", Duration: time.Hour, Justification: "mail flow",
		State: store.StateActive, ActivatedAt: now, EndsAt: now.Add(time.Hour),
		Write: &store.Write{Action: store.WriteDeactivate, At: now, By: alice, ByPlatform: "test", ByChatUser: "alice", Attempts: 1}},
		store.AuditRecord{Actor: "test", Action: "request.deactivating"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.core.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
	got := w.request(r.ID)
	if got.State != store.StateActive || got.Write == nil {
		t.Fatalf("after reconciling a deactivation intent PIM shows no trace of: %s, write %+v; want still active, looked at again later", got.State, got.Write)
	}
}

// A request whose activation PIM may have taken (a write made, its answer lost, PIM not showing it
// yet) and that now waits for the requester's sign-in again is not cancelled by chat: Elevate would
// call cancelled a role PIM holds. Reconciliation settles it first.
func TestUnsettledActivationIsNotCancelled(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h fixing mail flow")
	r := w.only("alice")
	now := w.clock.now().UTC()
	if _, err := w.store.Update(r.ID, store.AuditRecord{Actor: "test", Action: "request.write_unknown"}, func(x *store.Request) error {
		x.State = store.StateAwaitingSignIn
		x.Write = &store.Write{Action: store.WriteActivate, At: now, By: x.UserID, Attempts: 1}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w.say("alice", "cancel")
	if got := w.request(r.ID); got.State == store.StateCancelled {
		t.Fatalf("a request whose activation PIM may hold was cancelled: %s", got.State)
	}
	w.say("alice", "exchange 2h fixing mail flow properly")
	if got := w.request(r.ID); got.State == store.StateCancelled {
		t.Fatalf("a request whose activation PIM may hold was superseded: %s", got.State)
	}
}

// countingGraph counts the activations the core sends to PIM.
type countingGraph struct {
	*graph.Client
	activations atomic.Int32
}

func (g *countingGraph) Activate(ctx context.Context, tok graph.UserToken, r graph.ActivationRequest) (graph.Activation, error) {
	g.activations.Add(1)
	return g.Client.Activate(ctx, tok, r)
}

// A process that lost its leadership (serve on PostgreSQL) sends no PIM write, even when a
// request reaches its activation then (a leader frozen past its lease wakes up): the request keeps
// its intent, of unknown outcome, for whoever leads to look up and make, and the requester is told
// nothing untrue.
func TestNoPIMWriteWithoutLeadership(t *testing.T) {
	const exchange = graphtest.RoleExchangeAdministrator
	var leads atomic.Bool
	leads.Store(true)
	var cg *countingGraph
	w := newWorld(t, setup{config: pimConfig(), leading: leads.Load,
		wrap: func(g *graph.Client) bot.Graph { cg = &countingGraph{Client: g}; return cg }})
	w.say("alice", "exchange 1h mail flow")
	leads.Store(false)
	w.signIn("alice")
	w.core.Wait()
	if n := cg.activations.Load(); n != 0 {
		t.Fatalf("%d activations sent to PIM by a process that no longer leads", n)
	}
	if n := w.pimActive("alice@contoso.example", exchange); n != 0 {
		t.Fatalf("PIM shows %d activations", n)
	}
	r := w.only("alice")
	if r.State.Terminal() || r.Write == nil || r.Write.Action != store.WriteActivate {
		t.Fatalf("request after the refused write: %s %+v (%s); want its activation intent kept", r.State, r.Write, r.FailureMessage)
	}
	if w.told("alice", "was not activated") > 0 || w.told("alice", "refused") > 0 {
		t.Fatalf("alice was told something not known: %q", w.rec.to("alice"))
	}
}

// shutdownMid runs act (a command, a sweep) with a context of its own and, once its PIM write
// matching f has reached the tenant and is held there, cancels that context and shuts the core
// down (as a SIGTERM does to a Slack request's context and to the core); then PIM takes the
// write and answers. It returns once act and the shutdown have both finished.
func shutdownMid(t *testing.T, w *world, f graphtest.Fault, act func(ctx context.Context)) {
	t.Helper()
	release := make(chan struct{})
	f.Hold = release
	w.tenant.Inject(f)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acted := make(chan struct{})
	go func() {
		defer close(acted)
		defer func() { _ = recover() }()
		act(ctx)
	}()
	for deadline := time.Now().Add(10 * time.Second); w.tenant.Faults() > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the write never reached PIM")
		}
		time.Sleep(time.Millisecond) // the write has reached PIM and is held there
	}
	cancel()
	closed := make(chan struct{})
	go func() { w.core.Close(); close(closed) }() // the shutdown
	close(release)
	released = true
	<-acted
	<-closed
}

// A shutdown while `done`'s selfDeactivate is on its way: the write runs detached from the
// command's cancellation, PIM takes it, and after a restart and one sweep Elevate says ended
// like PIM, and alice was told once that it is deactivated.
func TestShutdownDuringDone(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("alice", "exchange 1h mail flow")
	w.signIn("alice")
	w.tenant.Advance(6 * time.Minute) // past PIM's first minutes
	r := w.only("alice")
	shutdownMid(t, w, graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfDeactivate"}, func(ctx context.Context) {
		_ = w.core.Command(ctx, w.actor("alice"), "done")
	})
	w.restart()
	w.minute()
	inPIM := w.pimActive("alice@contoso.example", graphtest.RoleExchangeAdministrator)
	if got := w.request(r.ID); got.State != store.StateEnded || got.Write != nil || inPIM != 0 {
		t.Fatalf("Elevate: %s %+v; PIM active %d", got.State, got.Write, inPIM)
	}
	if n := w.told("alice", "Done: Exchange Administrator is deactivated in PIM"); n != 1 {
		t.Errorf("told %d times it was deactivated: %q", n, w.rec.to("alice"))
	}
	if n := w.told("alice", "did not go through") + w.told("alice", "nothing was changed"); n != 0 {
		t.Errorf("told something untrue: %q", w.rec.to("alice"))
	}
}

// A shutdown while erin's cancel of a request waiting for PIM's approval is on its way: PIM
// cancels it, and after a restart and one sweep Elevate says cancelled, told once.
func TestShutdownDuringCancel(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("erin", "teams 1h fix a meeting policy")
	w.signIn("erin")
	r := w.only("erin")
	if r.GraphStatus != "PendingApproval" {
		t.Fatalf("setup: %s %s", r.State, r.GraphStatus)
	}
	shutdownMid(t, w, graphtest.Fault{Method: "POST", Path: "/cancel"}, func(ctx context.Context) {
		_ = w.core.Command(ctx, w.actor("erin"), "cancel")
	})
	w.restart()
	w.minute()
	if got := w.request(r.ID); got.State != store.StateCancelled || got.Write != nil {
		t.Fatalf("after the restart: %s %+v", got.State, got.Write)
	}
	if n := w.told("erin", "Cancelled your pending request"); n != 1 {
		t.Errorf("erin told %d times it was cancelled: %q", n, w.rec.to("erin"))
	}
	if n := w.told("erin", "did not go through") + w.told("erin", "nothing was changed"); n != 0 {
		t.Errorf("told something untrue: %q", w.rec.to("erin"))
	}
	cancels := 0
	for _, c := range w.tenant.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/cancel") {
			cancels++
		}
	}
	if cancels != 1 {
		t.Errorf("%d cancels sent to PIM, want 1", cancels)
	}
}

// A shutdown while an extension's follow-up activation is on its way (the sweep makes it at the
// end of the first): PIM takes it, and after a restart and one sweep Elevate has the request
// active until the new end, the extension used, and alice was told once.
func TestShutdownDuringExtend(t *testing.T) {
	w, r := extendWorld(t)
	w.later(t, 21*time.Minute)
	contains(t, w.rec.lastTo("alice"), "To activate Exchange Administrator again for 1h30m when it ends")
	w.signIn("alice")
	w.clock.advance(10 * time.Minute) // the first activation has ended
	w.tenant.Advance(10 * time.Minute)
	shutdownMid(t, w, graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfActivate"}, func(ctx context.Context) {
		if err := w.core.Expire(ctx); err != nil {
			t.Error(err)
		}
		w.core.Wait()
	})
	time.Sleep(60 * time.Millisecond) // past the tenant's provisioning delay (50ms)
	w.restart()
	w.minute()
	got := w.request(r.ID)
	if got.State != store.StateActive || got.Write != nil || got.Extension == nil || got.Extension.Used != 90*time.Minute || got.Extension.By != 0 {
		t.Fatalf("after the restart: %s %+v %+v", got.State, got.Write, got.Extension)
	}
	if d := got.EndsAt.Sub(r.EndsAt); d < 90*time.Minute || d > 93*time.Minute {
		t.Errorf("ends %v later, want 1h30m after the first end", d)
	}
	if n := w.pimActive("alice@contoso.example", graphtest.RoleExchangeAdministrator); n != 1 {
		t.Errorf("PIM has %d activations, want 1", n)
	}
	if n := len(w.activations()); n != 2 {
		t.Errorf("%d activations written, want 2 (the first and the follow-up)", n)
	}
	if n := w.told("alice", "Exchange Administrator is active again until"); n != 1 {
		t.Errorf("told %d times it is active again: %q", n, w.rec.to("alice"))
	}
	if n := w.told("alice", "refused") + w.told("alice", "nothing was changed"); n != 0 {
		t.Errorf("told something untrue: %q", w.rec.to("alice"))
	}
}

// A shutdown while bob's approval of a request PIM itself holds for approval is on its way: PIM
// takes it, and after a restart and one sweep the request is active with bob's approval; erin
// and bob were each told once.
func TestShutdownDuringPIMApproval(t *testing.T) {
	w := pimWorld(t, nil)
	w.say("erin", "teams 1h fix a meeting policy")
	w.signIn("erin")
	r := w.only("erin")
	if r.GraphStatus != "PendingApproval" {
		t.Fatalf("setup: %s %s", r.State, r.GraphStatus)
	}
	w.click("bob", bot.ActionApprove, "")
	shutdownMid(t, w, graphtest.Fault{Method: "PATCH", Path: "roleAssignmentApprovals"}, func(context.Context) {
		w.signIn("bob")
		w.core.Wait()
	})
	time.Sleep(60 * time.Millisecond) // past the tenant's provisioning delay (50ms)
	w.restart()
	w.minute()
	got := w.request(r.ID)
	if got.State != store.StateActive || got.Write != nil {
		t.Fatalf("after the restart: %s %+v", got.State, got.Write)
	}
	if len(got.Approvals) != 1 || got.Approvals[0].Approver != w.tenant.UserID("bob@contoso.example") {
		t.Errorf("approvals %+v, want bob's", got.Approvals)
	}
	if n := w.told("erin", "Teams Administrator active until"); n != 1 {
		t.Errorf("erin told %d times it is active: %q", n, w.rec.to("erin"))
	}
	if n := w.told("bob", "You approved erin@contoso.example's request for Teams Administrator in PIM"); n != 1 {
		t.Errorf("bob told %d times his approval was taken: %q", n, w.rec.to("bob"))
	}
	if n := w.told("bob", "did not take") + w.told("erin", "nothing was changed"); n != 0 {
		t.Errorf("told something untrue: bob %q, erin %q", w.rec.to("bob"), w.rec.to("erin"))
	}
	approvals := 0
	for _, c := range w.tenant.Calls() {
		if c.Method == http.MethodPatch && strings.Contains(c.Path, "roleAssignmentApprovals") {
			approvals++
		}
	}
	if approvals != 1 {
		t.Errorf("%d approvals sent to PIM, want 1", approvals)
	}
}
