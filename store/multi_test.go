package store

import (
	"errors"
	"testing"
	"time"
)

func TestMultiRoleRequest(t *testing.T) {
	s := newTestStore(t)
	// A single request first, so the group does not start at id 1.
	if _, err := s.CreateRequest(sampleRequest(), AuditRecord{At: t0, Actor: "slack:U1"}); err != nil {
		t.Fatal(err)
	}
	a, b := sampleRequest(), sampleRequest()
	a.RoleName, b.RoleName = "Exchange Administrator", "SharePoint Administrator"
	a.RoleID, b.RoleID = "role-exo", "role-spo"
	once := Once{Key: "slack:cmd:1", Window: time.Hour}
	rs, err := s.CreateRequestsOnce([]Request{a, b}, []AuditRecord{{At: t0, Actor: "slack:U123", Detail: "exo"}, {At: t0, Actor: "slack:U123", Detail: "spo"}}, once)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != 2 || rs[1].ID != 3 || rs[0].Group != 2 || rs[1].Group != 2 || rs[1].GroupSize != 2 || rs[1].RoleName != "SharePoint Administrator" {
		t.Fatalf("created %+v", rs)
	}
	if _, err := s.CreateRequestsOnce([]Request{a, b}, []AuditRecord{{At: t0}}, once); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed create: %v, want ErrReplay", err)
	}
	if _, err := s.GroupRequests(1); !errors.Is(err, ErrNotGroup) {
		t.Fatalf("GroupRequests(1) = %v, want ErrNotGroup", err)
	}
	if _, err := s.GroupRequests(3); !errors.Is(err, ErrNotGroup) {
		t.Fatalf("GroupRequests(3) (not the first item) = %v, want ErrNotGroup", err)
	}
	before := len(auditRecords(t, s))

	// One decision, one transaction: both items change, each with its audit record.
	got, err := s.UpdateGroup(2, AuditRecord{At: t0.Add(time.Minute), Actor: "slack:UAPPROVER", Action: "request.approve"}, func(rs []*Request, out *Outbox) error {
		for _, r := range rs {
			r.Approvals = append(r.Approvals, Approval{Approver: "bob", Decision: "approve"})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Version != 2 || got[1].Version != 2 || len(got[1].Approvals) != 1 {
		t.Fatalf("UpdateGroup = %+v", got)
	}
	audit := auditRecords(t, s)
	if len(audit) != before+2 || audit[before].RequestID != 2 || audit[before+1].RequestID != 3 || audit[before+1].Action != "request.approve" {
		t.Fatalf("audit after UpdateGroup: %+v", audit[before:])
	}

	// Only the items fn changed are written.
	got, err = s.UpdateGroup(2, AuditRecord{At: t0.Add(2 * time.Minute), Action: "request.failed"}, func(rs []*Request, out *Outbox) error {
		rs[1].State = StateFailed
		return nil
	})
	if err != nil || got[0].Version != 2 || got[1].Version != 3 {
		t.Fatalf("UpdateGroup one item = %+v, %v", got, err)
	}
	// Nothing changed: ErrNoChange, nothing written; a terminal item does not come back.
	if _, err := s.UpdateGroup(2, AuditRecord{At: t0}, func(rs []*Request, out *Outbox) error { return nil }); !errors.Is(err, ErrNoChange) {
		t.Fatalf("UpdateGroup without a change: %v", err)
	}
	if _, err := s.UpdateGroup(2, AuditRecord{At: t0}, func(rs []*Request, out *Outbox) error { rs[1].State = StateActive; return nil }); !errors.Is(err, ErrConflict) {
		t.Fatalf("UpdateGroup reviving a failed item: %v, want ErrConflict", err)
	}
	// Group fields cannot be changed by fn.
	got, _ = s.UpdateGroup(2, AuditRecord{At: t0}, func(rs []*Request, out *Outbox) error {
		rs[0].Group, rs[0].Justification = 99, "changed"
		return nil
	})
	if got[0].Group != 2 || got[0].Justification != "changed" {
		t.Fatalf("UpdateGroup kept group %d justification %q", got[0].Group, got[0].Justification)
	}
	// The items are indexed as any request.
	mine, err := s.Requests(Filter{Platform: a.Platform, ChatUser: a.ChatUser, OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 2 || mine[1].ID != 2 {
		t.Fatalf("open requests of the requester: %d", len(mine))
	}
}
