package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Approvers are reminded of a request that waits for them at the role's reminder points before it
// expires, and a last escalation goes to the role's escalation targets (tier-0 roles: the
// security channel by default). The points passed and the escalation are stored with the request
// in the same transaction as their audit record and every message they cause (channel posts,
// approvers' and escalation targets' DMs, the requester's note), so a restart or a second sweep
// never repeats one and a crash never loses one.

// remind sends the reminders and escalations that are due for the requests in rs.
func (c *Core) remind(ctx context.Context, rs []store.Request) {
	now := c.now()
	for _, r := range rs {
		if r.State != store.StateAwaitingApproval || r.ExpiresAt.IsZero() || !now.Before(r.ExpiresAt) || approvals(r) >= r.ApprovalsNeeded {
			continue
		}
		if !c.remindsFor(r) {
			continue // a multi-role request is reminded once, through its strictest role
		}
		role := c.cfg.RoleByID(r.RoleID)
		if role == nil {
			continue
		}
		plan := c.cfg.Reminders(role)
		passed, send := reminderPoints(plan, r, now)
		escalate := plan.Escalate > 0 && r.EscalatedAt.IsZero() && !now.Before(r.ExpiresAt.Add(-plan.Escalate)) &&
			!r.ExpiresAt.Add(-plan.Escalate).Before(r.CreatedAt)
		if passed <= r.Reminders && !escalate {
			continue
		}
		if err := c.remind1(ctx, r, role, plan, passed, send, escalate); err != nil {
			c.log.Error("reminding approvers", "request_id", r.ID, "err", err)
		}
	}
}

// reminderPoints returns how many of the plan's points have passed for r, and whether the last
// one passed deserves a message: a point that had already passed when the request was made (a
// 10-minute request and a 15-minute reminder) is counted, not sent.
func reminderPoints(plan policy.ReminderPlan, r store.Request, now time.Time) (passed int, send bool) {
	for _, p := range plan.Remind { // largest first: earliest point first
		at := r.ExpiresAt.Add(-p)
		if now.Before(at) {
			break
		}
		passed++
		send = !at.Before(r.CreatedAt.Add(time.Minute))
	}
	return passed, send && passed > r.Reminders
}

