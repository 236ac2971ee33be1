package teams

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

// homeCore answers Home with h; the home card needs nothing else of the core.
type homeCore struct {
	Core
	h bot.Home
}

func (c homeCore) Home(context.Context, bot.Actor) (bot.Home, error) { return c.h, nil }
func (c homeCore) Clock(t time.Time) string                          { return t.UTC().Format("15:04") }

// TestHomeCardFits: the home of a busy approver — 30 requests waiting for them with long
// justifications, 30 active roles, 30 pending requests, a catalogue of 100 roles — stays within
// Teams' size limit: ten of each are shown, the rest counted with where to find them.
func TestHomeCardFits(t *testing.T) {
	var h bot.Home
	h.Known = true
	for i := range 30 {
		r := store.Request{ID: uint64(100 + i), RoleName: "Exchange Administrator", Duration: time.Hour, EndsAt: time.Now(),
			State: store.StateAwaitingApproval, UPN: "zoë.ångström@contoso.example", Justification: strings.Repeat("mail flow is broken for the EU tenant; ", 30)}
		h.ToApprove = append(h.ToApprove, r)
		h.Active = append(h.Active, r)
		h.Pending = append(h.Pending, r)
	}
	for i := range 100 {
		h.Eligible = append(h.Eligible, bot.RoleChoice{Alias: fmt.Sprintf("role%d", i), Name: fmt.Sprintf("Custom Role %d Administrator for Exchange Online", i)})
	}
	a := &Adapter{log: slog.New(slog.DiscardHandler)}
	card, err := a.homeCard(context.Background(), homeCore{h: h}, bot.Actor{ChatUser: "29:1dave"}, "")
	if err != nil {
		t.Fatal(err)
	}
	act := Activity{Type: "message", Attachments: []schema.Attachment{{ContentType: cardContentType, Content: card}}}
	if n := messageSize(act); n > maxMessage {
		t.Errorf("the home card is %d bytes as Teams counts, over %d", n, maxMessage)
	}
	var lines []string
	walk(card, &lines)
	text := strings.Join(lines, "\n")
	for _, want := range []string{"more requests waiting for your approval: their cards are in the approvals channel.",
		"more active roles: say `status` to see them all.", "more pending requests: say `status` to see them all."} {
		if !strings.Contains(text, want) {
			t.Errorf("the home card does not say %q", want)
		}
	}
	// The card says the roles can be picked below only when the picker is there.
	if picker := strings.Contains(fmt.Sprint(card), inputHomeRoles); strings.Contains(text, "pick them below") != picker {
		t.Errorf("the home card says \"pick them below\": %v, yet holds the roles picker: %v", strings.Contains(text, "pick them below"), picker)
	}
}

// walk collects the texts of a card's TextBlocks.
func walk(v any, out *[]string) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			walk(e, out)
		}
	case Card:
		if x["type"] == "TextBlock" {
			s, _ := x["text"].(string)
			*out = append(*out, s)
		}
		for _, k := range []string{"body", "items", "actions", "card"} {
			walk(x[k], out)
		}
	}
}
