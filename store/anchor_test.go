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

// Whoever can write the store cannot choose the hash an anchor line publishes: a newest record
// whose stated hash is not its own (edited in place) gives no anchor but a *ChainError.
func TestAuditHeadRefusesAlteredRecord(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(r *AuditRecord)
	}{
		{"hash replaced", func(r *AuditRecord) { r.Hash = strings.Repeat("ab", 32) }},
		{"detail altered", func(r *AuditRecord) { r.Detail = "nothing to see here" }},
		{"seq altered", func(r *AuditRecord) { r.Seq = 2; r.Hash = r.hash() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t)
			s, err := openAt(path)
			if err != nil {
				t.Fatal(err)
			}
			fillAudit(t, s, 3)
			s.Close()
			tamper(t, path, func(b kvBucket) error {
				var r AuditRecord
				if err := json.Unmarshal(b.Get(u64(3)), &r); err != nil {
					return err
				}
				tt.edit(&r)
				v, err := json.Marshal(r)
				if err != nil {
					return err
				}
				return b.Put(u64(3), v)
			})
			s = openTest(t, path)
			a, err := s.AuditHead()
			var ce *ChainError
			if !errors.As(err, &ce) || ce.Seq != 3 {
				t.Fatalf("AuditHead of an altered newest record = %v, %v; want a *ChainError at record 3", a, err)
			}
		})
	}
}

// afterView is a store's key-value layer that runs hook after each read transaction: someone
// writing the store between the transactions of one check.
type afterView struct {
	kvDB
	hook func()
}

func (a *afterView) View(fn func(kvTx) error) error {
	err := a.kvDB.View(fn)
	a.hook()
	return err
}

// `audit verify -anchor` checks the chain and the anchors in one read transaction: whoever can
// write the store cannot show the chain check a rewritten chain and the anchor check the
// published records, put back for the moment between the two.
func TestVerifyAuditAnchorsOneSnapshot(t *testing.T) {
	s := newTestStore(t)
	fillAudit(t, s, 5)
	a5, err := s.AuditHead()
	if err != nil {
		t.Fatal(err)
	}
	published := map[uint64][]byte{}
	if err := s.db.Update(func(tx kvTx) error {
		b := tx.Bucket(bucketAudit)
		for n := uint64(1); n <= 5; n++ {
			published[n] = clone(b.Get(u64(n)))
		}
		return rewriteFrom(1)(b)
	}); err != nil {
		t.Fatal(err)
	}
	views := 0
	s.db = &afterView{kvDB: s.db, hook: func() {
		views++
		if views != 1 {
			return
		}
		// After the first look, the published records are back, as long as the check runs.
		if err := s.db.(*afterView).kvDB.Update(func(tx kvTx) error {
			b := tx.Bucket(bucketAudit)
			for n, v := range published {
				if err := b.Put(u64(n), v); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}}
	n, err := s.VerifyAuditAnchors([]Anchor{a5})
	if !errors.Is(err, ErrAnchor) || n != 5 {
		t.Fatalf("VerifyAuditAnchors of a rewritten chain = %d, %v; want 5 records verified and the anchor refused", n, err)
	}
}

// ParseAnchor takes exactly what Anchor.String writes: whatever it accepts prints back as the
// same text, with a record number of at least 1 and a lowercase 64-hex-digit hash.
func FuzzParseAnchor(f *testing.F) {
	h := strings.Repeat("0a", 32)
	for _, s := range []string{"57:" + h, "1:" + h, "0:" + h, "18446744073709551615:" + h, "18446744073709551616:" + h,
		"057:" + h, "+5:" + h, "5:" + strings.ToUpper(h), "5:" + h + "\n", " 5:" + h, "5::" + h, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAnchor(s)
		if err != nil {
			if a != (Anchor{}) {
				t.Errorf("ParseAnchor(%q) failed but returned %v", s, a)
			}
			return
		}
		if a.String() != s || a.Seq == 0 || len(a.Hash) != 64 || strings.ToLower(a.Hash) != a.Hash {
			t.Errorf("ParseAnchor(%q) = %v", s, a)
		}
		if b, err := ParseAnchor(a.String()); err != nil || b != a {
			t.Errorf("ParseAnchor(%q) = %v, %v; want %v back", a.String(), b, err, a)
		}
	})
}

// The anchors at the ends of the log: the first record, the head itself, one past the head, and
// any anchor against an empty log.
func TestVerifyAnchorsBoundaries(t *testing.T) {
	s := newTestStore(t)
	if _, err := s.VerifyAuditAnchors([]Anchor{{Seq: 1, Hash: strings.Repeat("0a", 32)}}); !errors.Is(err, ErrAnchor) ||
		!strings.Contains(err.Error(), "ends at record 0") {
		t.Errorf("an anchor against an empty log = %v; want its tail cut, ending at record 0", err)
	}
	fillAudit(t, s, 3)
	recs := auditRecords(t, s)
	first, head := Anchor{Seq: 1, Hash: recs[0].Hash}, Anchor{Seq: 3, Hash: recs[2].Hash}
	if n, err := s.VerifyAuditAnchors([]Anchor{head, first}); n != 3 || err != nil {
		t.Errorf("anchors at the first record and the head = %d, %v; want 3, nil", n, err)
	}
	past := Anchor{Seq: 4, Hash: head.Hash}
	if _, err := s.VerifyAuditAnchors([]Anchor{first, past}); !errors.Is(err, ErrAnchor) ||
		!strings.Contains(err.Error(), "tail was cut") || !strings.Contains(err.Error(), past.String()) {
		t.Errorf("an anchor past the head = %v; want its tail cut, naming %s", err, past)
	}
	maxSeq := Anchor{Seq: 1<<64 - 1, Hash: head.Hash}
	if _, err := s.VerifyAuditAnchors([]Anchor{maxSeq}); !errors.Is(err, ErrAnchor) {
		t.Errorf("an anchor at the largest record number = %v; want refused", err)
	}
}
