package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

func click(t *testing.T, w *world, a bot.Actor, action bot.Action, value string) []sent {
	t.Helper()
	handled, err := w.core.ClickExtra(t.Context(), a, action, value, "")
	if err != nil || !handled {
		t.Fatalf("ClickExtra(%s) = %v, %v", action, handled, err)
	}
	return w.msgr.take()
}

func button(t *testing.T, msgs []sent, action bot.Action, role string) string {
	t.Helper()
	for _, s := range msgs {
		if !strings.Contains(s.m.Text, role) {
			continue
		}
		for _, b := range s.m.Buttons {
			if b.Action == action {
				return b.Value
			}
		}
	}
	t.Fatalf("no %s button about %s in %+v", action, role, msgs)
	return ""
}

func TestReviewThroughAQuarter(t *testing.T) {
	w := newWorld(t, day("2026-03-20T12:00:00Z"), nil)
	aliceA := w.bind(t, "alice", alice)
	daveA := w.bind(t, "dave", dave)
	erinA := w.bind(t, "erin", erin)
	w.at(t, day("2026-03-20T12:00:00Z"))
	w.clk.Set(day("2026-03-25T10:00:00Z"))
	w.activated(t, "alice", alice, exo, "Exchange Administrator", time.Hour, 0)
	w.activated(t, "alice", alice, exo, "Exchange Administrator", time.Hour, 0)

	// Nothing before the first Monday of April, 09:00.
	if got := w.at(t, day("2026-04-06T08:59:00Z")); len(to(got, "U-alice")) != 0 {
		t.Fatalf("prompted early: %+v", got)
	}
	got := w.at(t, day("2026-04-06T09:00:00Z"))
	aliceMsgs := to(got, "U-alice")
	if len(aliceMsgs) != 2 { // Exchange directly, Global Administrator through Tier0 Admins
		t.Fatalf("alice got %d prompts, want 2: %+v", len(aliceMsgs), aliceMsgs)
	}
	exoPrompt := ""
	for _, s := range aliceMsgs {
		if strings.Contains(s.m.Text, "Exchange Administrator") {
			exoPrompt = s.m.Text
		}
	}
	if want := "Do you still need Exchange Administrator? You activated it 2 times in the last 90 days, last on 25 Mar."; exoPrompt != want {
		t.Errorf("prompt = %q, want %q", exoPrompt, want)
	}
	daveMsgs := to(got, "U-dave")
	if len(daveMsgs) != 2 || !strings.Contains(text(daveMsgs[0].m), "You have not activated it in the last 90 days") {
		t.Errorf("dave's prompts = %+v", daveMsgs)
	}
	if len(to(got, "#security")) == 0 {
		t.Error("admins were not told the review started")
	}
	// A second tick or a restart sends nothing again.
	if got := w.at(t, day("2026-04-06T09:01:00Z")); len(to(got, "U-alice")) != 0 {
		t.Error("prompted twice")
	}

	// Answers: alice keeps Exchange, dave removes Exchange; alice can't answer dave's question.
	keep := button(t, aliceMsgs, schedule.ActionReviewKeep, "Exchange Administrator")
	if r := click(t, w, aliceA, schedule.ActionReviewKeep, keep); !strings.Contains(r[0].m.Text, "you keep Exchange Administrator") {
		t.Errorf("keep reply = %+v", r)
	}
	remove := button(t, daveMsgs, schedule.ActionReviewRemove, "Exchange Administrator")
	if r := click(t, w, aliceA, schedule.ActionReviewRemove, remove); !strings.Contains(r[0].m.Text, "Only the person") {
		t.Errorf("alice answering for dave = %+v", r)
	}
	click(t, w, daveA, schedule.ActionReviewRemove, remove)

	// Day 3: a reminder to everyone reachable who has not answered.
	got = w.at(t, day("2026-04-09T09:00:00Z"))
	if n := len(to(got, "U-alice")); n != 1 {
		t.Errorf("alice's day-3 reminders = %d, want 1 (GA only)", n)
	}
	if n := len(to(got, "U-dave")); n != 1 {
		t.Errorf("dave's day-3 reminders = %d, want 1 (SharePoint)", n)
	}
	// Elevate is down from day 4 to day 13: one reminder (day 12's) and the escalation.
	w.restart(t)
	got = w.at(t, day("2026-04-19T10:00:00Z"))
	if n := len(to(got, "U-alice")); n != 1 {
		t.Errorf("reminders after downtime = %d, want 1", n)
	}
	esc := to(got, "#security")
	if len(esc) != 1 || !strings.Contains(esc[0].m.Title, "unanswered") || !strings.Contains(esc[0].m.Text, "carol@contoso.example: User Administrator (not reachable in chat)") {
		t.Errorf("escalation = %+v", esc)
	}

	// Status on demand.
	if err := w.core.Command(t.Context(), erinA, "review status"); err != nil {
		t.Fatal(err)
	}
	if st := w.msgr.take(); len(st) != 1 || !strings.Contains(st[0].m.Text, "2026-Q2: 2 of") {
		t.Errorf("status = %+v", st)
	}

	// Deadline: the summary with one Apply button; erin applies with her own token.
	got = w.at(t, day("2026-04-20T09:00:00Z"))
	closed := to(got, "#security")
	if len(closed) != 1 || len(closed[0].m.Buttons) != 1 || !strings.Contains(text(closed[0].m), "To remove: dave@contoso.example: Exchange Administrator") ||
		!strings.Contains(text(closed[0].m), "No answer (kept, flagged)") {
		t.Fatalf("closing summary = %+v", closed)
	}
	if r := click(t, w, aliceA, schedule.ActionReviewApply, closed[0].m.Buttons[0].Value); !strings.Contains(r[0].m.Text, "Only Elevate's PIM administrators") {
		t.Errorf("alice applying = %+v", r)
	}
	r := click(t, w, erinA, schedule.ActionReviewApply, closed[0].m.Buttons[0].Value)
	if len(to(r, "U-dave")) != 1 || !strings.Contains(text(to(r, "#security")[0].m), "Removed 1 eligibility") {
		t.Errorf("apply = %+v", r)
	}
	els, err := w.graph.TenantEligibilities(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range els {
		if e.PrincipalID == dave && e.RoleID == exo {
			t.Error("dave is still eligible for Exchange Administrator")
		}
	}
	// Answers after the deadline change nothing; applying again removes nothing more.
	if r := click(t, w, daveA, schedule.ActionReviewKeep, remove); !strings.Contains(r[0].m.Text, "has ended") {
		t.Errorf("late answer = %+v", r)
	}
	if r := click(t, w, erinA, schedule.ActionReviewApply, closed[0].m.Buttons[0].Value); !strings.Contains(text(r[0].m), "Removed 0") {
		t.Errorf("second apply = %+v", r)
	}
	// Next quarter: a new campaign on the first Monday of July.
	if got := w.at(t, day("2026-07-06T09:00:00Z")); len(to(got, "U-alice")) != 2 {
		t.Errorf("Q3 prompts to alice = %d", len(to(got, "U-alice")))
	}
}

func TestReviewStartCommandOncePerQuarter(t *testing.T) {
	w := newWorld(t, day("2026-02-10T12:00:00Z"), nil)
	erinA := w.bind(t, "erin", erin)
	w.at(t, day("2026-02-10T12:00:00Z"))
	if err := w.core.Command(t.Context(), erinA, "review start"); err != nil {
		t.Fatal(err)
	}
	got := w.msgr.take()
	if r := to(got, "U-erin"); len(r) == 0 || !strings.Contains(r[len(r)-1].m.Text, "Started access review 2026-Q1") {
		t.Errorf("start = %+v", got)
	}
	w.core.Command(t.Context(), erinA, "review start")
	if r := w.msgr.take(); len(r) != 1 || !strings.Contains(r[0].m.Text, "already open") {
		t.Errorf("second start = %+v", r)
	}
}

// A review removal whose answer is lost (PIM took it): the admin is told it is not confirmed
// yet, the item stays "removing" (not "failed", not "removed"), and after a restart the next
// tick finds it gone in PIM, records it removed and tells dave once.
func TestReviewRemovalLostAnswer(t *testing.T) {
	w := newWorld(t, day("2026-03-20T12:00:00Z"), nil)
	daveA := w.bind(t, "dave", dave)
	erinA := w.bind(t, "erin", erin)
	w.at(t, day("2026-03-20T12:00:00Z"))
	got := w.at(t, day("2026-04-06T09:00:00Z"))
	remove := button(t, to(got, "U-dave"), schedule.ActionReviewRemove, "Exchange Administrator")
	click(t, w, daveA, schedule.ActionReviewRemove, remove)
	closed := to(w.at(t, day("2026-04-20T09:00:00Z")), "#security")
	if len(closed) != 1 || len(closed[0].m.Buttons) != 1 {
		t.Fatalf("closing summary = %+v", closed)
	}
	w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "roleEligibilityScheduleRequests", Body: "adminRemove", Apply: true})
	r := click(t, w, erinA, schedule.ActionReviewApply, closed[0].m.Buttons[0].Value)
	if len(to(r, "U-dave")) != 0 || !strings.Contains(text(to(r, "#security")[0].m), "Not confirmed yet (1") {
		t.Fatalf("apply with the answer lost = %+v", r)
	}
	items, err := w.store.ReviewItems("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.UserID == dave && it.RoleID == exo && it.Outcome != "removing" {
			t.Fatalf("dave's Exchange item: %q, want removing", it.Outcome)
		}
	}
	w.restart(t)
	got = w.at(t, day("2026-04-20T09:05:00Z"))
	if d := to(got, "U-dave"); len(d) != 1 || !strings.Contains(d[0].m.Text, "has been removed") {
		t.Errorf("dave told = %+v", d)
	}
	if s := to(got, "#security"); len(s) != 1 || !strings.Contains(text(s[0].m), "PIM confirms removed (1): dave@contoso.example: Exchange Administrator") {
		t.Errorf("admins told = %+v", s)
	}
	if again := w.at(t, day("2026-04-20T09:10:00Z")); len(to(again, "U-dave")) != 0 {
		t.Errorf("told again: %+v", again)
	}
}

