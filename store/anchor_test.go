package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestAuditHead(t *testing.T) {
	s := newTestStore(t)
	if a, err := s.AuditHead(); err != nil || a != (Anchor{}) {
		t.Fatalf("AuditHead of an empty log = %v, %v; want the zero anchor", a, err)
	}
	fillAudit(t, s, 3)
	recs := auditRecords(t, s)
	if a, err := s.AuditHead(); err != nil || a != (Anchor{Seq: 3, Hash: recs[2].Hash}) {
		t.Fatalf("AuditHead = %v, %v; want 3:%s", a, err, recs[2].Hash)
	}
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("0a", 32)
	if a, err := ParseAnchor("57:" + h); err != nil || a != (Anchor{Seq: 57, Hash: h}) || a.String() != "57:"+h {
		t.Errorf("ParseAnchor(57:%s) = %v, %v", h, a, err)
	}
	for _, bad := range []string{"", "57", "57:", ":" + h, "0:" + h, "-1:" + h, "57:" + h[:63], "57:" + strings.ToUpper(h), "57:" + h + " ", "x:" + h} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) succeeded", bad)
		}
	}
}

// rewriteFrom rewrites every audit record from seq on as someone who can write the store could:
// record seq's detail changed, and its hash and every later record's prev_hash and hash
// recomputed, so the chain verifies.
func rewriteFrom(seq uint64) func(b kvBucket) error {
	return func(b kvBucket) error {
		prev := ""
		for n := uint64(1); n <= b.Sequence(); n++ {
			var r AuditRecord
			if err := json.Unmarshal(b.Get(u64(n)), &r); err != nil {
				return err
			}
			if r.Seq >= seq {
				if r.Seq == seq {
					r.Detail = "nothing to see here"
				}
				r.PrevHash = prev
				r.Hash = r.hash()
				nv, err := json.Marshal(r)
				if err != nil {
					return err
				}
				if err := b.Put(u64(r.Seq), nv); err != nil {
					return err
				}
			}
			prev = r.Hash
		}
		return nil
	}
}

// cutTail deletes the records after seq and sets the sequence back, so the chain verifies.
func cutTail(seq uint64) func(b kvBucket) error {
	return func(b kvBucket) error {
		for n := b.Sequence(); n > seq; n-- {
			if err := b.Delete(u64(n)); err != nil {
				return err
			}
		}
		return b.SetSequence(seq)
	}
}

// A chain rewritten whole or cut short verifies on its own; the anchors published before show it.
func TestVerifyAnchors(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(b kvBucket) error
		wantN    int
		wantFail uint64 // the first anchor (of those at 2 and 5) that fails; 0: none
		wantText string
	}{
		{"honest", nil, 7, 0, ""},
		{"rewritten from record 3", rewriteFrom(3), 7, 5, "was rewritten"},
		{"rewritten whole", rewriteFrom(1), 7, 2, "was rewritten"},
		{"tail cut", cutTail(4), 4, 5, "tail was cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t)
			s, err := openAt(path)
			if err != nil {
				t.Fatal(err)
			}
			fillAudit(t, s, 2)
			a2, err := s.AuditHead()
			if err != nil {
				t.Fatal(err)
			}
			fillAudit(t, s, 3)
			a5, err := s.AuditHead()
			if err != nil || a5.Seq != 5 {
				t.Fatalf("AuditHead = %v, %v; want record 5", a5, err)
			}
			fillAudit(t, s, 2) // the chain moves on past the newest anchor
			s.Close()
			if tt.tamper != nil {
				tamper(t, path, tt.tamper)
			}

			s = openTest(t, path)
			if n, err := s.VerifyAudit(); n != tt.wantN || err != nil {
				t.Fatalf("VerifyAudit = %d, %v; want %d records verified: the tampering is consistent", n, err, tt.wantN)
			}
			err = s.VerifyAnchors([]Anchor{a2, a5})
			if tt.wantFail == 0 {
				if err != nil {
					t.Fatalf("VerifyAnchors of an honest chain = %v", err)
				}
				return
			}
			var ae *AnchorError
			if !errors.As(err, &ae) || !errors.Is(err, ErrAnchor) {
				t.Fatalf("VerifyAnchors = %v; want an *AnchorError", err)
			}
			if ae.Anchor.Seq != tt.wantFail || !strings.Contains(err.Error(), tt.wantText) || !strings.Contains(err.Error(), ae.Anchor.String()) {
				t.Errorf("VerifyAnchors = %v; want anchor %d named, saying %q", err, tt.wantFail, tt.wantText)
			}
		})
	}
}
