package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/internal/logbuf"
)

// chartPost is a digest and its chart posted through the outbox to #it-admins (C0ITADMINS) on a
// core and a fake Slack that share clk, with the bot token's scopes; trouble, if given, runs
// before the post (e.g. an answer to lose), beforeRetry between the first attempt and the
// outbox's retry ten seconds later.
func chartPost(t *testing.T, scopes []string, trouble, beforeRetry func(*env)) (*env, *logbuf.Buffer) {
	t.Helper()
	clk := &fakeClock{}
	logs := &logbuf.Buffer{}
	e := startEnvSlack(t, false, examples.Tenant, examples.Config, func(o *slack.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}, func(o *demo.Options) { o.Now = clk.now })
	e.fake.SetClock(clk.now)
	e.fake.SetScopes(scopes...)
	if trouble != nil {
		trouble(e)
	}
	chart := bot.Attachment{Name: "chart.png", MIME: "image/png", Alt: "Activations per role", Data: append(bytes.Clone(pngSignature), "chart"...)}
	m := bot.Message{Kind: schedule.KindDigest, Title: "Weekly PIM digest", Text: "3 activations this week."}
	if err := e.w.Core.Post(context.Background(), "#it-admins", m, chart); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if st, _ := e.w.Core.Outbox(); st.Depth == 0 {
		t.Fatal("the post is not queued for another attempt")
	}
	if beforeRetry != nil {
		beforeRetry(e)
	}
	clk.advance(10 * time.Second)
	e.w.Core.DeliverDue(context.Background())
	e.settle()
	if st, err := e.w.Core.Outbox(); err != nil || st.Depth != 0 || st.Dropped != 0 {
		t.Fatalf("outbox %+v %v after the retry: want empty, nothing dropped", st, err)
	}
	return e, logs
}

// posted counts the digests and the charts the bot shared in #it-admins.
func posted(e *env) (digests, charts int) {
	for _, m := range e.fake.InChannel("C0ITADMINS") {
		if m.From == "" && strings.Contains(m.Plain(), "Weekly PIM digest") {
			digests++
		}
	}
	for _, f := range e.fake.Files() {
		if f.User == "" && f.Complete && f.Channel == "C0ITADMINS" && bytes.HasPrefix(f.Data, pngSignature) {
			charts++
		}
	}
	return digests, charts
}

// outboxKey is the outbox key in the metadata of the bot's digest in #it-admins.
func outboxKey(t *testing.T, e *env) string {
	t.Helper()
	for _, m := range e.fake.InChannel("C0ITADMINS") {
		var md struct {
			EventPayload map[string]any `json:"event_payload"`
		}
		if m.From == "" && json.Unmarshal(m.Metadata, &md) == nil {
			if k, _ := md.EventPayload["outbox_key"].(string); k != "" {
				return k
			}
		}
	}
	t.Fatal("no digest with an outbox key in #it-admins")
	return ""
}

// TestFilesLostShareAnswer: Slack shared the chart but its answer to files.completeUploadExternal
// was lost. The retry finds the digest and, in the history after it, the bot's own file under the
// chart's keyed name: nothing is posted or shared twice.
func TestFilesLostShareAnswer(t *testing.T) {
	e, _ := chartPost(t, slacktest.DefaultScopes, func(e *env) {
		e.fake.LoseAnswer("files.completeUploadExternal", "C0ITADMINS")
	}, nil)
	if d, c := posted(e); d != 1 || c != 1 {
		t.Errorf("%d digests and %d charts in #it-admins, want 1 and 1", d, c)
	}
	key := outboxKey(t, e)
	for _, f := range e.fake.Files() {
		if f.Complete && !strings.Contains(f.Name, key) {
			t.Errorf("the chart was shared as %q, without its post's outbox key %s", f.Name, key)
		}
	}
}

