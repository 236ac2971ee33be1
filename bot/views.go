package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// RoleChoice is one role a user can ask for, as a form or home view lists it.
type RoleChoice struct {
	Alias           string // what to type, e.g. "exchange"
	Name            string
	RoleID          string
	MaxDuration     time.Duration
	DefaultDuration time.Duration
	Approvals       int // approvals it needs, 0 for none
	Tier0           bool
	ViaGroup        string // the group the eligibility comes through, if any
}

// Home is what a user's home view shows (Slack App Home, a Teams personal tab).
type Home struct {
	// Known is false until the user has signed in once: Eligible then lists the whole catalogue.
	Known bool
	// Pilot, when set, is why the user's own part is not shown: Elevate is in a pilot and they
	// are not in it (or it could not be checked). Eligible, Active and Pending are then empty;
	// ToApprove, an approver's job, is still filled.
	Pilot     string
	Eligible  []RoleChoice
	Active    []store.Request
	Pending   []store.Request
	ToApprove []store.Request // requests waiting for an approval this user may give
}

// Choices lists the roles a can ask for: their PIM eligibilities when Elevate knows who they are
// (from Graph), the configured catalogue otherwise.
//
// In a pilot, for someone outside it, the error is a *PilotRefusal: the form shows its words.
func (c *Core) Choices(ctx context.Context, a Actor) ([]RoleChoice, bool, error) {
	who, known, err := c.identity(a)
	if err != nil {
		return nil, false, err
	}
	if pr := c.actorRefusal(ctx, a); pr != nil {
		return nil, known, pr
	}
	var out []RoleChoice
	add := func(r *policy.Role, via string) {
		if slices.ContainsFunc(out, func(x RoleChoice) bool { return x.RoleID == r.TemplateID }) {
			return
		}
		ch := choice(r, via)
		// The form offers what PIM will accept: Elevate's cap or PIM's maximum, the smaller.
		ch.MaxDuration, _ = c.limit(ctx, r)
		if ch.DefaultDuration > ch.MaxDuration && ch.MaxDuration > 0 {
			ch.DefaultDuration = ch.MaxDuration
		}
		out = append(out, ch)
	}
	if !known {
		for _, r := range c.cfg.Roles {
			add(r, "")
		}
		return out, false, nil
	}
	els, err := c.graph.EligibleRoles(ctx, who.ObjectID)
	if err != nil {
		return nil, true, err
	}
	for _, e := range els {
		if r := c.cfg.RoleByID(e.RoleID); r != nil && !r.Group {
			add(r, e.ViaGroupName)
		}
	}
	// PIM for Groups memberships, as `roles` lists them.
	if pg, ok := c.pim(); ok && c.hasGroups() {
		gs, err := pg.EligibleGroups(ctx, who.ObjectID)
		if err != nil {
			c.log.Warn("eligible groups", "user_id", who.ObjectID, "err", err)
		}
		for _, g := range gs {
			if r := c.cfg.RoleByID(g.GroupID); r != nil && r.Group && strings.EqualFold(r.Access, g.AccessID) {
				add(r, "")
			}
		}
	}
	slices.SortFunc(out, func(x, y RoleChoice) int { return strings.Compare(x.Name, y.Name) })
	return out, true, nil
}

func choice(r *policy.Role, via string) RoleChoice {
	return RoleChoice{Alias: firstAlias(r), Name: r.Name, RoleID: r.TemplateID, MaxDuration: r.MaxDuration,
		DefaultDuration: r.DefaultDuration, Approvals: r.Approval.Required, Tier0: r.Tier0, ViaGroup: via}
}

// Home gathers a's home view. Eligible roles come from Graph; if Graph fails the rest is still
// returned together with the error.
func (c *Core) Home(ctx context.Context, a Actor) (Home, error) {
	var h Home
	if pr := c.actorRefusal(ctx, a); pr != nil {
		h.Pilot, h.Known = pr.Words, true
	}
	mine, err := c.mine(a)
	if err != nil {
		return h, err
	}
	if h.Pilot != "" {
		mine = nil // their own part is not shown; only what waits for them as an approver
	}
	for _, r := range mine {
		if r.State == store.StateActive {
			h.Active = append(h.Active, r)
		} else {
			h.Pending = append(h.Pending, r)
		}
	}
	if who, known, err := c.identity(a); err == nil && known {
		open, err := c.store.Requests(store.Filter{States: []store.State{store.StateAwaitingApproval}})
		if err != nil {
			return h, err
		}
		// One approver check per role, not per request: a group check is a Graph call, and
		// App Home views are rebuilt on every change.
		may := map[string]bool{}
		for _, r := range open {
			role := c.cfg.RoleByID(r.RoleID)
			if role == nil || r.UserID == who.ObjectID || approvals(r) >= r.ApprovalsNeeded {
				continue
			}
			ok, seen := may[role.TemplateID]
			if !seen {
				var err error
				ok, err = c.isApprover(ctx, role, who)
				ok = ok && err == nil
				may[role.TemplateID] = ok
			}
			if ok {
				h.ToApprove = append(h.ToApprove, r)
			}
		}
	}
	if h.Pilot != "" {
		return h, nil
	}
	h.Eligible, h.Known, err = c.Choices(ctx, a)
	return h, err
}

// Form is the request form's fields as the user filled them in.
type Form struct {
	Role, Duration, Justification, Ticket string
}

