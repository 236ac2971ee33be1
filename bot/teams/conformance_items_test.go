package teams_test

import (
	"fmt"
	"testing"

	"github.com/elevate-pim/elevate/bot/bottest"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
)

// TestConformanceItems plays issue #15's items (dry run, pilot, feedback, on-call, home, burst
// alert, digest trends and chart) through /api/messages, and validates every activity the
// adapter sent and every card it answered with against the Adaptive Card checks.
func TestConformanceItems(t *testing.T) {
	pd, withOnCall := bottest.WithOnCall(t)
	w := startWorldOpts(t, bottest.ItemsConfig(t), nil,
		map[string]string{"#pim-approvals": approvalsID, "#security": securityID, "#it-admins": digestID}, nil, withOnCall)
	bottest.RunItems(t, w.World, platform{w}, pd)
}

// Home is `home` in user's personal chat, then the card's refresh as Teams sends it when the
// card is opened: it returns the refreshed card's text, after checking that card.
func (p platform) Home(t *testing.T, user string) string {
	t.Helper()
	p.Type(t, user, "home")
	p.Settle(t)
	card := homeInvoke(t, p.w, user, "home", "")
	if err := teamstest.CheckCard(card); err != nil {
		t.Errorf("the refreshed home card: %v", err)
	}
	return cardText(card)
}

// Images counts the Image elements of the cards posted in channel.
func (p platform) Images(t *testing.T, channel string) int {
	id := map[string]string{"#pim-approvals": approvalsID, "#security": securityID, "#it-admins": digestID}[channel]
	c, _ := p.w.fake.Conversation(id)
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if x["type"] == "Image" {
				n++
			}
			for _, k := range []string{"attachments", "content", "body", "items", "columns"} {
				walk(x[k])
			}
		}
	}
	for _, a := range c.Activities {
		walk(a.Body)
	}
	return n
}

// Check validates every activity the adapter sent, as it stands (updates applied).
func (p platform) Check(*testing.T) []error {
	var errs []error
	for _, c := range p.w.fake.Conversations() {
		for _, a := range c.Activities {
			if err := teamstest.CheckActivity(a.Body); err != nil {
				errs = append(errs, fmt.Errorf("activity %s in %s (%.60q): %w", a.ID, c.ID, teamstest.Text(a.Body), err))
			}
		}
	}
	return errs
}