// TestFilesShareFailed: Slack fails the chart's share (internal_error). The digest stands and the
// outbox shares the chart on its retry, once, below the digest found in the history.
func TestFilesShareFailed(t *testing.T) {
	e, _ := chartPost(t, slacktest.DefaultScopes, func(e *env) {
		e.fake.Fail("files.completeUploadExternal", "internal_error")
	}, nil)
	if d, c := posted(e); d != 1 || c != 1 {
		t.Errorf("%d digests and %d charts in #it-admins, want 1 and 1", d, c)
	}
}

// TestFilesLostPostAnswer: the digest was posted but its answer lost, so the first attempt
// shared no chart. The retry finds the digest and shares the chart below it: one of each.
func TestFilesLostPostAnswer(t *testing.T) {
	e, _ := chartPost(t, slacktest.DefaultScopes, func(e *env) {
		e.fake.LoseAnswer("chat.postMessage", "C0ITADMINS")
	}, nil)
	if d, c := posted(e); d != 1 || c != 1 {
		t.Errorf("%d digests and %d charts in #it-admins, want 1 and 1", d, c)
	}
	msgs := e.fake.InChannel("C0ITADMINS")
	if len(msgs) != 2 || len(msgs[1].Files) != 1 || msgs[1].From != "" {
		t.Errorf("#it-admins holds %q: want the digest, then the bot's chart", texts(msgs))
	}
}

// TestFilesForgedByMember: after the digest's answer was lost (no chart shared yet), a member
// uploads a file under the chart's keyed name (keys are guessable). The retry must not take the
// member's file for the bot's chart: the bot shares its own.
func TestFilesForgedByMember(t *testing.T) {
	e, _ := chartPost(t, slacktest.DefaultScopes, func(e *env) {
		e.fake.LoseAnswer("chat.postMessage", "C0ITADMINS")
	}, func(e *env) {
		e.fake.PostFileAsMember(uid("mallory"), "C0ITADMINS", "chart-"+outboxKey(t, e)+"-1.png", "Activations per role",
			append(bytes.Clone(pngSignature), "forged"...))
	})
	if d, c := posted(e); d != 1 || c != 1 {
		t.Errorf("%d digests and %d charts shared by the bot in #it-admins, want 1 and 1: a member's file was taken for the bot's", d, c)
	}
}

// TestFilesLookedForOnce: a digest with two charts whose second share's answer was lost. The
// retry finds the digest, then reads the history after it once for both charts (not once a
// chart): nothing is posted or shared twice.
func TestFilesLookedForOnce(t *testing.T) {
	clk := &fakeClock{}
	e := startEnvSlack(t, false, examples.Tenant, examples.Config, nil, func(o *demo.Options) { o.Now = clk.now })
	e.fake.SetClock(clk.now)
	chart := func(name string) bot.Attachment {
		return bot.Attachment{Name: name, MIME: "image/png", Alt: name, Data: append(bytes.Clone(pngSignature), name...)}
	}
	e.fake.LoseAnswer("files.completeUploadExternal", "C0ITADMINS") // the first chart's
	m := bot.Message{Kind: schedule.KindDigest, Title: "Weekly PIM digest", Text: "3 activations this week."}
	if err := e.w.Core.Post(context.Background(), "#it-admins", m, chart("a.png"), chart("b.png")); err != nil {
		t.Fatal(err)
	}
	e.settle()
	before := e.fake.CallCount("conversations.history")
	clk.advance(10 * time.Second)
	e.w.Core.DeliverDue(context.Background())
	e.settle()
	if st, err := e.w.Core.Outbox(); err != nil || st.Depth != 0 || st.Dropped != 0 {
		t.Fatalf("outbox %+v %v after the retry: want empty, nothing dropped", st, err)
	}
	if d, c := posted(e); d != 1 || c != 2 {
		t.Errorf("%d digests and %d charts in #it-admins, want 1 and 2", d, c)
	}
	// One read to find the digest, one for its files.
	if n := e.fake.CallCount("conversations.history") - before; n != 2 {
		t.Errorf("the retry read the history %d times, want 2", n)
	}
}

