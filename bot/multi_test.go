package bot_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/oncall"
	"github.com/elevate-pim/elevate/oncall/oncalltest"
	"github.com/elevate-pim/elevate/store"
)

// Several roles in one request, cut off between its two PIM activations: Exchange's selfActivate
// reached PIM and the process died before SharePoint's was made. After a restart each role's
// intent is settled on its own: Exchange is found active in PIM (never activated twice),
// SharePoint, with no write made and the token gone with the process, asks for one sign-in and is
// activated; dave hears one line for both roles at the end.
func TestMultiRoleCrashBetweenActivations(t *testing.T) {
	const exo, spo = graphtest.RoleExchangeAdministrator, graphtest.RoleSharePointAdministrator
	w, cg := crashWorld(t, 0)
	cg.arm("activate", true) // the first activation's answer arrives, then the process dies
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.signIn("dave")
	w.core.Wait()
	rs, err := w.store.Requests(store.Filter{ChatUser: "dave", Platform: "test"})
	if err != nil || len(rs) != 2 {
		t.Fatalf("dave's requests: %d, %v", len(rs), err)
	}
	ex, sp := rs[0], rs[1]
	if ex.Group != ex.ID || sp.Group != ex.ID || ex.RoleID != exo || sp.RoleID != spo {
		t.Fatalf("items: %+v / %+v", ex, sp)
	}
	if ex.State != store.StateActivating || ex.Write == nil || ex.Write.Action != store.WriteActivate {
		t.Fatalf("Exchange after the crash: %s, write %+v; want its intent", ex.State, ex.Write)
	}
	if sp.State != store.StateAwaitingSignIn || sp.Write != nil || w.pimActive("dave@contoso.example", spo) != 0 {
		t.Fatalf("SharePoint after the crash: %s, write %+v; want untouched", sp.State, sp.Write)
	}
	time.Sleep(60 * time.Millisecond) // past the tenant's provisioning delay
	if w.pimActive("dave@contoso.example", exo) != 1 {
		t.Fatal("PIM did not take Exchange's write")
	}

	w.restart()
	w.minute()
	if got := w.request(ex.ID); got.State != store.StateActive || got.Write != nil {
		t.Fatalf("Exchange after the restart: %s, write %+v", got.State, got.Write)
	}
	if got := w.request(sp.ID); got.State != store.StateAwaitingSignIn {
		t.Fatalf("SharePoint after the restart: %s", got.State)
	}
	if n := w.told("dave", "Elevate restarted, so the sign-in link I sent you earlier no longer works. Sign in with your Microsoft account to activate SharePoint Administrator for 1h"); n != 1 {
		t.Fatalf("told %d times to sign in again for SharePoint, want once: %q", n, w.rec.to("dave"))
	}
	w.signIn("dave")
	w.core.Wait()
	for _, id := range []uint64{ex.ID, sp.ID} {
		if got := w.request(id); got.State != store.StateActive || got.Write != nil {
			t.Fatalf("#%d %s after the sign-in: %s (%s)", id, got.RoleName, got.State, got.FailureMessage)
		}
	}
	if n, m := w.pimActive("dave@contoso.example", exo), w.pimActive("dave@contoso.example", spo); n != 1 || m != 1 {
		t.Fatalf("PIM activations: Exchange %d, SharePoint %d; want one each", n, m)
	}
	if n := w.told("dave", "Exchange Administrator active until"); n != 1 { // in the request's line only
		t.Errorf("told %d times that Exchange is active, want once: %q", n, w.rec.to("dave"))
	}
	if n := w.told("dave", "Exchange Administrator (until"); n != 1 { // one "usable" line for both
		t.Errorf("told %d times that the roles are usable, want once: %q", n, w.rec.to("dave"))
	}
	if n := w.told("dave", "; SharePoint Administrator active until"); n != 1 {
		t.Errorf("told %d times the request's line, want once: %q", n, w.rec.to("dave"))
	}
	if !w.audited(ex.ID, "request.reconciled") {
		t.Error("no reconciled record for Exchange")
	}
}

