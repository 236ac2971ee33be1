package teams

import (
	"errors"
	"net/http"

	"github.com/elevate-pim/elevate/bot"
)

// deliveryError tells the core's outbox what a failed Bot Connector call means: a refusal with
// a status below 500 (429 included) was not carried out; a 5xx, a timeout or a reset leaves it
// open; a conversation the connector no longer knows is an unknown target; Retry-After when given.
func deliveryError(err error) error {
	if err == nil {
		return nil
	}
	var de *bot.DeliveryError
	if errors.As(err, &de) {
		return err
	}
	de = &bot.DeliveryError{Err: err}
	var ce *Error
	if errors.As(err, &ce) {
		de.NotSent = ce.Status < 500
		if ce.RetryAfter > 0 {
			de.RetryAfter = ce.RetryAfter
		}
		switch ce.Status {
		case http.StatusNotFound, http.StatusForbidden:
			// The conversation is gone or the bot was removed from it; it may be added back.
			de.Unknown = true
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			de.Refused = true
		}
	}
	return de
}

// unknownTarget is a target Elevate has no conversation reference for (yet): a Teams channel not
// mapped, a user who never met the bot. The outbox holds the message until it becomes known.
func unknownTarget(err error) error {
	return &bot.DeliveryError{Err: err, Unknown: true, NotSent: true}
}
