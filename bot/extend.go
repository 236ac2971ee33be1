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

// `extend`. PIM cannot lengthen a running activation, refuses a second activation of the role
// while one is running (RoleAssignmentExists), and does not document whether it takes one that
// starts exactly when the current one ends. So Elevate asks for the requester's consent at
// `extend` time, stores it with the request, and activates the role again itself when the
// current activation has ended: the requester's own selfActivate, with a sign-in fresh enough
// at that moment (a link is sent ahead of time when the held one will be too old). The
// follow-up's intent (store.Write, action extend) is committed in the request's transaction
// before the PIM write; after a crash or a lost answer Reconcile looks in PIM before anything is
// written again (intent.go, docs/config.md).

const (
	// followUpReason marks a sign-in made for the follow-up activation (pendingSignIn.reason).
	followUpReason = "follow-up"
	// followUpLead is how long before the current end a sign-in link is sent for the follow-up.
	followUpLead = 10 * time.Minute
	// followUpGrace is how long after the current end the follow-up still waits for a sign-in.
	followUpGrace = 10 * time.Minute
)

// extend lengthens the actor's activation within its role's extension budget.
func (c *Core) extend(ctx context.Context, a Actor, role *policy.Role, d time.Duration) error {
	r, ok, err := c.pickActive(ctx, a, role, "extend")
	if err != nil || !ok {
		return err
	}
	return c.extendRequest(ctx, a, r, d)
}

// extendRequest records the requester's consent to a follow-up activation of d when r ends.
func (c *Core) extendRequest(ctx context.Context, a Actor, r store.Request, d time.Duration) error {
	role := c.cfg.RoleByID(r.RoleID)
	if role == nil {
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("%s is no longer in Elevate's configuration, so it can't be extended here.", r.RoleName)})
		return nil
	}
	dec := c.cfg.Decide(policy.Command{Kind: policy.KindExtend, Role: role, Duration: d}, policy.Requester{ObjectID: r.UserID, UPN: r.UPN}, c.now())
	if !dec.Allowed && (dec.Problem == nil || dec.Problem.Code != policy.CodeTooLong) {
		c.replyError(ctx, a, dec.Problem)
		return nil
	}
	ext := extensionOf(r)
	used := ext.Used + ext.By + c.extension(r.ID).Used // the last: follow-ups of versions before store.Extension
	left := role.ExtensionBudget - used
	switch {
	case role.ExtensionBudget <= 0:
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s can't be extended (its extension budget is none). Ask again for a new activation when it ends.", role.Name)})
		return nil
	case left < policy.MinDuration:
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s's extension budget (%s) is used up for this activation. Ask for a new activation when it ends.", role.Name, hm(role.ExtensionBudget))})
		return nil
	case d > left:
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s can be extended by %s more at most (budget %s). Say `/elevate extend %s %s`.", role.Name, hm(left), hm(role.ExtensionBudget), role.Alias(), hm(left))})
		return nil
	case !c.now().Before(r.EndsAt.Add(-time.Minute)):
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s ends too soon to extend; ask for a new activation.", role.Name)})
		return nil
	}
	// The follow-up is one PIM activation: PIM's maximum applies to it.
	if pm := c.pimMax(ctx, role); pm > 0 && ext.By+d > pm {
		most := pm - ext.By
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s allows at most %s in PIM for one activation, and the follow-up would be %s. Say `/elevate extend %s %s`.",
			role.Name, hm(pm), hm(ext.By+d), role.Alias(), hm(max(most, 0)))})
		return nil
	}
	now := c.now().UTC()
	// The cards are refreshed with the change (one transaction): a crash cannot lose it.
	r, err := c.change(ctx, r.ID, c.event(a, "request.extension_consented", fmt.Sprintf("by=%s after=%s", hm(d), r.EndsAt.Format(time.RFC3339))), func(x *store.Request, out *outbox) error {
		if x.State != store.StateActive {
			return store.ErrNoChange
		}
		if x.Extension == nil {
			x.Extension = &store.Extension{}
		}
		x.Extension.By += d
		x.Extension.ConsentAt = now
		out.cards(*x)
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s is no longer active; ask for a new activation.", r.RoleName)})
		return nil
	}
	if err != nil {
		return err
	}
	by := r.Extension.By
	text := fmt.Sprintf("OK: when %s ends at %s, I'll activate it again for %s. PIM refuses a second activation while one is running, so this is a new PIM activation of yours, with the same justification, made within a minute after the end (there may be a short gap).",
		r.RoleName, c.clock(r.EndsAt), hm(by))
	if c.tokenFreshAt(r, role, r.EndsAt) {
		text += " Your sign-in will still be fresh enough then."
	} else {
		text += fmt.Sprintf(" It needs a Microsoft sign-in no older than %s at that time: I'll send you a link at %s.", hm(c.cfg.SignInFreshness), c.clock(r.EndsAt.Add(-followUpLead)))
	}
	text += fmt.Sprintf(" If PIM asks for approval or refuses it, %s ends at %s and I'll tell you why. Extension budget left: %s.", r.RoleName, c.clock(r.EndsAt), hm(role.ExtensionBudget-used-d))
	c.reply(ctx, a, Message{Kind: KindResult, RequestID: r.ID, Text: text})
	return nil
}

