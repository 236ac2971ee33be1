package store

import (
	"errors"
	"testing"
	"time"
)

func TestCampaigns(t *testing.T) {
	s := newTestStore(t)
	c := Campaign{ID: "2026-Q1", Start: t0, Deadline: t0.AddDate(0, 0, 14), By: "schedule"}
	items := []ReviewItem{
		{UserID: "oid-alice", User: "alice@contoso.example", RoleID: "r-exo", RoleName: "Exchange Administrator", Activations: 3},
		{UserID: "oid-dave", User: "dave@contoso.example", RoleID: "r-exo", RoleName: "Exchange Administrator"},
	}
	if ok, err := s.CreateCampaign(c, items); !ok || err != nil {
		t.Fatalf("CreateCampaign = %v, %v", ok, err)
	}
	if ok, _ := s.CreateCampaign(c, items[:1]); ok {
		t.Error("the same quarter's campaign was created twice")
	}
	got, err := s.ReviewItems("2026-Q1")
	if err != nil || len(got) != 2 || got[0].Campaign != "2026-Q1" || got[1].Key() != "2026-Q1|oid-alice|r-exo" {
		t.Fatalf("ReviewItems = %+v, %v", got, err)
	}
	it, err := s.UpdateReviewItem("2026-Q1", "oid-alice", "r-exo", AuditRecord{Action: "review.keep", Actor: "slack:U1"}, func(it *ReviewItem) error {
		it.Decision, it.DecidedAt = DecisionKeep, t0
		return nil
	})
	if err != nil || it.Decision != DecisionKeep {
		t.Errorf("UpdateReviewItem = %+v, %v", it, err)
	}
	_, err = s.UpdateReviewItem("2026-Q1", "oid-alice", "r-exo", AuditRecord{}, func(it *ReviewItem) error { return ErrNoChange })
	if !errors.Is(err, ErrNoChange) {
		t.Errorf("ErrNoChange from fn: %v", err)
	}
	if _, err := s.ReviewItem("2026-Q1", "oid-nobody", "r-exo"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing item: %v", err)
	}
	if ok, _ := s.CloseCampaign("2026-Q1", t0.Add(time.Hour)); !ok {
		t.Error("CloseCampaign = false")
	}
	if ok, _ := s.CloseCampaign("2026-Q1", t0.Add(time.Hour)); ok {
		t.Error("CloseCampaign twice = true")
	}
	cs, err := s.Campaigns()
	if err != nil || len(cs) != 1 || !cs[0].Closed {
		t.Errorf("Campaigns = %+v, %v", cs, err)
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Error(err)
	}
}
