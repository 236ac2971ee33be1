package store

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestMigrationV5AddsCursors(t *testing.T) {
	path := buildFile(t, 4, func(*bolt.Tx) error { return nil })
	s, err := Open(path)
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
