package teams

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-pim/elevate/bot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestCardsGolden(t *testing.T) {
	tests := []struct {
		name  string
		m     bot.Message
		users []string
		files []bot.Attachment
	}{
		{"approval_pending", bot.Message{Kind: bot.KindCard, RequestID: 7, Title: "Elevation request #7", Text: "alice@contoso.example asks for Global Administrator for 1h.",
			Fields: []bot.Field{{Label: "Requester", Value: "alice@contoso.example"}, {Label: "Role", Value: "Global Administrator (tier 0)"}, {Label: "Duration", Value: "1h"},
				{Label: "Justification", Value: "INC-1234 restore tenant"}, {Label: "Ticket", Value: "INC-1234"}, {Label: "Approvals", Value: "0 of 2"}},
			Buttons: []bot.Button{{Action: bot.ActionApprove, Label: "Approve", Value: "7", Style: bot.StylePrimary},
				{Action: bot.ActionDeny, Label: "Deny", Value: "7", Style: bot.StyleDanger}},
			Footer: "Expires at 15:04 UTC. The requester cannot approve their own request."}, []string{"29:bob", "29:carol"}, nil},
		{"approval_decided", bot.Message{Kind: bot.KindCard, RequestID: 7, Title: "Elevation request #7", Text: "Approved. Global Administrator is active until 16:04 UTC.",
			Fields: []bot.Field{{Label: "Requester", Value: "alice@contoso.example"}, {Label: "Approvals", Value: "2 of 2"}},
			Footer: "Approved by bob@contoso.example at 15:01 UTC; Approved by carol@contoso.example at 15:02 UTC."}, nil, nil},
		{"sign_in", bot.Message{Kind: bot.KindSignIn, RequestID: 8, Text: "Sign in with your Microsoft account to activate Exchange Administrator for 2h. The link works once, for 10 minutes.",
			Buttons: []bot.Button{{Action: bot.ActionOpenURL, Label: "Sign in", URL: "https://login.microsoftonline.com/tenant/oauth2/v2.0/authorize?state=s", Style: bot.StylePrimary}}}, nil, nil},
		{"offer", bot.Message{Kind: bot.KindOffer, RequestID: 9, Text: "Exchange Administrator allows at most 8h — use 8h?",
			Buttons: []bot.Button{{Action: bot.ActionUseOffer, Label: "Use 8h", Value: "9", Style: bot.StylePrimary}, {Action: bot.ActionCancel, Label: "Cancel", Value: "9"}}}, nil, nil},
		{"text", bot.Message{Kind: bot.KindText, Title: "Your elevations", Text: "#3 Exchange Administrator: active until 16:00 UTC\nUse `/elevate cancel` to *cancel*."}, nil, nil},
		// The weekly digest with its chart (a stand-in PNG), and a warning of what it lacks.
		{"digest", bot.Message{Kind: kindDigest, Title: "Weekly PIM digest, Mon 29 Dec – Sun 4 Jan 2026",
			Text: "12 activations: 9 through Elevate, 3 outside it (portal, PowerShell).",
			Fields: []bot.Field{{Label: "By role", Value: "Exchange Administrator 8 (2 outside), Global Administrator 4 (1 outside)"},
				{Label: "By person", Value: "alice@contoso.example 7, bob@contoso.example 5"},
				{Label: "Standing access", Value: "3 permanent assignments outside break-glass (▼ 1 since last week)"},
				{Label: "Break-glass sign-ins", Value: "none"}},
			Footer: "Incomplete: sign-in logs unreadable (403)."}, nil,
			[]bot.Attachment{{Name: "elevate-digest-2026-01-05.png", MIME: "image/png", Alt: "Bar chart of activations per role", Data: []byte("\x89PNG\r\n\x1a\nchart")}}},
		{"review_prompt", bot.Message{Kind: kindReview, Title: "Access review 2026-Q1",
			Text:   "Do you still need Exchange Administrator? You activated it 3 times in the last 90 days, last on 12 Dec.",
			Footer: "Answer by Mon 19 Jan. Without an answer: the role is kept and flagged to the admins.",
			Buttons: []bot.Button{{Action: "review_keep", Label: "Keep", Value: "2026-Q1|oid-dave|role-exchange", Style: bot.StylePrimary},
				{Action: "review_remove", Label: "Remove", Value: "2026-Q1|oid-dave|role-exchange", Style: bot.StyleDanger}}}, nil, nil},
		{"review_admin", bot.Message{Kind: kindReview, Title: "Access review 2026-Q1: 2 unanswered",
			Text:   "dave@contoso.example: Exchange Administrator\nerin@contoso.example: Global Administrator (not reachable in chat)",
			Footer: "The review closes Mon 19 Jan; then: the role is kept and flagged to the admins."}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var images []Card
			for _, f := range tt.files {
				img, ok := imageElement(f)
				if !ok {
					t.Fatalf("%s is not an image", f.Name)
				}
				images = append(images, img)
			}
			got, err := json.MarshalIndent(render(tt.m, tt.users, images...), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, got)
		})
	}
	t.Run("form", func(t *testing.T) {
		got, _ := json.MarshalIndent(formCard([]bot.RoleChoice{{Alias: "exchange", Name: "Exchange Administrator", MaxDuration: 8 * 3600e9},
			{Alias: "ga", Name: "Global Administrator", MaxDuration: 8 * 3600e9, Approvals: 2, Tier0: true}}, true,
			bot.Form{Role: "exchange", Duration: "forever"}, map[string]string{bot.FieldDuration: "Write the duration like 30m, 4h or 1h30m."}), "", "  ")
		golden(t, "form", got)
	})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)+"\n"); d != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, d)
	}
}

func TestMarkdown(t *testing.T) {
	for in, want := range map[string]string{
		"use `/elevate status` now": "use `elevate status` now",
		"/elevate help":             "elevate help",
		"*Exchange* is on":          "**Exchange** is on",
		"2*3*4":                     "2*3*4",
	} {
		if got := markdown(in); got != want {
			t.Errorf("markdown(%q) = %q, want %q", in, got, want)
		}
	}
}
