package bot

import (
	"testing"
	"time"
)

func TestSignInBookExpiresInOrder(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	b := newSignInBook(func() time.Time { return now })
	first, _ := b.add(pendingSignIn{requestID: 1})
	second, _ := b.add(pendingSignIn{requestID: 2})
	if _, ok := b.take(second); !ok {
		t.Fatal("a fresh link was refused")
	}
	if _, ok := b.take(second); ok {
		t.Fatal("a link worked twice")
	}
	now = now.Add(signInTTL + time.Second)
	third, _ := b.add(pendingSignIn{requestID: 3}) // prunes the expired first link
	if len(b.m) != 1 || len(b.order) != 1 {
		t.Errorf("after expiry the book holds %d links (%d in order), want only the new one", len(b.m), len(b.order))
	}
	if _, ok := b.take(first); ok {
		t.Error("an expired link worked")
	}
	if p, ok := b.take(third); !ok || p.requestID != 3 {
		t.Errorf("the new link: %+v, %v", p, ok)
	}
}

func BenchmarkSignInBookAdd(b *testing.B) {
	book := newSignInBook(time.Now)
	for b.Loop() {
		book.add(pendingSignIn{requestID: 1})
	}
}