// `done` and `extend` with several roles active: the roles of one request are ended together by
// a plain `done`; roles from different requests make `done` ask which, offering `done all`; a role
// list names exactly the ones to end, and one sign-in covers them all.
func TestMultiRoleDoneAndExtendWords(t *testing.T) {
	const exo, spo = graphtest.RoleExchangeAdministrator, graphtest.RoleSharePointAdministrator
	w, _ := crashWorld(t, 0)
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.signIn("dave")
	w.core.Wait()
	time.Sleep(60 * time.Millisecond)
	w.tenant.Advance(6 * time.Minute) // past PIM's first five minutes, when it refuses to end one
	w.clock.advance(6 * time.Minute)
	w.say("dave", "done")
	w.core.Wait()
	if n, m := w.pimActive("dave@contoso.example", exo), w.pimActive("dave@contoso.example", spo); n != 0 || m != 0 {
		t.Fatalf("after done: PIM still has Exchange %d, SharePoint %d", n, m)
	}
	for _, r := range w.requests("dave") {
		if r.State != store.StateEnded {
			t.Fatalf("after done: #%d %s %s", r.ID, r.RoleName, r.State)
		}
	}

	// Two separate requests: `done` asks which.
	w.say("dave", "exchange 1h a")
	w.say("dave", "sharepoint 1h b")
	w.core.Wait()
	time.Sleep(60 * time.Millisecond)
	w.say("dave", "done")
	contains(t, w.rec.lastTo("dave"), "You have more than one active role, from different requests; say which: `done exchange`, `done sharepoint`, or `done all`")
	w.say("dave", "extend exchange,teams 30m")
	contains(t, w.rec.lastTo("dave"), "You have no active Teams Administrator from Elevate, so nothing was done")
	w.restart() // the token is gone: one sign-in for both
	w.tenant.Advance(6 * time.Minute)
	w.clock.advance(6 * time.Minute)
	w.say("dave", "done exchange,sharepoint")
	contains(t, w.rec.lastTo("dave"), "Ending Exchange Administrator and SharePoint Administrator is your own PIM deactivation: sign in with your Microsoft account (one sign-in for all of them)")
	w.signIn("dave")
	w.core.Wait()
	if n, m := w.pimActive("dave@contoso.example", exo), w.pimActive("dave@contoso.example", spo); n != 0 || m != 0 {
		t.Fatalf("after done exchange,sharepoint: PIM still has Exchange %d, SharePoint %d", n, m)
	}
}

func (w *world) requests(user string) []store.Request {
	w.t.Helper()
	rs, err := w.store.Requests(store.Filter{Platform: "test", ChatUser: user})
	if err != nil {
		w.t.Fatal(err)
	}
	return rs
}

// A multi-role request waiting for its sign-in when Elevate restarts gets one new link, for all
// its roles, not one per role.
func TestMultiRoleRestartWaitingForSignIn(t *testing.T) {
	w, _ := crashWorld(t, 0)
	w.say("dave", "exchange,sharepoint,tier1 1h fixing mail flow")
	w.core.Wait()
	if n := w.told("dave", "Sign in with your Microsoft account"); n != 1 {
		t.Fatalf("%d sign-in messages before the restart, want 1: %q", n, w.rec.to("dave"))
	}
	w.restart()
	w.minute()
	w.minute()
	if n := w.told("dave", "Elevate restarted, so the sign-in link I sent you earlier no longer works."); n != 1 {
		t.Fatalf("%d new links after the restart, want 1: %q", n, w.rec.to("dave"))
	}
	w.signIn("dave")
	w.core.Wait()
	for _, r := range w.requests("dave") {
		if r.State != store.StateActive {
			t.Fatalf("#%d %s: %s (%s)", r.ID, r.RoleName, r.State, r.FailureMessage)
		}
	}
}

