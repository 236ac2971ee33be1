package slack

import (
	"testing"
	"time"
)

// TestFindCache: a found member is remembered for findTTL, nobody for findMissTTL; a full
// cache makes room.
func TestFindCache(t *testing.T) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	c := newFindCache(3)
	c.now = func() time.Time { return now }
	c.put("dave@contoso.example", "UDAVE", findTTL)
	c.put("nobody@contoso.example", "", findMissTTL)
	if u, ok := c.get("dave@contoso.example"); !ok || u != "UDAVE" {
		t.Fatalf("dave = %q, %v", u, ok)
	}
	if u, ok := c.get("nobody@contoso.example"); !ok || u != "" {
		t.Fatalf("nobody = %q, %v", u, ok)
	}
	now = now.Add(findMissTTL)
	if _, ok := c.get("nobody@contoso.example"); ok {
		t.Error("a miss outlived findMissTTL")
	}
	if _, ok := c.get("dave@contoso.example"); !ok {
		t.Error("a member was forgotten before findTTL")
	}
	now = now.Add(findTTL)
	if _, ok := c.get("dave@contoso.example"); ok {
		t.Error("a member outlived findTTL")
	}
	c.put("a@x", "UA", findTTL)
	c.put("b@x", "UB", findTTL)
	c.put("c@x", "UC", findTTL)
	c.put("d@x", "UD", findTTL)
	if len(c.m) > 3 {
		t.Errorf("%d entries in a cache of 3", len(c.m))
	}
	if u, ok := c.get("d@x"); !ok || u != "UD" {
		t.Errorf("the newest entry = %q, %v", u, ok)
	}
}
