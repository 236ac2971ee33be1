package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// What Elevate can know before anyone signs in, read with its own read-only identity: the
// longest activation PIM's role setting allows, and whether the user is eligible at all. PIM
// stays the final judge; these answer at once what it would refuse later.

// groupPolicies is the optional Graph capability of reading PIM for Groups settings.
type groupPolicies interface {
	GroupPolicy(ctx context.Context, groupID, access string) (graph.RolePolicy, error)
}

// pimMax is the maximum activation PIM's policy for role (or group membership) allows, cached by
// graph; 0 when it is not known (a failed read: PIM still enforces its own).
func (c *Core) pimMax(ctx context.Context, role *policy.Role) time.Duration {
	pol, err := c.pimPolicy(ctx, role)
	if err != nil {
		c.log.Warn("role policy read failed; PIM will enforce its own maximum", "role", role.Name, "err", err)
		return 0
	}
	return pol.MaxDuration
}

// pimPolicy reads the PIM setting of role or group membership (cached by graph).
func (c *Core) pimPolicy(ctx context.Context, role *policy.Role) (graph.RolePolicy, error) {
	if role == nil {
		return graph.RolePolicy{}, errors.New("bot: no role")
	}
	if role.Group {
		gp, ok := c.graph.(groupPolicies)
		if !ok {
			return graph.RolePolicy{}, errors.New("bot: this Graph client cannot read PIM for Groups settings")
		}
		return gp.GroupPolicy(ctx, role.TemplateID, role.Access)
	}
	return c.graph.RolePolicy(ctx, role.TemplateID)
}

// pimApprover says whether who is one of PIM's own approvers for role: false only when PIM's
// setting names its approvers and who is none of them (directly or through a group).
func (c *Core) pimApprover(ctx context.Context, role *policy.Role, who policy.Requester) bool {
	pol, err := c.pimPolicy(ctx, role)
	if err != nil || !pol.RequireApproval || len(pol.ApproverUsers)+len(pol.ApproverGroups) == 0 {
		return true // not known: PIM decides
	}
	for _, u := range pol.ApproverUsers {
		if strings.EqualFold(u, who.ObjectID) {
			return true
		}
	}
	if len(pol.ApproverGroups) > 0 {
		in, err := c.graph.MemberOfAny(ctx, who.ObjectID, pol.ApproverGroups)
		if err != nil || len(in) > 0 {
			return true
		}
	}
	return false
}

// limit is the longest activation of role a user can get: Elevate's cap or PIM's maximum,
// whichever is smaller. byPIM says PIM's is the smaller one.
func (c *Core) limit(ctx context.Context, role *policy.Role) (d time.Duration, byPIM bool) {
	d = role.MaxDuration
	if m := c.pimMax(ctx, role); m > 0 && (d <= 0 || m < d) {
		return m, true
	}
	return d, false
}

// limitWords offers the limit in the user's words.
func limitWords(role *policy.Role, d time.Duration, byPIM bool) string {
	if byPIM {
		return fmt.Sprintf("%s allows at most %s in PIM — use %s?", role.Name, hm(d), hm(d))
	}
	return fmt.Sprintf("%s allows at most %s — use %s?", role.Name, hm(d), hm(d))
}

// eligibility is what Entra says about a user's eligibility for a role before any sign-in.
type eligibility int

const (
	eligibilityUnknown eligibility = iota // not known (no identity to look up, or Graph failed): PIM decides
	eligible
	notEligible
)

// checkEligible reads, with the app's read-only identity, whether the requester of r is eligible
// for r's role (directly, through a group, or for a PIM for Groups membership). Who the requester
// is comes from the platform or an earlier sign-in, else from the platform's email hint: a hint
// is good enough to refuse early, never to grant anything.
func (c *Core) checkEligible(ctx context.Context, r store.Request, role *policy.Role) (eligibility, string) {
	userID, who := r.UserID, r.UPN
	if userID == "" && r.LoginHint != "" {
		u, err := c.graph.User(ctx, r.LoginHint)
		if err != nil {
			if !errors.Is(err, graph.ErrNotFound) {
				c.log.Warn("looking up a login hint before sign-in", "request_id", r.ID, "err", err)
			}
			return eligibilityUnknown, ""
		}
		userID, who = u.ID, cmpOr(u.UPN, r.LoginHint)
	}
	if userID == "" || role == nil {
		return eligibilityUnknown, ""
	}
	who = cmpOr(who, userID)
	if role.Group {
		pg, ok := c.pim()
		if !ok {
			return eligibilityUnknown, who
		}
		gs, err := pg.EligibleGroups(ctx, userID)
		if err != nil {
			c.log.Warn("reading group eligibility before sign-in", "request_id", r.ID, "err", err)
			return eligibilityUnknown, who
		}
		for _, g := range gs {
			if strings.EqualFold(g.GroupID, role.TemplateID) && (role.Access == "" || strings.EqualFold(g.AccessID, role.Access)) {
				return eligible, who
			}
		}
		return notEligible, who
	}
	if c.eligibleSeen(userID, role.TemplateID) {
		return eligible, who
	}
	els, err := c.graph.EligibleRoles(ctx, userID)
	if err != nil {
		c.log.Warn("reading eligibility before sign-in", "request_id", r.ID, "err", err)
		return eligibilityUnknown, who
	}
	// The answer lists every role the user is eligible for: all of them are remembered, so
	// asking for another of those roles next reads nothing.
	found := false
	for _, e := range els {
		c.seenEligible(userID, e.RoleID)
		found = found || strings.EqualFold(e.RoleID, role.TemplateID)
	}
	if found {
		return eligible, who
	}
	return notEligible, who
}

// eligibleTTL is how long a user seen eligible for a role is taken to still be: a stale "yes" only
// means PIM refuses later, as it would have anyway. A "no" is never cached, so a user just made
// eligible is not refused.
const eligibleTTL = 10 * time.Minute

func (c *Core) eligibleSeen(userID, roleID string) bool {
	v, ok := c.eligibleAt.Load(strings.ToLower(userID + "|" + roleID))
	return ok && c.now().Sub(v.(time.Time)) < eligibleTTL
}

func (c *Core) seenEligible(userID, roleID string) {
	c.eligibleAt.Store(strings.ToLower(userID+"|"+roleID), c.now())
}

// CodeNotEligible is the failure code of a request refused because Entra shows no eligibility.
const CodeNotEligible = "not_eligible"

// refuseNotEligible ends r before any sign-in: Entra shows no eligibility for its role.
func (c *Core) refuseNotEligible(ctx context.Context, a Actor, r store.Request, who string) error {
	words := fmt.Sprintf("You are not eligible for %s in PIM (checked for %s), so there is nothing to sign in for. A PIM administrator can make you eligible; `/elevate roles` lists what you can activate.", r.RoleName, who)
	r, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.failed", CodeNotEligible+" "+who), func(r *store.Request, out *outbox) error {
		if !pending(r.State) {
			return store.ErrNoChange
		}
		r.State, r.FailureCode, r.FailureMessage = store.StateFailed, CodeNotEligible, words
		out.reply(a, Message{Kind: KindError, RequestID: r.ID, Text: words})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	c.log.Info("request refused before sign-in: not eligible", "request_id", r.ID, "role", r.RoleName)
	return nil
}
