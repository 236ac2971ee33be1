package teams

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/elevate-pim/elevate/bot"
)

// Card is an Adaptive Card as JSON-ready maps: the renderer builds it, tests compare it with
// golden files, the connector sends it.
type Card = map[string]any

const (
	cardContentType = "application/vnd.microsoft.card.adaptive"
	cardVersion     = "1.5"
	// Long texts are cut; a message still over Teams' size limit is shortened (size.go).
	maxText  = 3000
	maxFact  = 1000
	maxUsers = 60 // refresh.userIds holds at most 60 users
)

// Verbs of our Action.Execute / Action.Submit data, besides the bot.Action values.
const (
	verbRefresh = "refresh" // the card's refresh action: answer with the live card
	verbRequest = "request" // the request form's submit
)

// inputReason is the id of the Deny reason input; inputs come back merged into the data.
const inputReason = "reason"

// reasonInput is the id of the reason input of a card's second and later Deny buttons.
func reasonInput(value string) string { return inputReason + "-" + value }

// denyReason reads a Deny's reason from a submission's data.
func denyReason(data map[string]any, value string) string {
	if s, ok := data[reasonInput(value)].(string); ok {
		return s
	}
	s, _ := data[inputReason].(string)
	return s
}

// Kinds of messages from scheduled work (bot/schedule's KindDigest and KindReview), named here
// so that the adapter does not depend on the scheduler.
const (
	kindDigest bot.Kind = "digest"
	kindReview bot.Kind = "review"
)

// alwaysCard are the kinds shown as a card even without buttons or fields: approval cards, and
// scheduled work's messages, whose title reads best as a card's heading.
var alwaysCard = map[bot.Kind]bool{bot.KindCard: true, kindDigest: true, kindReview: true}

// render turns a neutral message into what Teams shows: an Adaptive Card when it has buttons or
// fields or is of a kind in alwaysCard, markdown text otherwise. images (Image elements) go in
// the card below the fields.
func render(m bot.Message, refreshUsers []string, images ...Card) Activity {
	a := Activity{Type: "message"}
	if len(m.Buttons) == 0 && len(m.Fields) == 0 && len(images) == 0 && !alwaysCard[m.Kind] {
		a.TextFormat = "markdown"
		var parts []string
		if m.Title != "" {
			parts = append(parts, "**"+markdown(m.Title)+"**")
		}
		if m.Text != "" {
			parts = append(parts, markdown(m.Text))
		}
		if m.Footer != "" {
			parts = append(parts, "_"+markdown(m.Footer)+"_")
		}
		// Teams markdown needs a blank line (or <br>) to break a line.
		a.Text = cut(strings.ReplaceAll(strings.Join(parts, "\n\n"), "\n", "\n\n"), maxText)
		a.Text = strings.ReplaceAll(a.Text, "\n\n\n\n", "\n\n")
		return a
	}
	card := messageCard(m, refreshUsers, images...)
	a.Summary = cut(plain(firstNonEmpty(m.Title, m.Text)), 200)
	a.Attachments = []schema.Attachment{{ContentType: cardContentType, Content: card}}
	return a
}

// messageCard is the Adaptive Card of m: its title as the heading, the text, the fields as a
// FactSet, images, the footer in small print, the buttons as the card's actions.
//
// The weekly digest (kindDigest) is a full-width card: a large heading, the week in a sentence,
// the figures, the chart, and what could not be read (its footer) as a warning. Review prompts
// (kindReview) keep the common shape: the question, the deadline below it, Keep / Remove.
func messageCard(m bot.Message, refreshUsers []string, images ...Card) Card {
	var body []any
	if m.Title != "" {
		size := "Medium"
		if m.Kind == kindDigest {
			size = "Large"
		}
		body = append(body, Card{"type": "TextBlock", "text": cut(markdown(m.Title), 200), "weight": "Bolder", "size": size, "wrap": true})
	}
	if m.Text != "" {
		body = append(body, Card{"type": "TextBlock", "text": paragraphs(cut(markdown(m.Text), maxText)), "wrap": true})
	}
	if len(m.Fields) > 0 {
		var facts []any
		for _, f := range m.Fields {
			v := f.Value
			if strings.TrimSpace(v) == "" {
				v = "–"
			}
			facts = append(facts, Card{"title": cut(f.Label, 100), "value": cut(markdown(v), maxFact)})
		}
		fs := Card{"type": "FactSet", "facts": facts}
		if m.Kind == kindDigest && m.Text != "" {
			fs["separator"] = true
			fs["spacing"] = "Medium"
		}
		body = append(body, fs)
	}
	body = append(body, anySlice(images)...)
	if m.Footer != "" {
		foot := Card{"type": "TextBlock", "text": paragraphs(cut(markdown(m.Footer), maxText)), "isSubtle": true, "size": "Small", "wrap": true}
		if m.Kind == kindDigest {
			// The digest's footer says what could not be read: a warning, not small print.
			foot = Card{"type": "TextBlock", "text": "⚠ " + paragraphs(cut(markdown(m.Footer), maxText)), "color": "Warning", "size": "Small", "wrap": true}
		}
		body = append(body, foot)
	}
	card := Card{
		"type":    "AdaptiveCard",
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"version": cardVersion,
		"body":    body,
	}
	if m.Kind == kindDigest {
		card["msteams"] = Card{"width": "Full"}
	}
	if actions := cardActions(m.Buttons); len(actions) > 0 {
		card["actions"] = actions
	}
	if m.Kind == bot.KindCard && m.RequestID != 0 {
		// Approvers see the live card whenever they look at it (Universal Actions refresh);
		// everyone else sees the version updated in place.
		refresh := Card{"action": execute("", verbRefresh, fmt.Sprint(m.RequestID), nil)}
		if len(refreshUsers) > 0 {
			refresh["userIds"] = refreshUsers[:min(len(refreshUsers), maxUsers)]
		}
		card["refresh"] = refresh
	}
	return card
}

