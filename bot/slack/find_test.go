package slack_test

import (
	"context"
	"encoding/json"
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
	"github.com/elevate-pim/elevate/store"
)

// lostCardWorld is alice's Exchange request (two approvals) on a core with a fake clock shared
// with the fake Slack, with the answer to the approval card's chat.postMessage lost: Slack
// posted the card, Elevate never heard so. scopes are the bot token's.
// beforeRetry, if given, runs between the lost answer and the retry.
func lostCardWorld(t *testing.T, scopes []string, beforeRetry ...func(*env)) (*env, *fakeClock, *logbuf.Buffer, store.Request) {
	t.Helper()
	clk := &fakeClock{}
	logs := &logbuf.Buffer{}
	e := startEnvSlack(t, false, examples.Tenant, approvalConfig(t), func(o *slack.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}, func(o *demo.Options) { o.Now = clk.now })
	e.fake.SetClock(clk.now)
	e.fake.SetScopes(scopes...)
	e.command(t, "alice", general, "exchange 1h mail flow is broken")
	e.settle()
	e.fake.LoseAnswer("chat.postMessage", "C0APPROVALS")
	e.signIn(t, "alice")
	e.settle()
	rs, err := e.w.Store.Requests(store.Filter{Platform: "slack", ChatUser: uid("alice")})
	if err != nil || len(rs) != 1 || rs[0].State != store.StateAwaitingApproval {
		t.Fatalf("alice's requests: %+v %v", rs, err)
	}
	if n := len(e.fake.InChannel("C0APPROVALS")); n != 1 {
		t.Fatalf("%d cards after the lost answer, want the one Slack posted", n)
	}
	if st, _ := e.w.Core.Outbox(); st.Depth == 0 {
		t.Fatal("the card's post whose answer was lost is not queued for another attempt")
	}
	for _, f := range beforeRetry {
		f(e)
	}
	// Time for the retry, on Elevate's clock and Slack's alike.
	clk.advance(10 * time.Second)
	e.w.Core.DeliverDue(context.Background())
	e.w.Core.DeliverDue(context.Background()) // what waited for the card (alice's "I've asked in")
	e.settle()
	return e, clk, logs, rs[0]
}

// TestOutboxLostAnswerFoundInHistory: the approval card was posted but the answer lost; the
// retry finds it in the channel's history by its metadata instead of posting it again, stores
// its reference, and later updates go to it.
func TestOutboxLostAnswerFoundInHistory(t *testing.T) {
	e, _, logs, r := lostCardWorld(t, slacktest.DefaultScopes)
	cards := e.fake.InChannel("C0APPROVALS")
	if len(cards) != 1 {
		t.Fatalf("%d cards in #pim-approvals after the retry, want 1: %q", len(cards), texts(cards))
	}
	var md struct {
		EventType    string         `json:"event_type"`
		EventPayload map[string]any `json:"event_payload"`
	}
	if err := json.Unmarshal(cards[0].Metadata, &md); err != nil || md.EventType != "elevate_outbox" || !strings.HasPrefix(md.EventPayload["outbox_key"].(string), "elevate-outbox-") {
		t.Errorf("the card's metadata is %s (%v), want event_type elevate_outbox with the outbox key", cards[0].Metadata, err)
	}
	if e.fake.CallCount("conversations.history") == 0 {
		t.Error("conversations.history was not read")
	}
	if st, err := e.w.Core.Outbox(); err != nil || st.Depth != 0 || st.Dropped != 0 {
		t.Fatalf("outbox %+v %v: want empty, nothing dropped", st, err)
	}
	refs, err := e.w.Store.MessageRefs(r.ID)
	if err != nil || !slices.ContainsFunc(refs, func(ref store.MessageRef) bool { return ref.Kind == "card" && ref.MessageID == cards[0].TS }) {
		t.Fatalf("refs %+v %v: want the found card's ts %s", refs, err, cards[0].TS)
	}
	alice := texts(e.fake.Private(uid("alice")))
	if index(t, alice, "I've asked in") < 0 {
		t.Errorf("alice was not told the approvers were asked: %q", alice)
	}
	e.command(t, "alice", general, "cancel")
	e.settle()
	cards = e.fake.InChannel("C0APPROVALS")
	if len(cards) != 1 || cards[0].Updates == 0 || !strings.Contains(strings.ToLower(cards[0].Plain()), "cancelled") {
		t.Errorf("after alice cancelled, #pim-approvals holds %q (updates %d), want the one card, updated", texts(cards), cards[0].Updates)
	}
	if strings.Contains(logs.String(), "cannot read conversation history") {
		t.Error("the missing-scope warning was logged with the scopes granted")
	}
}

