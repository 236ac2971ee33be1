package schedule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// The quarterly self-review: one DM per (user, eligible role) with usage evidence and Keep /
// Remove; reminders; escalation of non-responders; at the deadline, Remove decisions queued for
// one admin click (with the admin's delegated token) and non-responders handled per policy.

// campaignID names the quarter t is in: "2026-Q2".
func campaignID(t time.Time) string { return fmt.Sprintf("%d-Q%d", t.Year(), (int(t.Month())-1)/3+1) }

// evidencePeriod is how far back usage is counted: a quarter.
const evidencePeriod = 90 * 24 * time.Hour

// startReview opens the campaign of the quarter of start and sends the prompts. created is false
// when the quarter's campaign exists already (nothing is sent again).
func (s *Scheduler) startReview(ctx context.Context, start time.Time, by string) (store.Campaign, bool, error) {
	c := store.Campaign{ID: campaignID(start.In(s.loc)), Start: start, Deadline: start.Add(s.cfg.Schedules.Review.Window), By: by}
	if old, err := s.store.Campaign(c.ID); err == nil {
		return old, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return c, false, err
	}
	items, err := s.reviewItems(ctx, start)
	if err != nil {
		return c, false, err
	}
	for i := range items {
		items[i].Campaign = c.ID
	}
	created, err := s.store.CreateCampaign(c, items)
	if err != nil || !created {
		return c, false, err
	}
	s.log.Info("review started", "campaign", c.ID, "items", len(items))
	for _, it := range items {
		s.prompt(ctx, c, it, false)
	}
	s.admins(ctx, bot.Message{Kind: KindReview, Title: "Access review " + c.ID + " started",
		Text: fmt.Sprintf("%d eligible role assignment%s to confirm by %s. `/elevate review status` shows progress.",
			len(items), plural(len(items)), c.Deadline.In(s.loc).Format("Mon 2 Jan"))})
	return c, true, nil
}

