package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/store"
)

// A person is their Entra identity: Alice, bound on two platforms, sees the same requests on both,
// cannot open a second request for a role that is already pending on the other, and can cancel
// from either.
func TestOnePersonAcrossPlatforms(t *testing.T) {
	w := newWorld(t, setup{})
	other := &recorder{name: "other"}
	w.core.Register(other)
	ctx := context.Background()
	alice := w.tenant.UserID("alice@" + w.domain)
	if err := w.store.Bind(store.Binding{Platform: "other", ChatUser: "U-ALICE", UserID: alice, UPN: "alice@" + w.domain},
		store.AuditRecord{Actor: "test", Action: "binding.created"}); err != nil {
		t.Fatal(err)
	}
	onOther := bot.Actor{Platform: "other", ChatUser: "U-ALICE", Name: "Alice"}
	sayOther := func(text string) string {
		t.Helper()
		if err := w.core.Command(ctx, onOther, text); err != nil {
			t.Fatal(err)
		}
		w.core.Wait()
		return other.lastTo("U-ALICE")
	}

	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice") // binds the test account to the same Entra user
	r := w.only("alice")
	if r.State != store.StateAwaitingApproval {
		t.Fatalf("state %s, want awaiting approval", r.State)
	}

	contains(t, sayOther("status"), "#"+num(r.ID)+" Global Administrator for 1h: waiting for approval (0 of 2)")
	contains(t, sayOther("ga 2h INC-1234 again"), "You already have a pending request for Global Administrator: #"+num(r.ID)+", made in test")
	if rs, _ := w.store.Requests(store.Filter{OpenOnly: true}); len(rs) != 1 {
		t.Fatalf("%d open requests after the duplicate, want 1", len(rs))
	}
	// The same on the platform it was made on.
	w.say("alice", "ga 2h INC-1234 again")
	contains(t, w.rec.lastTo("alice"), "You already have a pending request for Global Administrator: #"+num(r.ID)+", waiting")

	// Another role is not a duplicate.
	w.say("alice", "exchange 1h fixing mail flow")
	if rs, _ := w.store.Requests(store.Filter{OpenOnly: true}); len(rs) != 2 {
		t.Fatalf("%d open requests after a request for another role, want 2", len(rs))
	}

	contains(t, sayOther("cancel"), "Cancelled")
	if got := w.request(r.ID); got.State != store.StateCancelled {
		t.Fatalf("after cancel on the other platform: %s", got.State)
	}
}

