package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// On PostgreSQL there is no file to copy: Backup and BackupFile refuse with a message naming what
// to use instead, and write nothing.
func TestBackupRefusedOnPostgres(t *testing.T) {
	if current.name != "postgres" {
		return // bbolt's backup is TestBackupWhileOpen
	}
	s := newTestStore(t)
	var buf bytes.Buffer
	if n, err := s.Backup(&buf); !errors.Is(err, errBackupUnsupported) || n != 0 || buf.Len() != 0 {
		t.Errorf("Backup = %d, %v (%d bytes written); want errBackupUnsupported", n, err, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if _, err := s.BackupFile(path); !errors.Is(err, errBackupUnsupported) || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("BackupFile = %v; want errBackupUnsupported naming pg_dump", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("BackupFile left %s behind: %v", path, err)
	}
}
