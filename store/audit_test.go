package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// fillAudit writes n audit records through the public API.
func fillAudit(t *testing.T, s *Store, n int) {
	t.Helper()
	r := mustCreate(t, s, sampleRequest())
	for range n - 1 {
		if _, err := s.Update(r.ID, ev("request.note"), func(r *Request) error { r.GraphStatus += "."; return nil }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditChain(t *testing.T) {
	s := newTestStore(t)
	fillAudit(t, s, 5)
	recs := auditRecords(t, s)
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	prev := ""
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.PrevHash != prev || r.Hash != r.hash() || r.At.Location().String() != "UTC" {
			t.Errorf("record %d = %+v (prev hash want %q)", i+1, r, prev)
		}
		prev = r.Hash
	}
	if n, err := s.VerifyAudit(); n != 5 || err != nil {
		t.Errorf("VerifyAudit = %d, %v; want 5, nil", n, err)
	}
}

func TestAuditHashCoversEveryField(t *testing.T) {
	base := AuditRecord{Seq: 3, At: t0, Actor: "a", Action: "b", RequestID: 4, Detail: "c", PrevHash: "d"}
	changes := map[string]func(*AuditRecord){
		"seq":        func(r *AuditRecord) { r.Seq++ },
		"at":         func(r *AuditRecord) { r.At = r.At.Add(1) },
		"actor":      func(r *AuditRecord) { r.Actor = "x" },
		"action":     func(r *AuditRecord) { r.Action = "x" },
		"request id": func(r *AuditRecord) { r.RequestID++ },
		"detail":     func(r *AuditRecord) { r.Detail = "x" },
		"prev hash":  func(r *AuditRecord) { r.PrevHash = "x" },
		// Moving bytes between fields must change the hash too.
		"shifted": func(r *AuditRecord) { r.Actor, r.Action = "ab", "" },
	}
	for name, change := range changes {
		r := base
		change(&r)
		if r.hash() == base.hash() {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
}

func TestAuditPagesInOrder(t *testing.T) {
	s := newTestStore(t)
	n := auditPage*2 + 3
	fillAudit(t, s, n)
	var seqs []uint64
	if err := s.Audit(func(r AuditRecord) error { seqs = append(seqs, r.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != n {
		t.Fatalf("Audit gave %d records, want %d", len(seqs), n)
	}
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, seq)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := s.Audit(func(AuditRecord) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Audit with a failing fn: %v after %d calls, want stop after 1", err, calls)
	}
}

// tamper changes the stored audit log directly in the bbolt file, as someone
// with access to the file could, with the store closed.
func tamper(t *testing.T, path string, fn func(b kvBucket) error) {
	t.Helper()
	rawUpdate(t, path, func(tx kvTx) error { return fn(tx.Bucket(bucketAudit)) })
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(b kvBucket) error
		wantN    int
		wantSeq  uint64
		wantText string
	}{
		{"altered detail", func(b kvBucket) error {
			v := bytes.Replace(b.Get(u64(3)), []byte(`"request.note"`), []byte(`"request.nope"`), 1)
			return b.Put(u64(3), v)
		}, 2, 3, "altered"},
		{"altered hash", func(b kvBucket) error {
			v := bytes.Replace(b.Get(u64(3)), []byte(`"hash":"`), []byte(`"hash":"0`), 1)
			return b.Put(u64(3), v)
		}, 2, 3, "altered"},
		{"altered and rehashed", func(b kvBucket) error {
			// Record 3 verifies on its own; record 4's prev_hash exposes it.
			var r AuditRecord
			if err := json.Unmarshal(b.Get(u64(3)), &r); err != nil {
				return err
			}
			r.Detail = "nothing to see"
			r.Hash = r.hash()
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			return b.Put(u64(3), v)
		}, 3, 4, "prev_hash"},
		{"deleted middle record", func(b kvBucket) error { return b.Delete(u64(3)) }, 2, 3, "missing"},
		{"deleted last record", func(b kvBucket) error { return b.Delete(u64(5)) }, 4, 5, "truncated"},
		{"garbage", func(b kvBucket) error { return b.Put(u64(2), []byte("{")) }, 1, 2, "unreadable"},
		{"record moved", func(b kvBucket) error {
			v := append([]byte(nil), b.Get(u64(5))...)
			if err := b.Delete(u64(5)); err != nil {
				return err
			}
			return b.Put(u64(6), v)
		}, 4, 5, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t)
			s, err := openAt(path)
			if err != nil {
				t.Fatal(err)
			}
			fillAudit(t, s, 5)
			s.Close()

			tamper(t, path, tt.tamper)

			s = openTest(t, path)
			n, err := s.VerifyAudit()
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("VerifyAudit = %d, %v; want a *ChainError", n, err)
			}
			if n != tt.wantN || ce.Seq != tt.wantSeq || !bytes.Contains([]byte(ce.Reason), []byte(tt.wantText)) {
				t.Errorf("VerifyAudit = %d, %v; want %d and record %d (%s)", n, ce, tt.wantN, tt.wantSeq, tt.wantText)
			}
		})
	}
}