// Asking again for a role whose request still waits for the requester's own sign-in replaces it:
// one request stays open.
func TestAskingAgainSupersedesWaitingRequest(t *testing.T) {
	w := newWorld(t, setup{})
	w.say("alice", "exchange 1h fixing mail flow")
	w.say("alice", "exchange 2h fixing mail flow properly")
	rs, err := w.store.Requests(store.Filter{Platform: "test", ChatUser: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].State != store.StateCancelled || rs[1].State.Terminal() {
		t.Fatalf("requests after asking twice: %+v", rs)
	}
}

// One Elevate across two platforms: a request made on one posts its card in the approvals channel
// on both; an approver on the other platform decides; both cards show it; the security channel on
// both gets the activation.
func TestCardsAndAlertsOnEveryPlatform(t *testing.T) {
	w := newWorld(t, setup{})
	other := &recorder{name: "other", domain: w.domain}
	w.core.Register(other)
	ctx := context.Background()
	approvals, security := w.cfg.Channels.Approvals, w.cfg.Channels.Security

	w.say("alice", "ga 1h INC-1234 restore tenant")
	w.signIn("alice")
	r := w.only("alice")
	for _, rec := range []*recorder{w.rec, other} {
		card, ok := rec.latestCard(approvals)
		if !ok || len(card.Buttons) != 2 {
			t.Fatalf("%s: no live card in %s: %+v", rec.Platform(), approvals, card)
		}
	}
	// Bob approves on the other platform: his first click there asks him to sign in.
	bob := bot.Actor{Platform: "other", ChatUser: "bob", Name: "bob"}
	click := func(a bot.Actor) {
		t.Helper()
		b, ok := other.button(approvals, bot.ActionApprove)
		if !ok {
			t.Fatal("no Approve button on the other platform's card")
		}
		if err := w.core.Click(ctx, a, bot.ActionApprove, b.Value, ""); err != nil {
			t.Fatal(err)
		}
		w.core.Wait()
	}
	click(bob)
	link, ok := other.button("bob", bot.ActionOpenURL)
	if !ok {
		t.Fatalf("bob got no sign-in link on the other platform: %q", other.to("bob"))
	}
	br := w.browser()
	if _, page := br.open(link.URL, "bob@"+w.domain); isLinkPage(page) {
		br.answer(page, "link") // his first sign-in on that platform links the account
	}
	w.core.Wait()
	if got := w.request(r.ID); len(got.Approvals) != 1 || got.Approvals[0].Platform != "other" {
		t.Fatalf("after bob's approval on the other platform: %+v", got.Approvals)
	}
	for _, rec := range []*recorder{w.rec, other} {
		card, _ := rec.latestCard(approvals)
		contains(t, card.Footer, "Approved by bob@")
	}
	w.click("carol", bot.ActionApprove, "")
	w.signIn("carol")
	if got := w.request(r.ID); got.State != store.StateActive {
		t.Fatalf("after two approvals: %s (%s)", got.State, got.FailureMessage)
	}
	for _, rec := range []*recorder{w.rec, other} {
		card, _ := rec.latestCard(approvals)
		contains(t, card.Text, "active until")
		if len(card.Buttons) != 0 {
			t.Errorf("%s: decided card still has buttons", rec.Platform())
		}
		if n := countContaining(rec.to(security), "Global Administrator"); n == 0 {
			t.Errorf("%s: the security channel did not hear of the activation: %q", rec.Platform(), rec.to(security))
		}
	}
}

func countContaining(ss []string, sub string) int {
	n := 0
	for _, s := range ss {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// Direct messages nobody's conversation prompts (reminders, review prompts) go to the platform
// the person last used Elevate from; with direct_messages: all, to every platform they are on.
func TestDirectMessagesGoWhereLastUsed(t *testing.T) {
	for _, mode := range []string{"last", "all"} {
		t.Run(mode, func(t *testing.T) {
			cfg := string(examples.Config)
			if mode == "all" {
				cfg += "\ndirect_messages: all\n"
			}
			w := newWorld(t, setup{config: []byte(cfg)})
			w.core.Register(&recorder{name: "other", domain: w.domain})
			carol := w.tenant.UserID("carol@" + w.domain)
			for _, p := range []string{"test", "other"} {
				if err := w.store.Bind(store.Binding{Platform: p, ChatUser: "carol", UserID: carol, UPN: "carol@" + w.domain},
					store.AuditRecord{Actor: "test", Action: "identity.bound"}); err != nil {
					t.Fatal(err)
				}
			}
			reach := func() []string {
				t.Helper()
				rs, err := w.core.Reach(context.Background(), carol, "")
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, r := range rs {
					out = append(out, r.Platform)
				}
				return out
			}
			if got := reach(); len(got) != 2 {
				t.Fatalf("before carol used Elevate: %v, want both platforms", got)
			}
			if err := w.core.Command(context.Background(), bot.Actor{Platform: "other", ChatUser: "carol", Name: "carol"}, "status"); err != nil {
				t.Fatal(err)
			}
			w.core.Wait()
			got := reach()
			want := map[string]int{"last": 1, "all": 2}[mode]
			if len(got) != want || (mode == "last" && got[0] != "other") {
				t.Errorf("after carol used the other platform: %v (direct_messages: %s)", got, mode)
			}
		})
	}
}
