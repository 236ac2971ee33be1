package bot_test

import (
	"context"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
)

// TestSignInThenClick: a button that needs the clicker's own token (applying review removals)
// asks for a sign-in and runs again, with the token, once the sign-in is done.
func TestSignInThenClick(t *testing.T) {
	w := newWorld(t, setup{})
	var ran []string
	w.core.HandleAction("review_apply", func(ctx context.Context, a bot.Actor, value, _ string) error {
		tok, ok := w.core.FreshToken(a)
		if !ok {
			w.core.SignInThenClick(ctx, a, "review_apply", value, "", "Applying removals needs your own sign-in.")
			return nil
		}
		ran = append(ran, value+" as "+tok.UPN)
		return nil
	})
	if err := w.core.Click(context.Background(), w.actor("bob"), "review_apply", "2026-Q4", ""); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 0 {
		t.Fatalf("ran before a sign-in: %v", ran)
	}
	contains(t, w.rec.lastTo("bob"), "Applying removals needs your own sign-in.")
	w.signIn("bob")
	if len(ran) != 1 || ran[0] != "2026-Q4 as bob@"+w.domain {
		t.Fatalf("after sign-in: %v, want one run as bob", ran)
	}
	if _, ok := w.core.FreshToken(w.actor("dave")); ok {
		t.Error("dave, who never signed in, has a token")
	}
}

// TestPostSurvivesChatOutage: a channel post from scheduled work (a security alert, a digest)
// that the platform refuses is kept and delivered once when the channel works again.
func TestPostSurvivesChatOutage(t *testing.T) {
	w := newWorld(t, setup{})
	w.rec.mu.Lock()
	w.rec.failChannel = "#security"
	w.rec.mu.Unlock()
	if err := w.core.Post(context.Background(), "#security", bot.Message{Kind: bot.KindAlert, Text: "break-glass sign-in"}); err != nil {
		t.Fatal(err)
	}
	if got := w.rec.to("#security"); len(got) != 0 {
		t.Fatalf("posted during the outage: %q", got)
	}
	w.rec.mu.Lock()
	w.rec.failChannel = ""
	w.rec.mu.Unlock()
	w.clock.advance(time.Minute)
	w.core.DeliverDue(context.Background())
	w.core.DeliverDue(context.Background())
	if got := w.rec.to("#security"); len(got) != 1 || got[0] != "break-glass sign-in" {
		t.Errorf("#security got %q, want the alert once", got)
	}
}
