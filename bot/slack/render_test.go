package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares v, as indented JSON, with testdata/name.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update if the change is intended):\n%s", path, got)
	}
}

type rendered struct {
	Text   string           `json:"text"`
	Blocks []slackapi.Block `json:"blocks"`
}

func TestRenderGolden(t *testing.T) {
	long := strings.Repeat("A line of a very long answer with <angle brackets> & ampersands.\n", 120)
	cases := map[string]bot.Message{
		"card": {Kind: bot.KindCard, RequestID: 12, Title: "Elevation request #12", Text: "alice@contoso.example asks for Global Administrator for 1h.",
			Fields: []bot.Field{{Label: "Requester", Value: "alice@contoso.example"}, {Label: "Role", Value: "Global Administrator (tier 0)"}, {Label: "Duration", Value: "1h"},
				{Label: "Justification", Value: "INC-1234 restore tenant"}, {Label: "Ticket", Value: "INC-1234"}, {Label: "Approvals", Value: "0 of 2"}},
			Buttons: []bot.Button{{Action: bot.ActionApprove, Label: "Approve", Value: "12", Style: bot.StylePrimary},
				{Action: bot.ActionDeny, Label: "Deny", Value: "12", Style: bot.StyleDanger}},
			Footer: "Expires at 15:04 UTC. The requester cannot approve their own request."},
		"card_decided": {Kind: bot.KindCard, RequestID: 12, Title: "Elevation request #12", Text: "Approved. Global Administrator is active until 16:04 UTC.",
			Fields: []bot.Field{{Label: "Requester", Value: "alice@contoso.example"}, {Label: "Role", Value: "Global Administrator (tier 0)"}, {Label: "Approvals", Value: "2 of 2"}},
			Footer: "Approved by bob@contoso.example at 15:01 UTC; Approved by carol@contoso.example at 15:02 UTC."},
		"sign_in": {Kind: bot.KindSignIn, RequestID: 3, Text: "Sign in with your Microsoft account to activate Exchange Administrator for 2h.",
			Buttons: []bot.Button{{Action: bot.ActionOpenURL, Label: "Sign in", URL: "https://login.example/authorize?state=abc&x=1", Style: bot.StylePrimary}}},
		"offer": {Kind: bot.KindOffer, RequestID: 4, Text: "Exchange Administrator allows at most 8h — use 8h?",
			Buttons: []bot.Button{{Action: bot.ActionUseOffer, Label: "Use 8h", Value: "4", Style: bot.StylePrimary}, {Action: bot.ActionCancel, Label: "Cancel", Value: "4"}}},
		"error":   {Kind: bot.KindError, Text: "I don't know the role `exchnage`. Did you mean *exchange*?"},
		"alert":   {Kind: bot.KindAlert, RequestID: 5, Text: "alice@contoso.example activated Exchange Administrator for 2h (until 14:32 UTC): fixing <mail> & flow"},
		"help":    {Kind: bot.KindText, Title: "Elevate: just-in-time admin roles through PIM", Text: "`/elevate <role> [duration] <why>`: activate a role\n`/elevate status`: your elevations"},
		"long":    {Kind: bot.KindText, Title: strings.Repeat("Title ", 40), Text: long},
		"buttons": {Kind: bot.KindText, Text: "Many choices", Buttons: manyButtons(30)},
		"progress": {Kind: bot.KindProgress, RequestID: 7, Text: "Your Exchange Administrator ends at 14:32 UTC (in 10 minutes).",
			Buttons: []bot.Button{{Action: bot.ActionExtend, Label: "Extend 1h", Value: "7", Style: bot.StylePrimary}, {Action: bot.ActionDone, Label: "I'm done", Value: "7"}}},
		"result":        {Kind: bot.KindResult, Text: "Exchange Administrator is usable now (until 14:32 UTC)."},
		"alert_titled":  {Kind: bot.KindAlert, Title: "Drift from the baseline", Text: "⚠ 4 permanent Global Administrators; the baseline allows 2."},
		"alert_cleared": {Kind: bot.KindAlert, Title: "Drift cleared", Text: "✅ Resolved: 4 permanent Global Administrators."},
		"digest": {Kind: kindDigest, Title: "Weekly PIM digest, Mon 29 Dec – Sun 4 Jan 2026",
			Text: "7 activations: 5 through Elevate, 2 outside it (portal, PowerShell).",
			Fields: []bot.Field{
				{Label: "By role", Value: "Exchange Administrator 4 (1 outside), Global Administrator 2, SharePoint Administrator 1 (1 outside)"},
				{Label: "By person", Value: "alice@contoso.example 3, bob@contoso.example 2, dave@contoso.example 2"},
				{Label: "Duration", Value: "average 1h30m, longest 4h (alice@contoso.example, Exchange Administrator)"},
				{Label: "Not granted", Value: "1 denied, 0 failed, 1 expired"},
				{Label: "Approval time", Value: "median 4m, slowest 25m (3 decisions)"},
				{Label: "Standing access", Value: "3 permanent assignments outside break-glass (▼ 1 since last week)"},
				{Label: "Global Admins", Value: "⚠ 6 — keep it under 5"},
				{Label: "Break-glass sign-ins", Value: "none"},
				{Label: "Access review", Value: "2026-Q1: 4 of 9 answered (44%), open"},
			}},
		"digest_incomplete": {Kind: kindDigest, Title: "Weekly PIM digest, Mon 29 Dec – Sun 4 Jan 2026", Text: "No activations this week.",
			Fields: []bot.Field{{Label: "Not granted", Value: "0 denied, 0 failed, 0 expired"}, {Label: "Standing access", Value: "3 permanent assignments outside break-glass"},
				{Label: "Global Admins", Value: "2"}, {Label: "Break-glass sign-ins", Value: "none"}},
			Footer: "Incomplete: sign-ins could not be read (403 Forbidden)."},
		"review_prompt": {Kind: kindReview, Title: "Access review 2026-Q1",
			Text:   "Do you still need Exchange Administrator? You activated it 3 times in the last 90 days, last on 12 Dec. (You are eligible through the group Messaging Admins.)",
			Footer: "Answer by Mon 19 Jan. Without an answer: the role is kept and flagged to the admins.",
			Buttons: []bot.Button{{Action: "review_keep", Label: "Keep", Value: "2026-Q1|0a1b|29232cdf", Style: bot.StylePrimary},
				{Action: "review_remove", Label: "Remove", Value: "2026-Q1|0a1b|29232cdf", Style: bot.StyleDanger}}},
		"review_closed": {Kind: kindReview, Title: "Access review 2026-Q1 closed", Text: "9 questions: 7 answered, 2 without an answer.",
			Fields: []bot.Field{{Label: "Kept", Value: "6"}, {Label: "To remove", Value: "dave@contoso.example: SharePoint Administrator"},
				{Label: "No answer (kept, flagged)", Value: "erin@contoso.example: Exchange Administrator; frank.ext@contoso.example: Teams Administrator"}},
			Buttons: []bot.Button{{Action: "review_apply", Label: "Apply 1 removal", Value: "2026-Q1", Style: bot.StyleDanger}},
			Footer:  "Removals are made in PIM with the clicking admin's own sign-in (Privileged Role Administrator active)."},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			blocks, text := render(m)
			checkLimits(t, blocks)
			golden(t, "message_"+name, rendered{text, blocks})
		})
	}
}

