package policy

import (
	"fmt"
	"strings"
	"time"
)

// Requester is who asks, as far as Entra knows them.
type Requester struct {
	ObjectID, UPN string
}

// Decision is the policy's answer to a request.
type Decision struct {
	Allowed     bool
	Problem     *Error        // why not, in the user's words; Offer set when one click can fix it
	Duration    time.Duration // effective (the role's default applied)
	Ticket      string
	Approvals   int           // approvals required before activation (0 = none)
	FreshSignIn bool          // tier-0: needs a sign-in for this request, whatever the freshness window
	Freshness   time.Duration // how old a sign-in may be
	ExpiresAt   time.Time     // now + RequestExpiry: a pending request expires then
}

// Decide applies the config to a request (KindRequest) or an extension (KindExtend, which
// needs no justification) from who, at now. It is a pure function: the same inputs give the
// same decision, so every rule is a table test.
//
// Problems that need retyping (justification, ticket) are reported before those one click
// fixes (a duration over the cap comes with an Offer). So a Problem with an Offer is the only
// problem: the same command with Duration = Offer is allowed, and the bot may proceed with it.
func (c *Config) Decide(cmd Command, who Requester, now time.Time) Decision {
	dec := Decision{
		Duration:  cmd.Duration,
		Ticket:    cmd.Ticket,
		Freshness: orDefault(c.SignInFreshness, DefaultSignInFreshness),
		ExpiresAt: now.Add(orDefault(c.RequestExpiry, DefaultRequestExpiry)),
	}
	if cmd.Kind != KindRequest && cmd.Kind != KindExtend {
		dec.Problem = &Error{Code: CodeNotARequest, Message: fmt.Sprintf("%q is not a request for a role", cmd.Kind.String())}
		return dec
	}
	r := cmd.Role
	if r == nil {
		dec.Problem = &Error{Code: CodeMissingRole, Message: `Which role? Say e.g. "exchange 1h fixing mail flow" — "roles" lists them`}
		return dec
	}
	if dec.Duration == 0 && cmd.Kind == KindRequest {
		dec.Duration = r.DefaultDuration
		if dec.Duration == 0 {
			dec.Duration = min(DefaultDefaultDuration, r.MaxDuration)
		}
	}
	dec.Approvals = r.Approval.Required
	dec.FreshSignIn = r.Tier0

	if c.IsBreakGlass(who.ObjectID) {
		dec.Problem = &Error{Code: CodeBreakGlass, Message: "This is a break-glass account. Emergency accounts sign in to Entra directly and never request roles through Elevate — in an emergency follow the break-glass procedure; otherwise use your own account."}
		return dec
	}
	ext, isExternal := c.External(who.ObjectID, who.UPN)
	if isExternal && !now.Before(ext.ContractEnd) {
		dec.Problem = &Error{Code: CodeContractEnded, Message: fmt.Sprintf("Your contract ended %s, so Elevate can't activate roles for you any more. If it has been extended, ask your Elevate admin to update the config.", contractEnd(ext.ContractEnd))}
		return dec
	}
	if cmd.Kind == KindRequest {
		if p := c.checkJustification(r, &dec, cmd); p != nil {
			dec.Problem = p
			return dec
		}
	}
	if p := approverProblem(r, who); p != nil {
		dec.Problem = p
		return dec
	}
	if dec.Duration <= 0 {
		dec.Problem = &Error{Code: CodeMissingDuration, Message: fmt.Sprintf("How much longer? Say e.g. \"extend %s 1h\"", r.Alias())}
		return dec
	}
	if dec.Duration < MinDuration {
		dec.Problem = &Error{Code: CodeTooShort, Message: fmt.Sprintf("%s is too short for PIM to make the role usable — use %s?", formatDuration(dec.Duration), formatDuration(MinDuration)), Offer: MinDuration}
		return dec
	}
	limit := orDefault(r.MaxDuration, DefaultMaxDuration)
	if isExternal {
		left := ext.ContractEnd.Sub(now).Truncate(time.Minute)
		if left < MinDuration {
			dec.Problem = &Error{Code: CodeContractEnded, Message: fmt.Sprintf("Your contract ends %s — too soon for another activation.", contractEnd(ext.ContractEnd))}
			return dec
		}
		if left < limit && dec.Duration > left {
			dec.Problem = &Error{Code: CodeContractCap, Message: fmt.Sprintf("Your contract ends %s, so %s can last at most %s for you — use %s?", contractEnd(ext.ContractEnd), r.Name, formatDuration(left), formatDuration(left)), Offer: left}
			return dec
		}
	}
	if dec.Duration > limit {
		dec.Problem = &Error{Code: CodeTooLong, Message: fmt.Sprintf("%s allows at most %s — use %s?", r.Name, formatDuration(limit), formatDuration(limit)), Offer: limit}
		return dec
	}
	dec.Allowed = true
	return dec
}