// On-call auto-approval of a multi-role request: only when every role that needs approval waives
// it. Dave is on call: with both roles' rules naming the schedule, nobody is asked and the card
// says why for each; when SharePoint's rule has no waiver, approvers decide for the whole request.
func TestMultiRoleOnCall(t *testing.T) {
	for _, both := range []bool{true, false} {
		t.Run(map[bool]string{true: "every role waives", false: "one role does not"}[both], func(t *testing.T) {
			fake := oncalltest.New()
			defer fake.Close()
			fake.OnCall("P123ABC", "dave@contoso.example")
			fake.AddIncident(oncalltest.Incident{Number: 4521, Service: "PSVC1", Status: "triggered"})
			oc := oncall.New(oncall.Config{PagerDutyToken: oncalltest.PagerDutyToken, PagerDutyURL: fake.PagerDutyURL()})
			cfg := onCallConfig + `
  - name: SharePoint Administrator
    approval:
      approvers: [bob@contoso.example]
`
			if both {
				cfg += `      on_call:
        pagerduty: {schedule: P123ABC}
`
			}
			w := newWorld(t, setup{config: []byte(cfg), onCall: oc})
			w.say("dave", "exchange,sharepoint 1h fixing mail flow")
			w.signIn("dave")
			w.core.Wait()
			rs := w.requests("dave")
			if len(rs) != 2 {
				t.Fatalf("%d items", len(rs))
			}
			card, ok := w.rec.latestCard(w.cfg.Channels.Approvals)
			if !ok {
				t.Fatal("no card")
			}
			if !both {
				for _, r := range rs {
					if r.State != store.StateAwaitingApproval || r.Waived != "" {
						t.Fatalf("#%d %s: %s, waived %q; want approvers to decide", r.ID, r.RoleName, r.State, r.Waived)
					}
				}
				if got := cardField(card, "On call"); got != "SharePoint Administrator has no on-call waiver, so approvers decide for the whole request." {
					t.Errorf("card's on-call note %q", got)
				}
				return
			}
			want := "dave is on call for Exchange Administrator (PagerDuty schedule P123ABC with incident #4521 open) and SharePoint Administrator (PagerDuty schedule P123ABC)"
			for _, r := range rs {
				if r.State != store.StateActive || r.Waived != want {
					t.Fatalf("#%d %s: %s, waived %q; want active, waived %q", r.ID, r.RoleName, r.State, r.Waived, want)
				}
			}
			if got := cardField(card, "Approvals"); got != "auto-approved: "+want {
				t.Errorf("card's approvals %q", got)
			}
			if acts := strings.Join(auditActions(t, w.store, rs[1].ID), "\n"); !strings.Contains(acts, "request.auto_approved: auto-approved: "+want) {
				t.Errorf("audit of SharePoint's item:\n%s", acts)
			}
		})
	}
}

// PIM's dry run is made for every role before any approver is asked: SharePoint's PIM setting
// wants a ticket, so PIM would refuse that role; no card is posted, dave hears PIM's words for
// that role, and nothing of the request goes on.
func TestMultiRoleDryRunRefusesOneRole(t *testing.T) {
	cfg := onCallConfig + `
  - name: SharePoint Administrator
    approval:
      approvers: [bob@contoso.example]
`
	w := newWorld(t, setup{config: []byte(cfg)})
	yes := true
	if err := w.tenant.SetPolicy(graphtest.PolicyConfig{Role: "SharePoint Administrator", MaxDuration: graphtest.Duration(time.Hour), Ticket: &yes}); err != nil {
		t.Fatal(err)
	}
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.signIn("dave")
	w.core.Wait()
	if _, ok := w.rec.latestCard(w.cfg.Channels.Approvals); ok {
		t.Fatal("a card was posted for a request PIM would refuse")
	}
	rs := w.requests("dave")
	if len(rs) != 2 || rs[0].State != store.StateFailed || rs[1].State != store.StateFailed {
		t.Fatalf("items: %+v", rs)
	}
	if rs[1].FailureMessage != "PIM needs a ticket number for SharePoint Administrator. Ask again with the ticket in your reason, e.g. INC-1234." || rs[0].FailureCode != "not_asked" {
		t.Errorf("failures: %q / %q %q", rs[1].FailureMessage, rs[0].FailureCode, rs[0].FailureMessage)
	}
	contains(t, w.rec.lastTo("dave"), "Nothing was requested, and no approver was asked: PIM would refuse part of it.\nSharePoint Administrator: refused by PIM: PIM needs a ticket number for SharePoint Administrator.")
	if n := w.pimActive("dave@contoso.example", graphtest.RoleExchangeAdministrator); n != 0 {
		t.Errorf("Exchange was activated: %d", n)
	}
}