// TestFilesLostShareAnswerWithoutHistoryScope: without the history scopes Elevate cannot look,
// so after the share's lost answer the digest and its chart are posted again, as any post whose
// answer was lost is (at least once, never lost), and the operator is told why once.
func TestFilesLostShareAnswerWithoutHistoryScope(t *testing.T) {
	var scopes []string
	for _, s := range slacktest.DefaultScopes {
		if !strings.HasSuffix(s, ":history") {
			scopes = append(scopes, s)
		}
	}
	e, logs := chartPost(t, scopes, func(e *env) {
		e.fake.LoseAnswer("files.completeUploadExternal", "C0ITADMINS")
	}, nil)
	if d, c := posted(e); d != 2 || c != 2 {
		t.Errorf("%d digests and %d charts in #it-admins, want 2 and 2 (posted again: nothing could be looked up)", d, c)
	}
	if got := strings.Count(logs.String(), "cannot read conversation history"); got != 1 {
		t.Errorf("the missing scope was logged %d times, want once", got)
	}
}

// repeat is s repeated up to n runes.
func repeat(s string, n int) string {
	r := []rune(strings.Repeat(s, n/len([]rune(s))+1))
	return string(r[:n])
}

// TestLargestMessagesFit: the largest messages Elevate makes — an approval card of a five-role
// request with its ten PIM buttons and every text at the length the core keeps, a digest with
// every line long, a status list of many lines — posted and updated through the real adapter
// against the fake Slack, which refuses what Slack refuses (invalid_blocks past 50 blocks, 3000
// characters a section, 10 fields of 2000, 150 a header): all arrive, with every button, and one
// that had to lose blocks says so.
func TestLargestMessagesFit(t *testing.T) {
	e := start(t, false)
	ctx := t.Context()
	card := bot.Message{Kind: bot.KindCard, RequestID: 42, Title: repeat("Elevation request #42 for Zoë Ångström ", 300),
		Text: repeat("Zoë Ångström 🔐 asks for Exchange Administrator & <SharePoint>; ", 3000), Footer: repeat("PIM itself requires approval. ", 3000)}
	for i := range 12 {
		card.Fields = append(card.Fields, bot.Field{Label: fmt.Sprintf("Field %d", i+1), Value: repeat("a & b <c> ", 2500)})
	}
	for i := range 5 {
		role := fmt.Sprintf("Role %d Administrator", i+1)
		card.Buttons = append(card.Buttons,
			bot.Button{Action: bot.ActionApprove, Label: "Approve " + role + " in PIM", Value: fmt.Sprint(42 + i), Style: bot.StylePrimary},
			bot.Button{Action: bot.ActionDeny, Label: "Deny " + role + " in PIM", Value: fmt.Sprint(42 + i), Style: bot.StyleDanger})
	}
	status := bot.Message{Kind: bot.KindText, Text: repeat("Exchange Administrator active until 14:32 (alice@contoso.example)\n", 200_000)}
	for _, tc := range []struct {
		name      string
		m         bot.Message
		shortened bool
	}{
		{"approval card", card, false},
		{"status list of 200,000 characters", status, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := e.a.Send(ctx, bot.Address{Channel: "#it-admins"}, tc.m)
			if err != nil {
				t.Fatalf("posting: %v", err)
			}
			if err := e.a.Update(ctx, ref, tc.m); err != nil {
				t.Fatalf("updating: %v", err)
			}
			msgs := e.fake.InChannel("#it-admins")
			got := msgs[len(msgs)-1]
			for _, b := range tc.m.Buttons {
				if !slices.ContainsFunc(got.Buttons(), func(x slacktest.Button) bool { return x.Text == b.Label }) {
					t.Errorf("the button %q was lost", b.Label)
				}
			}
			if tc.shortened && !strings.Contains(got.Plain(), "shortened: the rest did not fit in one Slack message") {
				t.Errorf("the message lost blocks without saying so: …%s", got.Plain()[max(0, len(got.Plain())-200):])
			}
		})
	}
}
