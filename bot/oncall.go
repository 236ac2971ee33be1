package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/elevate-pim/elevate/oncall"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// OnCall is what the core needs from the on-call services. *oncall.Client implements it.
type OnCall interface {
	OnCall(ctx context.Context, emails []string, r oncall.Rule) (oncall.Answer, error)
}

// waiveOnCall applies the role's on-call waiver, if it has one: when the requester is on call now
// (and, if the rule says so, an incident is open), the approvals are waived, stored with the audit
// record "request.auto_approved", and the card says so. Otherwise, or when the on-call service
// cannot be asked, the request goes to its approvers and the card says why. It reports whether
// the approvals were waived.
func (c *Core) waiveOnCall(ctx context.Context, r store.Request) bool {
	role := c.cfg.RoleByID(r.RoleID)
	if role == nil || role.Approval.OnCall == nil {
		return false
	}
	rule := role.Approval.OnCall
	if role.Tier0 && !rule.Tier0 {
		return false // the config refuses this too; never waive a tier-0 role by accident
	}
	name := onCallName(r)
	note, words := "", ""
	switch ans, err := c.askOnCall(ctx, r, rule); {
	case err != nil:
		c.log.Warn("on-call check failed; asking approvers", "request_id", r.ID, "provider", rule.Provider, "err", err)
		note = fmt.Sprintf("Could not check whether %s is on call (%s), so approvers decide.", name, onCallWords(err, rule.Provider))
	case !ans.OnCall:
		note = fmt.Sprintf("%s is %s, so approvers decide.", name, ans.Reason)
	default:
		words = fmt.Sprintf("%s is on call for %s (%s)", name, r.RoleName, ans.Words())
	}
	action, detail := "request.oncall_checked", note
	if words != "" {
		action, detail = "request.auto_approved", "auto-approved: "+words
	}
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), action, detail), func(x *store.Request, out *outbox) error {
		if x.State != store.StateReceived && x.State != store.StateAwaitingSignIn {
			return store.ErrNoChange
		}
		x.Waived, x.OnCallNote = words, note
		if words != "" {
			out.card(*x)
			out.tell(*x, Message{Kind: KindProgress, Text: fmt.Sprintf("No approval needed: you are on call (%s). Activating %s now.", ans0(words), x.RoleName)})
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, store.ErrNoChange) {
			c.log.Error("recording the on-call check", "request_id", r.ID, "err", err)
		}
		return false
	}
	return words != ""
}

// onCallName is how the on-call words name the requester: "alice".
func onCallName(r store.Request) string {
	return firstNonEmpty(strings.Split(r.UPN, "@")[0], r.ChatName, "the requester")
}

// ans0 is the part of the waiver's words in brackets: where the on-call was found.
func ans0(words string) string {
	if i := strings.Index(words, "("); i >= 0 {
		return strings.TrimSuffix(words[i+1:], ")")
	}
	return words
}

func (c *Core) askOnCall(ctx context.Context, r store.Request, rule *policy.OnCall) (oncall.Answer, error) {
	if c.oncall == nil {
		return oncall.Answer{}, fmt.Errorf("%w: %s", oncall.ErrNotConfigured, rule.Provider)
	}
	emails := []string{r.UPN}
	if u, err := c.graph.User(ctx, r.UserID); err == nil && u.Mail != "" && !strings.EqualFold(u.Mail, r.UPN) {
		emails = append(emails, u.Mail) // PagerDuty and Opsgenie know people by their mail address
	}
	return c.oncall.OnCall(ctx, emails, oncall.Rule{Provider: rule.Provider, Schedule: rule.Schedule,
		EscalationPolicy: rule.EscalationPolicy, IncidentService: rule.IncidentService})
}

// onCallWords says what went wrong with an on-call service, for approvers and the requester.
func onCallWords(err error, provider string) string {
	var oe *oncall.Error
	switch {
	case errors.Is(err, oncall.ErrNotConfigured) && provider == "opsgenie":
		return "Opsgenie is not set up: OPSGENIE_API_KEY is missing"
	case errors.Is(err, oncall.ErrNotConfigured):
		return "PagerDuty is not set up: PAGERDUTY_TOKEN is missing"
	case errors.As(err, &oe) && oe.Status == 0:
		return oe.Provider + " could not be reached"
	case errors.As(err, &oe) && (oe.Status == 401 || oe.Status == 403):
		return fmt.Sprintf("%s refused Elevate's key (%d)", oe.Provider, oe.Status)
	case errors.As(err, &oe) && oe.Status == 404:
		return oe.Provider + " does not know the schedule in the config"
	case errors.As(err, &oe):
		return fmt.Sprintf("%s answered %d", oe.Provider, oe.Status)
	}
	return "the on-call service failed"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