// Asking again for a role of a multi-role request still waiting for its sign-in replaces the
// whole of it: no role of it is activated later through its old link.
func TestMultiRoleSuperseded(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.say("dave", "exchange 2h fixing mail flow")
	w.core.Wait()
	rs := w.requests("dave")
	if len(rs) != 3 || rs[0].State != store.StateCancelled || rs[1].State != store.StateCancelled || rs[2].State != store.StateAwaitingSignIn {
		t.Fatalf("after asking again: %s, %s, %s", rs[0].State, rs[1].State, rs[2].State)
	}
	if n := w.told("dave", "Your earlier request #1 for Exchange Administrator and SharePoint Administrator for 1h is replaced by #3"); n != 1 {
		t.Errorf("told %d times of the replacement: %q", n, w.rec.to("dave"))
	}
}

// `cancel` withdraws every role of a pending multi-role request, with one answer, and the card
// says so.
func TestMultiRoleCancel(t *testing.T) {
	cfg := onCallConfig + `
  - name: SharePoint Administrator
    approval:
      approvers: [bob@contoso.example]
`
	w := newWorld(t, setup{config: []byte(cfg)})
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.signIn("dave")
	w.core.Wait()
	before := len(w.rec.to("dave"))
	w.say("dave", "cancel")
	w.core.Wait()
	for _, r := range w.requests("dave") {
		if r.State != store.StateCancelled {
			t.Fatalf("#%d %s: %s", r.ID, r.RoleName, r.State)
		}
	}
	if got := w.rec.to("dave")[before:]; len(got) != 1 {
		t.Errorf("dave was told %d things, want one answer: %q", len(got), got)
	}
	card, ok := w.rec.latestCard(w.cfg.Channels.Approvals)
	if !ok || !strings.Contains(card.Text, "Cancelled") || len(card.Buttons) != 0 {
		t.Errorf("card after cancel: %q %+v", card.Text, card.Buttons)
	}
}

// A denial is one decision for the whole request: every role is denied in one transaction, the
// requester hears it once with the reason, and someone who approves only one of the roles is
// turned away.
func TestMultiRoleDenied(t *testing.T) {
	cfg := onCallConfig + `
  - name: SharePoint Administrator
    approval:
      approvers: [erin@contoso.example, carol@contoso.example]
`
	w := newWorld(t, setup{config: []byte(cfg)})
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.signIn("dave")
	w.core.Wait()
	// Bob approves Exchange Administrator, not SharePoint Administrator.
	w.click("bob", bot.ActionApprove, "")
	if strings.Contains(w.rec.lastTo("bob"), "Sign in") {
		w.signIn("bob")
	}
	contains(t, w.rec.lastTo("bob"), "You are not an approver for SharePoint Administrator, one of the roles of this request")
	w.click("erin", bot.ActionDeny, "not during the change freeze")
	if strings.Contains(w.rec.lastTo("erin"), "Sign in") {
		w.signIn("erin")
	}
	contains(t, w.rec.lastTo("erin"), "not an approver for Exchange Administrator")
	for _, r := range w.requests("dave") {
		if r.State != store.StateAwaitingApproval || len(r.Approvals) != 0 {
			t.Fatalf("#%d %s: %s %+v", r.ID, r.RoleName, r.State, r.Approvals)
		}
	}
	// Carol approves both roles: her denial counts for the whole request.
	before := len(w.rec.to("dave"))
	w.click("carol", bot.ActionDeny, "not during the change freeze")
	if strings.Contains(w.rec.lastTo("carol"), "Sign in") {
		w.signIn("carol")
	}
	contains(t, w.rec.lastTo("carol"), "You denied dave@contoso.example's request for Exchange Administrator and SharePoint Administrator for 1h")
	for _, r := range w.requests("dave") {
		if r.State != store.StateDenied || len(r.Approvals) != 1 || r.Approvals[0].Reason != "not during the change freeze" {
			t.Fatalf("#%d %s: %s %+v", r.ID, r.RoleName, r.State, r.Approvals)
		}
	}
	if got := w.rec.to("dave")[before:]; len(got) != 1 || !strings.Contains(got[0], "denied your request for Exchange Administrator and SharePoint Administrator for 1h: not during the change freeze") {
		t.Errorf("dave was told %q, want one denial", got)
	}
	if card, ok := w.rec.latestCard(w.cfg.Channels.Approvals); !ok || card.Text != "Denied." || len(card.Buttons) != 0 {
		t.Errorf("card after the denial: %q %+v", card.Text, card.Buttons)
	}
}

