package bot_test

import (
	"context"
	"testing"

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
