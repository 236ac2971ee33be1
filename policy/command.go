package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kind is what a chat command asks for.
type Kind int

const (
	KindForm     Kind = iota // empty input: show the request form
	KindHelp                 // help
	KindRoles                // roles
	KindStatus               // status
	KindDone                 // done [role]
	KindExtend               // extend [role] <duration>
	KindCancel               // cancel
	KindRequest              // <role> [duration] [justification]
	KindDiscover             // discover: standing assignments (PIM admins)
	KindConvert              // convert <user> <role>: standing → eligible (PIM admins)
	KindReview               // review start|status (PIM admins)
	KindDigest               // digest: the weekly digest, now
	KindDrift                // drift: the baseline check, now
	KindApprove              // approve <n>: an approver approves request n
	KindDeny                 // deny <n> <reason>: an approver denies request n
	KindFeedback             // feedback <text>: a note for the pilot's digest
	KindRebind               // rebind <chat user> <user>: link a chat account (PIM admins)
	KindUnbind               // unbind <chat user>: remove a chat account's link (PIM admins)
)

func (k Kind) String() string {
	switch k {
	case KindForm:
		return "form"
	case KindHelp:
		return "help"
	case KindRoles:
		return "roles"
	case KindStatus:
		return "status"
	case KindDone:
		return "done"
	case KindExtend:
		return "extend"
	case KindCancel:
		return "cancel"
	case KindRequest:
		return "request"
	case KindDiscover:
		return "discover"
	case KindConvert:
		return "convert"
	case KindReview:
		return "review"
	case KindDigest:
		return "digest"
	case KindDrift:
		return "drift"
	case KindApprove:
		return "approve"
	case KindDeny:
		return "deny"
	case KindRebind:
		return "rebind"
	case KindUnbind:
		return "unbind"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Command is one parsed chat command.
type Command struct {
	Kind Kind
	Role *Role // nil when not given (done/extend take an optional role); Roles[0] when several
	// Roles are the roles named, in order, when there are several ("exchange,sharepoint 4h …",
	// "done exchange,sharepoint"); nil for one role or none.
	Roles []*Role
	// All is `done all` / `extend all 1h`: every active elevation of the user.
	All           bool
	Duration      time.Duration // 0 when not given
	Justification string
	Ticket        string // extracted ticket (e.g. INC-1234), also left in Justification
	Target        string // convert, rebind: the user (UPN or object id)
	ChatUser      string // rebind, unbind: the chat platform's user id
	Action        string // review: "start" or "status"
	RequestID     uint64 // approve, deny: the request number
	Reason        string // deny: why
}

// ParseCommand reads what the user typed after /elevate (or to the bot in Teams):
//
//	exchange 4h fixing mail flow          a request: role, optional duration, justification
//	ga 90m INC-1234 restore tenant        the ticket is found in the justification
//	exchange administrator 4h ...         full role names work too
//	exchange,sharepoint 4h ...            several roles (at most MaxRoles), one justification
//	help | roles | status | cancel
//	done [role[,role…]|all] | extend [role[,role…]|all] <duration>
//	rebind <chat user> <user> | unbind <chat user>   admins (admin.go)
//	(nothing)                             the request form
//
// A leading "elevate" or "/elevate" is skipped, for Teams where users type it to the bot. The
// error is always an *Error in the user's words.
func (c *Config) ParseCommand(text string) (Command, error) {
	words := strings.Fields(text)
	if len(words) > 0 && (strings.EqualFold(words[0], "elevate") || strings.EqualFold(words[0], "/elevate")) {
		words = words[1:]
	}
	if len(words) == 0 {
		return Command{Kind: KindForm}, nil
	}
	first := strings.ToLower(words[0])
	rest := words[1:]
	switch first {
	case "help":
		return Command{Kind: KindHelp}, nil // anything after help is a question we answer with help
	case "roles", "status", "cancel":
		if len(rest) > 0 {
			return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("%q takes nothing after it — just say %q", first, first)}
		}
		kind := map[string]Kind{"roles": KindRoles, "status": KindStatus, "cancel": KindCancel}[first]
		return Command{Kind: kind}, nil
	case "done":
		return c.parseDone(rest)
	case "extend":
		return c.parseExtend(rest)
	case "discover", "digest", "drift", "convert", "review", "rebind", "unbind":
		return c.parseAdmin(first, rest)
	case "approve", "deny":
		return parseDecision(first, rest)
	case "feedback":
		if len(rest) == 0 {
			return Command{}, &Error{Code: CodeUnexpected, Message: `What would you like to tell the team? Say "feedback" and your note, e.g. "feedback the form should remember my last role"`}
		}
		return Command{Kind: KindFeedback, Reason: strings.Join(rest, " ")}, nil
	}
	if reservedWords[first] {
		return Command{}, &Error{Code: CodeNotYet, Message: fmt.Sprintf("%q isn't available yet — say \"help\" to see what Elevate can do", first)}
	}
	return c.parseRequest(words)
}

// parseDecision reads `approve 3` and `deny 3 <reason>` ("#3" works too); a denial needs a reason,
// as the Deny button asks for one.
func parseDecision(verb string, words []string) (Command, error) {
	example := verb + " 3"
	if verb == "deny" {
		example = "deny 3 not during the change freeze"
	}
	if len(words) == 0 {
		return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("Which request? Say %q with the request number from the card", example)}
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(words[0], "#"), 10, 64)
	if err != nil || n == 0 {
		return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("%q is not a request number — say %q", words[0], example)}
	}
	cmd := Command{Kind: KindApprove, RequestID: n}
	if verb == "approve" {
		if len(words) > 1 {
			return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("\"approve\" takes just the request number, e.g. %q", example)}
		}
		return cmd, nil
	}
	cmd.Kind = KindDeny
	cmd.Reason = strings.Join(words[1:], " ")
	if cmd.Reason == "" {
		return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("Say why, so the requester knows: %q", fmt.Sprintf("deny %d <reason>", n))}
	}
	return cmd, nil
}

