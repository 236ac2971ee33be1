package teams

import (
	"testing"
	"time"
)

// TestMemberCache: a found member is remembered for findTTL, nobody for findMissTTL; a full
// cache makes room.
func TestMemberCache(t *testing.T) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	c := newMemberCache(3)
	c.now = func() time.Time { return now }
	dave := Member{ID: "29:dave", AadObjectID: "oid-dave", UserPrincipalName: "dave@contoso.example"}
	c.put(keyOID("OID-Dave"), dave, findTTL)
	c.put(keyUPN("nobody@contoso.example"), Member{}, findMissTTL)
	if m, ok := c.get(keyOID("oid-dave")); !ok || m != dave {
		t.Fatalf("dave = %+v, %v", m, ok)
	}
	if m, ok := c.get(keyUPN("Nobody@Contoso.example")); !ok || m.ID != "" {
		t.Fatalf("nobody = %+v, %v", m, ok)
	}
	if _, ok := c.get(""); ok {
		t.Error("the empty key is cached")
	}
	now = now.Add(findMissTTL)
	if _, ok := c.get(keyUPN("nobody@contoso.example")); ok {
		t.Error("a miss outlived findMissTTL")
	}
	if _, ok := c.get(keyOID("oid-dave")); !ok {
		t.Error("a member was forgotten before findTTL")
	}
	now = now.Add(findTTL)
	if _, ok := c.get(keyOID("oid-dave")); ok {
		t.Error("a member outlived findTTL")
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		c.put(keyID(id), Member{ID: id}, findTTL)
	}
	if len(c.m) > 3 {
		t.Errorf("%d entries in a cache of 3", len(c.m))
	}
	if m, ok := c.get(keyID("d")); !ok || m.ID != "d" {
		t.Errorf("the newest entry = %+v, %v", m, ok)
	}
	if keyUPN("not-a-upn") != "" || keyOID("") != "" || keyID("") != "" {
		t.Error("empty or malformed names make keys")
	}
}

func TestParagraphs(t *testing.T) {
	for in, want := range map[string]string{
		"one line":          "one line",
		"a\nb":              "a\n\nb",
		"a\r\n\r\nb\n\n\nc": "a\n\nb\n\nc",
	} {
		if got := paragraphs(in); got != want {
			t.Errorf("paragraphs(%q) = %q, want %q", in, got, want)
		}
	}
}