func cardActions(buttons []bot.Button) []any {
	var out []any
	denies := 0
	for _, b := range buttons {
		switch b.Action {
		case bot.ActionOpenURL:
			out = append(out, Card{"type": "Action.OpenUrl", "title": b.Label, "url": b.URL})
		case bot.ActionDeny:
			// Deny asks why, on the card itself. A card with several Deny buttons (a multi-role
			// request's roles waiting for PIM's own approval) gives each its own input id.
			id := inputReason
			if denies++; denies > 1 {
				id = reasonInput(b.Value)
			}
			out = append(out, Card{"type": "Action.ShowCard", "title": b.Label, "card": Card{
				"type": "AdaptiveCard",
				"body": []any{Card{"type": "Input.Text", "id": id, "label": "Why are you denying this request?",
					"placeholder": "Seen by the requester", "isMultiline": true, "maxLength": 500,
					"isRequired": true, "errorMessage": "Say why: the requester reads it."}},
				"actions": []any{execute(b.Label, string(b.Action), b.Value, style(b.Style))},
			}})
		default:
			out = append(out, execute(b.Label, string(b.Action), b.Value, style(b.Style)))
		}
	}
	return out
}

// execute is a Universal Action (Action.Execute, answered in the invoke response) with an
// Action.Submit fallback for clients before Adaptive Cards 1.4.
func execute(title, verb, value string, style any) Card {
	data := Card{"elevate": verb, "value": value}
	a := Card{"type": "Action.Execute", "verb": verb, "data": data}
	if title != "" {
		a["title"] = title
		sub := Card{"type": "Action.Submit", "title": title, "data": data}
		if style != nil {
			sub["style"] = style
		}
		a["fallback"] = sub
	}
	if style != nil {
		a["style"] = style
	}
	return a
}

func style(s bot.Style) any {
	switch s {
	case bot.StylePrimary:
		return "positive"
	case bot.StyleDanger:
		return "destructive"
	}
	return nil
}

// formCard is the request form: shown when the command lacks arguments, shown again with
// errors next to the fields when a submission does not pass.
func formCard(choices []bot.RoleChoice, known bool, f bot.Form, errs map[string]string) Card {
	var opts []any
	for _, c := range choices {
		title := fmt.Sprintf("%s (up to %s)", c.Name, bot.FormatDuration(c.MaxDuration))
		if c.Approvals > 0 {
			title += fmt.Sprintf(", %d approval%s", c.Approvals, map[bool]string{true: "", false: "s"}[c.Approvals == 1])
		}
		opts = append(opts, Card{"title": title, "value": c.Alias})
	}
	intro := "Pick a role (or several, approved together), for how long and why. Every activation is your own PIM activation, after your own Microsoft sign-in."
	if !known {
		intro += " These are all the roles Elevate knows; after your first sign-in you see only yours."
	}
	body := []any{
		Card{"type": "TextBlock", "text": "Request an admin role", "weight": "Bolder", "size": "Medium", "wrap": true},
		Card{"type": "TextBlock", "text": intro, "wrap": true, "isSubtle": true},
	}
	field := func(id string, input Card) {
		body = append(body, input)
		if e := errs[id]; e != "" {
			body = append(body, Card{"type": "TextBlock", "text": cut(e, 500), "color": "Attention", "size": "Small", "wrap": true})
		}
	}
	// Several roles may be picked: Teams sends them comma-separated, the grammar of
	// `elevate exchange,sharepoint …`.
	field(bot.FieldRole, Card{"type": "Input.ChoiceSet", "id": bot.FieldRole, "label": "Roles (one or more)", "isRequired": true,
		"errorMessage": "Pick a role", "choices": opts, "value": f.Role, "style": "compact", "isMultiSelect": true})
	field(bot.FieldDuration, Card{"type": "Input.Text", "id": bot.FieldDuration, "label": "Duration", "placeholder": "e.g. 30m, 4h, 1h30m (empty: the role's default)", "value": f.Duration})
	field(bot.FieldJustification, Card{"type": "Input.Text", "id": bot.FieldJustification, "label": "Justification", "isMultiline": true, "maxLength": 500, "value": f.Justification})
	field(bot.FieldTicket, Card{"type": "Input.Text", "id": bot.FieldTicket, "label": "Ticket", "placeholder": "e.g. INC-1234", "value": f.Ticket})
	return Card{
		"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": cardVersion,
		"body":    body,
		"actions": []any{execute("Request", verbRequest, "", "positive")},
	}
}

var (
	boldRe  = regexp.MustCompile(`(^|[^*\w])\*([^*\n]+)\*([^*\w]|$)`)
	slashRe = regexp.MustCompile("(`|^|\\s)/elevate\\b")
)

// markdown turns the core's light markdown (*bold*, `code`) into Teams markdown, and its
// "/elevate" (Slack's slash command) into what Teams users type.
func markdown(s string) string {
	s = slashRe.ReplaceAllString(s, "${1}elevate")
	return boldRe.ReplaceAllString(s, "$1**$2**$3")
}

// paragraphs makes the core's line breaks show in a card's TextBlock, whose markdown joins
// single lines: each line becomes a paragraph.
func paragraphs(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var out []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n\n")
}

func anySlice(cs []Card) []any {
	out := make([]any, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// plain is s without markdown, for notification summaries.
func plain(s string) string {
	return strings.NewReplacer("*", "", "`", "", "_", "").Replace(markdown(s))
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s[:n])
	return string(r[:len(r)-1]) + "…"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
