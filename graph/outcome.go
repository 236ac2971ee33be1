package graph

import (
	"context"
	"errors"
	"net/http"
)

// OutcomeUnknown reports whether a write that failed with err may nevertheless have been made:
// no answer came back (a timeout, a reset connection, the caller cancelled while the request was
// on its way) or Graph answered a 5xx other than a 503 with Retry-After. Only a look at the
// tenant tells what happened; "nothing was changed" would be a guess.
func OutcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		return true
	}
	var ge *Error
	return errors.As(err, &ge) && ge.Status >= 500 && !(ge.Status == http.StatusServiceUnavailable && ge.RetryAfter > 0)
}

// Transient reports whether a failed call is worth trying again later: its outcome is unknown,
// or Graph asked us to come back (429, 503 with Retry-After: not processed).
func Transient(err error) bool {
	return OutcomeUnknown(err) || errors.Is(err, ErrThrottled)
}