func extensionOf(r store.Request) store.Extension {
	if r.Extension == nil {
		return store.Extension{}
	}
	return *r.Extension
}

// tokenFreshAt says whether the requester's held token will still be fresh enough at t for r's
// role (tier-0: never; each activation wants its own sign-in).
func (c *Core) tokenFreshAt(r store.Request, role *policy.Role, t time.Time) bool {
	if role != nil && role.Tier0 {
		return false
	}
	b := c.tokens
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.m[requesterKey(r)]
	return ok && !t.After(h.signedIn.Add(c.cfg.SignInFreshness)) && (h.tok.ExpiresOn.IsZero() || t.Before(h.tok.ExpiresOn.Add(-time.Minute)))
}

// sweepExtension moves r's follow-up on; true when the sweep must not end r yet.
func (c *Core) sweepExtension(ctx context.Context, r store.Request) bool {
	e := r.Extension
	writing := r.Write != nil && r.Write.Action == store.WriteExtend
	if r.State != store.StateActive || e == nil || (e.By == 0 && !writing) {
		return false
	}
	now := c.now()
	role := c.cfg.RoleByID(r.RoleID)
	switch {
	case r.Write != nil:
		return true // a write in flight: its owner or Reconcile settles it first
	case now.Before(r.EndsAt):
		// Asked by an earlier process (a restart, a standby's takeover): its link, and any token it
		// brought, lived in that process's memory, so ask again.
		asked := !e.AskedAt.IsZero() && !e.AskedAt.Before(c.started)
		if !now.Before(r.EndsAt.Add(-followUpLead)) && !asked && !c.tokenFreshAt(r, role, r.EndsAt) {
			c.logFollowUp(r, c.askFollowUpSignIn(ctx, r, ""))
		}
		return true
	case now.After(r.EndsAt.Add(followUpGrace)):
		c.logFollowUp(r, c.dropFollowUp(ctx, r, "follow_up.no_sign_in",
			fmt.Sprintf("%s ended at %s and was not activated again: the follow-up you asked for needed your sign-in, which did not come. Ask again if you still need it.", r.RoleName, c.clock(r.EndsAt))))
		return false
	}
	c.logFollowUp(r, c.followUp(ctx, r))
	return true
}

func (c *Core) logFollowUp(r store.Request, err error) {
	if err != nil {
		c.log.Error("extension follow-up", "request_id", r.ID, "err", err)
	}
}

