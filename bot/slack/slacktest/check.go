package slacktest

import "encoding/json"

// CheckBlocks checks a message's Block Kit blocks against the limits the fake enforces (Slack's:
// 50 blocks, 3000 characters of section text, 10 fields of 2000, 150 of header text, 75 of
// button text, 2000 of button value), for a conformance suite that validates what an adapter
// rendered.
func CheckBlocks(raw json.RawMessage) error { return checkBlocks(raw) }

// CheckViewBlocks is CheckBlocks for a modal or a Home tab, which may hold 100 blocks.
func CheckViewBlocks(raw json.RawMessage) error { return checkBlocksMax(raw, maxViewBlocks) }
