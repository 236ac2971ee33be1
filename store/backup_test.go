package store

import (
	"path/filepath"
	"testing"
	"time"
)

func TestBackupWhileOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "elevate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.CreateRequest(Request{Platform: "slack", ChatUser: "U1", RoleName: "Exchange Administrator", Duration: time.Hour},
		AuditRecord{Actor: "slack:U1", Action: "request.created"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "backup.db")
	n, err := s.BackupFile(path)
	if err != nil || n == 0 {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}
	// The live store keeps working after the backup.
	if _, err := s.Update(r.ID, AuditRecord{Action: "request.cancelled"}, func(r *Request) error { r.State = StateCancelled; return nil }); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path)
	if err != nil {
		t.Fatalf("opening the backup: %v", err)
	}
	defer b.Close()
	got, err := b.Request(r.ID)
	if err != nil || got.State != StateReceived {
		t.Fatalf("backup holds %+v, %v; want the request as it was at backup time", got.State, err)
	}
	if n, err := b.VerifyAudit(); err != nil || n != 1 {
		t.Errorf("backup audit: %d records, %v", n, err)
	}
}
