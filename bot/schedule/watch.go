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

// collect indexes the PIM activations in the directory audits, so that digests and reviews count
// those made outside Elevate (portal, PowerShell). Elevate's own are recognized by their PIM
// request id and counted once. The window overlaps the previous poll: audit logs arrive late.
func (s *Scheduler) collect(ctx context.Context, now time.Time) error {
	since := now.AddDate(0, 0, -30) // first time: Entra keeps 30 days, take what there is
	if last, err := s.store.State("collect/last"); err == nil && len(last) > 0 {
		var t time.Time
		if t.UnmarshalText(last) == nil {
			since = t.Add(-time.Hour) // overlap: audit records arrive late
		}
	}
	evs, err := s.graph.DirectoryAudits(ctx, graph.ActivityActivationCompleted, since)
	if err != nil {
		return err
	}
	var out []store.Event
	for _, a := range evs {
		e := store.Event{At: a.At, Kind: store.EventActivatedOutside, RoleID: a.RoleID, RoleName: a.RoleName,
			UserID: a.TargetID, User: a.Upn, GraphID: a.RequestID, Ref: a.ID}
		if e.User == "" {
			e.User = a.TargetName
		}
		if d, err := parseISO(a.Duration); err == nil {
			e.Duration = d
		}
		out = append(out, e)
	}
	if _, err := s.store.AddEvents(out); err != nil {
		return err
	}
	mark, _ := now.UTC().MarshalText()
	_, err = s.store.SwapState("collect/last", mark)
	return err
}

// parseISO reads the PT4H / PT1H30M durations PIM writes in audit details.
func parseISO(v string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(strings.ToUpper(v), "PT")
	if !ok || rest == "" {
		return 0, fmt.Errorf("not an ISO duration: %q", v)
	}
	return time.ParseDuration(strings.ToLower(rest))
}

// remindExpiry tells each user, ExpiryReminder before their activation ends, when it ends, with
// Extend and I'm done buttons; once per activation end (an extension moves the end and re-arms it).
func (s *Scheduler) remindExpiry(ctx context.Context, now time.Time) error {
	rs, err := s.store.Requests(store.Filter{States: []store.State{store.StateActive}})
	if err != nil {
		return err
	}
	lead := s.cfg.Schedules.ExpiryReminder
	for _, r := range rs {
		if r.EndsAt.IsZero() || now.Before(r.EndsAt.Add(-lead)) || !now.Before(r.EndsAt) {
			continue
		}
		id := fmt.Sprint(r.ID)
		m := bot.Message{Kind: bot.KindProgress, RequestID: r.ID,
			Text: fmt.Sprintf("%s ends at %s.", r.RoleName, s.when(r.EndsAt)),
			Buttons: []bot.Button{
				{Action: ActionExtend, Label: "Extend 1h", Value: id, Style: bot.StylePrimary},
				{Action: ActionDone, Label: "I'm done", Value: id},
			}}
		// Marked sent and queued in one transaction: once, and never lost to a crash between.
		first, added, err := s.store.OnceWith(fmt.Sprintf("expiry/%d/%d", r.ID, r.EndsAt.Unix()), now, func(out *store.Outbox) error {
			return s.core.TellIn(out, r.Platform, r.ChatUser, m)
		})
		if err != nil {
			return err
		}
		if first {
			s.core.Deliver(ctx, added)
		}
	}
	return nil
}

// watchBreakGlass alerts each sign-in of a break-glass account, once (by sign-in id).
func (s *Scheduler) watchBreakGlass(ctx context.Context, now time.Time) error {
	ids := s.cfg.Users.BreakGlass
	if len(ids) == 0 {
		return nil
	}
	// Overlap the previous poll generously: the sign-in log lags by minutes.
	since := now.Add(-s.cfg.Schedules.BreakGlassPoll - 30*time.Minute)
	sis, err := s.graph.BreakGlassSignIns(ctx, ids, since)
	if err != nil {
		return err
	}
	slices.SortFunc(sis, func(a, b graph.SignIn) int { return a.At.Compare(b.At) })
	for _, si := range sis {
		first, err := s.store.Once("signin/"+si.ID, now)
		if err != nil {
			return err
		}
		if !first {
			continue
		}
		who := si.UPN
		if who == "" {
			who = si.UserID
		}
		outcome := "signed in"
		if si.ErrorCode != 0 {
			outcome = fmt.Sprintf("tried to sign in (error %d)", si.ErrorCode)
		}
		text := fmt.Sprintf("🚨 Break-glass account %s %s to %s at %s %s", who, outcome, orWord(si.App, "an application"), s.day(si.At), s.when(si.At))
		if si.IP != "" || si.Location != "" {
			text += fmt.Sprintf(" from %s", strings.TrimSpace(si.IP+" "+paren(si.Location)))
		}
		text += ". If this was not a planned emergency, treat it as an incident."
		s.log.Warn("break-glass sign-in", "user_id", si.UserID, "sign_in_id", si.ID)
		s.security(ctx, bot.Message{Kind: bot.KindAlert, Title: "Break-glass sign-in", Text: text})
	}
	return nil
}