func (c *Core) remind1(ctx context.Context, r store.Request, role *policy.Role, plan policy.ReminderPlan, passed int, send, escalate bool) error {
	now := c.now()
	left := r.ExpiresAt.Sub(now).Round(time.Minute)
	status := fmt.Sprintf("%d of %d approval%s", approvals(r), r.ApprovalsNeeded, plural(r.ApprovalsNeeded))
	action, detail := "request.reminded", fmt.Sprintf("%s; expires in %s", status, hm(left))
	if escalate {
		action, detail = "request.escalated", detail+"; to "+strings.Join(plan.EscalateTo, ", ")
	}
	roles := c.rolesOf(r)
	what := fmt.Sprintf("request #%d: %s asks for %s (%s)", r.ID, nameOf(r), roles, r.Justification)
	remindText := fmt.Sprintf("Reminder — %s. It expires in %s, at %s; %s so far.", what, hm(left), c.clock(r.ExpiresAt), status)
	escalateText := fmt.Sprintf("Escalation — %s. It expires in %s, at %s, with %s. Its approvers can decide on the card in %s or with `approve %d` / `deny %d <why>`.",
		what, hm(left), c.clock(r.ExpiresAt), status, c.approvalChannel(r), r.ID, r.ID)
	// People are found through Graph and the chat platforms, which a transaction cannot wait
	// for: they are looked up first, and their DMs queued with the change that causes them.
	var approvers, escalated map[string][]Recipient
	if send {
		approvers = map[string][]Recipient{}
		for _, ap := range role.Approval.Approvers {
			if !strings.EqualFold(ap, r.UserID) && !strings.EqualFold(ap, r.UPN) && !decidedBy(r, ap) {
				approvers[ap] = c.person(ctx, ap, r.ID)
			}
		}
	}
	if escalate {
		escalated = map[string][]Recipient{}
		for _, to := range plan.EscalateTo {
			if !isChannel(to) {
				escalated[to] = c.person(ctx, to, r.ID)
			}
		}
	}
	_, err := c.change(ctx, r.ID, systemEvent(now, action, detail), func(x *store.Request, out *outbox) error {
		if x.State != store.StateAwaitingApproval || (passed <= x.Reminders && (!escalate || !x.EscalatedAt.IsZero())) {
			return store.ErrNoChange // another sweep got here first
		}
		if passed > x.Reminders {
			x.Reminders = passed
			if send {
				x.RemindedAt = now.UTC()
			}
		}
		if escalate {
			x.EscalatedAt = now.UTC()
		}
		// The channel posts and the requester's "I've reminded …" go with the change, the
		// requester's words after the posts they claim.
		var posted uint64
		if send {
			posted = out.post(c.approvalChannel(*x), Message{Kind: KindProgress, RequestID: x.ID, Text: remindText}, nil)
		}
		if escalate {
			for _, to := range plan.EscalateTo {
				if isChannel(to) {
					posted = out.post(to, Message{Kind: KindAlert, RequestID: x.ID, Text: escalateText}, nil)
				}
			}
		}
		switch {
		case escalate:
			out.then(posted).tell(*x, Message{Kind: KindProgress, Text: fmt.Sprintf("Your request for %s still has %s and expires at %s; I've escalated it to %s.",
				roles, status, c.clock(x.ExpiresAt), escalatedTo(plan.EscalateTo))})
		case send:
			out.then(posted).tell(*x, Message{Kind: KindProgress, Text: fmt.Sprintf("I've reminded the approvers of your request for %s (%s so far); it expires at %s.",
				roles, status, c.clock(x.ExpiresAt))})
		}
		// Each approver who has not decided gets the reminder with the buttons to decide from
		// the message itself; each person escalated to, the escalation.
		for _, ap := range role.Approval.Approvers {
			if decidedBy(*x, ap) {
				continue
			}
			for _, to := range approvers[ap] {
				out.send(to.Platform, DM(to.ChatUser), Message{Kind: KindProgress, RequestID: x.ID, Text: remindText, Buttons: []Button{
					{Action: ActionApprove, Label: "Approve", Value: idValue(x.ID), Style: StylePrimary},
					{Action: ActionDeny, Label: "Deny", Value: idValue(x.ID), Style: StyleDanger},
				}})
			}
		}
		for _, to := range plan.EscalateTo {
			for _, rc := range escalated[to] {
				out.send(rc.Platform, DM(rc.ChatUser), Message{Kind: KindAlert, RequestID: x.ID, Text: escalateText})
			}
		}
		out.cards(*x)
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// decidedBy reports whether the approver (object id or UPN) already decided on r.
func decidedBy(r store.Request, who string) bool {
	for _, ap := range r.Approvals {
		if strings.EqualFold(ap.Approver, who) || strings.EqualFold(ap.ApproverName, who) {
			return true
		}
	}
	return false
}

// person finds where a person named by object id or UPN can be reached (nowhere is logged).
func (c *Core) person(ctx context.Context, who string, requestID uint64) []Recipient {
	id, upn := "", who
	if !strings.Contains(who, "@") {
		id, upn = who, ""
	} else if u, err := c.graph.User(ctx, who); err == nil {
		id = u.ID // bindings are kept by object id
	} else {
		c.log.Warn("looking up a person to remind", "user", who, "err", err)
	}
	rs, err := c.Reach(ctx, id, upn)
	if err != nil {
		c.log.Error("finding a chat account", "user", who, "err", err)
		return nil
	}
	if len(rs) == 0 {
		c.log.Warn("nobody to remind: no chat account found", "user", who, "request_id", requestID)
	}
	return rs
}

// isChannel tells a channel (#name or a channel id) from a person (UPN or object id).
func isChannel(s string) bool {
	return strings.HasPrefix(s, "#") || !strings.Contains(s, "@") && !looksLikeGUID(s)
}

func looksLikeGUID(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }

// reminderNote is what the card says about reminders and escalation.
func (c *Core) reminderNote(r store.Request) string {
	var parts []string
	if !r.RemindedAt.IsZero() {
		parts = append(parts, "Approvers reminded at "+c.clock(r.RemindedAt)+".")
	}
	if !r.EscalatedAt.IsZero() {
		parts = append(parts, "Escalated at "+c.clock(r.EscalatedAt)+".")
	} else if role := c.cfg.RoleByID(r.RoleID); role != nil {
		if plan := c.cfg.Reminders(role); plan.Escalate > 0 && r.State == store.StateAwaitingApproval {
			parts = append(parts, "Escalates to "+strings.Join(plan.EscalateTo, ", ")+" at "+c.clock(r.ExpiresAt.Add(-plan.Escalate))+".")
		}
	}
	return strings.Join(parts, " ")
}

// escalatedTo names escalation targets for a message's text: channels as the platform shows them
// (channelAt), people as configured.
func escalatedTo(targets []string) string {
	var out []string
	for _, to := range targets {
		if isChannel(to) {
			to = channelAt(to)
		}
		out = append(out, to)
	}
	return strings.Join(out, ", ")
}
