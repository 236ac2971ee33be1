package teams

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/elevate-pim/elevate/bot"
)

// Teams refuses a bot message over its size limit with 413 MessageSizeTooBig. Microsoft counts
// the message in UTF-16, without the base64 data of embedded images, and has documented the
// limit as about 28 KB (Teams' limits), then 40 KB, now 100 KB ("approximate"); teamstest takes
// 40 KB. Elevate's messages are bounded by the renderer (texts cut at 3000 characters, values at
// 1000, at most five roles a request, the digest's fixed lines), but a card with every value at
// its longest passes 40 KB: such a message is shortened before it is sent (fit), and one that
// Teams refuses all the same is sent once more in its shortest form, then dropped with an error
// naming it.

// maxMessage is the size, counted as Teams counts it (messageSize), up to which an activity is
// sent as rendered: under teamstest's 40 KB with room for the conversation and the timestamp.
const maxMessage = 36 << 10

// shortenedNote tells the reader of a shortened message that something was left out.
const shortenedNote = "Shortened to fit Teams' message size limit: some details are left out."

// dataURL matches the base64 payload of a data: URL in JSON (an embedded image).
var dataURL = regexp.MustCompile(`data:[a-zA-Z0-9.+/-]+;base64,[A-Za-z0-9+/=]*`)

// messageSize is act's size as Teams counts it: its JSON in UTF-16, without embedded images.
func messageSize(act Activity) int {
	b, err := json.Marshal(act)
	if err != nil {
		return maxMessage + 1
	}
	s := dataURL.ReplaceAllString(string(b), "")
	return 2 * len(utf16.Encode([]rune(s)))
}

// shortest is the last step of shorten.
const shortest = 3

// shorten is m with less in it, more at each level from 1 to shortest: texts, values and the
// footer cut shorter, the footer left out last. The title (with the request id), every field
// (who asks, for which role, how long: an approver must not decide blind) and the buttons (an
// approval card without them could not be decided) are always kept, and the footer says the
// message was shortened. The shortest form is small whatever m holds: a title, 300 characters
// of text, at most 200 of each value.
func shorten(m bot.Message, level int) bot.Message {
	limits := [...]struct{ text, value, footer int }{{1500, 300, 600}, {600, 200, 200}, {300, 200, 0}}
	l := limits[min(max(level, 1), shortest)-1]
	out := m
	out.Text = cut(m.Text, l.text)
	out.Fields = nil
	for _, f := range m.Fields {
		out.Fields = append(out.Fields, bot.Field{Label: f.Label, Value: cut(f.Value, l.value)})
	}
	foot := ""
	if l.footer > 0 {
		foot = cut(m.Footer, l.footer)
	}
	out.Footer = strings.TrimSpace(foot + "\n" + shortenedNote)
	return out
}

// fit renders m (with images) within maxMessage: as it is when it fits, else shortened (shorten)
// as little as will do, with a warning for the operator naming what was shortened.
func (a *Adapter) fit(m bot.Message, users []string, images ...Card) Activity {
	act := render(m, users, images...)
	size := messageSize(act)
	if size <= maxMessage {
		return act
	}
	for level := 1; ; level++ {
		act = render(shorten(m, level), users, images...)
		if s := messageSize(act); s <= maxMessage || level == shortest {
			a.log.Warn("teams: message shortened to fit Teams' size limit", "kind", m.Kind, "request_id", m.RequestID,
				"title", m.Title, "size", size, "shortened_size", s, "limit", maxMessage, "level", level)
			return act
		}
	}
}

// fitCard is m's Adaptive Card within maxMessage (fit), for an invoke response: the live card
// an approver's client asks for is the card posted, and as large.
func (a *Adapter) fitCard(m bot.Message, users []string) Card {
	if act := a.fit(m, users); len(act.Attachments) > 0 {
		if c, ok := act.Attachments[0].Content.(Card); ok {
			return c
		}
	}
	return messageCard(shorten(m, shortest), users)
}

// tooLarge says whether Teams refused a call as too large (413 MessageSizeTooBig).
func tooLarge(err error) bool {
	var ce *Error
	return errors.As(err, &ce) && ce.Status == http.StatusRequestEntityTooLarge
}

// refusedTooLarge is the outbox's error for a message Teams refused as too large even in its
// shortest form: not retried; the outbox drops it and logs this, naming the message.
func refusedTooLarge(m bot.Message, err error) error {
	return &bot.DeliveryError{Refused: true, NotSent: true,
		Err: fmt.Errorf("teams: Teams refused the message %q (%s, request %d) as too large even shortened: %w", m.Title, m.Kind, m.RequestID, err)}
}
