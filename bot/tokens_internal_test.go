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

func TestLinkBookExpiresInOrder(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	b := newLinkBook(func() time.Time { return now })
	first, _ := b.add(pendingLink{})
	now = now.Add(signInTTL + time.Second)
	if _, ok := b.peek(first); ok {
		t.Error("an expired page was found")
	}
	second, csrf := b.add(pendingLink{}) // prunes the expired first page
	if len(b.m) != 1 || len(b.order) != 1 {
		t.Errorf("after expiry the book holds %d pages (%d in order), want only the new one", len(b.m), len(b.order))
	}
	if l, ok := b.peek(second); !ok || l.csrf != csrf || csrf == "" {
		t.Errorf("the new page: %+v, %v", l, ok)
	}
	if !b.take(second) || b.take(second) {
		t.Error("a page was taken other than once")
	}
}
