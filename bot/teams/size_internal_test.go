package teams

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot"
)

// FuzzFit: whatever a message holds, fitting it for Teams ends, never panics, keeps the title,
// every field's label and every button, and its result is within the limit or is the shortest
// form, which says it was shortened.
func FuzzFit(f *testing.F) {
	f.Add("Elevation request #1", "text", "Role", "Exchange Administrator", "footer", 1)
	f.Add("t", strings.Repeat("é", 20000), "Justification", strings.Repeat("🔐", 9000), strings.Repeat("x", 9000), 3)
	f.Add("", "data:image/png;base64,AAAA", "", "\xff\xfe", "", 40)
	f.Fuzz(func(t *testing.T, title, text, label, value, footer string, copies int) {
		copies = min(max(copies, 0), 40)
		m := bot.Message{Kind: bot.KindCard, Title: title, Text: text, Footer: footer, RequestID: 7}
		for range copies {
			m.Fields = append(m.Fields, bot.Field{Label: label, Value: value})
		}
		m.Buttons = []bot.Button{{Action: bot.ActionApprove, Label: "Approve", Value: "7"}, {Action: bot.ActionDeny, Label: "Deny", Value: "7"}}
		a := &Adapter{log: slog.New(slog.DiscardHandler)}
		act := a.fit(m, nil)
		for level := 1; level <= shortest; level++ {
			s := shorten(m, level)
			if s.Title != m.Title || len(s.Fields) != len(m.Fields) || len(s.Buttons) != len(m.Buttons) || !strings.HasSuffix(s.Footer, shortenedNote) {
				t.Fatalf("level %d lost something: %+v", level, s)
			}
			for i, fl := range s.Fields {
				if fl.Label != m.Fields[i].Label {
					t.Fatalf("level %d changed a field's label: %q", level, fl.Label)
				}
			}
		}
		if messageSize(act) > maxMessage {
			short := render(shorten(m, shortest), nil)
			if messageSize(act) != messageSize(short) {
				t.Fatalf("over the limit (%d) and not the shortest form", messageSize(act))
			}
		}
	})
}
