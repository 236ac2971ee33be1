package slack_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
)

// postStatuses are the statuses the fake answered chat.postMessage with, in order.
func postStatuses(fake *slacktest.Server) []int {
	var out []int
	for _, c := range fake.Calls() {
		if c.Method == "chat.postMessage" {
			out = append(out, c.Status)
		}
	}
	return out
}

func retryAdapter(t *testing.T, o slack.Options) (*slack.Adapter, *slacktest.Server) {
	t.Helper()
	fake := slacktest.New()
	t.Cleanup(fake.Close)
	fake.AddChannel("C0RETRY", "retry")
	o.BotToken, o.APIURL = slacktest.BotToken, fake.APIURL()
	a, err := slack.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a, fake
}

// A 429 with Retry-After is retried by slack-go's OptionRetryConfig after that wait, and the
// message is posted once.
func TestRetryAfter429(t *testing.T) {
	a, fake := retryAdapter(t, slack.Options{})
	fake.Throttle("chat.postMessage", "1")
	ref, err := a.Send(context.Background(), bot.Address{Channel: "#retry"}, bot.Message{Text: "after the limit"})
	if err != nil || ref.MessageID == "" {
		t.Fatalf("Send = %+v, %v", ref, err)
	}
	if got := postStatuses(fake); len(got) != 2 || got[0] != http.StatusTooManyRequests || got[1] != http.StatusOK {
		t.Errorf("chat.postMessage answered %v, want [429 200]", got)
	}
	if n := len(fake.InChannel("#retry")); n != 1 {
		t.Errorf("%d messages posted, want 1", n)
	}
}

// A Retry-After longer than MaxRetryWait is not waited for in line: the call fails at once with
// the wait in the error, for the caller to schedule.
func TestRetryAfterTooLong(t *testing.T) {
	a, fake := retryAdapter(t, slack.Options{MaxRetryWait: 2 * time.Second})
	fake.Throttle("chat.postMessage", "120")
	_, err := a.Send(context.Background(), bot.Address{Channel: "#retry"}, bot.Message{Text: "later"})
	var rl *slackapi.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 120*time.Second {
		t.Fatalf("Send: %v, want a RateLimitedError with RetryAfter 2m0s", err)
	}
	if got := postStatuses(fake); len(got) != 1 {
		t.Errorf("chat.postMessage answered %v, want one 429 and no retry", got)
	}
}

// Retries < 0 turns retrying off.
func TestNoRetries(t *testing.T) {
	a, fake := retryAdapter(t, slack.Options{Retries: -1})
	fake.Throttle("chat.postMessage", "1")
	if _, err := a.Send(context.Background(), bot.Address{Channel: "#retry"}, bot.Message{Text: "x"}); err == nil {
		t.Fatal("Send succeeded through a 429 without retries")
	}
	if got := postStatuses(fake); len(got) != 1 {
		t.Errorf("chat.postMessage answered %v, want one 429", got)
	}
}
