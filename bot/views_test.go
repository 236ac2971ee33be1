package bot_test

import (
	"context"
	"testing"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

func TestCheckFormFieldByField(t *testing.T) {
	w := newWorld(t, setup{})
	a := w.actor("dave")
	tests := []struct {
		name  string
		form  bot.Form
		field string
	}{
		{"ok", bot.Form{Role: "exchange", Duration: "2h", Justification: "fixing mail flow"}, ""},
		{"unknown role", bot.Form{Role: "exchnage", Duration: "2h", Justification: "x"}, bot.FieldRole},
		{"bad duration", bot.Form{Role: "exchange", Duration: "4x", Justification: "x"}, bot.FieldDuration},
		{"too long", bot.Form{Role: "exchange", Duration: "12h", Justification: "x"}, bot.FieldDuration},
		{"no justification", bot.Form{Role: "exchange", Duration: "2h"}, bot.FieldJustification},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := w.core.CheckForm(a, tt.form)
			if tt.field == "" {
				if len(errs) != 0 {
					t.Fatalf("errors %v, want none", errs)
				}
				return
			}
			if errs[tt.field] == "" || len(errs) != 1 {
				t.Fatalf("errors %v, want one on %q", errs, tt.field)
			}
		})
	}
}

func TestSubmitFormActivates(t *testing.T) {
	w := newWorld(t, setup{})
	job, err := w.core.SubmitForm(w.actor("dave"), bot.Form{Role: "exchange", Duration: "90m", Justification: "mail flow", Ticket: "INC-77"})
	if err != nil {
		t.Fatal(err)
	}
	r := w.only("dave") // persisted before the job runs
	if r.State != store.StateAwaitingSignIn || r.Ticket != "INC-77" {
		t.Fatalf("accepted request: state %s ticket %q", r.State, r.Ticket)
	}
	if err := job(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.signIn("dave")
	if got := w.request(r.ID); got.State != store.StateActive || got.Duration.Minutes() != 90 {
		t.Fatalf("state %s, duration %v", got.State, got.Duration)
	}
}

func TestHomeAndChoices(t *testing.T) {
	w := newWorld(t, setup{})
	h, err := w.core.Home(context.Background(), w.actor("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Known || len(h.Eligible) < 15 {
		t.Fatalf("before sign-in: known=%v, %d roles; want the catalogue", h.Known, len(h.Eligible))
	}
	w.say("alice", "ga 1h INC-3 restore tenant")
	w.signIn("alice")
	w.say("bob", "user 1h reset password")
	w.signIn("bob")
	h, err = w.core.Home(context.Background(), w.actor("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Known || len(h.Eligible) != 1 || h.Eligible[0].Name != "User Administrator" {
		t.Errorf("bob's eligible roles = %+v, want User Administrator only", h.Eligible)
	}
	if len(h.Active) != 1 || len(h.ToApprove) != 1 || h.ToApprove[0].RoleName != "Global Administrator" {
		t.Errorf("bob's home: %d active, to approve %+v", len(h.Active), h.ToApprove)
	}
	ha, _ := w.core.Home(context.Background(), w.actor("alice"))
	if len(ha.Pending) != 1 || len(ha.ToApprove) != 0 {
		t.Errorf("alice's home: %d pending, %d to approve; want 1 and 0", len(ha.Pending), len(ha.ToApprove))
	}
}
