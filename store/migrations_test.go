package store

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMigrationsOrdered(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 {
			t.Errorf("migrations[%d].version = %d, want %d (ordered, no gaps)", i, m.version, i+1)
		}
	}
}

// buildFile makes a store (a bbolt file or a PostgreSQL database) at schema
// version v, as that version of Elevate left it, and lets fill write its data
// through the key-value layer directly.
func buildFile(t *testing.T, v uint64, fill func(tx kvTx) error) string {
	t.Helper()
	path := testPath(t)
	rawUpdate(t, path, func(tx kvTx) error {
		if err := migrateTx(tx, "test", v); err != nil {
			return err
		}
		return fill(tx)
	})
	return path
}

func TestMigrationV1CreatesBuckets(t *testing.T) {
	path := buildFile(t, 1, func(kvTx) error { return nil })
	if v := fileVersion(t, path); v != 1 {
		t.Errorf("version = %d, want 1", v)
	}
	rawView(t, path, func(tx kvTx) error {
		for _, name := range [][]byte{bucketMeta, bucketRequests, bucketRequestsOpen, bucketMessages, bucketBindings, bucketAudit} {
			if tx.Bucket(name) == nil {
				t.Errorf("bucket %s missing after v1", name)
			}
		}
		return nil
	})
}

// TestMigrationV2BuildsIndexes opens a v1 file with requests and bindings in
// it: Open migrates it to v2, and the new indexes list the old data.
func TestMigrationV2BuildsIndexes(t *testing.T) {
	old := []Request{
		{ID: 1, Platform: "slack", ChatUser: "U1", State: StateExpired, Version: 1},
		{ID: 2, Platform: "slack", ChatUser: "U1", UserID: "oid-alice", State: StateActive, Version: 3},
		{ID: 3, Platform: "teams", ChatUser: "29:bob", UserID: "oid-bob", State: StateAwaitingApproval, Version: 2},
	}
	bindings := []Binding{{Platform: "slack", ChatUser: "U1", UserID: "oid-alice", BoundAt: t0}}
	path := buildFile(t, 1, func(tx kvTx) error {
		for _, r := range old {
			v, _ := json.Marshal(r)
			if err := tx.Bucket(bucketRequests).Put(u64(r.ID), v); err != nil {
				return err
			}
			if !r.State.Terminal() {
				if err := tx.Bucket(bucketRequestsOpen).Put(u64(r.ID), []byte{}); err != nil {
					return err
				}
			}
		}
		if err := tx.Bucket(bucketRequests).SetSequence(3); err != nil {
			return err
		}
		for _, b := range bindings {
			v, _ := json.Marshal(b)
			if err := tx.Bucket(bucketBindings).Put(strs(b.Platform, b.ChatUser), v); err != nil {
				return err
			}
		}
		return nil
	})
	if v := fileVersion(t, path); v != 1 {
		t.Fatalf("fixture at version %d, want 1", v)
	}

	s := openTest(t, path)
	if v, _ := readVersion(s.db); v != latestVersion {
		t.Errorf("version after Open = %d, want %d", v, latestVersion)
	}
	checkIndexes(t, s)
	tests := []struct {
		f    Filter
		want []uint64
	}{
		{Filter{Platform: "slack", ChatUser: "U1"}, []uint64{1, 2}},
		{Filter{UserID: "oid-alice"}, []uint64{2}},
		{Filter{UserID: "oid-bob", OpenOnly: true}, []uint64{3}},
	}
	for _, tt := range tests {
		reqs, err := s.Requests(tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, r := range reqs {
			got = append(got, r.ID)
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("Requests(%+v) (-got +want):\n%s", tt.f, diff)
		}
	}
	if got, err := s.BindingsByUser("oid-alice"); err != nil || len(got) != 1 {
		t.Errorf("BindingsByUser(oid-alice) = %v, %v; want the v1 binding", got, err)
	}
	if r := mustCreate(t, s, sampleRequest()); r.ID != 4 {
		t.Errorf("first id after migration = %d, want 4", r.ID)
	}
}

func fileVersion(t *testing.T, path string) uint64 {
	t.Helper()
	db := current.raw(t, path)
	defer db.Close()
	v, err := readVersion(db)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOpenCurrentFileWritesNothing: opening an up-to-date store must not
// rewrite it (no migration transaction).
func TestOpenCurrentFileWritesNothing(t *testing.T) {
	path := testPath(t)
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	before := current.dump(t, path)
	s, err = openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if after := current.dump(t, path); !bytes.Equal(after, before) {
		t.Errorf("reopening a current store wrote to it:\nbefore: %s\nafter: %s", before, after)
	}
}
