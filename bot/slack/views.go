package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

// choicesWait is how long the request modal waits for the user's eligible roles before it opens
// a "loading" view (a trigger_id is only good for 3 s) and updates it when they arrive.
const choicesWait = 1500 * time.Millisecond

func (a *Adapter) openRequestModal(ctx context.Context, core Core, actor bot.Actor, trigger, role string, m meta) error {
	type result struct {
		choices []bot.RoleChoice
		known   bool
		err     error
	}
	res := make(chan result, 1)
	go func() {
		cs, known, err := core.Choices(ctx, actor)
		res <- result{cs, known, err}
	}()
	md := m.encode()
	t := time.NewTimer(choicesWait)
	defer t.Stop()
	select {
	case r := <-res:
		return a.openView(ctx, trigger, requestModal(r.choices, r.known, r.err, role, md))
	case <-t.C:
	}
	var v *slackapi.ViewResponse
	err := a.call(ctx, "views.open", func() (err error) {
		v, err = a.api.OpenViewContext(ctx, trigger, loadingModal(md))
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: opening the request form: %w", err)
	}
	r := <-res
	return a.call(ctx, "views.update", func() error {
		_, err := a.api.UpdateViewContext(ctx, requestModal(r.choices, r.known, r.err, role, md), "", v.Hash, v.ID)
		return err
	})
}

func (a *Adapter) openView(ctx context.Context, trigger string, v slackapi.ModalViewRequest) error {
	return a.call(ctx, "views.open", func() error {
		_, err := a.api.OpenViewContext(ctx, trigger, v)
		return err
	})
}

func modal(title, submit, callback, md string, blocks ...slackapi.Block) slackapi.ModalViewRequest {
	v := slackapi.ModalViewRequest{Type: slackapi.VTModal, Title: plain(truncate(title, maxModalTitle)),
		Close: plain("Cancel"), CallbackID: callback, PrivateMetadata: md, Blocks: slackapi.Blocks{BlockSet: blocks}}
	if submit != "" {
		v.Submit = plain(submit)
	}
	return v
}

func loadingModal(md string) slackapi.ModalViewRequest {
	return modal("Request a role", "", callbackRequest, md,
		slackapi.NewSectionBlock(mrkdwn("Reading the roles you are eligible for from Microsoft Entra…"), nil, nil))
}

// requestModal is the form behind /elevate alone: eligible role, duration, justification,
// ticket. Field block ids are the core's field names, so CheckForm's errors map onto them.
func requestModal(choices []bot.RoleChoice, known bool, err error, role, md string) slackapi.ModalViewRequest {
	if pr := (*bot.PilotRefusal)(nil); errors.As(err, &pr) {
		return modal("Request a role", "", callbackRequest, md, slackapi.NewSectionBlock(mrkdwn(escape(pr.Words)), nil, nil))
	}
	if err != nil {
		return modal("Request a role", "", callbackRequest, md, slackapi.NewSectionBlock(
			mrkdwn(":warning: I couldn't read your eligible roles from Microsoft Entra just now. Try again in a minute, or type `/elevate <role> <duration> <why>`."), nil, nil))
	}
	if len(choices) == 0 {
		return modal("Request a role", "", callbackRequest, md, slackapi.NewSectionBlock(
			mrkdwn("You have no eligible roles in PIM. A PIM administrator can make you eligible."), nil, nil))
	}
	var opts []*slackapi.OptionBlockObject
	var initial *slackapi.OptionBlockObject
	for _, c := range choices[:min(len(choices), maxOptions)] {
		label := fmt.Sprintf("%s (up to %s)", c.Name, bot.FormatDuration(c.MaxDuration))
		if c.Tier0 {
			label = c.Name + " (tier 0)"
		}
		o := slackapi.NewOptionBlockObject(c.Alias, plain(truncate(label, maxOptionText)), nil)
		opts = append(opts, o)
		if role != "" && strings.EqualFold(role, c.Alias) {
			initial = o
		}
	}
	// Several roles may be picked: one request for all of them (at most bot.MaxRoles).
	sel := slackapi.NewOptionsMultiSelectBlockElement(slackapi.MultiOptTypeStatic, plain("Pick one or more roles"), bot.FieldRole, opts...).
		WithMaxSelectedItems(bot.MaxRoles)
	if initial != nil {
		sel.InitialOptions = []*slackapi.OptionBlockObject{initial}
	}
	var blocks []slackapi.Block
	if !known {
		blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn("These are all the roles Elevate knows. After your first Microsoft sign-in this list shows only the roles you are eligible for.")))
	}
	input := func(id, label, hint, placeholder string, multiline bool) slackapi.Block {
		el := slackapi.NewPlainTextInputBlockElement(plain(placeholder), id).WithMultiline(multiline)
		var h *slackapi.TextBlockObject
		if hint != "" {
			h = plain(hint)
		}
		return slackapi.NewInputBlock(id, plain(label), h, el).WithOptional(true)
	}
	blocks = append(blocks,
		slackapi.NewInputBlock(bot.FieldRole, plain("Role"), nil, sel),
		input(bot.FieldDuration, "Duration", "Empty for the role's default. The clock starts at activation.", "1h, 30m, 1h30m", false),
		input(bot.FieldJustification, "Justification", "Why you need it; PIM records this.", "fixing mail flow", true),
		input(bot.FieldTicket, "Ticket", "Required for some roles.", "INC-1234", false),
	)
	return modal("Request a role", "Request", callbackRequest, md, blocks...)
}

