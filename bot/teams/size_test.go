package teams_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/internal/logbuf"
)

// repeat is s repeated up to n runes.
func repeat(s string, n int) string {
	r := []rune(strings.Repeat(s, n/len([]rune(s))+1))
	return string(r[:n])
}

// largestCard is an approval card of a five-role request (the most a request may name) whose
// roles wait for PIM's own approval, every text at the length the renderer keeps at most: ten
// buttons, ten fields of 1000 characters, 3000 of text and of footer. s is what the texts are
// made of (names with accents count as much as ASCII in UTF-16).
func largestCard(s string) bot.Message {
	m := bot.Message{Kind: bot.KindCard, RequestID: 42, Title: "Elevation request #42", Text: repeat(s, 3000), Footer: repeat(s, 3000)}
	for i := range 10 {
		m.Fields = append(m.Fields, bot.Field{Label: fmt.Sprintf("Field %d", i+1), Value: repeat(s, 1000)})
	}
	for i := range 5 {
		role := fmt.Sprintf("Role %d Administrator", i+1)
		m.Buttons = append(m.Buttons,
			bot.Button{Action: bot.ActionApprove, Label: "Approve " + role + " in PIM", Value: fmt.Sprint(42 + i), Style: bot.StylePrimary},
			bot.Button{Action: bot.ActionDeny, Label: "Deny " + role + " in PIM", Value: fmt.Sprint(42 + i), Style: bot.StyleDanger})
	}
	return m
}

// largestDigest is a weekly digest with every line at its longest, and its chart.
func largestDigest() (bot.Message, []bot.Attachment) {
	m := bot.Message{Kind: "digest", Title: "Weekly PIM digest, Mon 23 Nov – Mon 30 Nov 2026", Text: repeat("Zoë Ångström activated Exchange Administrator; ", 3000),
		Footer: repeat("Could not read the directory audits: Microsoft Graph is busy. ", 3000)}
	for _, l := range []string{"By role", "By person", "Duration", "Not granted", "Approval time", "Standing access", "Global Admins",
		"Break-glass sign-ins", "Access review", "Pilot feedback", "Kept", "To remove"} {
		m.Fields = append(m.Fields, bot.Field{Label: l, Value: repeat("erin@contoso.example 12, ", 1000)})
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 12_000)...)
	return m, []bot.Attachment{{Name: "digest.png", MIME: "image/png", Alt: "Activations per role", Data: png}}
}

// lastIn is the last activity the fake holds in conversation conv.
func lastIn(t *testing.T, fake *teamstest.Server, conv string) teamstest.Activity {
	t.Helper()
	c, ok := fake.Conversation(conv)
	if !ok || len(c.Activities) == 0 {
		t.Fatalf("nothing in %s", conv)
	}
	return *c.Activities[len(c.Activities)-1]
}