// A removal PIM refuses is recorded and reported in the admins' words: the item's note and the
// summary say what it means, never Graph's own message, code path or request id (those go to
// the log).
func TestReviewRemovalRefusedInPlainWords(t *testing.T) {
	w := newWorld(t, day("2026-03-20T12:00:00Z"), nil)
	daveA := w.bind(t, "dave", dave)
	erinA := w.bind(t, "erin", erin)
	w.at(t, day("2026-03-20T12:00:00Z"))
	got := w.at(t, day("2026-04-06T09:00:00Z"))
	remove := button(t, to(got, "U-dave"), schedule.ActionReviewRemove, "Exchange Administrator")
	click(t, w, daveA, schedule.ActionReviewRemove, remove)
	closed := to(w.at(t, day("2026-04-20T09:00:00Z")), "#security")
	if len(closed) != 1 || len(closed[0].m.Buttons) != 1 {
		t.Fatalf("closing summary = %+v", closed)
	}
	w.tenant.Inject(graphtest.Fault{Method: "POST", Path: "roleEligibilityScheduleRequests", Body: "adminRemove", Status: 403})
	r := click(t, w, erinA, schedule.ActionReviewApply, closed[0].m.Buttons[0].Value)
	const words = "Microsoft Graph refused the call (permissions)"
	summary := text(to(r, "#security")[0].m)
	if !strings.Contains(summary, "Not removed (1): dave@contoso.example: Exchange Administrator ("+words) {
		t.Errorf("summary = %q; want dave's removal reported as %q", summary, words)
	}
	items, err := w.store.ReviewItems("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range items {
		if it.UserID != dave || it.RoleID != exo {
			continue
		}
		found = true
		if it.Outcome != "failed" || !strings.Contains(it.Note, words) {
			t.Errorf("dave's Exchange item: %q, note %q; want failed, in words", it.Outcome, it.Note)
		}
	}
	if !found {
		t.Fatal("no review item for dave's Exchange Administrator")
	}
	for _, leak := range []string{"graph:", "request-id", "roleEligibilityScheduleRequests", "temporarily unavailable", "403"} {
		for _, it := range items {
			if strings.Contains(it.Note, leak) {
				t.Errorf("review item note %q carries Graph's %q", it.Note, leak)
			}
		}
		if strings.Contains(summary, leak) {
			t.Errorf("summary %q carries Graph's %q", summary, leak)
		}
	}
}
