package slacktest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot/slack/slacktest"
)

// TestCheckBlocks: Slack's limits as the fake enforces them: 50 blocks a message, 100 a modal or
// Home tab; 3000 characters a section; 10 fields of 2000; 150 a header.
func TestCheckBlocks(t *testing.T) {
	section := func(text string) map[string]any {
		return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}
	}
	blocks := func(n int) json.RawMessage {
		var bs []any
		for range n {
			bs = append(bs, section("x"))
		}
		b, _ := json.Marshal(bs)
		return b
	}
	one := func(b map[string]any) json.RawMessage {
		raw, _ := json.Marshal([]any{b})
		return raw
	}
	fields := func(n, size int) map[string]any {
		var fs []any
		for range n {
			fs = append(fs, map[string]any{"type": "mrkdwn", "text": strings.Repeat("é", size)})
		}
		return map[string]any{"type": "section", "fields": fs}
	}
	for _, tc := range []struct {
		name      string
		raw       json.RawMessage
		view      bool
		wantError bool
	}{
		{"50 blocks", blocks(50), false, false},
		{"51 blocks", blocks(51), false, true},
		{"100 blocks in a view", blocks(100), true, false},
		{"101 blocks in a view", blocks(101), true, true},
		{"3000 characters", one(section(strings.Repeat("é", 3000))), false, false},
		{"3001 characters", one(section(strings.Repeat("é", 3001))), false, true},
		{"10 fields of 2000", one(fields(10, 2000)), false, false},
		{"11 fields", one(fields(11, 10)), false, true},
		{"a field of 2001", one(fields(1, 2001)), false, true},
		{"a header of 150", one(map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("a", 150)}}), false, false},
		{"a header of 151", one(map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("a", 151)}}), false, true},
	} {
		check := slacktest.CheckBlocks
		if tc.view {
			check = slacktest.CheckViewBlocks
		}
		if err := check(tc.raw); (err != nil) != tc.wantError {
			t.Errorf("%s: %v, want an error: %v", tc.name, err, tc.wantError)
		}
	}
}
