package slack

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
)

// Slack's Block Kit limits (https://api.slack.com/reference/block-kit): the renderer keeps them
// so that no message is refused for its size.
const (
	maxBlocks        = 50   // per message
	maxHomeBlocks    = 100  // per home tab or modal
	maxSectionText   = 3000 // a section's text
	maxFieldText     = 2000 // one field of a section
	maxFields        = 10   // fields per section
	maxHeaderText    = 150
	maxButtonText    = 75
	maxButtonValue   = 2000
	maxURL           = 3000
	maxActions       = 25 // elements per actions block
	maxContextText   = 3000
	maxFallbackText  = 3000
	maxOptionText    = 75
	maxOptions       = 100
	maxMetadata      = 3000
	maxModalTitle    = 24
	maxPlainTextLong = 3000
)

// Kinds of messages from scheduled work (bot/schedule's KindDigest and KindReview), named here
// so that the adapter does not depend on the scheduler.
const (
	kindDigest bot.Kind = "digest"
	kindReview bot.Kind = "review"
)

// layout is how a kind of message is shown beyond the common shape (header, text, fields,
// buttons, footer as context).
type layout struct {
	emoji       string // before the text, unless the text starts with an emoji of its own
	divider     bool   // between the text and the fields
	footerEmoji string // before the footer
}

var layouts = map[bot.Kind]layout{
	bot.KindError:    {emoji: ":warning:"},
	bot.KindAlert:    {emoji: ":rotating_light:"},
	bot.KindSignIn:   {emoji: ":key:"},
	bot.KindProgress: {emoji: ":hourglass_flowing_sand:"},
	// The weekly digest: a header, the week in a sentence, the figures as two-column fields, and
	// what could not be read (its footer) as a warning in the context.
	kindDigest: {divider: true, footerEmoji: ":warning:"},
	// Review prompts and the admins' review messages keep the common shape: the question, Keep /
	// Remove (or Apply) buttons in an actions block of their own, the deadline in the context.
	kindReview: {},
}

// render turns a neutral message into Block Kit blocks and the plain fallback text Slack shows
// in notifications.
func render(m bot.Message) ([]slackapi.Block, string) {
	lay := layouts[m.Kind]
	var head, body, tail []slackapi.Block
	if m.Title != "" {
		head = append(head, slackapi.NewHeaderBlock(plain(truncate(m.Title, maxHeaderText))))
	}
	if strings.TrimSpace(m.Text) != "" {
		for _, chunk := range chunks(escape(withEmoji(lay.emoji, m.Text)), maxSectionText) {
			body = append(body, slackapi.NewSectionBlock(mrkdwn(chunk), nil, nil))
		}
	}
	if lay.divider && len(body) > 0 && len(m.Fields) > 0 {
		body = append(body, slackapi.NewDividerBlock())
	}
	for i := 0; i < len(m.Fields); i += maxFields {
		var fs []*slackapi.TextBlockObject
		for _, f := range m.Fields[i:min(i+maxFields, len(m.Fields))] {
			v := f.Value
			if strings.TrimSpace(v) == "" {
				v = "–"
			}
			fs = append(fs, mrkdwn(truncateEscaped("*"+escape(f.Label)+"*\n"+escape(v), maxFieldText)))
		}
		body = append(body, slackapi.NewSectionBlock(nil, fs, nil))
	}
	tail = append(tail, buttons(m.Buttons, blockID(m))...)
	if m.Footer != "" {
		tail = append(tail, slackapi.NewContextBlock("", mrkdwn(truncateEscaped(escape(withEmoji(lay.footerEmoji, m.Footer)), maxContextText))))
	}
	// Too long: drop text and fields from the end of the body, never the buttons.
	if n := len(head) + len(body) + len(tail); n > maxBlocks {
		keep := max(0, len(body)-(n-maxBlocks)-1)
		body = append(body[:keep], slackapi.NewContextBlock("", mrkdwn("_(shortened: the rest did not fit in one Slack message)_")))
	}
	blocks := append(append(head, body...), tail...)
	if len(blocks) > maxBlocks {
		blocks = blocks[:maxBlocks]
	}
	return blocks, fallback(m)
}

