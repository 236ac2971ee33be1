package demo

import (
	"context"

	"github.com/elevate-pim/elevate/bot"
)

// MultiRoleStory plays several roles in one request (#15): Alice, done with her Global
// Administrator from the story, asks for Exchange Administrator and Global Administrator in one
// request. One sign-in; PIM's dry run for each role; the strictest rule (Global Administrator's:
// two approvals, tier 0, so each approver signs in for this request) on one card listing both
// roles; then one activation per role and one line for both. She ends them together with `done`.
// Call it after Story, with the same World.
func (w *World) MultiRoleStory(ctx context.Context) error {
	steps := []struct {
		note string
		run  func() error
	}{
		{"Several roles in one request. Alice first ends the Global Administrator she has from before.", func() error { return w.Say(ctx, "alice", "done ga") }},
		{"Alice mistypes one of two roles: the answer is about that one.", func() error { return w.Say(ctx, "alice", "exchange,glbal 1h INC-1234 restore mail routing") }},
		{"Alice asks for Exchange Administrator and Global Administrator at once, with one justification.", func() error {
			return w.Say(ctx, "alice", "exchange,ga 1h INC-1234 restore mail routing")
		}},
		{"One sign-in for both (tier 0: made for this request). PIM's dry run checks each role before anyone is asked.", func() error {
			return w.ClickLast(ctx, "alice", bot.ActionOpenURL, "")
		}},
		{"One card lists both roles. The strictest rule applies: Global Administrator's two approvals, tier-0 sign-ins.", func() error {
			return w.ClickLast(ctx, "bob", bot.ActionApprove, "")
		}},
		{"", func() error { return w.ClickLast(ctx, "bob", bot.ActionOpenURL, "") }},
		{"Carol approves in Teams: two of two, for both roles. Each role is its own PIM activation.", func() error {
			return w.ClickLastOn(ctx, platformTeams, "carol", bot.ActionApprove, "")
		}},
		{"", func() error { return w.ClickLastOn(ctx, platformTeams, "carol", bot.ActionOpenURL, "") }},
		{"Alice sees each role on its own line.", func() error { return w.Say(ctx, "alice", "status") }},
	}
	for _, s := range steps {
		if s.note != "" {
			w.t.say("\n── %s\n", s.note)
		}
		if err := s.run(); err != nil {
			return err
		}
	}
	return nil
}
