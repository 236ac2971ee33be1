package teams

import (
	"context"
	"fmt"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

// Teams has no App Home tab like Slack's; its home is a card in the personal chat, sent when the
// user says "home" and when the app is installed for them. The card asks Teams to refresh it
// (Universal Actions) whenever its user opens it, so it is current without being re-posted.

const (
	verbHome = "home" // the home card's refresh, and its Refresh button
	verbForm = "form" // a role's one-click button: the request form with the role picked
)

// maxHomeRoles is how many one-click role buttons the home card shows; `roles` lists the rest.
const maxHomeRoles = 10

// isHome reports whether text asks for the home card.
func isHome(text string) bool { return strings.EqualFold(strings.TrimSpace(text), "home") }

// sendHome posts who's home card in their personal chat, after intro when set.
func (a *Adapter) sendHome(ctx context.Context, who bot.Actor, intro string) error {
	card, err := a.homeCard(ctx, a.theCore(), who, intro)
	if err != nil {
		return err
	}
	_, _, err = a.sendDM(ctx, who.ChatUser, Activity{Type: "message", Summary: "Elevate: your admin roles",
		Attachments: []schema.Attachment{{ContentType: cardContentType, Content: card}}})
	return err
}

// homeMaxItems is how many active elevations, pending requests and requests waiting for the
// user's approval the home card shows of each (as Slack's App Home does); the rest is counted,
// with a pointer to `status` (one's own) or the approvals channel (the cards). Should the card still be over Teams' size limit (long
// justifications, a long catalogue), it is built again with homeFewItems of each and without the
// multi-role picker.
const (
	homeMaxItems = 10
	homeFewItems = 3
)

// homeCard is who's home: active elevations with Extend and I'm done, pending requests with
// Cancel, for approvers the requests waiting for them, and one-click role buttons.
func (a *Adapter) homeCard(ctx context.Context, c Core, who bot.Actor, intro string) (Card, error) {
	h, err := c.Home(ctx, who)
	if err != nil && len(h.Active)+len(h.Pending)+len(h.Eligible) == 0 {
		return nil, err
	}
	card := buildHome(c, h, who, intro, homeMaxItems)
	if size := messageSize(Activity{Attachments: []schema.Attachment{{ContentType: cardContentType, Content: card}}}); size > maxMessage {
		a.log.Warn("teams: home card shortened to fit Teams' size limit", "chat_user", who.ChatUser, "size", size, "limit", maxMessage,
			"active", len(h.Active), "pending", len(h.Pending), "to_approve", len(h.ToApprove), "eligible", len(h.Eligible))
		card = buildHome(c, h, who, intro, homeFewItems)
	}
	return card, nil
}

// buildHome is the home card of h showing at most limit items of each list.
func buildHome(c Core, h bot.Home, who bot.Actor, intro string, limit int) Card {
	body := []any{Card{"type": "TextBlock", "text": "Elevate: your admin roles", "weight": "Bolder", "size": "Medium", "wrap": true}}
	if intro != "" && h.Pilot == "" { // outside the pilot, its words are the welcome
		body = append(body, Card{"type": "TextBlock", "text": intro, "wrap": true})
	}
	section := func(title string) {
		body = append(body, Card{"type": "TextBlock", "text": title, "weight": "Bolder", "separator": true, "spacing": "Medium", "wrap": true})
	}
	item := func(text string, buttons ...bot.Button) {
		body = append(body, Card{"type": "TextBlock", "text": cut(markdown(text), maxFact), "wrap": true})
		if len(buttons) > 0 {
			body = append(body, Card{"type": "ActionSet", "actions": cardActions(buttons)})
		}
	}
	id := func(r store.Request) string { return fmt.Sprint(r.ID) }
	more := func(n int, what, where string) {
		if n > limit {
			item(fmt.Sprintf("…and %d more %s: %s", n-limit, what, where))
		}
	}
	first := func(rs []store.Request) []store.Request { return rs[:min(len(rs), limit)] }
	if h.Pilot == "" {
		section("Active now")
	}
	if len(h.Active) == 0 && h.Pilot == "" {
		item("Nothing: no admin role is active for you through Elevate.")
	}
	for _, r := range first(h.Active) {
		item(fmt.Sprintf("**%s** until %s (#%d)", r.RoleName, c.Clock(r.EndsAt), r.ID),
			bot.Button{Action: bot.ActionExtend, Label: "Extend 1h", Value: id(r)}, bot.Button{Action: bot.ActionDone, Label: "I'm done", Value: id(r)})
	}
	more(len(h.Active), "active roles", "say `status` to see them all.")
	if len(h.Pending) > 0 {
		section("Pending")
		for _, r := range first(h.Pending) {
			item(fmt.Sprintf("**%s** for %s: %s (#%d)", r.RoleName, bot.FormatDuration(r.Duration), strings.ReplaceAll(string(r.State), "_", " "), r.ID),
				bot.Button{Action: bot.ActionCancel, Label: "Cancel", Value: id(r)})
		}
		more(len(h.Pending), "pending requests", "say `status` to see them all.")
	}
	if len(h.ToApprove) > 0 {
		section("Waiting for your approval")
		for _, r := range first(h.ToApprove) {
			who := firstNonEmpty(r.UPN, r.ChatName, "someone")
			item(fmt.Sprintf("**#%d %s** asks for **%s** for %s: %s", r.ID, who, r.RoleName, bot.FormatDuration(r.Duration), r.Justification),
				bot.Button{Action: bot.ActionApprove, Label: "Approve", Value: id(r), Style: bot.StylePrimary},
				bot.Button{Action: bot.ActionDeny, Label: "Deny", Value: id(r), Style: bot.StyleDanger})
		}
		more(len(h.ToApprove), "requests waiting for your approval", "their cards are in the approvals channel.")
	}
	if h.Pilot != "" {
		// Outside the pilot: the words instead of their own part; the approver's queue above stays.
		section("Request a role")
		item(h.Pilot)
		return homeCardOf(body, who)
	}
	section("Request a role")
	if !h.Known {
		item("Sign in once through a request and this lists the roles you are eligible for; until then it lists every role Elevate knows.")
	}
	var roles []any
	for i, r := range h.Eligible {
		if i == maxHomeRoles {
			break
		}
		roles = append(roles, alone(execute(r.Name, verbForm, r.Alias, nil)))
	}
	for len(roles) > 0 { // Teams shows at most 5 actions in a row
		n := min(len(roles), 5)
		body = append(body, Card{"type": "ActionSet", "actions": roles[:n]})
		roles = roles[n:]
	}
	picker := len(h.Eligible) > 1 && limit > homeFewItems // left out of a card shortened to fit
	if len(h.Eligible) > maxHomeRoles {
		where := "say `roles` to see them all."
		if picker {
			where = "say `roles` to see them all, or pick them below."
		}
		item(fmt.Sprintf("%d more: %s", len(h.Eligible)-maxHomeRoles, where))
	}
	if picker {
		// Several roles in one request: pick them here, and the form opens with them picked (the
		// client sends the picks, comma-separated, with the button's data).
		var choices []any
		for _, r := range h.Eligible {
			choices = append(choices, Card{"title": r.Name, "value": r.Alias})
		}
		body = append(body,
			Card{"type": "Input.ChoiceSet", "id": inputHomeRoles, "label": fmt.Sprintf("Or several in one request (up to %d)", bot.MaxRoles),
				"placeholder": "Pick roles", "choices": choices, "style": "compact", "isMultiSelect": true},
			Card{"type": "ActionSet", "actions": []any{execute("Request these together", verbForm, "", nil)}})
	}
	return homeCardOf(body, who)
}

// inputHomeRoles is the id of the home card's multi-select of roles.
const inputHomeRoles = "home_roles"

// alone makes a button send only its own data, not the card's inputs (the home card's roles
// picked for a request of several).
func alone(a Card) Card {
	a["associatedInputs"] = "none"
	if fb, ok := a["fallback"].(Card); ok {
		fb["associatedInputs"] = "none"
	}
	return a
}

// homeCardOf is the home card with body, refreshed whenever who opens it.
func homeCardOf(body []any, who bot.Actor) Card {
	return Card{
		"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": cardVersion,
		"body":    body,
		"actions": []any{execute("Refresh", verbHome, "", nil)},
		// Current whenever its user opens it (Universal Actions refresh).
		"refresh": Card{"action": execute("", verbHome, "", nil), "userIds": []string{who.ChatUser}},
	}
}