// TestOutboxLostAnswerForgedByMember: after the card's answer was lost, a member posts a
// message carrying the card's outbox metadata (the keys are guessable). The retry must take only
// the bot's own post as the card: updates go to the real card, never to the member's message.
func TestOutboxLostAnswerForgedByMember(t *testing.T) {
	var forged string
	e, _, _, r := lostCardWorld(t, slacktest.DefaultScopes, func(e *env) {
		cards := e.fake.InChannel("C0APPROVALS")
		if len(cards) != 1 || len(cards[0].Metadata) == 0 {
			t.Fatalf("the lost card: %+v", cards)
		}
		forged = e.fake.PostAsMember(uid("mallory"), "C0APPROVALS", "not the card", cards[0].Metadata)
	})
	var card slacktest.Message
	for _, m := range e.fake.InChannel("C0APPROVALS") {
		if m.From == "" {
			card = m
		}
	}
	refs, err := e.w.Store.MessageRefs(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		if ref.Kind == "card" && ref.MessageID == forged {
			t.Fatalf("the member's forged message %s was taken as the card", forged)
		}
	}
	if !slices.ContainsFunc(refs, func(ref store.MessageRef) bool { return ref.Kind == "card" && ref.MessageID == card.TS }) {
		t.Fatalf("refs %+v: want the bot's card %s", refs, card.TS)
	}
}

// TestOutboxLostAnswerWithoutHistoryScope: without the history scopes Elevate cannot look, so
// the card is posted again (at least once, never lost), and the operator is told why once.
func TestOutboxLostAnswerWithoutHistoryScope(t *testing.T) {
	var scopes []string
	for _, s := range slacktest.DefaultScopes {
		if !strings.HasSuffix(s, ":history") {
			scopes = append(scopes, s)
		}
	}
	e, clk, logs, _ := lostCardWorld(t, scopes)
	if n := len(e.fake.InChannel("C0APPROVALS")); n != 2 {
		t.Errorf("%d cards in #pim-approvals, want 2: without the history scope the post is made again", n)
	}
	if st, _ := e.w.Core.Outbox(); st.Depth != 0 || st.Dropped != 0 {
		t.Fatalf("outbox %+v: want empty, nothing dropped", st)
	}
	// A second lost answer: said once all the same.
	e.fake.LoseAnswer("chat.postMessage", "C0SECURITY")
	if err := e.w.Core.Post(context.Background(), "#security", bot.Message{Kind: bot.KindAlert, Text: "a line for the security channel"}); err != nil {
		t.Fatal(err)
	}
	clk.advance(10 * time.Second)
	e.w.Core.DeliverDue(context.Background())
	if n := len(e.fake.InChannel("C0SECURITY")); n != 2 {
		t.Errorf("%d lines in #security, want 2 (posted again without the history scope)", n)
	}
	if got := strings.Count(logs.String(), "cannot read conversation history"); got != 1 {
		t.Errorf("the missing scope was logged %d times, want once:\n%s", got, logs.String())
	}
}

