package bot_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/store"
)

func num(id uint64) string { return strconv.FormatUint(id, 10) }

func (w *world) sweep() {
	w.t.Helper()
	if err := w.core.Expire(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.core.Wait()
}

func (w *world) count(who, substr string) int {
	n := 0
	for _, s := range w.rec.to(who) {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// A Global Administrator request (tier 0, two approvals, the example config) that nobody decides:
// approvers are reminded once at the default point, 15 minutes before expiry, in the approvals
// channel and by DM to the listed approvers who have not decided; it is escalated to the security
// channel 5 minutes before expiry; the requester hears of both; the card shows both; a second
// sweep repeats nothing.
func TestApproversRemindedAndEscalated(t *testing.T) {
	w := newWorld(t, setup{})
	approvals, security := w.cfg.Channels.Approvals, w.cfg.Channels.Security
	// Carol signed in through Elevate before, so she can be reached by DM.
	if err := w.store.Bind(store.Binding{Platform: "test", ChatUser: "carol", UserID: w.tenant.UserID("carol@" + w.domain), UPN: "carol@" + w.domain},
		store.AuditRecord{Actor: "test", Action: "binding.created"}); err != nil {
		t.Fatal(err)
	}
	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	w.say("bob", "approve "+num(r.ID))
	w.signIn("bob")
	if got := w.request(r.ID); len(got.Approvals) != 1 {
		t.Fatalf("bob's approve command: %d approvals, want 1", len(got.Approvals))
	}

	w.clock.advance(w.cfg.RequestExpiry - 16*time.Minute)
	w.sweep()
	if n := w.count(approvals, "Reminder"); n != 0 {
		t.Fatalf("%d reminders 16 minutes before expiry, want none yet", n)
	}

	w.clock.advance(2 * time.Minute) // 14 minutes left
	w.sweep()
	w.sweep()
	if n := w.count(approvals, "Reminder — request #"); n != 1 {
		t.Fatalf("%d reminders in %s after two sweeps, want 1; channel: %q", n, approvals, w.rec.to(approvals))
	}
	contains(t, w.rec.lastTo(approvals), "1 of 2 approvals so far")
	if n := w.count("carol", "Reminder"); n != 1 {
		t.Errorf("carol got %d reminders, want 1: %q", n, w.rec.to("carol"))
	}
	if n := w.count("bob", "Reminder"); n != 0 {
		t.Errorf("bob, who approved, got %d reminders", n)
	}
	contains(t, w.rec.lastTo("alice"), "I've reminded the approvers")
	card, _ := w.rec.latestCard(approvals)
	contains(t, card.Footer, "Approvers reminded at")
	contains(t, card.Footer, "Escalates to "+security)
	if n := w.count(security, "Escalation"); n != 0 {
		t.Fatalf("escalated %d times 14 minutes before expiry", n)
	}

	w.clock.advance(10 * time.Minute) // 4 minutes left
	w.sweep()
	w.sweep()
	if n := w.count(security, "Escalation — request #"); n != 1 {
		t.Fatalf("%d escalations in %s, want 1: %q", n, security, w.rec.to(security))
	}
	contains(t, w.rec.lastTo("alice"), "escalated it to "+security)
	card, _ = w.rec.latestCard(approvals)
	contains(t, card.Footer, "Escalated at")
	if got := w.request(r.ID); got.Reminders != 1 || got.EscalatedAt.IsZero() {
		t.Errorf("stored: %d reminders, escalated at %v", got.Reminders, got.EscalatedAt)
	}

	// Carol decides from the reminder's own buttons.
	b, ok := w.rec.button("carol", bot.ActionApprove)
	if !ok || b.Value != num(r.ID) {
		t.Fatalf("carol's reminder has no Approve button for #%d: %+v", r.ID, b)
	}
	w.click("carol", bot.ActionApprove, "")
	w.signIn("carol")
	if got := w.request(r.ID); len(got.Approvals) != 2 {
		t.Fatalf("after carol's approval from the reminder: %d approvals, state %s", len(got.Approvals), got.State)
	}
	// Alice's sign-in is older than the freshness window by now: she signs in again to activate.
	w.signIn("alice")
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after alice's new sign-in: %s (%s)", got.State, got.FailureMessage)
	}
	w.sweep()
	if n := w.count(approvals, "Reminder"); n != 1 {
		t.Errorf("%d reminders after the decision, want still 1", n)
	}
}

// A request made with less time left than the reminder point gets no reminder at once: the point
// had passed before anyone could have decided.
func TestReminderPointAlreadyPassedIsNotSent(t *testing.T) {
	w := newWorld(t, setup{config: []byte(strings.Replace(string(examples.Config), "request_expiry: 1h ", "request_expiry: 10m", 1))})
	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice")
	w.sweep()
	if n := w.count(w.cfg.Channels.Approvals, "Reminder"); n != 0 {
		t.Errorf("%d reminders for a 10-minute request with a 15-minute reminder point", n)
	}
	w.clock.advance(6 * time.Minute) // 4 minutes left: the tier-0 escalation still comes
	w.sweep()
	if n := w.count(w.cfg.Channels.Security, "Escalation"); n != 1 {
		t.Errorf("%d escalations, want 1", n)
	}
}

func TestDecisionCommands(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	n := num(r.ID)
	w.say("carol", "deny "+n)
	contains(t, w.rec.lastTo("carol"), "Say why")
	w.say("carol", "approve 999")
	contains(t, w.rec.lastTo("carol"), "Request #999 does not exist")
	w.say("alice", "approve "+n)
	contains(t, w.rec.lastTo("alice"), "can't approve or deny your own request")
	w.say("carol", "deny #"+n+" not during the change freeze")
	w.signIn("carol")
	got := w.request(r.ID)
	if got.State != store.StateDenied || len(got.Approvals) != 1 || got.Approvals[0].Reason != "not during the change freeze" {
		t.Fatalf("after carol's deny command: %s %+v", got.State, got.Approvals)
	}
	contains(t, w.rec.lastTo("alice"), "not during the change freeze")
}