// reviewItems lists every user's eligible roles (a group's members each answer for the role they
// hold through it) with the evidence: activations in the last quarter and the last one.
func (s *Scheduler) reviewItems(ctx context.Context, now time.Time) ([]store.ReviewItem, error) {
	if _, err := s.store.SyncEvents(); err != nil {
		return nil, err
	}
	els, err := s.graph.TenantEligibilities(ctx)
	if err != nil {
		return nil, err
	}
	var items []store.ReviewItem
	seen := map[string]bool{}
	add := func(userID, upn string, e graph.RoleEligibility, via string) {
		if userID == "" || s.cfg.IsBreakGlass(userID) || seen[userID+"|"+e.RoleID] {
			return
		}
		seen[userID+"|"+e.RoleID] = true
		items = append(items, store.ReviewItem{UserID: userID, User: upn, RoleID: e.RoleID, RoleName: e.RoleName, ViaGroup: via, EligibleEnd: e.End})
	}
	for _, e := range els {
		if e.PrincipalType != "group" {
			add(e.PrincipalID, e.PrincipalUPN, e, "")
			continue
		}
		members, err := s.graph.GroupUsers(ctx, e.PrincipalID)
		if err != nil {
			return nil, err
		}
		for _, u := range members {
			add(u.ID, u.UPN, e, e.PrincipalName)
		}
	}
	type use struct {
		n    int
		last time.Time
	}
	uses := map[string]*use{}
	err = s.store.Events(now.Add(-evidencePeriod), now, func(e *store.Event) error {
		if e.Kind != store.EventActivated && e.Kind != store.EventActivatedOutside {
			return nil
		}
		k := e.UserID + "|" + e.RoleID
		u := uses[k]
		if u == nil {
			u = &use{}
			uses[k] = u
		}
		u.n++
		u.last = e.At
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range items {
		if u := uses[items[i].UserID+"|"+items[i].RoleID]; u != nil {
			items[i].Activations, items[i].LastUsed = u.n, u.last
		}
	}
	return items, nil
}

// evidence says how a role was used, in the prompt's words.
func (s *Scheduler) evidence(it store.ReviewItem) string {
	switch it.Activations {
	case 0:
		return "You have not activated it in the last 90 days."
	case 1:
		return fmt.Sprintf("You activated it once in the last 90 days, on %s.", it.LastUsed.In(s.loc).Format("2 Jan"))
	}
	return fmt.Sprintf("You activated it %d times in the last 90 days, last on %s.", it.Activations, it.LastUsed.In(s.loc).Format("2 Jan"))
}

// prompt sends (or, as a reminder, re-sends) the Keep / Remove question for one item.
func (s *Scheduler) prompt(ctx context.Context, c store.Campaign, it store.ReviewItem, reminder bool) {
	to := store.ReviewItem{Platform: it.Platform, ChatUser: it.ChatUser}
	if to.ChatUser == "" {
		rs, err := s.core.Reach(ctx, it.UserID, it.User)
		if err != nil || len(rs) == 0 {
			s.log.Info("review: user not reachable in chat", "user_id", it.UserID, "campaign", c.ID)
			return
		}
		to.Platform, to.ChatUser = rs[0].Platform, rs[0].ChatUser
	}
	text := fmt.Sprintf("Do you still need %s? %s", it.RoleName, s.evidence(it))
	if it.ViaGroup != "" {
		text += fmt.Sprintf(" (You are eligible through the group %s.)", it.ViaGroup)
	}
	title := "Access review " + c.ID
	if reminder {
		title = "Reminder: access review " + c.ID
	}
	m := bot.Message{Kind: KindReview, Title: title, Text: text,
		Footer: fmt.Sprintf("Answer by %s. Without an answer: %s.", c.Deadline.In(s.loc).Format("Mon 2 Jan"), s.nonResponderWords()),
		Buttons: []bot.Button{
			{Action: ActionReviewKeep, Label: "Keep", Value: it.Key(), Style: bot.StylePrimary},
			{Action: ActionReviewRemove, Label: "Remove", Value: it.Key(), Style: bot.StyleDanger},
		}}
	// The prompt is queued in the same transaction that records it: never recorded without being
	// sent, nor sent twice because a crash came between the two.
	now := s.now()
	var added []store.OutboxItem
	_, err := s.store.UpdateReviewItemWith(c.ID, it.UserID, it.RoleID, store.AuditRecord{}, func(x *store.ReviewItem, out *store.Outbox) error {
		x.Platform, x.ChatUser = to.Platform, to.ChatUser
		if x.Prompted.IsZero() {
			x.Prompted = now
		}
		if err := s.core.TellIn(out, to.Platform, to.ChatUser, m); err != nil {
			return err
		}
		added = out.Added()
		return nil
	})
	if err != nil {
		s.log.Error("review: saving prompt", "campaign", c.ID, "user_id", it.UserID, "err", err)
		return
	}
	s.core.Deliver(ctx, added)
}

func (s *Scheduler) nonResponderWords() string {
	if s.cfg.Schedules.Review.NonResponders == policy.NonRespondersRemove {
		return "the role is removed"
	}
	return "the role is kept and flagged to the admins"
}

// answer returns the handler of the Keep or Remove button: it records the answer; only the
// user the question is about may give it, and only before the deadline.
func (s *Scheduler) answer(decision string) bot.ActionHandler {
	return func(ctx context.Context, a bot.Actor, value, _ string) error {
		parts := strings.Split(value, "|")
		if len(parts) != 3 {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "That button no longer works."})
			return nil
		}
		cid, userID, roleID := parts[0], parts[1], parts[2]
		c, err := s.store.Campaign(cid)
		if errors.Is(err, store.ErrNotFound) {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "That review no longer exists."})
			return nil
		} else if err != nil {
			return err
		}
		it, err := s.store.ReviewItem(cid, userID, roleID)
		if errors.Is(err, store.ErrNotFound) {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "That question is not part of the review."})
			return nil
		} else if err != nil {
			return err
		}
		oid, _, known, _ := s.core.Identity(a)
		mine := (known && oid == userID) || (it.ChatUser != "" && a.Platform == it.Platform && a.ChatUser == it.ChatUser)
		if !mine {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "Only the person this question is about can answer it."})
			return nil
		}
		now := s.now()
		if c.Closed || !now.Before(c.Deadline) {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindText, Text: fmt.Sprintf("Review %s has ended; your answer can no longer change what happens to %s.", c.ID, it.RoleName)})
			return nil
		}
		ev := store.AuditRecord{At: now, Actor: a.Platform + ":" + a.ChatUser, Action: "review." + decision, Detail: it.Key()}
		_, err = s.store.UpdateReviewItem(cid, userID, roleID, ev, func(x *store.ReviewItem) error {
			if x.Decision == decision {
				return store.ErrNoChange
			}
			x.Decision, x.DecidedBy, x.DecidedAt = decision, a.Platform+":"+a.ChatUser, now
			return nil
		})
		if errors.Is(err, store.ErrNoChange) {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindText, Text: "Already noted."})
			return nil
		}
		if err != nil {
			return err
		}
		if decision == store.DecisionKeep {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindResult, Text: fmt.Sprintf("Noted: you keep %s. Thanks.", it.RoleName)})
		} else {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindResult, Text: fmt.Sprintf("Noted: %s will be removed after the review closes on %s. You can change your mind until then.",
				it.RoleName, c.Deadline.In(s.loc).Format("Mon 2 Jan"))})
		}
		return nil
	}
}

