package store

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBind(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Binding("slack", "U123"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Binding before Bind: err = %v, want ErrNotFound", err)
	}
	alice := Binding{Platform: "slack", ChatUser: "U123", UserID: "oid-alice", UPN: "alice@contoso.com", BoundAt: t0}
	if err := s.Bind(alice, ev("identity.bound")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Binding("slack", "U123")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, alice); diff != "" {
		t.Errorf("Binding (-got +want):\n%s", diff)
	}
	if n := len(auditRecords(t, s)); n != 1 {
		t.Errorf("%d audit records after Bind, want 1", n)
	}

	tests := []struct {
		name      string
		b         Binding
		wantErr   error
		wantAudit int
	}{
		{"same user again", alice, nil, 1},
		{"same user, later", Binding{Platform: "slack", ChatUser: "U123", UserID: "oid-alice"}, nil, 1},
		{"another user", Binding{Platform: "slack", ChatUser: "U123", UserID: "oid-mallory"}, ErrConflict, 1},
		{"same chat id on another platform", Binding{Platform: "teams", ChatUser: "U123", UserID: "oid-mallory"}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Bind(tt.b, ev("identity.bound"))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if n := len(auditRecords(t, s)); n != tt.wantAudit {
				t.Errorf("%d audit records, want %d", n, tt.wantAudit)
			}
		})
	}
	if got, _ := s.Binding("slack", "U123"); got.UserID != "oid-alice" {
		t.Errorf("binding became %q after a refused rebind", got.UserID)
	}
	byUser, err := s.BindingsByUser("oid-mallory")
	if err != nil || len(byUser) != 1 || byUser[0].Platform != "teams" {
		t.Errorf("BindingsByUser(oid-mallory) = %+v, %v; want the teams binding", byUser, err)
	}
	checkIndexes(t, s)
}

func TestBindRequiresIDs(t *testing.T) {
	s := newTestStore(t)
	if err := s.Bind(Binding{Platform: "slack", ChatUser: "U1"}, ev("identity.bound")); err == nil {
		t.Error("Bind without a user id succeeded")
	}
}

// TestBindFillsRequests: requests made before the first sign-in get the Entra
// user, so they are found by Entra user; others are left alone.
func TestBindFillsRequests(t *testing.T) {
	s := newTestStore(t)
	unbound := mustCreate(t, s, sampleRequest())
	already := sampleRequest()
	already.UserID = "oid-alice-earlier"
	bound := mustCreate(t, s, already)
	someoneElse := mustCreate(t, s, Request{Platform: "slack", ChatUser: "U999"})

	if err := s.Bind(Binding{Platform: "slack", ChatUser: "U123", UserID: "oid-alice", UPN: "alice@contoso.com"}, ev("identity.bound")); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, s)

	got, err := s.Requests(Filter{UserID: "oid-alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != unbound.ID || got[0].UPN != "alice@contoso.com" || got[0].Version != 2 {
		t.Errorf("requests of oid-alice = %+v, want request %d at version 2 with the UPN", got, unbound.ID)
	}
	for _, r := range []Request{bound, someoneElse} {
		if now, _ := s.Request(r.ID); now.Version != 1 {
			t.Errorf("request %d was touched by Bind: %+v", r.ID, now)
		}
	}
}

// TestBindRefusesSecondChatAccount: one Entra user, two chat accounts on one
// platform, only when an administrator says so (Rebind).
func TestBindRefusesSecondChatAccount(t *testing.T) {
	s := newTestStore(t)
	bob := Binding{Platform: "slack", ChatUser: "U-BOB", UserID: "oid-bob", UPN: "bob@contoso.com"}
	if err := s.Bind(bob, ev("identity.bound")); err != nil {
		t.Fatal(err)
	}
	second := Binding{Platform: "slack", ChatUser: "U-MALLORY2", UserID: "oid-bob", UPN: "bob@contoso.com"}
	if err := s.Bind(second, ev("identity.bound")); !errors.Is(err, ErrIdentityTaken) {
		t.Fatalf("binding a second Slack account to bob: err = %v, want ErrIdentityTaken", err)
	}
	if _, err := s.Binding("slack", "U-MALLORY2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused binding was stored: err = %v", err)
	}
	if n := len(auditRecords(t, s)); n != 1 {
		t.Errorf("%d audit records after a refused binding, want 1", n)
	}
	// Another platform is another account: allowed.
	if err := s.Bind(Binding{Platform: "teams", ChatUser: "29:bob", UserID: "oid-bob"}, ev("identity.bound")); err != nil {
		t.Errorf("binding bob's Teams account: %v", err)
	}
	// The administrator's Rebind allows it, with its own audit record.
	old, err := s.Rebind(second, AuditRecord{Actor: "slack:U-ADMIN", Action: "identity.rebound", Detail: "allowed"})
	if err != nil || old != (Binding{}) {
		t.Fatalf("Rebind = %+v, %v; want no previous binding", old, err)
	}
	byUser, err := s.BindingsByUser("oid-bob")
	if err != nil || len(byUser) != 3 {
		t.Errorf("BindingsByUser(oid-bob) = %+v, %v; want three", byUser, err)
	}
	recs := auditRecords(t, s)
	if last := recs[len(recs)-1]; last.Action != "identity.rebound" || last.Actor != "slack:U-ADMIN" {
		t.Errorf("last audit record %+v, want the admin's identity.rebound", last)
	}
	checkIndexes(t, s)
}

func TestRebindReplacesAndUnbindRemoves(t *testing.T) {
	s := newTestStore(t)
	wrong := Binding{Platform: "slack", ChatUser: "U1", UserID: "oid-bob", UPN: "bob@contoso.com", BoundAt: t0}
	if err := s.Bind(wrong, ev("identity.bound")); err != nil {
		t.Fatal(err)
	}
	right := Binding{Platform: "slack", ChatUser: "U1", UserID: "oid-mallory", UPN: "mallory@contoso.com", BoundAt: t0}
	old, err := s.Rebind(right, ev("identity.rebound"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(old, wrong); diff != "" {
		t.Errorf("Rebind returned (-got +want):\n%s", diff)
	}
	if got, _ := s.Binding("slack", "U1"); got.UserID != "oid-mallory" {
		t.Errorf("binding after Rebind: %+v", got)
	}
	if bs, _ := s.BindingsByUser("oid-bob"); len(bs) != 0 {
		t.Errorf("bob still indexed after Rebind: %+v", bs)
	}
	checkIndexes(t, s)

	old, err = s.Unbind("slack", "U1", ev("identity.unbound"))
	if err != nil || old.UserID != "oid-mallory" {
		t.Fatalf("Unbind = %+v, %v", old, err)
	}
	if _, err := s.Binding("slack", "U1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Binding after Unbind: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Unbind("slack", "U1", ev("identity.unbound")); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Unbind: err = %v, want ErrNotFound", err)
	}
	var actions []string
	for _, r := range auditRecords(t, s) {
		actions = append(actions, r.Action)
	}
	if diff := cmp.Diff(actions, []string{"identity.bound", "identity.rebound", "identity.unbound"}); diff != "" {
		t.Errorf("audit actions (-got +want):\n%s", diff)
	}
	// The chat user can bind afresh (to anyone not taken) after Unbind.
	if err := s.Bind(wrong, ev("identity.bound")); err != nil {
		t.Errorf("Bind after Unbind: %v", err)
	}
	checkIndexes(t, s)
}