// Withdrawing one role of a pending multi-role request (its Cancel button, here the first role's)
// leaves the rest waiting on the same card; approving then activates what remains.
func TestMultiRoleCancelOneRole(t *testing.T) {
	cfg := onCallConfig + `
  - name: SharePoint Administrator
    approval:
      approvers: [carol@contoso.example]
`
	w := newWorld(t, setup{config: []byte(cfg)})
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.signIn("dave")
	w.core.Wait()
	rs := w.requests("dave")
	if err := w.core.Click(context.Background(), w.actor("dave"), bot.ActionCancel, fmt.Sprint(rs[0].ID), ""); err != nil {
		t.Fatal(err)
	}
	w.core.Wait()
	if got := w.request(rs[0].ID); got.State != store.StateCancelled {
		t.Fatalf("Exchange after its cancel: %s", got.State)
	}
	card, ok := w.rec.latestCard(w.cfg.Channels.Approvals)
	if !ok || len(card.Buttons) != 2 || !strings.Contains(cardField(card, "Roles"), "Exchange Administrator cancelled") {
		t.Fatalf("card after one role's cancel: %q %+v %q", card.Text, card.Buttons, cardField(card, "Roles"))
	}
	w.click("carol", bot.ActionApprove, "")
	if strings.Contains(w.rec.lastTo("carol"), "Sign in") {
		w.signIn("carol")
	}
	w.core.Wait()
	if got := w.request(rs[1].ID); got.State != store.StateActive {
		t.Fatalf("SharePoint after carol's approval: %s (%s)", got.State, got.FailureMessage)
	}
	if card, _ := w.rec.latestCard(w.cfg.Channels.Approvals); cardField(card, "Approvals") != "1 of 1" || !strings.Contains(card.Footer, "Approved by carol@") || card.Title != fmt.Sprintf("Elevation request #%d", rs[0].ID) {
		t.Errorf("card after carol's approval: %q %q %q", card.Title, cardField(card, "Approvals"), card.Footer)
	}
	if n := w.told("dave", "Exchange Administrator cancelled; SharePoint Administrator active until"); n != 1 {
		t.Errorf("told the request's line %d times: %q", n, w.rec.to("dave"))
	}
}

// A crash right after the first role's activation intent is committed: the request's one
// "Activating … in PIM…" line went with that intent, never before it, so dave hears it once
// however often the process dies, and each role is activated once.
func TestMultiRoleActivatingToldWithTheIntent(t *testing.T) {
	const exo, spo = graphtest.RoleExchangeAdministrator, graphtest.RoleSharePointAdministrator
	w := pimWorld(t, nil)
	cw := &crashWatcher{at: func(r store.Request) bool {
		return r.Group != 0 && r.State == store.StateActivating && r.Write != nil
	}}
	w.core.Watch(cw)
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.signIn("dave")
	w.core.Wait()
	if !cw.crashed {
		t.Fatal("no activation intent was committed")
	}
	w.restart()
	w.minute()
	rs, err := w.store.Requests(store.Filter{ChatUser: "dave", Platform: "test"})
	if err != nil || len(rs) != 2 {
		t.Fatalf("dave's requests: %d, %v", len(rs), err)
	}
	if slices.ContainsFunc(rs, func(r store.Request) bool { return r.State == store.StateAwaitingSignIn }) {
		w.signIn("dave")
		w.core.Wait()
	}
	for _, r := range rs {
		if got := w.request(r.ID); got.State != store.StateActive {
			t.Fatalf("#%d %s after the restart: %s (%s)", r.ID, got.RoleName, got.State, got.FailureMessage)
		}
	}
	if n, m := w.pimActive("dave@contoso.example", exo), w.pimActive("dave@contoso.example", spo); n != 1 || m != 1 {
		t.Fatalf("PIM activations: Exchange %d, SharePoint %d; want one each", n, m)
	}
	if n := w.told("dave", "Activating Exchange Administrator and SharePoint Administrator for 1h in PIM…"); n != 1 {
		t.Errorf("told %d times that both are activating, want once: %q", n, w.rec.to("dave"))
	}
	if n := w.told("dave", "Elevate restarted before PIM's answer about Exchange Administrator arrived"); n != 1 {
		t.Errorf("told %d times that a restart cut Exchange's write short, want once: %q", n, w.rec.to("dave"))
	}
	if n := w.told("dave", "Activating "); n != 1 { // not again for SharePoint after the restart
		t.Errorf("told %d lines that roles are activating, want one: %q", n, w.rec.to("dave"))
	}
}

