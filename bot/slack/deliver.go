package slack

import (
	"errors"
	"net/http"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
)

// deliveryError tells the core's outbox what a failed Web API call means: whether Slack carried
// it out (an answer with ok:false or a 429 says it did not; a timeout or a 5xx leaves it open),
// whether the channel or user is unknown (yet), whether retrying can help, and Slack's
// Retry-After.
func deliveryError(err error) error {
	if err == nil {
		return nil
	}
	de := &bot.DeliveryError{Err: err}
	var (
		rl *slackapi.RateLimitedError
		se slackapi.SlackErrorResponse
		sc slackapi.StatusCodeError
	)
	switch {
	case errors.As(err, &rl):
		de.NotSent, de.RetryAfter = true, rl.RetryAfter
	case errors.As(err, &se):
		de.NotSent = true
		switch se.Err {
		case "channel_not_found", "not_in_channel", "user_not_found", "is_archived", "cannot_dm_bot", "user_disabled":
			// Elevate may be invited to the channel, the channel created or unarchived.
			de.Unknown = true
		case "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "too_many_attachments",
			"invalid_arguments", "message_not_found", "cant_update_message", "edit_window_closed":
			de.Refused = true
		}
	case errors.As(err, &sc):
		de.NotSent = sc.Code == http.StatusTooManyRequests || sc.Code < 500
	}
	return de
}