// denyModal asks a denying approver for a reason; the decision is made on submission.
func denyModal(requestID string, m meta) slackapi.ModalViewRequest {
	m.Request = requestID
	el := slackapi.NewPlainTextInputBlockElement(plain("Not during the change freeze"), "reason").WithMultiline(true).WithMaxLength(500)
	return modal("Deny request", "Deny", callbackDeny, m.encode(),
		slackapi.NewSectionBlock(mrkdwn(fmt.Sprintf("Deny request #%s? The requester sees your reason.", escape(requestID))), nil, nil),
		slackapi.NewInputBlock("reason", plain("Reason"), nil, el).WithOptional(true),
	)
}

// Home tab limits: Slack allows 100 blocks; each list is capped so all of them fit.
const (
	homeMaxEligible = 20
	homeMaxActive   = 10
	homeMaxPending  = 10
	homeMaxApprove  = 10
)

// homeView is the App Home tab: active elevations with their end, pending requests, the
// approver's queue, and the eligible roles with one-click request buttons.
func homeView(h bot.Home, err error) slackapi.HomeTabViewRequest {
	blocks := []slackapi.Block{slackapi.NewHeaderBlock(plain("Elevate: just-in-time admin roles"))}
	section := func(s string) {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(truncateEscaped(s, maxSectionText)), nil, nil))
	}
	more := func(n, shown int, what string) {
		if n > shown {
			where := "`/elevate status` lists them all."
			if what == "requests" {
				// `status` lists one's own requests; the cards of those to approve are in the channel.
				where = "their cards are in the approvals channel."
			}
			blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn(fmt.Sprintf("…and %d more %s: %s", n-shown, what, where))))
		}
	}

	if len(h.Active) > 0 {
		section("*Active now*")
		for _, r := range h.Active[:min(len(h.Active), homeMaxActive)] {
			section(fmt.Sprintf("*%s* until %s", escape(r.RoleName), when(r.EndsAt)))
		}
		more(len(h.Active), homeMaxActive, "active roles")
	}
	if len(h.Pending) > 0 {
		blocks = append(blocks, slackapi.NewDividerBlock())
		section("*Your pending requests*")
		for _, r := range h.Pending[:min(len(h.Pending), homeMaxPending)] {
			text := fmt.Sprintf("#%d *%s* for %s: %s", r.ID, escape(r.RoleName), bot.FormatDuration(r.Duration), stateText(r))
			cancel := slackapi.NewButtonBlockElement(string(bot.ActionCancel), fmt.Sprint(r.ID), plain("Cancel"))
			blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(truncateEscaped(text, maxSectionText)), nil, slackapi.NewAccessory(cancel)))
		}
		more(len(h.Pending), homeMaxPending, "pending requests")
	}
	if len(h.ToApprove) > 0 {
		blocks = append(blocks, slackapi.NewDividerBlock())
		section("*Waiting for your approval*")
		for _, r := range h.ToApprove[:min(len(h.ToApprove), homeMaxApprove)] {
			who := r.UPN
			if who == "" {
				who = r.ChatName
			}
			text := fmt.Sprintf("#%d %s asks for *%s* for %s: %s", r.ID, escape(who), escape(r.RoleName), bot.FormatDuration(r.Duration), escape(r.Justification))
			if r.Ticket != "" {
				text += " (" + escape(r.Ticket) + ")"
			}
			section(text)
			blocks = append(blocks, buttons([]bot.Button{
				{Action: bot.ActionApprove, Label: "Approve", Value: fmt.Sprint(r.ID), Style: bot.StylePrimary},
				{Action: bot.ActionDeny, Label: "Deny", Value: fmt.Sprint(r.ID), Style: bot.StyleDanger},
			}, fmt.Sprintf("home_request_%d", r.ID))...)
		}
		more(len(h.ToApprove), homeMaxApprove, "requests")
	}
	blocks = append(blocks, slackapi.NewDividerBlock())
	switch {
	case h.Pilot != "":
		section(escape(h.Pilot))
	case err != nil:
		section("*Roles you can request*\n:warning: I couldn't read your eligible roles from Microsoft Entra just now; this page refreshes on your next change.")
	case !h.Known:
		section("*Roles you can request*\nSign in once (request any role) and this list shows only the roles you are eligible for.")
	case len(h.Eligible) == 0:
		section("*Roles you can request*\nYou have no eligible roles in PIM. A PIM administrator can make you eligible.")
	default:
		section("*Roles you can request*")
	}
	if err == nil {
		for _, c := range h.Eligible[:min(len(h.Eligible), homeMaxEligible)] {
			text := fmt.Sprintf("*%s* (`%s`) up to %s", escape(c.Name), escape(c.Alias), bot.FormatDuration(c.MaxDuration))
			switch {
			case c.Tier0:
				text += ", tier 0: a fresh sign-in every time"
			case c.Approvals > 0:
				text += fmt.Sprintf(", %d approval%s", c.Approvals, map[bool]string{true: "", false: "s"}[c.Approvals == 1])
			}
			if c.ViaGroup != "" {
				text += " through group " + escape(c.ViaGroup)
			}
			req := slackapi.NewButtonBlockElement(actionRequest, c.Alias, plain("Request"))
			blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(truncateEscaped(text, maxSectionText)), nil, slackapi.NewAccessory(req)))
		}
		more(len(h.Eligible), homeMaxEligible, "roles")
	}
	blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn("Type `/elevate help` for the commands. Every activation is your own PIM activation, after your own Microsoft sign-in.")))
	if len(blocks) > maxHomeBlocks {
		blocks = blocks[:maxHomeBlocks]
	}
	return slackapi.HomeTabViewRequest{Type: slackapi.VTHomeTab, Blocks: slackapi.Blocks{BlockSet: blocks}}
}

// when shows a time in the reader's own time zone (Slack's date formatting), UTC as fallback.
func when(t time.Time) string {
	if t.IsZero() {
		return "its end time"
	}
	return fmt.Sprintf("<!date^%d^{time} {date_short_pretty}|%s>", t.Unix(), t.UTC().Format("15:04 UTC, 2 Jan"))
}

func stateText(r store.Request) string {
	switch r.State {
	case store.StateAwaitingApproval:
		if !r.PIMStageExpiresAt.IsZero() && r.GraphStatus == "PendingApproval" {
			return "waiting for PIM's approval (until " + r.PIMStageExpiresAt.UTC().Format("15:04") + " UTC)" // a step of its own, not counted with Elevate's
		}
		n := 0
		for _, ap := range r.Approvals {
			if ap.Decision == string(bot.ActionApprove) {
				n++
			}
		}
		return fmt.Sprintf("waiting for approval (%d of %d)", n, r.ApprovalsNeeded)
	case store.StateAwaitingSignIn:
		return "waiting for your sign-in (see your DMs)"
	}
	return strings.ReplaceAll(string(r.State), "_", " ")
}
