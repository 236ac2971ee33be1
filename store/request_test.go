package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCreateRequest(t *testing.T) {
	s := newTestStore(t)
	at := t0.Add(time.Minute)
	got, err := s.CreateRequest(sampleRequest(), AuditRecord{At: at, Actor: "slack:U123", Action: "request.created", Detail: "exchange 4h"})
	if err != nil {
		t.Fatal(err)
	}
	want := sampleRequest()
	want.ID, want.State, want.Version, want.CreatedAt, want.UpdatedAt = 1, StateReceived, 1, at, at
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("CreateRequest (-got +want):\n%s", diff)
	}
	stored, err := s.Request(got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stored, want); diff != "" {
		t.Errorf("Request (-got +want):\n%s", diff)
	}

	audit := auditRecords(t, s)
	if len(audit) != 1 {
		t.Fatalf("got %d audit records, want 1", len(audit))
	}
	a := audit[0]
	if a.Seq != 1 || a.RequestID != got.ID || a.Action != "request.created" || !a.At.Equal(at) || a.PrevHash != "" || a.Hash == "" {
		t.Errorf("audit record = %+v", a)
	}

	second := mustCreate(t, s, sampleRequest())
	if second.ID != 2 {
		t.Errorf("second id = %d, want 2", second.ID)
	}
	checkIndexes(t, s)
}

func TestCreateRequestRejectsUnknownState(t *testing.T) {
	s := newTestStore(t)
	r := sampleRequest()
	r.State = "approved-ish"
	if _, err := s.CreateRequest(r, ev("request.created")); err == nil {
		t.Fatal("CreateRequest accepted an unknown state")
	}
	if got := auditRecords(t, s); len(got) != 0 {
		t.Errorf("audit has %d records after a refused create, want 0", len(got))
	}
}

func TestRequestNotFound(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.Request(42); !errors.Is(err, ErrNotFound) {
		t.Errorf("Request(42) err = %v, want ErrNotFound", err)
	}
	if _, err := s.Update(42, ev("x"), setState(StateActive)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update(42) err = %v, want ErrNotFound", err)
	}
}

func TestUpdate(t *testing.T) {
	errBoom := errors.New("graph said no")
	tests := []struct {
		name        string
		fn          func(*Request) error
		wantErr     error
		wantWritten bool
		wantState   State
	}{
		{"change", setState(StateAwaitingApproval), nil, true, StateAwaitingApproval},
		{"no change", func(r *Request) error { r.State = StateActive; return ErrNoChange }, ErrNoChange, false, StateReceived},
		{"other error", func(r *Request) error { r.State = StateActive; return errBoom }, errBoom, false, StateReceived},
		{"unknown state", setState("nonsense"), nil, false, StateReceived},
		{"approval appended", func(r *Request) error {
			r.Approvals = append(r.Approvals, Approval{Approver: "oid-carol", Decision: "approve", At: t0})
			r.State = StateActivating
			return nil
		}, nil, true, StateActivating},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t)
			created := mustCreate(t, s, sampleRequest())
			at := t0.Add(time.Hour)

			got, err := s.Update(created.ID, AuditRecord{At: at, Actor: "system", Action: "request.x"}, tt.fn)

			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && tt.wantWritten && err != nil {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantWritten && err == nil {
				t.Fatal("Update succeeded, want an error")
			}
			stored, _ := s.Request(created.ID)
			if stored.State != tt.wantState {
				t.Errorf("stored state = %s, want %s", stored.State, tt.wantState)
			}
			audit := auditRecords(t, s)
			if tt.wantWritten {
				if got.Version != 2 || !got.UpdatedAt.Equal(at) {
					t.Errorf("returned version %d updated %v, want 2 and %v", got.Version, got.UpdatedAt, at)
				}
				if diff := cmp.Diff(got, stored); diff != "" {
					t.Errorf("returned differs from stored (-got +want):\n%s", diff)
				}
				if len(audit) != 2 || audit[1].RequestID != created.ID || audit[1].Action != "request.x" || !audit[1].At.Equal(at) {
					t.Errorf("audit = %+v, want a second record for request %d", audit, created.ID)
				}
			} else {
				if diff := cmp.Diff(stored, created); diff != "" {
					t.Errorf("stored request changed (-got +want):\n%s", diff)
				}
				if len(audit) != 1 {
					t.Errorf("got %d audit records, want 1 (only the creation)", len(audit))
				}
			}
			if errors.Is(tt.wantErr, ErrNoChange) {
				if diff := cmp.Diff(got, created); diff != "" {
					t.Errorf("ErrNoChange should come with the current request (-got +want):\n%s", diff)
				}
			}
			checkIndexes(t, s)
		})
	}
}