// askFollowUpSignIn sends the requester a link for the follow-up's sign-in.
func (c *Core) askFollowUpSignIn(ctx context.Context, r store.Request, claims string) error {
	now := c.now().UTC()
	again := r.Extension != nil && !r.Extension.AskedAt.IsZero() && r.Extension.AskedAt.Before(c.started)
	r, err := c.update(ctx, r.ID, systemEvent(now, "request.extension_sign_in", ""), func(x *store.Request) error {
		if x.State != store.StateActive || x.Extension == nil || x.Extension.By == 0 {
			return store.ErrNoChange
		}
		x.Extension.AskedAt = now
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	actor := Actor{Platform: r.Platform, ChatUser: r.ChatUser, Name: r.ChatName, Channel: r.Channel, UserID: r.UserID, EmailHint: r.LoginHint}
	link, err := c.signInLink(ctx, pendingSignIn{purpose: forExtend, requestID: r.ID, actor: actor, reason: followUpReason, claims: claims}, r.UPN)
	if err != nil {
		c.log.Error("sign-in link", "request_id", r.ID, "err", err)
		return nil // asked again at the end
	}
	text := fmt.Sprintf("To activate %s again for %s when it ends at %s (the extension you asked for), sign in with your Microsoft account: it is your own PIM activation. The link works once, for 10 minutes.",
		r.RoleName, hm(r.Extension.By), c.clock(r.EndsAt))
	if !now.Before(r.EndsAt) {
		text = fmt.Sprintf("%s ended at %s. Sign in with your Microsoft account to activate it again for %s (the extension you asked for); the link works once, for 10 minutes, and I wait for it until %s.",
			r.RoleName, c.clock(r.EndsAt), hm(r.Extension.By), c.clock(r.EndsAt.Add(followUpGrace)))
	}
	if again {
		text = "Elevate restarted, so the sign-in link I sent you earlier no longer works. " + text
	}
	c.tellUser(ctx, r, Message{Kind: KindSignIn, RequestID: r.ID, Text: text, Buttons: []Button{{Action: ActionOpenURL, Label: "Sign in", URL: link, Style: StylePrimary}}})
	return nil
}

// followUp makes the follow-up activation of r once its current activation has ended, with the
// requester's fresh token: the intent is committed first; an unrecorded earlier write is looked
// up in PIM before writing again.
func (c *Core) followUp(ctx context.Context, r store.Request) error {
	// Claimed before the intent, so the sweep's Reconcile never looks up (and clears) a write
	// still on its way.
	if !c.claim(r.ID) {
		return nil
	}
	defer c.release(r.ID)
	r, err := c.store.Request(r.ID)
	if err != nil {
		return err
	}
	e := r.Extension
	if r.State != store.StateActive || e == nil || e.By == 0 || r.Write != nil {
		return nil // nothing to do, or a write in flight that its owner or Reconcile settles
	}
	now := c.now().UTC()
	if now.Before(r.EndsAt) {
		return nil // the sweep acts at the end
	}
	role := c.cfg.RoleByID(r.RoleID)
	tok, ok := c.freshToken(r, role)
	if !ok {
		if e.AskedAt.Before(r.EndsAt) {
			return c.askFollowUpSignIn(ctx, r, "")
		}
		return nil
	}
	// The intent first, in the request's transaction: after a crash or a lost answer,
	// Reconcile finds the follow-up in PIM (reconcileExtension) instead of writing twice.
	r, err = c.beginWrite(ctx, r.ID, systemEvent(now, "request.extending", fmt.Sprintf("by=%s start=%s", hm(e.By), now.Format(time.RFC3339))),
		store.Write{Action: store.WriteExtend, At: now, Start: now, By: r.UserID, Attempts: 1}, func(x *store.Request, _ *store.Write) error {
			if x.State != store.StateActive || x.Write != nil || x.Extension == nil || x.Extension.By == 0 {
				return store.ErrNoChange
			}
			return nil
		})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	if role != nil && role.Tier0 {
		c.tokens.drop(requesterKey(r)) // tier-0: one sign-in, one activation
	}
	next := r
	next.Duration = r.Extension.By
	var act graph.Activation
	err = c.pimCall(ctx, func(ctx context.Context) (err error) {
		act, err = c.activateGraph(ctx, tok, next, role, now)
		return err
	})
	var ge *graph.Error
	errors.As(err, &ge)
	switch {
	case err == nil && act.Status == "PendingApproval":
		return c.dropFollowUp(ctx, r, "follow_up.pim_approval "+act.RequestID,
			fmt.Sprintf("%s ended at %s. PIM requires approval for activating it again: your request is pending in PIM, whose approvers PIM notifies; ask again in chat if you prefer Elevate's card.", r.RoleName, c.clock(r.EndsAt)),
			act.RequestID)
	case err == nil:
		return c.extended(ctx, r, now.Add(r.Extension.By), act.RequestID, "")
	case errors.Is(err, graph.ErrRoleAssignmentExists):
		// PIM still holds the current activation (its clock and ours differ by seconds), or a
		// write whose answer was lost went through: look, else write at the next sweep.
		if found, end, lerr := c.followUpInPIM(ctx, r); lerr == nil && found {
			return c.extended(ctx, r, end, "", "the earlier write had gone through")
		}
		c.log.Info("follow-up refused while PIM still shows the activation; trying again at the next sweep", "request_id", r.ID)
		return c.clearWrite(ctx, r, "follow-up refused while PIM still shows the current activation")
	case graph.Transient(err):
		// Nobody knows whether PIM took it, or Graph asked Elevate to come back (429, 503 with
		// Retry-After): the intent stays, and Reconcile looks before writing again.
		return c.writeUnknown(ctx, r, err)
	case errors.Is(err, graph.ErrAcrsRequired), errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "MfaRule":
		c.tokens.drop(requesterKey(r))
		if err := c.clearWrite(ctx, r, "PIM asks for a stronger sign-in"); err != nil {
			return err
		}
		claims := ""
		if ge != nil {
			claims = ge.Claims
		}
		return c.askFollowUpSignIn(ctx, r, claims)
	}
	c.log.Warn("follow-up activation refused", "request_id", r.ID, "err", err)
	words := graphWords(err)
	if errors.Is(err, graph.ErrPolicyValidation) && ge != nil && ge.Rule == "ExpirationRule" {
		words = fmt.Sprintf("PIM allows less than %s for %s.", hm(r.Extension.By), r.RoleName)
	}
	return c.dropFollowUp(ctx, r, "follow_up.refused "+errCode(err), fmt.Sprintf("%s ended at %s and was not activated again: %s", r.RoleName, c.clock(r.EndsAt), words))
}

func errCode(err error) string {
	var ge *graph.Error
	if errors.As(err, &ge) && ge.Code != "" {
		return ge.Code
	}
	return "graph_error"
}

// followUpInPIM says whether PIM holds an activation of r's role for its user that runs past
// r's current end: the follow-up, made by Elevate (its intent is stored).
func (c *Core) followUpInPIM(ctx context.Context, r store.Request) (bool, time.Time, error) {
	end, err := c.currentEnd(ctx, r)
	if err != nil {
		return false, time.Time{}, err
	}
	return end.After(r.EndsAt.Add(time.Minute)), end, nil
}

// reconcileExtension settles a follow-up activation whose answer never came (a crash, a lost
// answer, a timeout): PIM's instances say whether it is there; if not, and its intent is older
// than the provisioning window (UsableTimeout), the intent is dropped and the sweep writes again
// while the grace period lasts.
func (c *Core) reconcileExtension(ctx context.Context, r store.Request) error {
	found, end, err := c.followUpInPIM(ctx, r)
	if err != nil {
		return c.lookFailed(ctx, r, err, func() error {
			return c.dropFollowUp(ctx, r, "follow_up.unconfirmed", fmt.Sprintf("Microsoft Graph has not answered for an hour, so I could not confirm whether PIM activated %s again. Check My roles in the PIM portal, and ask again if it is not there.", r.RoleName))
		})
	}
	if found {
		return c.extended(ctx, r, end, "", "reconciled: the follow-up is in PIM")
	}
	if r.Write != nil && c.now().Sub(r.Write.At) < c.usable {
		// Not shown, but PIM can take minutes to show a new activation: a follow-up written
		// moments ago looks just like one never written. Look again later; past the
		// provisioning window, absent means not there (as maybeNotShownYet judges activations).
		return c.lookFailed(ctx, r, errNotShownYet, nil)
	}
	return c.clearWrite(ctx, r, "reconciled: the follow-up is not in PIM; written again at the next sweep")
}

// extended records that the follow-up is in force until end.
func (c *Core) extended(ctx context.Context, r store.Request, end time.Time, graphRequestID, why string) error {
	var by time.Duration
	// The requester's words and the cards go with the change (one transaction): a crash cannot
	// record the extension and lose its news.
	r, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.extended", strings.TrimSpace(fmt.Sprintf("until=%s graph_request=%s %s", end.UTC().Format(time.RFC3339), graphRequestID, why))), func(x *store.Request, out *outbox) error {
		if x.State != store.StateActive || x.Extension == nil || !end.After(x.EndsAt) {
			return store.ErrNoChange
		}
		by = x.Extension.By
		if by == 0 {
			by = end.Sub(x.EndsAt)
		}
		x.Extension.Used += by
		x.Extension.By, x.Extension.AskedAt, x.Write = 0, time.Time{}, nil
		if graphRequestID != "" {
			x.Extension.Requests = append(x.Extension.Requests, graphRequestID)
		}
		x.EndsAt = end.UTC()
		x.Duration += by
		out.tell(*x, Message{Kind: KindResult, RequestID: x.ID, Text: fmt.Sprintf("%s is active again until %s: the extension you asked for, a new PIM activation of yours. It can take PIM a few minutes to apply it.",
			x.RoleName, c.clock(x.EndsAt))})
		out.cards(*x)
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	c.log.Info("extended", "request_id", r.ID, "role", r.RoleName, "graph_request_id", graphRequestID)
	return nil
}

// dropFollowUp gives up r's follow-up and tells the requester why; the sweep ends r.
func (c *Core) dropFollowUp(ctx context.Context, r store.Request, detail, words string, graphRequestIDs ...string) error {
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.extension_dropped", detail), func(x *store.Request, out *outbox) error {
		if x.Extension == nil || (x.Extension.By == 0 && (x.Write == nil || x.Write.Action != store.WriteExtend)) {
			return store.ErrNoChange
		}
		x.Extension.By = 0
		if x.Write != nil && x.Write.Action == store.WriteExtend {
			x.Write = nil
		}
		x.Extension.Requests = append(x.Extension.Requests, graphRequestIDs...)
		out.tell(*x, Message{Kind: KindResult, RequestID: x.ID, Text: words})
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}

// currentEnd is when PIM ends r's current activation (the latest end among the instances).
func (c *Core) currentEnd(ctx context.Context, r store.Request) (time.Time, error) {
	var end time.Time
	if _, ok := c.isGroup(r); ok {
		pg, _ := c.pim()
		as, err := pg.ActiveGroupAssignments(ctx, r.UserID)
		for _, a := range as {
			if strings.EqualFold(a.GroupID, r.RoleID) && a.End.After(end) {
				end = a.End
			}
		}
		return end, err
	}
	as, err := c.graph.ActiveAssignments(ctx, r.UserID)
	for _, a := range as {
		if strings.EqualFold(a.RoleID, r.RoleID) && a.End.After(end) {
			end = a.End
		}
	}
	return end, err
}