// withEmoji puts emoji (a Slack :code:) before s, unless s starts with an emoji or symbol of its
// own ("⚠ …", "✅ Resolved: …", ":tada: …"): a cleared alert must not get a siren.
func withEmoji(emoji, s string) string {
	if emoji == "" {
		return s
	}
	t := strings.TrimSpace(s)
	r, _ := utf8.DecodeRuneInString(t)
	if unicode.Is(unicode.So, r) || (strings.HasPrefix(t, ":") && strings.Count(strings.Fields(t)[0], ":") >= 2) {
		return s
	}
	return emoji + " " + s
}

// blockID names the actions block after the request, so a click can be traced to it.
func blockID(m bot.Message) string {
	if m.RequestID == 0 {
		return ""
	}
	return fmt.Sprintf("request_%d", m.RequestID)
}

// buttons renders buttons as actions blocks of at most 25 elements. Action ids are the neutral
// action, suffixed with ":n" when an action repeats in a block (Slack wants them unique there).
func buttons(bs []bot.Button, id string) []slackapi.Block {
	var out []slackapi.Block
	for i := 0; i < len(bs); i += maxActions {
		seen := map[string]int{}
		var els []slackapi.BlockElement
		for _, b := range bs[i:min(i+maxActions, len(bs))] {
			els = append(els, button(b, seen))
		}
		bid := id
		if bid != "" && i > 0 {
			bid = fmt.Sprintf("%s_%d", id, i/maxActions)
		}
		out = append(out, slackapi.NewActionBlock(bid, els...))
	}
	return out
}

func button(b bot.Button, seen map[string]int) *slackapi.ButtonBlockElement {
	action := string(b.Action)
	if action == "" {
		action = "button"
	}
	aid := action
	if n := seen[action]; n > 0 {
		aid = fmt.Sprintf("%s:%d", action, n)
	}
	seen[action]++
	el := slackapi.NewButtonBlockElement(aid, truncate(b.Value, maxButtonValue), plain(truncate(b.Label, maxButtonText)))
	if b.Action == bot.ActionOpenURL && b.URL != "" && len(b.URL) <= maxURL {
		el = el.WithURL(b.URL)
		el.Value = ""
	}
	switch b.Style {
	case bot.StylePrimary:
		el = el.WithStyle(slackapi.StylePrimary)
	case bot.StyleDanger:
		el = el.WithStyle(slackapi.StyleDanger)
	}
	return el
}

// actionOf maps a Slack action id back to the neutral action.
func actionOf(actionID string) bot.Action {
	a, _, _ := strings.Cut(actionID, ":")
	return bot.Action(a)
}

func fallback(m bot.Message) string {
	s := m.Title
	if s == "" {
		s = m.Text
	} else if m.Text != "" {
		s += ": " + m.Text
	}
	if s == "" && len(m.Fields) > 0 {
		s = m.Fields[0].Label + ": " + m.Fields[0].Value
	}
	return truncateEscaped(escape(s), maxFallbackText)
}

func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, false, false)
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, false)
}

// escape makes text safe for Slack's mrkdwn: only &, < and > are special (they start entities,
// links and mentions); *bold* and `code` pass through as the neutral model intends.
func escape(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	// Channel mentions the core marked (ChannelName) become Slack's own: <#C…>.
	return bot.ReplaceMentions(s, func(id string) string { return "<#" + id + ">" })
}

// truncate cuts s to at most n characters, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// truncateEscaped is truncate for escaped text: it never cuts an entity in half.
func truncateEscaped(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	c := chunks(s, n-1)
	return c[0] + "…"
}

// chunks splits escaped text into pieces of at most n characters, at a line break when there is
// one in the second half of a piece, and never inside an entity such as &amp;.
func chunks(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > n {
		cut := n
		for i := n; i > n/2; i-- {
			if r[i-1] == '\n' {
				cut = i
				break
			}
		}
		// Don't split "&amp;", "&lt;" or "&gt;".
		for i := cut - 1; i >= 0 && i > cut-5; i-- {
			if r[i] == ';' {
				break
			}
			if r[i] == '&' {
				cut = i
				break
			}
		}
		if cut == 0 {
			cut = n
		}
		out = append(out, strings.TrimRight(string(r[:cut]), "\n"))
		r = r[cut:]
	}
	if len(r) > 0 || len(out) == 0 {
		out = append(out, string(r))
	}
	return out
}