// TestScheduleKinds: the renderer's names for scheduled work's kinds and buttons are the
// scheduler's.
func TestScheduleKinds(t *testing.T) {
	if kindDigest != schedule.KindDigest || kindReview != schedule.KindReview {
		t.Fatalf("kinds %q %q, the scheduler's are %q %q", kindDigest, kindReview, schedule.KindDigest, schedule.KindReview)
	}
	for _, a := range []bot.Action{schedule.ActionReviewKeep, schedule.ActionReviewRemove, schedule.ActionReviewApply} {
		if got := actionOf(button(bot.Button{Action: a, Value: "x"}, map[string]int{}).ActionID); got != a {
			t.Errorf("action %q comes back as %q", a, got)
		}
	}
}

func TestWithEmoji(t *testing.T) {
	for in, want := range map[string]string{
		"Drift found":           ":rotating_light: Drift found",
		"⚠ 4 Global Admins":     "⚠ 4 Global Admins",
		"✅ Resolved":            "✅ Resolved",
		"🚨 Break-glass":         "🚨 Break-glass",
		":tada: done":           ":tada: done",
		": not an emoji":        ":rotating_light: : not an emoji",
		"14:32 is when it ends": ":rotating_light: 14:32 is when it ends",
	} {
		if got := withEmoji(":rotating_light:", in); got != want {
			t.Errorf("withEmoji(%q) = %q, want %q", in, got, want)
		}
	}
}

func manyButtons(n int) []bot.Button {
	var out []bot.Button
	for i := range n {
		out = append(out, bot.Button{Action: bot.ActionCancel, Label: "Cancel request number " + strings.Repeat("9", i+1) + " which has a very long label indeed", Value: "9"})
	}
	return out
}