func (c *Config) checkJustification(r *Role, dec *Decision, cmd Command) *Error {
	just := strings.TrimSpace(cmd.Justification)
	example := fmt.Sprintf(`"/elevate %s %s %s %s"`, r.Alias(), formatDuration(orDefault(r.DefaultDuration, DefaultDefaultDuration)), ticketExample(r), r.exampleReason())
	if len([]rune(just)) > MaxJustification {
		return &Error{Code: CodeJustificationTooLong, Message: fmt.Sprintf("That justification is %d characters; keep it under %d — a ticket number and a few words are enough", len([]rune(just)), MaxJustification)}
	}
	if r.JustificationRequired {
		if just == "" {
			return &Error{Code: CodeJustificationRequired, Message: fmt.Sprintf("%s needs a justification: say why, e.g. %s", r.Name, example)}
		}
		if r.JustificationPattern != nil && !r.JustificationPattern.MatchString(just) {
			want := r.JustificationHint
			if want == "" {
				want = "its pattern " + r.JustificationPattern.String()
			}
			return &Error{Code: CodeJustificationMismatch, Message: fmt.Sprintf("%s's justification must follow %s, e.g. %s", r.Name, want, example)}
		}
	}
	ticket := cmd.Ticket
	pattern := r.TicketPattern
	if pattern == nil {
		pattern = c.DefaultTicketPattern
	}
	if pattern == nil {
		pattern = defaultTicketRe
	}
	if ticket != "" && !pattern.MatchString(ticket) {
		ticket = "" // a ticket from the form that isn't this role's kind
	}
	if ticket == "" {
		ticket = findTicket(pattern, nil, just)
	}
	dec.Ticket = ticket
	if r.TicketRequired && ticket == "" {
		what := "a ticket number"
		if r.TicketSystem != "" {
			what = "a " + r.TicketSystem + " ticket number"
		}
		// Something ticket-like that isn't this role's kind of ticket deserves its own answer.
		if found := firstTicket(cmd.Ticket, findTicket(c.DefaultTicketPattern, nil, just)); found != "" {
			return &Error{Code: CodeTicketMismatch, Message: fmt.Sprintf("%s needs %s like %s; %q isn't one", r.Name, what, ticketExample(r), found)}
		}
		return &Error{Code: CodeTicketRequired, Message: fmt.Sprintf("%s needs %s in the justification, e.g. %s", r.Name, what, example)}
	}
	return nil
}

func firstTicket(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// approverProblem catches a request nobody could approve: the requester never approves their
// own request, so with a fixed list they may be one approver short.
func approverProblem(r *Role, who Requester) *Error {
	a := r.Approval
	if a.Required == 0 || a.Group != "" {
		return nil
	}
	others := len(a.Approvers)
	if r.IsApprover(who.ObjectID, who.UPN) {
		others--
	}
	if others >= a.Required {
		return nil
	}
	return &Error{Code: CodeNoApprovers, Message: fmt.Sprintf("%s needs %d approval%s but only %d approver%s other than you — ask your Elevate admin to add approvers",
		r.Name, a.Required, plural(a.Required, "", "s"), others, plural(others, " is listed", "s are listed"))}
}

func ticketExample(r *Role) string {
	if r.TicketHint != "" {
		return r.TicketHint
	}
	return "INC-1234"
}

func (r *Role) exampleReason() string {
	if r.example != "" {
		return r.example
	}
	return "what you're fixing"
}

// contractEnd says when a contract ends: a whole day ("on 30 Jun 2027") when it ends at
// midnight UTC, else the instant.
func contractEnd(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return "on " + t.AddDate(0, 0, -1).Format("2 Jan 2006")
	}
	return "on " + t.Format("2 Jan 2006 15:04 UTC")
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