func (c *Config) parseDone(words []string) (Command, error) {
	if len(words) == 0 {
		return Command{Kind: KindDone}, nil
	}
	if strings.EqualFold(words[0], "all") {
		if len(words) > 1 {
			return Command{}, &Error{Code: CodeUnexpected, Message: `"done all" takes nothing after it — it ends every role you have active`}
		}
		return Command{Kind: KindDone, All: true}, nil
	}
	roles, rest, err := c.roleList(words, false)
	if err != nil {
		return Command{}, err
	}
	if len(rest) > 0 {
		return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("\"done\" takes just roles, e.g. \"done %s\", \"done %s,sharepoint\" or \"done all\"", roles[0].Alias(), roles[0].Alias())}
	}
	return withRoles(Command{Kind: KindDone}, roles), nil
}

// withRoles sets cmd's role, and its role list when there are several.
func withRoles(cmd Command, roles []*Role) Command {
	cmd.Role = roles[0]
	if len(roles) > 1 {
		cmd.Roles = roles
	}
	return cmd
}

func (c *Config) parseExtend(words []string) (Command, error) {
	const example = `e.g. "extend 1h", "extend exchange 1h" or "extend all 1h"`
	if len(words) == 0 {
		return Command{}, &Error{Code: CodeMissingDuration, Message: "How much longer? Say " + example}
	}
	cmd := Command{Kind: KindExtend}
	d, looks, derr := parseDuration(words[0])
	if derr != nil {
		return Command{}, derr
	}
	if !looks && isNumber(words[0]) {
		return Command{}, &Error{Code: CodeBadDuration, Message: fmt.Sprintf("%s — hours or minutes? Say e.g. \"extend 1h\" or \"extend 30m\"", words[0])}
	}
	if !looks {
		what := "all"
		if strings.EqualFold(words[0], "all") {
			cmd.All, words = true, words[1:]
		} else {
			roles, rest, err := c.roleList(words, false)
			if err != nil {
				return Command{}, err
			}
			cmd, words = withRoles(cmd, roles), rest
			what = roles[0].Alias()
		}
		if len(words) == 0 {
			return Command{}, &Error{Code: CodeMissingDuration, Message: fmt.Sprintf("How much longer? Say e.g. \"extend %s 1h\"", what)}
		}
		if d, looks, derr = parseDuration(words[0]); derr != nil {
			return Command{}, derr
		}
		if !looks {
			return Command{}, &Error{Code: CodeBadDuration, Message: fmt.Sprintf("%q isn't a duration — say e.g. \"extend %s 1h\" (30m, 4h, 1h30m)", clip(words[0]), what)}
		}
	}
	if len(words) > 1 {
		return Command{}, &Error{Code: CodeUnexpected, Message: "\"extend\" takes roles and a duration only, " + example}
	}
	cmd.Duration = d
	return cmd, nil
}

