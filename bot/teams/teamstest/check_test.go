package teamstest_test

import (
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot/teams/teamstest"
)

func TestCheckCard(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"type": "AdaptiveCard", "version": "1.5",
			"body": []any{
				map[string]any{"type": "TextBlock", "text": "Elevation request #1"},
				map[string]any{"type": "FactSet", "facts": []any{map[string]any{"title": "Role", "value": "Exchange Administrator"}}},
				map[string]any{"type": "ActionSet", "actions": []any{map[string]any{"type": "Action.Execute", "title": "Approve", "verb": "approve"}}},
			},
			"refresh": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "home"}, "userIds": []any{"29:1"}}}
	}
	tests := []struct {
		name   string
		change func(c map[string]any)
		want   string // "" for a valid card
	}{
		{"valid", func(map[string]any) {}, ""},
		{"version 1.6", func(c map[string]any) { c["version"] = "1.6" }, "Teams renders up to 1.5"},
		{"not a card", func(c map[string]any) { c["type"] = "HeroCard" }, "want AdaptiveCard"},
		{"empty text", func(c map[string]any) { c["body"].([]any)[0].(map[string]any)["text"] = " " }, "has no text"},
		{"fact without value", func(c map[string]any) {
			c["body"].([]any)[1].(map[string]any)["facts"] = []any{map[string]any{"title": "Role"}}
		}, "needs a title and a value"},
		{"execute without verb", func(c map[string]any) {
			delete(c["body"].([]any)[2].(map[string]any)["actions"].([]any)[0].(map[string]any), "verb")
		}, "has no verb"},
		{"unknown element", func(c map[string]any) { c["body"] = append(c["body"].([]any), map[string]any{"type": "Table"}) }, `unknown element type "Table"`},
		{"input ids twice", func(c map[string]any) {
			c["body"] = append(c["body"].([]any), map[string]any{"type": "Input.Text", "id": "reason"}, map[string]any{"type": "Input.Text", "id": "reason"})
		}, `id "reason" is used twice`},
		{"refresh for too many", func(c map[string]any) {
			c["refresh"].(map[string]any)["userIds"] = make([]any, 61)
		}, "at most 60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(c)
			err := teamstest.CheckCard(c)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("a valid card refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	big := map[string]any{"type": "message", "attachments": []any{map[string]any{"contentType": "application/vnd.microsoft.card.adaptive",
		"content": map[string]any{"type": "AdaptiveCard", "version": "1.5", "body": []any{map[string]any{"type": "TextBlock", "text": strings.Repeat("x", 29<<10)}}}}}}
	if err := teamstest.CheckActivity(big); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("a 29 KB activity: %v", err)
	}
}