// advanceReviews sends each open campaign's reminders on their days, escalates non-responders to
// the admins with the last reminder, and handles the deadline.
func (s *Scheduler) advanceReviews(ctx context.Context, now time.Time) error {
	cs, err := s.store.Campaigns()
	if err != nil {
		return err
	}
	days := s.cfg.Schedules.Review.ReminderDays
	for _, c := range cs {
		if c.Closed {
			continue
		}
		if !now.Before(c.Deadline) {
			if err := s.closeReview(ctx, c, now); err != nil {
				return err
			}
			continue
		}
		for i, d := range days {
			at := c.Start.Add(time.Duration(d) * 24 * time.Hour)
			if now.Before(at) {
				break
			}
			// Only the latest reminder day that has come: a restart after days 3 and 7 sends one.
			if i+1 < len(days) && !now.Before(c.Start.Add(time.Duration(days[i+1])*24*time.Hour)) {
				continue
			}
			first, err := s.store.Once(fmt.Sprintf("review/%s/reminder/%d", c.ID, d), now)
			if err != nil {
				return err
			}
			if !first {
				continue
			}
			items, err := s.store.ReviewItems(c.ID)
			if err != nil {
				return err
			}
			var open []store.ReviewItem
			for _, it := range items {
				if it.Decision == "" {
					open = append(open, it)
					s.prompt(ctx, c, it, true)
				}
			}
			if i == len(days)-1 && len(open) > 0 {
				s.escalate(ctx, c, open)
			}
		}
	}
	return nil
}

func (s *Scheduler) escalate(ctx context.Context, c store.Campaign, open []store.ReviewItem) {
	var lines []string
	for _, it := range open {
		line := fmt.Sprintf("%s: %s", orWord(it.User, it.UserID), it.RoleName)
		if it.ChatUser == "" {
			line += " (not reachable in chat)"
		}
		lines = append(lines, line)
	}
	s.admins(ctx, bot.Message{Kind: KindReview, Title: fmt.Sprintf("Access review %s: %d unanswered", c.ID, len(open)),
		Text: strings.Join(lines, "\n"), Footer: fmt.Sprintf("The review closes %s; then: %s.", c.Deadline.In(s.loc).Format("Mon 2 Jan"), s.nonResponderWords())})
}