func (c *Config) parseRequest(words []string) (Command, error) {
	if d, looks, _ := parseDuration(words[0]); looks && d > 0 {
		return Command{}, &Error{Code: CodeMissingRole, Message: fmt.Sprintf("Start with the role, then the duration, e.g. \"exchange %s fixing mail flow\"", formatDuration(d))}
	}
	roles, rest, err := c.roleList(words, true)
	if err != nil {
		return Command{}, err
	}
	if e := c.spacedList(roles, rest); e != nil {
		return Command{}, e
	}
	r := roles[0]
	cmd := withRoles(Command{Kind: KindRequest}, roles)
	if len(rest) > 0 {
		if len(rest) > 1 && isNumber(rest[0]) && unitWords[strings.ToLower(rest[1])] != 0 {
			// "4 hours": understood, but there is one way to write it.
			v, _ := strconv.Atoi(rest[0])
			return Command{}, badDuration(rest[0]+" "+rest[1], "write it as one word", time.Duration(v)*unitWords[strings.ToLower(rest[1])])
		}
		d, looks, derr := parseDuration(rest[0])
		switch {
		case derr != nil:
			return Command{}, derr
		case looks:
			cmd.Duration = d
			rest = rest[1:]
		}
	}
	cmd.Justification = strings.Join(rest, " ")
	cmd.Ticket = findTicket(r.TicketPattern, c.DefaultTicketPattern, cmd.Justification)
	return cmd, nil
}

// findTicket finds the ticket in a justification: the pattern's first group if it has one,
// else the whole match.
func findTicket(re, fallback *regexp.Regexp, s string) string {
	if re == nil {
		re = fallback
	}
	if re == nil {
		re = defaultTicketRe
	}
	m := re.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	if len(m) > 1 && m[1] != "" {
		return m[1]
	}
	return m[0]
}

var defaultTicketRe = regexp.MustCompile(DefaultTicketPattern)

// rolePrefix resolves the longest run of leading words that names a role ("exchange",
// "exchange administrator", "privileged role admin"), and says how many words it took.
func (c *Config) rolePrefix(words []string, withCommands bool) (*Role, int, error) {
	maxWords := c.maxRoleWords()
	for n := min(len(words), maxWords); n >= 1; n-- {
		key := strings.ToLower(strings.Join(words[:n], " "))
		if r, disabled := c.lookup(key); r != nil && !disabled {
			return r, n, nil
		} else if r != nil {
			return nil, 0, disabledError(r)
		}
	}
	return nil, 0, c.unknownRole(words[0], withCommands)
}

var (
	strictDuration = regexp.MustCompile(`^(?:(\d{1,4})h)?(?:(\d{1,5})m)?$`)
	// durationish is anything a person probably meant as a duration: a number with or without
	// a unit, a fraction, a second number ("2h30").
	durationish = regexp.MustCompile(`^(\d+)(?:[.,](\d+))?([a-z]*)(?:(\d+)([a-z]*))?$`)
)

var unitWords = map[string]time.Duration{
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
}

var (
	dayWords    = map[string]bool{"d": true, "day": true, "days": true, "w": true, "wk": true, "week": true, "weeks": true}
	secondWords = map[string]bool{"s": true, "sec": true, "secs": true, "second": true, "seconds": true}
)