// Form field names, for errors shown next to the field.
const (
	FieldRole          = "role"
	FieldDuration      = "duration"
	FieldJustification = "justification"
	FieldTicket        = "ticket"
)

// CheckForm validates f field by field, for a form that shows errors next to each field. An
// empty map means the form can be submitted. Offers ("at most 8h") are errors here: the form
// can show them and let the user change the duration.
func (c *Core) CheckForm(a Actor, f Form) map[string]string {
	errs := map[string]string{}
	cmd, err := c.formCommand(f)
	var pe *policy.Error
	if errors.As(err, &pe) {
		errs[formField(pe.Code)] = pe.Message
		return errs
	}
	who, _, err := c.identity(a)
	if err != nil {
		errs[FieldRole] = "This chat account is linked to a different Microsoft account; ask your security team."
		return errs
	}
	if len(cmd.Roles) > 1 {
		return c.checkFormRoles(cmd, who, errs)
	}
	dec := c.cfg.Decide(cmd, who, c.now())
	if !dec.Allowed && dec.Problem != nil {
		errs[formField(dec.Problem.Code)] = dec.Problem.Message
	}
	// PIM's own maximum, when stricter, is what the duration field says. The form was built with
	// it, so the read is normally in graph's cache; a slow read is not waited for (the request's
	// job offers it anyway).
	if _, bad := errs[FieldDuration]; !bad || (dec.Problem != nil && dec.Problem.Code == policy.CodeTooLong) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d := cmd.Duration
		if d == 0 {
			d = dec.Duration
		}
		if pm := c.pimMax(ctx, cmd.Role); pm > 0 && d > pm {
			errs[FieldDuration] = limitWords(cmd.Role, pm, true)
		}
	}
	return errs
}

// SubmitForm is Accept for a submitted form.
func (c *Core) SubmitForm(a Actor, f Form) (Job, error) {
	text, err := c.formText(f)
	if err != nil {
		return func(ctx context.Context) error { c.replyError(ctx, a, err); return nil }, nil
	}
	return c.Accept(a, text)
}

func (c *Core) formCommand(f Form) (policy.Command, error) {
	text, err := c.formText(f)
	if err != nil {
		return policy.Command{}, err
	}
	cmd, err := c.cfg.ParseCommand(text)
	if err == nil && cmd.Kind != policy.KindRequest {
		err = &policy.Error{Code: policy.CodeMissingRole, Message: "Pick a role."}
	}
	return cmd, err
}

// formText turns the form into the command the user could have typed, so the form and the
// command line share one grammar.
//
// Role may name several roles separated by commas (a multi-select: "exchange,sharepoint"): the
// request is then one for all of them, as `/elevate exchange,sharepoint …` is.
func (c *Core) formText(f Form) (string, error) {
	var ids []string
	for _, name := range strings.Split(f.Role, ",") {
		if strings.TrimSpace(name) == "" && strings.Contains(f.Role, ",") {
			continue
		}
		role, err := c.cfg.Role(strings.TrimSpace(name))
		if err != nil {
			return "", err
		}
		ids = append(ids, role.TemplateID)
	}
	if len(ids) > policy.MaxRoles {
		return "", &policy.Error{Code: policy.CodeTooManyRoles, Message: fmt.Sprintf("Pick at most %d roles for one request.", policy.MaxRoles)}
	}
	parts := []string{strings.Join(ids, ",")}
	if d := strings.TrimSpace(f.Duration); d != "" {
		if _, err := policy.ParseDuration(d); err != nil || len(strings.Fields(d)) != 1 {
			return "", &policy.Error{Code: policy.CodeBadDuration, Message: "Write the duration like 30m, 4h or 1h30m."}
		}
		parts = append(parts, d)
	}
	just := strings.TrimSpace(f.Justification)
	if t := strings.TrimSpace(f.Ticket); t != "" && !strings.Contains(just, t) {
		just = t + " " + just
	}
	if just != "" {
		parts = append(parts, just)
	}
	return strings.Join(parts, " "), nil
}

func formField(code string) string {
	switch code {
	case policy.CodeUnknownRole, policy.CodeRoleDisabled, policy.CodeMissingRole, policy.CodeTooManyRoles, policy.CodeRoleList, policy.CodeBreakGlass, policy.CodeNoApprovers, policy.CodeContractEnded:
		return FieldRole
	case policy.CodeBadDuration, policy.CodeMissingDuration, policy.CodeTooLong, policy.CodeTooShort, policy.CodeContractCap:
		return FieldDuration
	case policy.CodeTicketRequired, policy.CodeTicketMismatch:
		return FieldTicket
	}
	return FieldJustification
}

// checkFormRoles is CheckForm for a form naming several roles: each role is decided as if asked
// alone; a field's error names the role it is about.
func (c *Core) checkFormRoles(cmd policy.Command, who policy.Requester, errs map[string]string) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, role := range cmd.Roles {
		one := cmd
		one.Role, one.Roles = role, nil
		dec := c.cfg.Decide(one, who, c.now())
		if !dec.Allowed && dec.Problem != nil {
			if f := formField(dec.Problem.Code); errs[f] == "" {
				errs[f] = dec.Problem.Message
				if !strings.Contains(errs[f], role.Name) {
					errs[f] = role.Name + ": " + errs[f]
				}
			}
			continue
		}
		if pm := c.pimMax(ctx, role); pm > 0 && dec.Duration > pm && errs[FieldDuration] == "" {
			errs[FieldDuration] = limitWords(role, pm, true)
		}
	}
	return errs
}