// A role of a multi-role request whose activation PIM never confirmed (Graph did not answer for
// an hour after a crash before its write) is told in the request's one line, as a refused role
// is: dave does not hear a line of its own.
func TestMultiRoleUnconfirmedToldInTheRequestLine(t *testing.T) {
	w, cg := crashWorld(t, 0)
	cg.arm("activate", false) // the process dies before Exchange's write
	w.say("dave", "exchange,sharepoint 1h fixing mail flow")
	w.signIn("dave")
	w.core.Wait()
	rs, err := w.store.Requests(store.Filter{ChatUser: "dave", Platform: "test"})
	if err != nil || len(rs) != 2 {
		t.Fatalf("dave's requests: %d, %v", len(rs), err)
	}
	ex := rs[0]
	if ex.State != store.StateActivating || ex.Write == nil {
		t.Fatalf("Exchange after the crash: %s, write %+v; want its intent", ex.State, ex.Write)
	}
	w.tenant.Inject(graphtest.Fault{Method: "GET", Path: "roleAssignmentScheduleInstances", Status: 500, Times: 1000})
	w.restart()
	w.clock.advance(time.Hour) // lookBound
	w.minute()
	if got := w.request(ex.ID); got.State != store.StateFailed || got.FailureCode != "write_unconfirmed" {
		t.Fatalf("Exchange after an hour without Graph: %s (%s)", got.State, got.FailureCode)
	}
	if n := w.told("dave", "Exchange Administrator was not activated"); n != 0 {
		t.Errorf("told Exchange's outcome on its own line: %q", w.rec.to("dave"))
	}
	if n := w.told("dave", "Exchange Administrator not confirmed by PIM"); n != 1 {
		t.Errorf("told %d times in the request's line, want once: %q", n, w.rec.to("dave"))
	}
}

// One role of a multi-role request active and its wait for "usable" over, the other waiting for
// a stronger sign-in across a restart: once that one is active too, dave hears it is usable (the
// first role's wait was an earlier process's, and does not hold the line back for ever).
func TestMultiRoleUsableAfterRestart(t *testing.T) {
	w := pimWorld(t, withC1)
	w.say("dave", "exchange,sec 1h investigate an alert")
	w.signIn("dave", graphtest.WithACRS()) // Exchange activates; Security asks for a stronger sign-in
	w.core.Wait()
	rs, err := w.store.Requests(store.Filter{ChatUser: "dave", Platform: "test"})
	if err != nil || len(rs) != 2 {
		t.Fatalf("dave's requests: %d, %v", len(rs), err)
	}
	if ex, sec := w.request(rs[0].ID), w.request(rs[1].ID); ex.State != store.StateActive || sec.State != store.StateAwaitingSignIn {
		t.Fatalf("after the first sign-in: %s %s / %s %s (%s)", ex.RoleName, ex.State, sec.RoleName, sec.State, sec.FailureMessage)
	}
	w.restart()
	w.minute()
	w.signIn("dave") // the link sent again after the restart carries no claims: PIM asks again
	w.core.Wait()
	w.signIn("dave")
	w.core.Wait()
	if sec := w.request(rs[1].ID); sec.State != store.StateActive {
		t.Fatalf("Security after the stronger sign-in: %s (%s): %q", sec.State, sec.FailureMessage, w.rec.to("dave"))
	}
	if n := w.told("dave", "Security Administrator is usable now"); n != 1 {
		t.Errorf("told %d times that Security is usable, want once: %q", n, w.rec.to("dave"))
	}
	if n := w.told("dave", "usable now"); n != 1 {
		t.Errorf("told %d times that roles are usable, want once: %q", n, w.rec.to("dave"))
	}
}