func TestUpdateIgnoresIDAndVersionFromFn(t *testing.T) {
	s := newTestStore(t)
	r := mustCreate(t, s, sampleRequest())
	got, err := s.Update(r.ID, ev("x"), func(r *Request) error { r.ID, r.Version = 99, 99; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || got.Version != 2 {
		t.Errorf("id %d version %d, want %d and 2", got.ID, got.Version, r.ID)
	}
	if _, err := s.Request(99); !errors.Is(err, ErrNotFound) {
		t.Errorf("request 99 exists: %v", err)
	}
}

func TestUpdateRefusesLeavingTerminalState(t *testing.T) {
	s := newTestStore(t)
	r := mustCreate(t, s, sampleRequest())
	if _, err := s.Update(r.ID, ev("request.expired"), setState(StateExpired)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(r.ID, ev("request.activating"), setState(StateActivating)); !errors.Is(err, ErrConflict) {
		t.Errorf("reopening an expired request: err = %v, want ErrConflict", err)
	}
	// Other fields of a finished request may still change.
	if _, err := s.Update(r.ID, ev("request.note"), func(r *Request) error { r.FailureMessage = "late"; return nil }); err != nil {
		t.Errorf("updating a field of an expired request: %v", err)
	}
}

// TestUpdateConcurrent: many handlers race to make the same transition (double
// clicks, Slack retries); exactly one wins and exactly one audit record is written.
func TestUpdateConcurrent(t *testing.T) {
	s := newTestStore(t)
	r := mustCreate(t, s, sampleRequest())
	if _, err := s.Update(r.ID, ev("request.awaiting_approval"), setState(StateAwaitingApproval)); err != nil {
		t.Fatal(err)
	}
	const n = 50
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		wins, noChange int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(r.ID, AuditRecord{Actor: "oid-carol", Action: "request.approved", Detail: string(rune('a' + i%26))}, func(r *Request) error {
				if r.State != StateAwaitingApproval {
					return ErrNoChange
				}
				r.State = StateActivating
				r.Approvals = append(r.Approvals, Approval{Approver: "oid-carol", Decision: "approve"})
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrNoChange):
				noChange++
			default:
				t.Errorf("Update: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || noChange != n-1 {
		t.Errorf("wins = %d, no-change = %d; want 1 and %d", wins, noChange, n-1)
	}
	got, _ := s.Request(r.ID)
	if got.State != StateActivating || len(got.Approvals) != 1 || got.Version != 3 {
		t.Errorf("request = state %s, %d approvals, version %d; want activating, 1, 3", got.State, len(got.Approvals), got.Version)
	}
	approved := 0
	for _, a := range auditRecords(t, s) {
		if a.Action == "request.approved" {
			approved++
		}
	}
	if approved != 1 {
		t.Errorf("%d request.approved audit records, want 1", approved)
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestRequestsFilter(t *testing.T) {
	s := newTestStore(t)
	mk := func(platform, chatUser, userID string, state State) uint64 {
		t.Helper()
		r := mustCreate(t, s, Request{Platform: platform, ChatUser: chatUser, UserID: userID, RoleName: "Exchange Administrator"})
		if state != StateReceived {
			if _, err := s.Update(r.ID, ev("x"), setState(state)); err != nil {
				t.Fatal(err)
			}
		}
		return r.ID
	}
	a1 := mk("slack", "U1", "", StateAwaitingSignIn)
	a2 := mk("slack", "U1", "", StateExpired)
	b1 := mk("slack", "U2", "oid-bob", StateActive)
	c1 := mk("teams", "29:carol", "oid-carol", StateReceived)
	b2 := mk("teams", "29:bob", "oid-bob", StateEnded)
	// Ids that are prefixes of one another must not bleed into each other.
	u := mk("slack", "U", "oid-b", StateAwaitingApproval)
	checkIndexes(t, s)

	tests := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, []uint64{a1, a2, b1, c1, b2, u}},
		{"chat user", Filter{Platform: "slack", ChatUser: "U1"}, []uint64{a1, a2}},
		{"chat user open", Filter{Platform: "slack", ChatUser: "U1", OpenOnly: true}, []uint64{a1}},
		{"chat user is not a prefix", Filter{Platform: "slack", ChatUser: "U"}, []uint64{u}},
		{"chat user on other platform", Filter{Platform: "teams", ChatUser: "U1"}, nil},
		{"chat user without platform", Filter{ChatUser: "29:bob"}, []uint64{b2}},
		{"platform", Filter{Platform: "teams"}, []uint64{c1, b2}},
		{"entra user", Filter{UserID: "oid-bob"}, []uint64{b1, b2}},
		{"entra user is not a prefix", Filter{UserID: "oid-b"}, []uint64{u}},
		{"entra user open", Filter{UserID: "oid-bob", OpenOnly: true}, []uint64{b1}},
		{"entra user and platform", Filter{UserID: "oid-bob", Platform: "teams"}, []uint64{b2}},
		{"open", Filter{OpenOnly: true}, []uint64{a1, b1, c1, u}},
		{"open states", Filter{States: []State{StateActive, StateReceived}}, []uint64{b1, c1}},
		{"terminal states", Filter{States: []State{StateExpired, StateEnded}}, []uint64{a2, b2}},
		{"terminal and open only", Filter{States: []State{StateExpired}, OpenOnly: true}, nil},
		{"unknown user", Filter{UserID: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := s.Requests(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, r := range reqs {
				got = append(got, r.ID)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Requests(%+v) ids (-got +want):\n%s", tt.f, diff)
			}
		})
	}
}

// TestIndexesFollowChanges moves requests through states and identities and
// checks after every step that each index holds exactly what a full scan says.
func TestIndexesFollowChanges(t *testing.T) {
	s := newTestStore(t)
	r := mustCreate(t, s, sampleRequest())
	other := mustCreate(t, s, Request{Platform: "slack", ChatUser: "U999"})
	checkIndexes(t, s)

	steps := []struct {
		name string
		do   func() error
	}{
		{"awaiting sign-in", func() error { _, err := s.Update(r.ID, ev("x"), setState(StateAwaitingSignIn)); return err }},
		{"bind fills the user", func() error {
			return s.Bind(Binding{Platform: "slack", ChatUser: "U123", UserID: "oid-alice", UPN: "alice@contoso.com"}, ev("identity.bound"))
		}},
		{"user changed by update", func() error {
			_, err := s.Update(r.ID, ev("x"), func(r *Request) error { r.UserID = "oid-alice2"; return nil })
			return err
		}},
		{"chat user changed by update", func() error {
			_, err := s.Update(r.ID, ev("x"), func(r *Request) error { r.ChatUser = "U124"; return nil })
			return err
		}},
		{"active", func() error { _, err := s.Update(r.ID, ev("x"), setState(StateActive)); return err }},
		{"ended", func() error { _, err := s.Update(r.ID, ev("x"), setState(StateEnded)); return err }},
		{"other cancelled", func() error { _, err := s.Update(other.ID, ev("x"), setState(StateCancelled)); return err }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		checkIndexes(t, s)
	}
	if got, _ := s.Requests(Filter{OpenOnly: true}); len(got) != 0 {
		t.Errorf("open requests = %v, want none", got)
	}
	if got, _ := s.Requests(Filter{UserID: "oid-alice"}); len(got) != 0 {
		t.Errorf("requests of oid-alice = %v, want none (moved to oid-alice2)", got)
	}
	if got, _ := s.Requests(Filter{Platform: "slack", ChatUser: "U124"}); len(got) != 1 || got[0].ID != r.ID {
		t.Errorf("requests of slack/U124 = %v, want request %d", got, r.ID)
	}
}

// TestCreateRequestGroupCommit: concurrent creates share transactions but each gets its own id,
// its own audit record, and is durable (close and reopen).
func TestCreateRequestGroupCommit(t *testing.T) {
	path := testPath(t)
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	ids := make(chan uint64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.CreateRequest(Request{Platform: "slack", ChatUser: fmt.Sprint("U", i%7), RoleName: "Exchange Administrator", Duration: time.Hour},
				AuditRecord{Actor: "slack:U", Action: "request.created"})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- r.ID
		}()
	}
	// A bad request in the middle of a batch fails alone.
	if _, err := s.CreateRequest(Request{State: "nonsense"}, AuditRecord{}); err == nil {
		t.Error("a request with an unknown state was stored")
	}
	wg.Wait()
	close(ids)
	seen := map[uint64]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("%d ids, want %d", len(seen), n)
	}
	s.Close()
	s, err = openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs, err := s.Requests(Filter{Platform: "slack"})
	if err != nil || len(rs) != n {
		t.Fatalf("after reopen: %d requests, %v", len(rs), err)
	}
	if got, err := s.VerifyAudit(); err != nil || got != n {
		t.Fatalf("audit: %d records, %v; want %d", got, err, n)
	}
}

// TestExtensionKept: an activation's extension (consent, intent, PIM request ids) is written
// with the request and read back whole, its times in UTC.
func TestExtensionKept(t *testing.T) {
	s := newTestStore(t)
	created := mustCreate(t, s, sampleRequest())
	paris := time.FixedZone("CET", 3600)
	want := Extension{Used: time.Hour, By: 30 * time.Minute, ConsentAt: t0.In(paris), AskedAt: t0.Add(time.Hour).In(paris), Requests: []string{"pim-1"}}
	if _, err := s.Update(created.ID, AuditRecord{At: t0, Actor: "system", Action: "request.extending"}, func(r *Request) error {
		e := want
		r.Extension = &e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Request(created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Extension == nil || got.Extension.Used != want.Used || got.Extension.By != want.By || !got.Extension.ConsentAt.Equal(t0) ||
		got.Extension.AskedAt.Location() != time.UTC || !got.Extension.AskedAt.Equal(want.AskedAt) || len(got.Extension.Requests) != 1 {
		t.Fatalf("extension read back as %+v, want %+v in UTC", got.Extension, want)
	}
}
