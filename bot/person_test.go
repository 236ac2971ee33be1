package bot_test

import (
	"context"
	"testing"

	"github.com/elevate-pim/elevate/bot"
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