// TestHeldUntilInvited: the approvals channel exists but the bot is not in it, so the card is
// held; when someone invites the bot (member_joined_channel for the bot itself), the card is
// delivered at once, not at the next minute's recheck. A member joining who is not the bot
// releases nothing.
func TestHeldUntilInvited(t *testing.T) {
	for _, socket := range []bool{false, true} {
		t.Run(map[bool]string{false: "events api", true: "socket mode"}[socket], func(t *testing.T) {
			clk := &fakeClock{}
			e := startEnv(t, socket, examples.Tenant, approvalConfig(t), func(o *demo.Options) { o.Now = clk.now })
			e.fake.RemoveChannel("C0APPROVALS")
			e.fake.AddOtherChannel("C0APPROVALS", "pim-approvals")
			e.command(t, "alice", general, "exchange 1h mail flow is broken")
			e.settle()
			e.signIn(t, "alice")
			e.settle()
			if n := len(e.fake.InChannel("C0APPROVALS")); n != 0 {
				t.Fatalf("%d messages in a channel the bot is not in", n)
			}
			st, _ := e.w.Core.Outbox()
			if st.Depth == 0 {
				t.Fatal("the card is not held")
			}
			event := func(user string) {
				t.Helper()
				ev := slacktest.MemberJoined("Ev"+e.next(), user, "C0APPROVALS", uid("carol"))
				if socket {
					e.deliver(t, "events_api", ev)
				} else {
					raw, _ := json.Marshal(ev)
					e.postSigned(t, "/slack/events", "application/json", raw)
				}
				e.settle()
				e.w.Core.DeliverDue(context.Background()) // on the same clock: the minute's recheck is not due
				e.w.Core.DeliverDue(context.Background()) // what waited for the card
			}
			event(uid("dave")) // someone else joins: nothing changes for the bot
			e.fake.Invite("C0APPROVALS")
			e.w.Core.DeliverDue(context.Background())
			if n := len(e.fake.InChannel("C0APPROVALS")); n != 0 {
				t.Fatalf("%d messages delivered before the held recheck was due and before any event for the bot", n)
			}
			event(slacktest.BotUserID)
			cards := e.fake.InChannel("C0APPROVALS")
			if len(cards) != 1 {
				t.Fatalf("%d cards in #pim-approvals after the bot was invited, want 1", len(cards))
			}
			if i := index(t, texts(e.fake.Private(uid("alice"))), "I've asked in"); i < 0 {
				t.Error("alice was not told the approvers were asked once the card was posted")
			}
		})
	}
}

// TestReviewPromptLostAnswer: review prompts go through the outbox, queued with the record that
// the item was prompted. Slack posts dave's first prompt but its answer is lost: both items are
// recorded as prompted all the same, and the retry finds the first in his DM's history instead
// of posting it again, then posts the second.
func TestReviewPromptLostAnswer(t *testing.T) {
	clk := &fakeClock{}
	e := startEnv(t, false, examples.Tenant, examples.Config, func(o *demo.Options) { o.Now = clk.now })
	e.fake.SetClock(clk.now)
	dm := slacktest.DMChannel(uid("dave"))
	e.fake.LoseAnswer("chat.postMessage", dm)
	sch, err := schedule.New(schedule.Options{Config: e.w.Config, Core: e.w.Core, Graph: e.w.Graph, Store: e.w.Store, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sch.StartReview(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	e.settle()
	prompts := func() int {
		n := 0
		for _, m := range e.fake.Private(uid("dave")) {
			if strings.Contains(m.Plain(), "Do you still need") {
				n++
			}
		}
		return n
	}
	if n := prompts(); n != 1 {
		t.Fatalf("dave has %d prompts in his DM, want 1 (posted, its answer lost; the second waits behind it)", n)
	}
	cs, err := e.w.Store.Campaigns()
	if err != nil || len(cs) != 1 {
		t.Fatalf("campaigns %+v %v", cs, err)
	}
	items, err := e.w.Store.ReviewItems(cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	daves := 0
	for _, it := range items {
		if it.User == "dave@contoso.example" {
			daves++
			if it.Prompted.IsZero() || it.ChatUser != uid("dave") {
				t.Errorf("dave's item %s: prompted %v to %q; want recorded with its queued prompt", it.RoleName, it.Prompted, it.ChatUser)
			}
		}
	}
	if daves != 2 {
		t.Fatalf("dave has %d review items, want 2", daves)
	}
	clk.advance(10 * time.Second)
	e.w.Core.DeliverDue(t.Context())
	if n := prompts(); n != 2 {
		t.Errorf("dave has %d prompts after the retry, want 2: none posted twice", n)
	}
	if st, _ := e.w.Core.Outbox(); st.Depth != 0 {
		t.Errorf("outbox %+v: want empty", st)
	}
}
