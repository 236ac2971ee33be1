package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/elevate-pim/elevate/store"
	bolt "go.etcd.io/bbolt"
)

// anchorLines are the "audit anchor" lines of a JSON log.
func anchorLines(t *testing.T, log *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(log.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue // not a log record (serve's stderr may carry other text)
		}
		if m["msg"] == "audit anchor" {
			out = append(out, m)
		}
	}
	return out
}

func addRequests(t *testing.T, s *store.Store, n int, actor string) {
	t.Helper()
	for i := range n {
		if _, err := s.CreateRequest(store.Request{Platform: "slack", ChatUser: "U1", RoleName: "Exchange Administrator", Duration: time.Hour},
			store.AuditRecord{At: time.Date(2026, 1, 1+i, 9, 0, 0, 0, time.UTC), Actor: actor, Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The chain's head is logged as an anchor when it moved, and `audit verify -anchor` checks a
// store against the anchors: an honest chain holds them; a chain rewritten whole (verifying on
// its own) or cut short does not, on bbolt and on PostgreSQL.
func TestAuditAnchors(t *testing.T) {
	dir := t.TempDir()
	honest := filepath.Join(dir, "honest.db")
	s, err := store.Open(honest)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	a := &anchorer{head: s.AuditHead, log: log}
	a.check()
	if n := len(anchorLines(t, &logBuf)); n != 0 {
		t.Fatalf("%d anchors logged for an empty chain, want none", n)
	}
	addRequests(t, s, 3, "slack:U1")
	a.check()
	a.check() // the chain did not move: nothing more
	// serve's loop: an anchor at start (the chain moved since), none again at the end.
	addRequests(t, s, 2, "slack:U1")
	done, cancel := context.WithCancel(context.Background())
	cancel()
	auditAnchors(done, s, time.Hour, log)
	s.Close()
	lines := anchorLines(t, &logBuf)
	if len(lines) != 2 || lines[0]["seq"] != float64(3) || lines[1]["seq"] != float64(5) {
		t.Fatalf("anchor lines = %v; want one at record 3 and one at record 5", lines)
	}
	var anchors []string
	for _, l := range lines {
		anchor, _ := l["anchor"].(string)
		if hash, _ := l["hash"].(string); len(hash) != 64 || !strings.HasSuffix(anchor, ":"+hash) {
			t.Fatalf("anchor line %v: want a 64-hex-digit hash and anchor SEQ:HASH", l)
		}
		anchors = append(anchors, anchor)
	}
	a3, a5 := anchors[0], anchors[1]

	out, err := runCLI(t, "audit", "verify", "-db", honest, "-anchor", a3, "-anchor", a5)
	if err != nil || !strings.Contains(out, "5 audit records, hash chain intact, holds 2 anchor(s) (newest: record 5)") {
		t.Fatalf("audit verify of the honest chain with its anchors: %v\n%s", err, out)
	}

	// Rewritten whole: another history of the same length, consistent on its own.
	rewritten := filepath.Join(dir, "rewritten.db")
	r, err := store.Open(rewritten)
	if err != nil {
		t.Fatal(err)
	}
	addRequests(t, r, 5, "slack:U2")
	r.Close()
	if out, err := runCLI(t, "audit", "verify", "-db", rewritten); err != nil || !strings.Contains(out, "5 audit records, hash chain intact (no anchor given") {
		t.Fatalf("plain audit verify of the rewritten chain: %v\n%s; want it to pass (that is the gap anchors close)", err, out)
	}
	_, err = runCLI(t, "audit", "verify", "-db", rewritten, "-anchor", a3, "-anchor", a5)
	if err == nil || !strings.Contains(err.Error(), "anchor "+a3) || !strings.Contains(err.Error(), "rewritten") {
		t.Errorf("audit verify of the rewritten chain with the anchors = %v; want a failure naming anchor %s", err, a3)
	}

	// Cut short: records 4 and 5 deleted and the sequence set back, so the chain verifies.
	cut := filepath.Join(dir, "cut.db")
	copyFile(t, honest, cut)
	db, err := bolt.Open(cut, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		for _, k := range [][]byte{{0, 0, 0, 0, 0, 0, 0, 5}, {0, 0, 0, 0, 0, 0, 0, 4}} {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return b.SetSequence(3)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out, err := runCLI(t, "audit", "verify", "-db", cut, "-anchor", a3); err != nil {
		t.Fatalf("audit verify of the cut chain with the anchor it still holds: %v\n%s", err, out)
	}
	_, err = runCLI(t, "audit", "verify", "-db", cut, "-anchor", a3, "-anchor", a5)
	if err == nil || !strings.Contains(err.Error(), "anchor "+a5) || !strings.Contains(err.Error(), "tail was cut") {
		t.Errorf("audit verify of the cut chain = %v; want a failure naming anchor %s and the cut tail", err, a5)
	}

	// A malformed anchor is a usage error.
	if _, err := runCLI(t, "audit", "verify", "-db", honest, "-anchor", "5:abc"); err == nil {
		t.Error("audit verify -anchor 5:abc succeeded")
	}

	// PostgreSQL: the same checks on the copied stores.
	dbURL := pgtest.URL(t)
	if out, err := runCLI(t, "store", "migrate", "-from", honest, "-to", dbURL); err != nil {
		t.Fatalf("store migrate: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "audit", "verify", "-db", dbURL, "-anchor", a3, "-anchor", a5); err != nil {
		t.Errorf("audit verify on PostgreSQL of the honest chain: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "store", "migrate", "-from", rewritten, "-to", dbURL, "-replace"); err != nil {
		t.Fatalf("store migrate -replace: %v\n%s", err, out)
	}
	_, err = runCLI(t, "audit", "verify", "-db", dbURL, "-anchor", a5)
	if err == nil || !strings.Contains(err.Error(), "anchor "+a5) {
		t.Errorf("audit verify on PostgreSQL of the rewritten chain = %v; want a failure naming anchor %s", err, a5)
	}
}

// serve logs the audit chain's head while it leads: by the time it has stopped, the head of the
// chain it opened is in its log.
func TestServeLogsAuditAnchor(t *testing.T) {
	path := boltStoreWithRequests(t, 2)
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	head, err := s.AuditHead()
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	p := startServe(t, path)
	p.waitFor(t, "/readyz", http.StatusOK)
	p.cancel()
	if <-p.exited; p.err != nil {
		t.Fatalf("serve: %v", p.err)
	}
	// serve may have audited something itself (a sweep expiring a request): the last anchor is
	// the head the chain had when serve stopped, the first the head it found.
	s, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.AuditHead()
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString(p.logs.String())
	lines := anchorLines(t, &buf)
	if len(lines) == 0 || lines[0]["anchor"] != head.String() || lines[len(lines)-1]["anchor"] != last.String() {
		t.Errorf("serve's audit anchors = %v; want the first to be %s (at start) and the last %s (at stop)", lines, head, last)
	}
}

// audit verify fails on the target of a store migrate that stopped part way: its chain verifies
// among itself, but may be only the start of the source's.
func TestAuditVerifyUnfinishedCopy(t *testing.T) {
	path := boltStoreWithRequests(t, 3)
	if out, err := runCLI(t, "audit", "verify", "-db", path); err != nil {
		t.Fatalf("audit verify of a whole store: %v\n%s", err, out)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("copy_unfinished"), []byte("started 2026-12-03T18:00:00Z"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = runCLI(t, "audit", "verify", "-db", path)
	if err == nil || !strings.Contains(err.Error(), "unfinished copy") || !strings.Contains(err.Error(), "3 records verify") {
		t.Errorf("audit verify of an unfinished copy = %v; want a failure naming the unfinished copy", err)
	}
}