func isNumber(s string) bool {
	if s == "" || len(s) > 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// isDurationLike reports whether s would be read as a duration attempt.
func isDurationLike(s string) bool {
	_, looks, err := parseDuration(s)
	return looks || err != nil
}

// parseDuration reads the strict duration grammar: hours and/or minutes, as 30m, 4h, 1h30m or
// 90m. looks is false when s is not an attempt at a duration at all (it's the justification).
// An attempt we don't accept ("2h30", "1.5h", "4hrs", "1d") returns an *Error that says how to
// write it, with Offer set when the meaning is clear.
func parseDuration(s string) (d time.Duration, looks bool, err *Error) {
	s = strings.ToLower(s)
	if m := strictDuration.FindStringSubmatch(s); m != nil && s != "" {
		h, _ := strconv.Atoi(m[1])
		mins, _ := strconv.Atoi(m[2])
		d = time.Duration(h)*time.Hour + time.Duration(mins)*time.Minute
		switch {
		case d == 0:
			return 0, true, &Error{Code: CodeBadDuration, Message: fmt.Sprintf("%s is no time at all — say how long, e.g. 30m, 4h or 1h30m", s)}
		case m[1] != "" && mins >= 60:
			return 0, true, badDuration(s, "minutes after hours go up to 59", d)
		}
		return d, true, nil
	}
	m := durationish.FindStringSubmatch(s)
	if m == nil {
		return 0, false, nil
	}
	num, frac, unit, num2, unit2 := m[1], m[2], m[3], m[4], m[5]
	if unit != "" && unitWords[unit] == 0 && !dayWords[unit] && !secondWords[unit] {
		return 0, false, nil // "2fa", "365days"-like words that aren't a duration attempt
	}
	if num2 != "" && unitWords[unit2] == 0 && unit2 != "" {
		return 0, false, nil
	}
	if len(num) > 5 || len(num2) > 5 || len(frac) > 3 {
		return 0, true, &Error{Code: CodeBadDuration, Message: fmt.Sprintf("%s is far too long — PIM activations last at most 24h", clip(s))}
	}
	n, _ := strconv.Atoi(num)
	switch {
	case dayWords[unit]:
		return 0, true, &Error{Code: CodeBadDuration, Message: fmt.Sprintf("%s: days and weeks aren't possible — a PIM activation lasts at most 24h; say hours, e.g. 8h", s)}
	case secondWords[unit]:
		return 0, true, &Error{Code: CodeBadDuration, Message: fmt.Sprintf("%s: seconds are too short — say minutes or hours, e.g. 30m or 1h", s)}
	case unit == "" && num2 == "" && frac == "":
		if n == 0 || n > 24 {
			return 0, false, nil // "365", "0": more likely words of the justification than an hour count
		}
		return 0, true, &Error{Code: CodeBadDuration, Message: fmt.Sprintf("%s — hours or minutes? Say %sh or %sm", s, num, num), Suggestions: []string{num + "h", num + "m"}}
	case frac != "":
		if num2 != "" || unit == "" {
			return 0, true, badDuration(s, "", 0)
		}
		f, _ := strconv.ParseFloat(num+"."+frac, 64)
		want := time.Duration(f * float64(unitWords[unit])).Round(time.Minute)
		return 0, true, badDuration(s, "no fractions", want)
	}
	want := time.Duration(n) * unitWords[unit]
	if num2 != "" {
		n2, _ := strconv.Atoi(num2)
		if unitWords[unit] != time.Hour || (unit2 != "" && unitWords[unit2] != time.Minute) {
			return 0, true, badDuration(s, "", 0)
		}
		want += time.Duration(n2) * time.Minute // "2h30" means 2h30m
	}
	return 0, true, badDuration(s, "", want)
}

func badDuration(s, why string, want time.Duration) *Error {
	msg := fmt.Sprintf("%q isn't a duration I understand", clip(s))
	if why != "" {
		msg += " (" + why + ")"
	}
	if want >= time.Minute && want <= 100*time.Hour {
		w := formatDuration(want)
		return &Error{Code: CodeBadDuration, Message: msg + " — did you mean " + w + "?", Suggestions: []string{w}, Offer: want}
	}
	return &Error{Code: CodeBadDuration, Message: msg + " — write it like 30m, 4h, 1h30m or 90m"}
}

// formatDuration writes d the way users type it: 30m, 4h, 1h30m.
func formatDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return strconv.Itoa(m) + "m"
	case m == 0:
		return strconv.Itoa(h) + "h"
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// FormatDuration writes d the way users type it (30m, 4h, 1h30m), for replies.
func FormatDuration(d time.Duration) string { return formatDuration(d) }

func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