// closeReview handles the deadline once: Keep answers are kept; Remove answers (and, with
// non_responders: remove, the unanswered) are queued for removal; the unanswered are otherwise
// kept and flagged. The admins get the summary and one [Apply removals] button.
func (s *Scheduler) closeReview(ctx context.Context, c store.Campaign, now time.Time) error {
	closed, err := s.store.CloseCampaign(c.ID, now)
	if err != nil || !closed {
		return err
	}
	items, err := s.store.ReviewItems(c.ID)
	if err != nil {
		return err
	}
	removeSilent := s.cfg.Schedules.Review.NonResponders == policy.NonRespondersRemove
	var queued, flagged []string
	kept := 0
	for _, it := range items {
		outcome := "kept"
		switch {
		case it.Decision == store.DecisionRemove, it.Decision == "" && removeSilent:
			outcome = "queued"
			queued = append(queued, fmt.Sprintf("%s: %s", orWord(it.User, it.UserID), it.RoleName))
		case it.Decision == "":
			outcome = "flagged"
			flagged = append(flagged, fmt.Sprintf("%s: %s", orWord(it.User, it.UserID), it.RoleName))
		default:
			kept++
		}
		_, err := s.store.UpdateReviewItem(c.ID, it.UserID, it.RoleID, store.AuditRecord{At: now, Actor: "elevate", Action: "review." + outcome, Detail: it.Key()},
			func(x *store.ReviewItem) error { x.Outcome, x.OutcomeAt = outcome, now; return nil })
		if err != nil {
			return err
		}
	}
	m := bot.Message{Kind: KindReview, Title: "Access review " + c.ID + " closed",
		Text: completion(c, items, now)}
	m.Fields = append(m.Fields, bot.Field{Label: "Kept", Value: fmt.Sprint(kept)})
	if len(queued) > 0 {
		m.Fields = append(m.Fields, bot.Field{Label: "To remove", Value: strings.Join(queued, "; ")})
		m.Buttons = []bot.Button{{Action: ActionReviewApply, Label: fmt.Sprintf("Apply %d removal%s", len(queued), plural(len(queued))), Value: c.ID, Style: bot.StyleDanger}}
		m.Footer = "Removals are made in PIM with the clicking admin's own sign-in (Privileged Role Administrator active)."
	}
	if len(flagged) > 0 {
		m.Fields = append(m.Fields, bot.Field{Label: "No answer (kept, flagged)", Value: strings.Join(flagged, "; ")})
	}
	s.admins(ctx, m)
	return nil
}