// TestLargestMessagesFit: the largest messages Elevate makes, posted and updated through the
// real adapter against the fake Bot Connector (which refuses what Teams refuses, 413
// MessageSizeTooBig), all arrive: those over the limit shortened, saying so, their buttons kept.
func TestLargestMessagesFit(t *testing.T) {
	w := startWorld(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		m    bot.Message
	}{
		{"approval card, ASCII", largestCard("alice@contoso.example asks for Exchange Administrator; ")},
		{"approval card, accents and emoji", largestCard("Zoë Ångström 🔐 demande Exchange Administrator ; ")},
		{"status list", bot.Message{Kind: bot.KindText, Text: repeat("Exchange Administrator active until 14:32\n", 3000)}},
		{"review prompt", bot.Message{Kind: "review", Title: "Do you still need Exchange Administrator?", Text: repeat("You activated it 3 times in 90 days. ", 3000),
			Fields:  []bot.Field{{Label: "Roles", Value: repeat("Exchange Administrator; ", 1000)}, {Label: "Deadline", Value: "Mon 14 Dec"}},
			Buttons: []bot.Button{{Action: "review_keep", Label: "Keep", Value: "2026-Q4|oid-dave|role-exchange"}, {Action: "review_remove", Label: "Remove", Value: "2026-Q4|oid-dave|role-exchange"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := w.adapter.Send(ctx, bot.Address{Channel: "#pim-approvals"}, tc.m)
			if err != nil {
				t.Fatalf("posting: %v", err)
			}
			got := teamstest.Text(lastIn(t, w.fake, approvalsID).Body)
			for _, b := range tc.m.Buttons {
				if !strings.Contains(got, "["+b.Label+"]") {
					t.Errorf("the button %q was lost: %s", b.Label, got)
				}
			}
			if err := w.adapter.Update(ctx, ref, tc.m); err != nil {
				t.Fatalf("updating: %v", err)
			}
			if a := lastIn(t, w.fake, approvalsID); a.Updates != 1 {
				t.Errorf("the message was updated %d times, want 1", a.Updates)
			}
		})
	}
	// The card at its longest does not fit as it is: it is shortened, and says so.
	if _, err := w.adapter.Send(ctx, bot.Address{Channel: "#pim-approvals"}, largestCard("alice@contoso.example asks for Exchange Administrator; ")); err != nil {
		t.Fatal(err)
	}
	if got := teamstest.Text(lastIn(t, w.fake, approvalsID).Body); !strings.Contains(got, "Shortened to fit Teams' message size limit") {
		t.Errorf("the longest card does not say it was shortened: %.300s", got)
	}

	m, files := largestDigest()
	if _, err := w.adapter.SendFiles(ctx, bot.Address{Channel: "#it-admins"}, m, files); err != nil {
		t.Fatalf("the digest: %v", err)
	}
	body := lastIn(t, w.fake, digestID).Body
	if !strings.Contains(fmt.Sprint(body), "data:image/png;base64,") {
		t.Error("the digest's chart was left out")
	}
	if n := teamstest.MessageSize(body); n > teamstest.MaxMessageSize {
		t.Errorf("the digest is %d bytes as Teams counts, over %d", n, teamstest.MaxMessageSize)
	}
}

// TestTooLargeRefusedByTeams: Teams refuses a message Elevate thought fit (its limit is
// approximate): it is sent again in its shortest form, buttons kept. When even that is refused,
// the outbox does not retry it forever: it drops it and the operator's log names it.
func TestTooLargeRefusedByTeams(t *testing.T) {
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	w := startWorldOpts(t, examples.Config, log, map[string]string{"#pim-approvals": approvalsID, "#it-admins": digestID}, nil,
		func(o *demo.Options) { o.Logger = log })
	ctx := context.Background()
	card := largestCard("alice@contoso.example asks for Exchange Administrator; ")
	w.fake.SetMaxMessageSize(16 << 10)
	ref, err := w.adapter.Send(ctx, bot.Address{Channel: "#pim-approvals"}, card)
	if err != nil {
		t.Fatalf("posting: %v", err)
	}
	got := teamstest.Text(lastIn(t, w.fake, approvalsID).Body)
	if !strings.Contains(got, "Shortened to fit Teams' message size limit") || !strings.Contains(got, "[Approve Role 5 Administrator in PIM]") {
		t.Errorf("after Teams' refusal the card reads %.400s; want it shortened, buttons kept", got)
	}
	if err := w.adapter.Update(ctx, ref, card); err != nil {
		t.Fatalf("updating: %v", err)
	}

	w.fake.SetMaxMessageSize(500)
	_, err = w.adapter.Send(ctx, bot.Address{Channel: "#pim-approvals"}, card)
	var de *bot.DeliveryError
	if !errors.As(err, &de) || !de.Refused {
		t.Fatalf("a card Teams refuses even shortened: %v; want a refusal not to retry", err)
	}
	if err := w.adapter.Update(ctx, ref, card); !errors.As(err, &de) || !de.Refused {
		t.Fatalf("an update Teams refuses even shortened: %v; want a refusal not to retry", err)
	}

	// Through the outbox: dropped at once, with an error naming it.
	if err := w.Core.Post(ctx, "#it-admins", bot.Message{Kind: bot.KindAlert, Title: "Drift: 6 Global Admins", Text: repeat("A long line. ", 2000)}); err != nil {
		t.Fatal(err)
	}
	w.Core.DeliverDue(ctx)
	st, err := w.Core.Outbox()
	if err != nil || st.Depth != 0 || st.Dropped != 1 {
		t.Errorf("outbox %+v %v: want the refused post dropped, not queued", st, err)
	}
	if !strings.Contains(logs.String(), "as too large even shortened") {
		t.Errorf("the log does not say what was refused:\n%s", logs.String())
	}
}

// TestTooLargeReplyOnce: a private reply that Teams refuses as too large and that is sent again
// shortened is one reply: the answer to the click that caused it says it once.
func TestTooLargeReplyOnce(t *testing.T) {
	w := startWorld(t)
	w.fake.SetMaxMessageSize(4 << 10)
	replies, stop := w.adapter.WatchReplies(chatID("dave"))
	defer stop()
	m := bot.Message{Kind: bot.KindText, Title: "Your request", Text: repeat("Exchange Administrator is active. ", 3000)}
	if _, err := w.adapter.Send(context.Background(), bot.Address{User: chatID("dave"), Private: true}, m); err != nil {
		t.Fatal(err)
	}
	if c, ok := w.fake.Personal(chatID("dave")); !ok || len(c.Activities) != 1 || !strings.Contains(teamstest.Text(c.Activities[0].Body), "Shortened to fit") {
		t.Fatalf("dave's chat: %+v; want the reply once, shortened", c)
	}
	if n := len(replies()); n != 1 {
		t.Errorf("the click's answer holds the reply %d times, want once", n)
	}
}

// TestShortestKeepsWhatDecides: an approval card Teams refuses as too large is sent again in its
// shortest form, which still names who asks, for which role and how long (an approver must not
// approve blind), keeps the request id and the buttons, and says it was shortened.
func TestShortestKeepsWhatDecides(t *testing.T) {
	w := startWorld(t)
	ctx := context.Background()
	card := bot.Message{Kind: bot.KindCard, RequestID: 42, Title: "Elevation request #42", Text: repeat("Long context. ", 3000),
		Fields: []bot.Field{{Label: "Requester", Value: "Zoë Ångström (zoe@contoso.example)"}, {Label: "Role", Value: "Exchange Administrator (tier 0)"},
			{Label: "Duration", Value: "1h 30m"}, {Label: "Justification", Value: repeat("INC-4711 mailbox restore. ", 1000)},
			{Label: "Approvals", Value: "0 of 2"}},
		Footer: repeat("Requested from Slack. ", 3000),
		Buttons: []bot.Button{{Action: bot.ActionApprove, Label: "Approve", Value: "42", Style: bot.StylePrimary},
			{Action: bot.ActionDeny, Label: "Deny", Value: "42", Style: bot.StyleDanger}}}
	w.fake.SetMaxMessageSize(8 << 10) // Teams' limit is approximate: here it is lower than Elevate's
	if _, err := w.adapter.Send(ctx, bot.Address{Channel: "#pim-approvals"}, card); err != nil {
		t.Fatalf("posting: %v", err)
	}
	got := teamstest.Text(lastIn(t, w.fake, approvalsID).Body)
	for _, want := range []string{"Elevation request #42", "Requester: Zoë Ångström (zoe@contoso.example)", "Role: Exchange Administrator (tier 0)",
		"Duration: 1h 30m", "Justification: INC-4711", "Approvals: 0 of 2", "[Approve]", "[Deny]", "Shortened to fit Teams' message size limit"} {
		if !strings.Contains(got, want) {
			t.Errorf("the shortest card lacks %q:\n%.1500s", want, got)
		}
	}
}
