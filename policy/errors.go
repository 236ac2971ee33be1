package policy

import (
	"fmt"
	"strings"
	"time"
)

// Error codes, stable for the bot to branch on (it must never match Message).
const (
	CodeUnknownRole           = "unknown_role"
	CodeRoleDisabled          = "role_disabled"
	CodeUnknownCommand        = "unknown_command"
	CodeNotYet                = "not_yet"
	CodeBadDuration           = "bad_duration"
	CodeMissingDuration       = "missing_duration"
	CodeUnexpected            = "unexpected_argument"
	CodeMissingRole           = "missing_role"
	CodeTooLong               = "duration_too_long"
	CodeTooShort              = "duration_too_short"
	CodeJustificationRequired = "justification_required"
	CodeJustificationMismatch = "justification_mismatch"
	CodeJustificationTooLong  = "justification_too_long"
	CodeTicketRequired        = "ticket_required"
	CodeTicketMismatch        = "ticket_mismatch"
	CodeContractEnded         = "contract_ended"
	CodeContractCap           = "contract_cap"
	CodeBreakGlass            = "break_glass"
	CodeNoApprovers           = "no_approvers"
	CodeNotARequest           = "not_a_request"
)

// Error is what the chat user reads, in their words. Code is for the program; Message for the
// person. Suggestions are "did you mean" candidates (aliases or command words, best first);
// Offer, when set, is a duration the user can accept with one click ("use 2h?").
type Error struct {
	Code        string
	Message     string
	Suggestions []string
	Offer       time.Duration
}

func (e *Error) Error() string { return e.Message }

// ConfigError is one problem in the config file, at a line.
type ConfigError struct {
	File string
	Line int // 0 when the problem has no line (an empty file, a YAML error without position)
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ConfigErrors is every problem Parse found, in file order, so that one run of `elevate check`
// shows them all.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
