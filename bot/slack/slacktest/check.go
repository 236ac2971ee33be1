package slacktest

import "encoding/json"

// CheckBlocks checks Block Kit blocks against the limits the fake enforces on every message and
// view (Slack's: 50 blocks, 3000 characters of section text, 75 of button text, 2000 of button
// value), for a conformance suite that validates what an adapter rendered.
func CheckBlocks(raw json.RawMessage) error { return checkBlocks(raw) }