// applyClick applies a closed campaign's queued removals with the clicking admin's token.
func (s *Scheduler) applyClick(ctx context.Context, a bot.Actor, value, _ string) error {
	if !s.isAdmin(ctx, a) {
		return nil
	}
	c, err := s.store.Campaign(value)
	if err != nil || !c.Closed {
		s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "That review is not closed, so there is nothing to apply yet."})
		return nil
	}
	var tok graph.UserToken
	ok := false
	if s.token != nil {
		tok, ok = s.token(ctx, a)
	}
	if !ok {
		s.core.SignInThenClick(ctx, a, ActionReviewApply, value, "", "Removing eligibilities is done with your own rights in PIM: sign in with your Microsoft account (Privileged Role Administrator must be active for you) and the removals are applied.")
		return nil
	}
	items, err := s.store.ReviewItems(c.ID)
	if err != nil {
		return err
	}
	var done, failed, unknown []string
	for _, it := range items {
		if it.Outcome != "queued" {
			continue
		}
		principal := it.UserID
		note := ""
		if it.ViaGroup != "" {
			// Eligible through a group: the user leaves the group; that is the group owner's call.
			note = "eligible through group " + it.ViaGroup + ": remove them from the group"
			failed = append(failed, fmt.Sprintf("%s: %s (%s)", orWord(it.User, it.UserID), it.RoleName, note))
			s.setOutcome(ctx, c.ID, it, "queued", "failed", note, nil)
			continue
		}
		// The intent first ("removing", with its audit record): a removal whose answer is lost
		// is looked up in PIM by the next tick (reconcileRemovals), never assumed.
		if !s.setOutcome(ctx, c.ID, it, "queued", outcomeRemoving, "by "+a.Platform+":"+a.ChatUser, nil) {
			continue // applied by another click meanwhile
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removalTimeout)
		err := s.graph.RemoveEligibility(wctx, tok, principal, it.RoleID, "Access review "+c.ID+": not needed")
		cancel()
		if err != nil && graph.Transient(err) {
			s.log.Warn("review removal outcome unknown; it will be looked up", "campaign", c.ID, "user_id", it.UserID, "role_id", it.RoleID, "err", err)
			unknown = append(unknown, fmt.Sprintf("%s: %s", orWord(it.User, it.UserID), it.RoleName))
			continue
		}
		if err != nil {
			// The admins read the note and the summary: Graph's message and request id (and
			// whatever else Graph put in its error) stay in the log.
			s.log.Warn("review removal failed", "campaign", c.ID, "user_id", it.UserID, "role_id", it.RoleID, "err", err)
			words := bot.GraphWords(err)
			failed = append(failed, fmt.Sprintf("%s: %s (%s)", orWord(it.User, it.UserID), it.RoleName, strings.TrimSuffix(words, ".")))
			s.setOutcome(ctx, c.ID, it, outcomeRemoving, "failed", words, nil)
			continue
		}
		done = append(done, fmt.Sprintf("%s: %s", orWord(it.User, it.UserID), it.RoleName))
		s.setOutcome(ctx, c.ID, it, outcomeRemoving, "removed", "by "+a.Platform+":"+a.ChatUser, &bot.Message{Kind: bot.KindResult,
			Text: fmt.Sprintf("As decided in access review %s, your eligibility for %s has been removed.", c.ID, it.RoleName)})
	}
	text := fmt.Sprintf("Removed %d eligibilit%s.", len(done), map[bool]string{true: "y", false: "ies"}[len(done) == 1])
	if len(done) > 0 {
		text += " " + strings.Join(done, "; ") + "."
	}
	if len(failed) > 0 {
		text += fmt.Sprintf(" Not removed (%d): %s.", len(failed), strings.Join(failed, "; "))
	}
	if len(unknown) > 0 {
		text += fmt.Sprintf(" Not confirmed yet (%d; Microsoft Graph did not answer, I'll check PIM and tell you): %s.", len(unknown), strings.Join(unknown, "; "))
	}
	s.admins(ctx, bot.Message{Kind: KindReview, Title: "Access review " + c.ID + ": removals applied", Text: text})
	return nil
}

// setOutcome moves an item from outcome from to outcome to, with an audit record; false when it
// was not in from (another click, or a look at PIM, got there first). tell, when not nil, is
// queued for the item's user (when reachable) in the same transaction.
func (s *Scheduler) setOutcome(ctx context.Context, cid string, it store.ReviewItem, from, outcome, note string, tell *bot.Message) bool {
	now := s.now()
	var added []store.OutboxItem
	_, err := s.store.UpdateReviewItemWith(cid, it.UserID, it.RoleID, store.AuditRecord{At: now, Actor: "elevate", Action: "review." + outcome, Detail: it.Key()},
		func(x *store.ReviewItem, out *store.Outbox) error {
			if x.Outcome != from {
				return store.ErrNoChange
			}
			x.Outcome, x.OutcomeAt, x.Note = outcome, now, note
			if tell != nil && x.ChatUser != "" {
				if err := s.core.TellIn(out, x.Platform, x.ChatUser, *tell); err != nil {
					return err
				}
				added = out.Added()
			}
			return nil
		})
	if err != nil && !errors.Is(err, store.ErrNoChange) {
		s.log.Error("review: saving outcome", "campaign", cid, "err", err)
	}
	if err == nil {
		s.core.Deliver(ctx, added)
	}
	return err == nil
}

// outcomeRemoving is the intent of a removal: committed before the PIM write, settled by its
// answer or, when the answer is lost, by reconcileRemovals.
const outcomeRemoving = "removing"

// removalTimeout bounds one removal, which runs detached from the click's cancellation.
const removalTimeout = 30 * time.Second

