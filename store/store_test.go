package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 10, 2, 14, 0, 0, 0, time.UTC)

// clock is a fake time source that advances a second per reading.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// testPath returns where a new store lives on the backend under test (a file or a database).
func testPath(t testing.TB) string {
	t.Helper()
	return current.loc(t)
}

// boltPath returns a new bbolt file's path, for the tests of bbolt's own features.
func boltPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "elevate.db")
}

// openTest opens the store at path with a fake clock and closes it after the test.
func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := openAt(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	s.now = (&clock{now: t0}).Now
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestStore(t testing.TB) *Store {
	t.Helper()
	return openTest(t, testPath(t))
}

func sampleRequest() Request {
	return Request{
		Platform: "slack", ChatUser: "U123", ChatName: "alice", Channel: "D1",
		RoleID: "29232cdf-9323-42fd-ade2-1d097af3e4de", RoleName: "Exchange Administrator",
		Duration: 4 * time.Hour, Justification: "fixing mail flow INC-1234", Ticket: "INC-1234",
		ApprovalsNeeded: 1,
		ExpiresAt:       t0.Add(time.Hour),
	}
}

func ev(action string) AuditRecord {
	return AuditRecord{Actor: "slack:U123", Action: action}
}

func mustCreate(t testing.TB, s *Store, r Request) Request {
	t.Helper()
	got, err := s.CreateRequest(r, ev("request.created"))
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	return got
}

func setState(to State) func(*Request) error {
	return func(r *Request) error {
		r.State = to
		return nil
	}
}

func auditRecords(t testing.TB, s *Store) []AuditRecord {
	t.Helper()
	var out []AuditRecord
	if err := s.Audit(func(r AuditRecord) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return out
}

// checkIndexes compares every index bucket with what a full scan of the
// requests and bindings says it should hold.
func checkIndexes(t testing.TB, s *Store) {
	t.Helper()
	err := s.db.View(func(tx kvTx) error {
		want := map[string][]string{}
		for _, name := range [][]byte{bucketRequestsOpen, bucketRequestsByChat, bucketRequestsByUser, bucketBindingsByUser} {
			want[string(name)] = []string{}
		}
		err := tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			r, err := decodeRequest(k, v)
			if err != nil {
				return err
			}
			for name, key := range requestIndexKeys(r) {
				want[string(name)] = append(want[string(name)], string(key))
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketBindings).ForEach(func(_, v []byte) error {
			var b Binding
			if err := json.Unmarshal(v, &b); err != nil {
				return err
			}
			want[string(bucketBindingsByUser)] = append(want[string(bucketBindingsByUser)], string(bindingByUserKey(b)))
			return nil
		})
		if err != nil {
			return err
		}
		got := map[string][]string{}
		for name := range want {
			got[name] = []string{}
			tx.Bucket([]byte(name)).ForEach(func(k, _ []byte) error {
				got[name] = append(got[name], string(k))
				return nil
			})
			sort.Strings(want[name])
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("indexes differ from a full scan (-got +want):\n%s", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesLatestSchema(t *testing.T) {
	s := openTest(t, testPath(t))
	v, err := readVersion(s.db)
	if err != nil {
		t.Fatal(err)
	}
	if v != latestVersion {
		t.Errorf("version = %d, want %d", v, latestVersion)
	}
}

func TestOpenBoltFileMode(t *testing.T) {
	path := boltPath(t)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %v, want 0600", got)
	}
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	path := boltPath(t)
	first, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// flock locks belong to the open file, so a second Open in this process
	// meets the lock exactly as another process would.
	start := time.Now()
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("second Open succeeded, want ErrLocked")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("err = %v, want ErrLocked", err)
	}
	if got, want := err.Error(), "store: elevate.db is locked by another process"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to give up, want about %v", d, lockTimeout)
	}
}

func TestOpenSchemaTooNewLeavesFileUntouched(t *testing.T) {
	path := testPath(t)
	rawUpdate(t, path, func(tx kvTx) error {
		if err := migrateTx(tx, "test", latestVersion); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyVersion, u64(latestVersion+1))
	})
	before := current.dump(t, path)
	var statBefore os.FileInfo
	if current.name == "bolt" {
		statBefore, _ = os.Stat(path)
	}

	s, err := openAt(path)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a newer schema")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("err = %v, want ErrSchemaTooNew", err)
	}
	wantName := "elevate.db"
	if current.name == "postgres" {
		wantName = "database elevate_test_"
	}
	if !strings.Contains(err.Error(), wantName) {
		t.Errorf("err = %q, want %q in it", err, wantName)
	}

	if after := current.dump(t, path); !bytes.Equal(after, before) {
		t.Errorf("Open modified a store with a newer schema:\nbefore: %s\nafter: %s", before, after)
	}
	if statBefore != nil {
		if statAfter, _ := os.Stat(path); !statAfter.ModTime().Equal(statBefore.ModTime()) {
			t.Errorf("mtime changed: %v → %v", statBefore.ModTime(), statAfter.ModTime())
		}
	}
}

func TestOpenNotABoltFile(t *testing.T) {
	path := boltPath(t)
	if err := os.WriteFile(path, []byte("not a database, just some bytes that are long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("Open succeeded on garbage")
	}
}

// TestReopen closes the store and opens it again: every kind of data
// survives, and the audit chain continues where it stopped.
func TestReopen(t *testing.T) {
	path := testPath(t)
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	s.now = (&clock{now: t0}).Now
	r1, err := s.CreateRequest(sampleRequest(), ev("request.created"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.CreateRequest(Request{Platform: "teams", ChatUser: "29:abc", UserID: "oid-bob", RoleName: "User Administrator"}, ev("request.created"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(r2.ID, ev("request.cancelled"), setState(StateCancelled)); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(Binding{Platform: "slack", ChatUser: "U123", UserID: "oid-alice", UPN: "alice@contoso.com"}, ev("identity.bound")); err != nil {
		t.Fatal(err)
	}
	ref := MessageRef{Platform: "slack", Channel: "C-approvals", MessageID: "1700000000.000100", Kind: "approval"}
	if err := s.AddMessageRef(r1.ID, ref); err != nil {
		t.Fatal(err)
	}
	wantReqs, err := s.Requests(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	wantAudit := auditRecords(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path)
	gotReqs, err := s.Requests(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gotReqs, wantReqs); diff != "" {
		t.Errorf("requests after reopen (-got +want):\n%s", diff)
	}
	if got, err := s.Requests(Filter{UserID: "oid-alice", OpenOnly: true}); err != nil || len(got) != 1 || got[0].ID != r1.ID {
		t.Errorf("open requests of oid-alice after reopen = %v, %v; want request %d", got, err, r1.ID)
	}
	checkIndexes(t, s)
	b, err := s.Binding("slack", "U123")
	if err != nil || b.UserID != "oid-alice" {
		t.Errorf("Binding after reopen = %+v, %v", b, err)
	}
	refs, err := s.MessageRefs(r1.ID)
	if err != nil || len(refs) != 1 || refs[0].MessageID != ref.MessageID {
		t.Errorf("MessageRefs after reopen = %+v, %v", refs, err)
	}
	if diff := cmp.Diff(auditRecords(t, s), wantAudit); diff != "" {
		t.Errorf("audit after reopen (-got +want):\n%s", diff)
	}

	// The chain and the ids continue.
	r3 := mustCreate(t, s, sampleRequest())
	if r3.ID != r2.ID+1 {
		t.Errorf("id after reopen = %d, want %d", r3.ID, r2.ID+1)
	}
	all := auditRecords(t, s)
	last, prev := all[len(all)-1], all[len(all)-2]
	if last.Seq != prev.Seq+1 || last.PrevHash != prev.Hash {
		t.Errorf("audit after reopen: record %d has prev_hash %q, want %q (hash of %d)", last.Seq, last.PrevHash, prev.Hash, prev.Seq)
	}
	if n, err := s.VerifyAudit(); err != nil || n != len(all) {
		t.Errorf("VerifyAudit = %d, %v; want %d, nil", n, err, len(all))
	}
}
