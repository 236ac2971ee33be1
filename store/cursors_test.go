package store

import (
	"testing"
)

func TestMigrationV5AddsCursors(t *testing.T) {
	path := buildFile(t, 4, func(kvTx) error { return nil })
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Cursor("audit/outside"); err != nil || v != nil {
		t.Fatalf("fresh cursor: %q %v", v, err)
	}
	if err := s.SetCursor("audit/outside", []byte(`{"since":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Cursor("audit/outside"); err != nil || string(v) != `{"since":"x"}` {
		t.Errorf("cursor: %q %v", v, err)
	}
	if err := s.SetCursor("audit/outside", nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Cursor("audit/outside"); v != nil {
		t.Errorf("deleted cursor: %q", v)
	}
}

// A cursor set with its audit record is one transaction: both are there after a reopen, and a
// prefix lists exactly the cursors under it.
func TestSetCursorAuditAndPrefix(t *testing.T) {
	path := testPath(t)
	s := openTest(t, path)
	if _, err := s.SetCursorAudit("intent/convert/u1|r1", []byte(`{"a":1}`), AuditRecord{Actor: "slack:U1", Action: "standing.converting"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("intent/convert/u2|r1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("intent/other", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetCursorAudit("intent/x", []byte(`{}`), AuditRecord{}); err == nil {
		t.Error("a record without an action was accepted")
	}
	s.Close()
	s = openTest(t, path)
	got, err := s.Cursors("intent/convert/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["intent/convert/u1|r1"]) != `{"a":1}` {
		t.Errorf("Cursors = %q", got)
	}
	recs := auditRecords(t, s)
	if len(recs) != 1 || recs[0].Action != "standing.converting" {
		t.Errorf("audit %+v", recs)
	}
	if _, err := s.SetCursorAudit("intent/convert/u1|r1", nil, AuditRecord{Actor: "elevate", Action: "standing.convert"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Cursors("intent/convert/"); len(got) != 1 {
		t.Errorf("after clearing: %q", got)
	}
}
