package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A write's intent is committed with its audit record and survives a restart (a new Store on
// the same file) exactly as written, in UTC; clearing it leaves no trace in the request.
func TestWriteIntentSurvivesReopen(t *testing.T) {
	path := testPath(t)
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	r := mustCreate(t, s, sampleRequest())
	loc := time.FixedZone("CET", 3600)
	w := Write{Action: WriteActivate, At: t0.In(loc), Start: t0.Add(time.Second).In(loc), By: "u1", Attempts: 1, Unknown: true,
		Retry: t0.Add(time.Minute).In(loc)}
	if _, err := s.Update(r.ID, AuditRecord{Actor: "elevate", Action: "request.activating"}, func(r *Request) error {
		r.State, r.Write = StateActivating, &w
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTest(t, path)
	got, err := s.Request(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := Write{Action: WriteActivate, At: t0, Start: t0.Add(time.Second), By: "u1", Attempts: 1, Unknown: true, Retry: t0.Add(time.Minute)}
	if got.State != StateActivating || got.Write == nil {
		t.Fatalf("after reopen: %s, write %v", got.State, got.Write)
	}
	if diff := cmp.Diff(*got.Write, want); diff != "" {
		t.Errorf("write (-got +want):\n%s", diff)
	}
	audit := auditRecords(t, s)
	if last := audit[len(audit)-1]; last.Action != "request.activating" || last.RequestID != r.ID {
		t.Errorf("intent's audit record %+v", last)
	}
	got, err = s.Update(r.ID, AuditRecord{Actor: "elevate", Action: "request.active"}, func(r *Request) error {
		r.State, r.Write = StateActive, nil
		return nil
	})
	if err != nil || got.Write != nil {
		t.Fatalf("cleared: %v %v", got.Write, err)
	}
	if again, _ := s.Request(r.ID); again.Write != nil {
		t.Errorf("stored write after clearing: %+v", again.Write)
	}
}
