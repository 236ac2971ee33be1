package policy

import (
	"strings"
	"time"
)

// ParseDuration reads a duration as users type it (30m, 4h, 1h30m, 90m); the error is an *Error
// in the user's words. Forms use it for their duration field.
func ParseDuration(s string) (time.Duration, error) {
	d, _, err := parseDuration(strings.TrimSpace(s)) // form fields come with stray spaces
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, &Error{Code: CodeBadDuration, Message: "Write the duration like 30m, 4h or 1h30m."}
	}
	return d, nil
}