func orWord(s, w string) string {
	if s == "" {
		return w
	}
	return s
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// finding is one way the tenant differs from the baseline.
type finding struct {
	key, text string
}

// checkDrift compares the tenant with the baseline. With post, each finding that appears or
// clears is posted once to the security channel (store.SetAlert keeps what was said). It returns
// the findings in force.
func (s *Scheduler) checkDrift(ctx context.Context, now time.Time, post bool) ([]finding, error) {
	b := s.cfg.Schedules.Baseline
	var found []finding
	var checked []string // key prefixes fully evaluated this time; others keep their state

	// Role settings, per role in Elevate's catalogue.
	var policyErr error
	var changes []string // what changed in PIM's role settings since the last look
	for _, r := range s.cfg.Roles {
		if r.Group {
			continue // PIM for Groups: a group's member policy is not a directory role setting
		}
		p, err := s.graph.RolePolicy(ctx, r.TemplateID)
		if errors.Is(err, graph.ErrNotFound) {
			continue // a custom role PIM has no settings for
		}
		if err != nil {
			policyErr = err
			continue
		}
		prefix := "drift/policy/" + r.TemplateID + "/"
		checked = append(checked, prefix)
		if b.MaxActivation > 0 && p.MaxDuration > b.MaxActivation {
			found = append(found, finding{prefix + "max", fmt.Sprintf("%s: PIM allows activations of %s (baseline: at most %s)", r.Name, hm(p.MaxDuration), hm(b.MaxActivation))})
		}
		if b.MFA && !p.RequireMFA && p.AuthContext == "" {
			found = append(found, finding{prefix + "mfa", fmt.Sprintf("%s: PIM activation does not require MFA", r.Name)})
		}
		if b.Justification && !p.RequireJustification {
			found = append(found, finding{prefix + "justification", fmt.Sprintf("%s: PIM activation does not require a justification", r.Name)})
		}
		if slices.Contains(b.ApprovalRequired, r.TemplateID) && !p.RequireApproval && r.Approval.Required == 0 {
			found = append(found, finding{prefix + "approval", fmt.Sprintf("%s: activation needs no approval, neither in PIM nor in Elevate", r.Name)})
		}
		if post {
			changes = append(changes, s.diffRules(r, p)...)
		}
	}

	// Standing access.
	standing, err := s.graph.StandingAssignments(ctx)
	if err == nil {
		checked = append(checked, "drift/permanent/", "drift/global-admins", "drift/break-glass")
		gaHolders := map[string]bool{}
		bgFound := 0
		for _, a := range standing {
			if s.cfg.IsBreakGlass(a.PrincipalID) {
				bgFound++
				continue
			}
			if a.RoleID == globalAdminID {
				gaHolders[a.PrincipalID] = true
			}
			if b.NoPermanent {
				found = append(found, finding{"drift/permanent/" + a.PrincipalID + "/" + a.RoleID,
					fmt.Sprintf("%s holds %s permanently, outside PIM's just-in-time activation (`/elevate convert %s %s` makes it eligible)",
						principalName(a), a.RoleName, orWord(a.PrincipalUPN, a.PrincipalID), strings.ToLower(roleAlias(s.cfg, a.RoleID)))})
			}
		}
		if els, err := s.graph.TenantEligibilities(ctx); err == nil {
			for _, e := range els {
				if e.RoleID == globalAdminID && !s.cfg.IsBreakGlass(e.PrincipalID) {
					gaHolders[e.PrincipalID] = true
				}
			}
		}
		if n := len(gaHolders); b.MaxGlobalAdmins > 0 && n > b.MaxGlobalAdmins {
			found = append(found, finding{"drift/global-admins", fmt.Sprintf("%d principals hold or are eligible for Global Administrator (baseline: at most %d)", n, b.MaxGlobalAdmins)})
		}
		if n := min(bgFound, len(s.cfg.Users.BreakGlass)); n < b.MinBreakGlass {
			found = append(found, finding{"drift/break-glass", fmt.Sprintf("only %d break-glass account%s configured and holding Global Administrator (baseline: at least %d)", n, plural(n), b.MinBreakGlass)})
		}
	} else {
		policyErr = err
	}

	if post {
		if err := s.raiseAndClear(ctx, now, found, checked, changes); err != nil {
			return found, err
		}
		s.contractWarnings(ctx, now)
	}
	return found, policyErr
}

// raiseAndClear posts, in one message, the findings that are new, the alerts of a checked kind
// that are gone and the changes in PIM's role settings: a first start in a drifted tenant is one
// post, not one per finding.
func (s *Scheduler) raiseAndClear(ctx context.Context, now time.Time, found []finding, checked, changes []string) error {
	var raised, cleared []string
	live := map[string]bool{}
	for _, f := range found {
		live[f.key] = true
		_, changed, err := s.store.SetAlert(f.key, true, f.text, now)
		if err != nil {
			return err
		}
		if changed {
			raised = append(raised, "⚠ "+f.text+".")
		}
	}
	defer func() {
		if len(raised)+len(cleared)+len(changes) == 0 {
			return
		}
		title, parts := "Drift from the baseline", []string{}
		switch {
		case len(raised) > 0:
		case len(cleared) > 0:
			title = "Drift cleared"
		default:
			title = "PIM role settings changed"
		}
		if len(raised) > 0 {
			parts = append(parts, strings.Join(raised, "\n"))
		}
		if len(cleared) > 0 {
			parts = append(parts, "Resolved:\n"+strings.Join(cleared, "\n"))
		}
		if len(changes) > 0 {
			parts = append(parts, "PIM role settings changed:\n```\n"+strings.Join(changes, "\n")+"\n```")
		}
		s.security(ctx, bot.Message{Kind: bot.KindAlert, Title: title, Text: strings.Join(parts, "\n\n")})
	}()
	alerts, err := s.store.Alerts()
	if err != nil {
		return err
	}
	for _, a := range alerts {
		if !a.Active || live[a.Key] || !slices.ContainsFunc(checked, func(p string) bool { return strings.HasPrefix(a.Key, p) }) {
			continue
		}
		_, changed, err := s.store.SetAlert(a.Key, false, a.Detail, now)
		if err != nil {
			return err
		}
		if changed {
			cleared = append(cleared, "✅ "+a.Detail+".")
		}
	}
	return nil
}

// diffRules says what changed in a role's PIM settings since the watch last looked.
func (s *Scheduler) diffRules(r *policy.Role, p graph.RolePolicy) []string {
	now := rulesOf(p)
	old, err := s.store.SwapState("rules/"+r.TemplateID, []byte(strings.Join(now, "\n")))
	if err != nil || old == nil {
		return nil // first look: nothing to compare with
	}
	was := strings.Split(string(old), "\n")
	var lines []string
	for i := range now {
		if i < len(was) && was[i] != now[i] {
			lines = append(lines, "- "+was[i], "+ "+now[i])
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return append([]string{r.Name + ":"}, lines...)
}

func rulesOf(p graph.RolePolicy) []string {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	return []string{
		"maximum activation: " + hm(p.MaxDuration),
		"MFA on activation: " + onOff(p.RequireMFA),
		"justification: " + onOff(p.RequireJustification),
		"ticket: " + onOff(p.RequireTicket),
		"approval: " + onOff(p.RequireApproval),
		"authentication context: " + orWord(p.AuthContext, "none"),
	}
}

// contractWarnings tells the admins, ContractWarn ahead, about each external consultant's
// eligibility that outlives their contract; once per (user, role, contract end).
func (s *Scheduler) contractWarnings(ctx context.Context, now time.Time) {
	if len(s.cfg.Users.Externals) == 0 {
		return
	}
	els, err := s.graph.TenantEligibilities(ctx)
	if err != nil {
		s.log.Warn("contract check: eligibilities", "err", err)
		return
	}
	for _, e := range els {
		ext, ok := s.cfg.External(e.PrincipalID, e.PrincipalUPN)
		if !ok || now.Before(ext.ContractEnd.Add(-s.cfg.Schedules.Review.ContractWarn)) {
			continue
		}
		if !e.End.IsZero() && !e.End.After(ext.ContractEnd) {
			continue // the eligibility ends with the contract
		}
		first, err := s.store.Once(fmt.Sprintf("contract/%s/%s/%d", e.PrincipalID, e.RoleID, ext.ContractEnd.Unix()), now)
		if err != nil || !first {
			continue
		}
		ends := "never"
		if !e.End.IsZero() {
			ends = e.End.In(s.loc).Format("2 Jan 2006")
		}
		s.admins(ctx, bot.Message{Kind: bot.KindAlert, Title: "Consultant's access outlives the contract",
			Text: fmt.Sprintf("%s's contract ends %s, but their eligibility for %s ends %s. Elevate refuses their activations after the contract; remove the eligibility in PIM (or set its end date) by then.",
				orWord(e.PrincipalUPN, e.PrincipalName), ext.ContractEnd.In(s.loc).Format("2 Jan 2006"), e.RoleName, ends)})
	}
}

const globalAdminID = "62e90394-69f5-4237-9190-012177145e10"

func principalName(a graph.StandingAssignment) string {
	if a.PrincipalType == "group" {
		return "group " + orWord(a.PrincipalName, a.PrincipalID)
	}
	return orWord(a.PrincipalUPN, orWord(a.PrincipalName, a.PrincipalID))
}

func roleAlias(cfg *policy.Config, roleID string) string {
	if r := cfg.RoleByID(roleID); r != nil {
		return r.Alias()
	}
	return roleID
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func hm(d time.Duration) string { return policy.FormatDuration(d) }