// checkLimits asserts Slack's Block Kit limits on rendered blocks.
func checkLimits(t *testing.T, blocks []slackapi.Block) {
	t.Helper()
	if len(blocks) > maxBlocks {
		t.Errorf("%d blocks, Slack allows %d", len(blocks), maxBlocks)
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slackapi.SectionBlock:
			if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > maxSectionText {
				t.Errorf("section of %d characters", utf8.RuneCountInString(b.Text.Text))
			}
			if len(b.Fields) > maxFields {
				t.Errorf("%d fields", len(b.Fields))
			}
		case *slackapi.HeaderBlock:
			if utf8.RuneCountInString(b.Text.Text) > maxHeaderText {
				t.Errorf("header of %d characters", utf8.RuneCountInString(b.Text.Text))
			}
		case *slackapi.ActionBlock:
			if len(b.Elements.ElementSet) > maxActions {
				t.Errorf("%d actions", len(b.Elements.ElementSet))
			}
			ids := map[string]bool{}
			for _, el := range b.Elements.ElementSet {
				btn := el.(*slackapi.ButtonBlockElement)
				if utf8.RuneCountInString(btn.Text.Text) > maxButtonText || len(btn.Value) > maxButtonValue {
					t.Errorf("button %q value %q too long", btn.Text.Text, btn.Value)
				}
				if ids[btn.ActionID] {
					t.Errorf("action id %q twice in a block", btn.ActionID)
				}
				ids[btn.ActionID] = true
			}
		}
	}
}

// TestRenderTooLong: a message over 50 blocks loses text, never its buttons.
func TestRenderTooLong(t *testing.T) {
	m := bot.Message{Title: "t", Text: strings.Repeat("x", 40*maxSectionText), Footer: "f",
		Buttons: []bot.Button{{Action: bot.ActionApprove, Label: "Approve", Value: "1"}}}
	for range 300 {
		m.Fields = append(m.Fields, bot.Field{Label: "l", Value: "v"})
	}
	blocks, _ := render(m)
	checkLimits(t, blocks)
	if len(blocks) != maxBlocks {
		t.Fatalf("%d blocks", len(blocks))
	}
	if _, ok := blocks[len(blocks)-2].(*slackapi.ActionBlock); !ok {
		t.Fatalf("the buttons were dropped: %T", blocks[len(blocks)-2])
	}
}

func TestChunks(t *testing.T) {
	s := escape(strings.Repeat("a&b", 2000))
	for _, c := range chunks(s, maxSectionText) {
		if utf8.RuneCountInString(c) > maxSectionText {
			t.Fatalf("chunk of %d", utf8.RuneCountInString(c))
		}
		if strings.HasSuffix(c, "&am") || strings.HasSuffix(c, "&") || strings.HasPrefix(c, "mp;") {
			t.Fatalf("an entity was cut: …%s", c[len(c)-5:])
		}
	}
	if got := strings.Join(chunks(s, maxSectionText), ""); got != s {
		t.Fatal("chunks lost text")
	}
}

func TestViewsGolden(t *testing.T) {
	choices := []bot.RoleChoice{
		{Alias: "exchange", Name: "Exchange Administrator", MaxDuration: 8 * 3600e9, DefaultDuration: 3600e9},
		{Alias: "ga", Name: "Global Administrator", MaxDuration: 8 * 3600e9, Approvals: 2, Tier0: true},
	}
	md := meta{Channel: "C1", ResponseURL: "https://hooks.slack.com/commands/T1/1/x"}.encode()
	golden(t, "modal_request", requestModal(choices, true, nil, "ga", md))
	golden(t, "modal_request_unknown_user", requestModal(choices, false, nil, "", md))
	golden(t, "modal_deny", denyModal("12", meta{Channel: "C0APPROVALS"}))
	end := mustTime(t, "2026-03-02T14:32:00Z")
	h := bot.Home{Known: true, Eligible: choices,
		Active:    []store.Request{{ID: 1, RoleName: "Exchange Administrator", EndsAt: end, State: store.StateActive}},
		Pending:   []store.Request{{ID: 2, RoleName: "Global Administrator", Duration: 3600e9, State: store.StateAwaitingApproval, ApprovalsNeeded: 2}},
		ToApprove: []store.Request{{ID: 3, UPN: "dave@contoso.example", RoleName: "SharePoint Administrator", Duration: 7200e9, Justification: "site <migration>", Ticket: "CHG-1"}},
	}
	golden(t, "home", homeView(h, nil))
	golden(t, "home_unknown_user", homeView(bot.Home{Eligible: choices}, nil))
}

func mustTime(t *testing.T, s string) (tm time.Time) {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
