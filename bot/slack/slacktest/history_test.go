package slacktest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot/slack/slacktest"
)

// TestHistory: conversations.history as Slack answers it, through slack-go: newest first,
// pages joined by response_metadata.next_cursor, oldest honoured, metadata only when asked,
// ephemeral messages never; refused without the scope for the conversation's type and when the
// bot is not in the channel.
func TestHistory(t *testing.T) {
	s := slacktest.New()
	defer s.Close()
	clock := time.Unix(1_800_000_000, 0)
	s.SetClock(func() time.Time { return clock })
	s.AddUser(slacktest.User{ID: "UALICE", Name: "alice"})
	s.AddChannel("C0APPROVALS", "pim-approvals")
	s.AddOtherChannel("C0OTHER", "other")
	api := slackapi.New(slacktest.BotToken, slackapi.OptionAPIURL(s.APIURL()))
	ctx := context.Background()

	_, early, err := api.PostMessageContext(ctx, "C0APPROVALS", slackapi.MsgOptionText("before", false))
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	for i := range 5 {
		md := slackapi.SlackMetadata{EventType: "elevate_outbox", EventPayload: map[string]any{"outbox_key": fmt.Sprint("k", i)}}
		if _, _, err := api.PostMessageContext(ctx, "C0APPROVALS", slackapi.MsgOptionText(fmt.Sprint("m", i), false), slackapi.MsgOptionMetadata(md)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.PostEphemeralContext(ctx, "C0APPROVALS", "UALICE", slackapi.MsgOptionText("only alice", false)); err != nil {
		t.Fatal(err)
	}

	p := &slackapi.GetConversationHistoryParameters{ChannelID: "C0APPROVALS", Limit: 2, IncludeAllMetadata: true, Oldest: early, Inclusive: false}
	var got []string
	pages := 0
	for {
		res, err := api.GetConversationHistoryContext(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, m := range res.Messages {
			got = append(got, m.Text+"/"+fmt.Sprint(m.Metadata.EventPayload["outbox_key"]))
			if m.BotID != slacktest.BotID {
				t.Errorf("message %q has bot_id %q", m.Text, m.BotID)
			}
		}
		if res.ResponseMetaData.NextCursor == "" {
			if res.HasMore {
				t.Error("has_more without a next cursor")
			}
			break
		}
		p.Cursor = res.ResponseMetaData.NextCursor
	}
	want := []string{"m4/k4", "m3/k3", "m2/k2", "m1/k1", "m0/k0"}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("history %q in %d pages, want %q in 3 (newest first, the earlier message excluded by oldest, no ephemeral)", got, pages, want)
	}

	res, err := api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{ChannelID: "C0APPROVALS", Limit: 1})
	if err != nil || len(res.Messages) != 1 || res.Messages[0].Metadata.EventType != "" {
		t.Errorf("without include_all_metadata: %+v %v, want no metadata", res, err)
	}

	refused := func(channel, want string) {
		t.Helper()
		_, err := api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{ChannelID: channel})
		var se slackapi.SlackErrorResponse
		if !errors.As(err, &se) || se.Err != want {
			t.Errorf("history of %s: %v, want %s", channel, err, want)
		}
	}
	refused("C0OTHER", "not_in_channel")
	refused("pim-approvals", "channel_not_found") // an id, not a name
	s.SetScopes("chat:write", "im:history")
	refused("C0APPROVALS", "missing_scope")
	if _, err := api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{ChannelID: slacktest.DMChannel("UALICE")}); err != nil {
		t.Errorf("a DM's history with im:history: %v", err)
	}
	s.SetScopes("chat:write", "channels:history")
	refused(slacktest.DMChannel("UALICE"), "missing_scope")
}

// TestUpdateOnlyOwn: chat.update refuses a member's message as Slack does (cant_update_message):
// the bot can change only its own posts.
func TestUpdateOnlyOwn(t *testing.T) {
	s := slacktest.New()
	defer s.Close()
	s.AddUser(slacktest.User{ID: "UMALLORY", Name: "mallory"})
	s.AddChannel("C0APPROVALS", "pim-approvals")
	api := slackapi.New(slacktest.BotToken, slackapi.OptionAPIURL(s.APIURL()))
	ctx := context.Background()
	ts := s.PostAsMember("UMALLORY", "C0APPROVALS", "mine", nil)
	var se slackapi.SlackErrorResponse
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0APPROVALS", ts, slackapi.MsgOptionText("the bot's", false)); !errors.As(err, &se) || se.Err != "cant_update_message" {
		t.Errorf("updating a member's message: %v, want cant_update_message", err)
	}
	_, own, err := api.PostMessageContext(ctx, "C0APPROVALS", slackapi.MsgOptionText("the bot's", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0APPROVALS", own, slackapi.MsgOptionText("changed", false)); err != nil {
		t.Errorf("updating the bot's own message: %v", err)
	}
}