// reconcileRemovals looks up in PIM the removals whose answer never came (or that a crash cut
// off): still eligible → queued again (the admins are told to apply again); gone → removed, and
// the user is told. A removal younger than a minute may still be on its way and is left alone.
func (s *Scheduler) reconcileRemovals(ctx context.Context, now time.Time) error {
	cs, err := s.store.Campaigns()
	if err != nil {
		return err
	}
	var open []store.ReviewItem
	for _, c := range cs {
		if !c.Closed {
			continue
		}
		items, err := s.store.ReviewItems(c.ID)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.Outcome == outcomeRemoving && now.Sub(it.OutcomeAt) >= time.Minute {
				open = append(open, it)
			}
		}
	}
	if len(open) == 0 {
		return nil
	}
	els, err := s.graph.TenantEligibilities(ctx)
	if err != nil {
		return err // looked up again at the next tick
	}
	var removed, again []string
	for _, it := range open {
		still := slices.ContainsFunc(els, func(e graph.RoleEligibility) bool {
			return strings.EqualFold(e.PrincipalID, it.UserID) && strings.EqualFold(e.RoleID, it.RoleID)
		})
		line := fmt.Sprintf("%s: %s", orWord(it.User, it.UserID), it.RoleName)
		if still {
			if s.setOutcome(ctx, it.Campaign, it, outcomeRemoving, "queued", "PIM shows it still eligible", nil) {
				again = append(again, line)
			}
			continue
		}
		if !s.setOutcome(ctx, it.Campaign, it, outcomeRemoving, "removed", "confirmed in PIM", &bot.Message{Kind: bot.KindResult,
			Text: fmt.Sprintf("As decided in access review %s, your eligibility for %s has been removed.", it.Campaign, it.RoleName)}) {
			continue
		}
		removed = append(removed, line)
	}
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, fmt.Sprintf("PIM confirms removed (%d): %s.", len(removed), strings.Join(removed, "; ")))
	}
	if len(again) > 0 {
		parts = append(parts, fmt.Sprintf("PIM shows still eligible, queued again (%d): %s. Click Apply again to remove them.", len(again), strings.Join(again, "; ")))
	}
	if len(parts) > 0 {
		s.admins(ctx, bot.Message{Kind: KindReview, Title: "Access review: removals checked with PIM", Text: strings.Join(parts, " ")})
	}
	return nil
}

// reviewCommand is `/elevate review start|status`.
func (s *Scheduler) reviewCommand(ctx context.Context, a bot.Actor, cmd policy.Command) error {
	if !s.isAdmin(ctx, a) {
		return nil
	}
	now := s.now()
	if cmd.Action == "start" {
		c, created, err := s.startReview(ctx, now, a.Platform+":"+a.ChatUser)
		if err != nil {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindError, Text: "I couldn't start the review: reading the eligible roles from Microsoft Graph failed. Try again in a minute."})
			return err
		}
		if !created {
			s.core.Reply(ctx, a, bot.Message{Kind: bot.KindText, Text: fmt.Sprintf("This quarter's review %s is already open (or done); `/elevate review status` shows it.", c.ID)})
			return nil
		}
		s.core.Reply(ctx, a, bot.Message{Kind: bot.KindResult, Text: fmt.Sprintf("Started access review %s; it closes %s.", c.ID, c.Deadline.In(s.loc).Format("Mon 2 Jan"))})
		return nil
	}
	cs, err := s.store.Campaigns()
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		next := s.review.Next(now)
		s.core.Reply(ctx, a, bot.Message{Kind: bot.KindText, Text: fmt.Sprintf("No access review yet. The next one starts %s; `/elevate review start` starts one now.", next.In(s.loc).Format("Mon 2 Jan 2006"))})
		return nil
	}
	c := cs[len(cs)-1]
	items, err := s.store.ReviewItems(c.ID)
	if err != nil {
		return err
	}
	var open []string
	for _, it := range items {
		if it.Decision == "" {
			open = append(open, fmt.Sprintf("%s: %s", orWord(it.User, it.UserID), it.RoleName))
		}
	}
	m := bot.Message{Kind: KindReview, Title: "Access review " + c.ID, Text: completion(c, items, now)}
	if len(open) > 0 {
		m.Fields = []bot.Field{{Label: "Unanswered", Value: strings.Join(open, "; ")}}
	}
	s.core.Reply(ctx, a, m)
	return nil
}
