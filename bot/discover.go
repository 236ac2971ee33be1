package bot

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
)

// Discovery and conversion of standing access (`/elevate discover`, `/elevate convert`), for PIM
// administrators.

// mayAdmin says whether a may run discover and convert, and answers them if not.
func (c *Core) mayAdmin(ctx context.Context, a Actor) (policy.Requester, bool, error) {
	who, known, err := c.identity(a)
	if err != nil {
		return who, false, c.mismatch(ctx, a, err)
	}
	if known && c.cfg.IsPIMAdmin(who.ObjectID, who.UPN) {
		return who, true, nil
	}
	if known && c.cfg.Admins.Group != "" {
		in, err := c.graph.MemberOfAny(ctx, who.ObjectID, []string{c.cfg.Admins.Group})
		if err != nil {
			c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't check your admin rights just now. " + graphWords(err)})
			return who, false, nil
		}
		if len(in) > 0 {
			return who, true, nil
		}
	}
	if !known {
		c.reply(ctx, a, Message{Kind: KindError, Text: "Only Elevate's PIM administrators may do that, and I don't know who you are yet: request any role once and sign in."})
	} else {
		c.reply(ctx, a, Message{Kind: KindError, Text: "Only Elevate's PIM administrators may do that (config `admins`)."})
	}
	return who, false, nil
}

// Discover answers `/elevate discover`: every permanent active assignment, by role, direct or
// through a group, break-glass accounts set apart, with what to do about it.
func (c *Core) Discover(ctx context.Context, a Actor, _ policy.Command) error {
	if _, ok, err := c.mayAdmin(ctx, a); !ok || err != nil {
		return err
	}
	pg, ok := c.pim()
	if !ok {
		c.reply(ctx, a, Message{Kind: KindText, Text: "Discovery is not available in this installation."})
		return nil
	}
	st, err := pg.StandingAssignments(ctx)
	if err != nil {
		c.log.Error("discover", "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't read the standing assignments from Microsoft Entra. " + graphWords(err)})
		return nil
	}
	c.reply(ctx, a, c.discoveryReport(st))
	return nil
}

const gaTemplateID = "62e90394-69f5-4237-9190-012177145e10"

func (c *Core) discoveryReport(st []graph.StandingAssignment) Message {
	byRole := map[string][]string{}
	var roles []string
	var recs []string
	var breakGlass []string
	gaPeople := map[string]bool{}
	standing := 0
	for _, s := range st {
		who := s.PrincipalUPN
		if who == "" {
			who = s.PrincipalName
		}
		isGA := strings.EqualFold(s.RoleID, gaTemplateID)
		if s.PrincipalType == "user" && c.cfg.IsBreakGlass(s.PrincipalID) {
			breakGlass = append(breakGlass, who)
			if isGA {
				gaPeople[s.PrincipalID] = true
			}
			continue
		}
		line := who
		if s.PrincipalType == "group" {
			var members []string
			for _, m := range s.Members {
				members = append(members, m.UPN)
				if isGA {
					gaPeople[m.ID] = true
				}
			}
			line = fmt.Sprintf("group %s (%d member%s: %s)", s.PrincipalName, len(s.Members), plural(len(s.Members)), strings.Join(members, ", "))
			recs = append(recs, fmt.Sprintf("Make group %s eligible for %s instead of active (PIM for Groups or an eligible role assignment), then remove the standing assignment.", s.PrincipalName, s.RoleName))
		} else {
			if isGA {
				gaPeople[s.PrincipalID] = true
			}
			recs = append(recs, fmt.Sprintf("`/elevate convert %s %s`", who, c.alias(s.RoleID, s.RoleName)))
		}
		standing++
		if _, ok := byRole[s.RoleName]; !ok {
			roles = append(roles, s.RoleName)
		}
		byRole[s.RoleName] = append(byRole[s.RoleName], line)
	}
	sort.Strings(roles)
	var b strings.Builder
	if standing == 0 {
		b.WriteString("No standing (permanent active) assignments apart from the break-glass accounts. Well done.\n")
	} else {
		fmt.Fprintf(&b, "%d standing (permanent active) assignment%s outside break-glass:\n", standing, plural(standing))
		for _, r := range roles {
			fmt.Fprintf(&b, "• %s: %s\n", r, strings.Join(byRole[r], "; "))
		}
	}
	fmt.Fprintf(&b, "Global Administrators with standing access: %d", len(gaPeople))
	if len(gaPeople) >= 5 {
		b.WriteString(" — Microsoft recommends fewer than 5")
	}
	b.WriteString(".\n")
	switch n := len(breakGlass); {
	case n == 0:
		b.WriteString("Break-glass: none standing — keep two emergency accounts with permanent Global Administrator.\n")
	default:
		fmt.Fprintf(&b, "Break-glass (left as they are): %s.", strings.Join(breakGlass, ", "))
		if n < 2 {
			b.WriteString(" Keep at least two.")
		}
		b.WriteString("\n")
	}
	if len(recs) > 0 {
		b.WriteString("Recommended: make these eligible and let people activate through Elevate:\n")
		for _, r := range recs {
			b.WriteString("→ " + r + "\n")
		}
	}
	return Message{Kind: KindText, Title: "Standing access in PIM", Text: strings.TrimRight(b.String(), "\n")}
}

func (c *Core) alias(roleID, name string) string {
	if r := c.cfg.RoleByID(roleID); r != nil {
		return r.Alias()
	}
	return strings.ToLower(strings.ReplaceAll(name, " ", ""))
}

// Convert answers `/elevate convert <user> <role>`: after the admin confirms, the user's standing
// assignment becomes an eligibility, with the admin's own sign-in. Break-glass accounts are
// refused.
func (c *Core) Convert(ctx context.Context, a Actor, cmd policy.Command) error {
	if _, ok, err := c.mayAdmin(ctx, a); !ok || err != nil {
		return err
	}
	if cmd.Role == nil || cmd.Role.Group {
		c.reply(ctx, a, Message{Kind: KindError, Text: "Convert takes a directory role, e.g. `/elevate convert erin@contoso.com global`."})
		return nil
	}
	u, err := c.graph.User(ctx, cmd.Target)
	if errors.Is(err, graph.ErrNotFound) {
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("There is no user %s in Microsoft Entra.", cmd.Target)})
		return nil
	}
	if err != nil {
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't look the user up. " + graphWords(err)})
		return nil
	}
	if c.cfg.IsBreakGlass(u.ID) {
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("%s is a break-glass account: emergency accounts keep their standing Global Administrator and are never converted.", u.UPN)})
		return nil
	}
	as, err := c.graph.ActiveAssignments(ctx, u.ID)
	if err != nil {
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't read the user's assignments. " + graphWords(err)})
		return nil
	}
	standing := false
	for _, x := range as {
		standing = standing || (strings.EqualFold(x.RoleID, cmd.Role.TemplateID) && x.AssignmentType == "Assigned" && x.End.IsZero())
	}
	if !standing {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s has no standing %s assignment; nothing to convert.", u.UPN, cmd.Role.Name)})
		return nil
	}
	c.reply(ctx, a, Message{Kind: KindText, Title: "Convert standing access",
		Text:    fmt.Sprintf("Convert %s's permanent %s to eligible? PIM first makes them eligible, then removes the active assignment; they will activate it through Elevate when they need it. This is done with your own Microsoft sign-in.", u.UPN, cmd.Role.Name),
		Buttons: []Button{{Action: ActionConvert, Label: "Convert", Value: u.ID + "|" + cmd.Role.TemplateID, Style: StyleDanger}}})
	return nil
}

// ActionConvert confirms a conversion; its value is "<user id>|<role template id>".
const ActionConvert Action = "convert"

// confirmConvert runs after the admin's click: a sign-in, then the conversion.
func (c *Core) confirmConvert(ctx context.Context, a Actor, value string) error {
	who, ok, err := c.mayAdmin(ctx, a)
	if !ok || err != nil {
		return err
	}
	user, roleID, found := strings.Cut(value, "|")
	if !found || user == "" || roleID == "" {
		c.reply(ctx, a, Message{Kind: KindError, Text: "That button no longer works; say `/elevate convert` again."})
		return nil
	}
	// Always a fresh sign-in for this: an admin write with the admin's own token.
	link, err := c.signInLink(ctx, pendingSignIn{purpose: forConvert, actor: a, reason: value}, who.UPN)
	if err != nil {
		c.reply(ctx, a, Message{Kind: KindError, Text: "I couldn't prepare a Microsoft sign-in link just now; try again in a minute."})
		return nil
	}
	c.reply(ctx, a, Message{Kind: KindSignIn, Text: "Converting is an admin change in PIM, made with your own account: sign in. The link works once, for 10 minutes.",
		Buttons: []Button{{Action: ActionOpenURL, Label: "Sign in", URL: link, Style: StylePrimary}}})
	return nil
}

// convertNow makes the conversion with the admin's freshly signed-in token.
func (c *Core) convertNow(ctx context.Context, a Actor, userID, roleID string) error {
	who, ok, err := c.mayAdmin(ctx, a)
	if !ok || err != nil {
		return err
	}
	pg, _ := c.pim()
	if c.cfg.IsBreakGlass(userID) {
		c.reply(ctx, a, Message{Kind: KindError, Text: "That is a break-glass account; it is never converted."})
		return nil
	}
	tok, fresh := c.tokens.fresh(keyOf(a, who.ObjectID), c.cfg.SignInFreshness, 0, graph.ScopeEligibility)
	if !fresh {
		c.reply(ctx, a, Message{Kind: KindError, Text: "Your sign-in is no longer fresh; say `/elevate convert` again."})
		return nil
	}
	roleName := roleID
	if r := c.cfg.RoleByID(roleID); r != nil {
		roleName = r.Name
	}
	u, err := c.graph.User(ctx, userID)
	name := userID
	if err == nil {
		name = u.UPN
	}
	// The intent first, with its audit record: Reconcile finds the conversion in PIM if the
	// answer never comes.
	key := convertKey(userID, roleID)
	if !c.claimKey(key) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s's %s is being converted already.", name, roleName)})
		return nil
	}
	defer c.releaseKey(key)
	in := convertIntent{Admin: who.ObjectID, AdminName: cmpOr(who.UPN, a.Name), Platform: a.Platform, ChatUser: a.ChatUser,
		User: userID, UserName: name, Role: roleID, RoleName: roleName, At: c.now().UTC()}
	if err := c.saveConvertIntent(in, c.event(a, "standing.converting", fmt.Sprintf("intent: user=%s role=%q", userID, roleName))); err != nil {
		return err
	}
	var conv graph.Conversion
	err = c.pimCall(ctx, func(ctx context.Context) error {
		var err error
		conv, err = pg.ConvertToEligible(ctx, tok, userID, roleID, fmt.Sprintf("Standing %s replaced by eligibility (Elevate, by %s)", roleName, in.AdminName))
		return err
	})
	c.log.Info("convert", "admin", who.ObjectID, "user_id", userID, "role", roleName,
		"eligibility_request", conv.EligibilityRequestID, "removal_request", conv.RemovalRequestID, "err", err)
	if graph.Transient(err) {
		in.Unknown, in.Retry = true, c.now().UTC().Add(writeBackoff(1))
		if serr := c.saveConvertIntent(in, systemEvent(c.now(), "standing.write_unknown", unknownCode(err))); serr != nil {
			return serr
		}
		c.reply(ctx, a, Message{Kind: KindProgress, Text: fmt.Sprintf("Microsoft Graph did not answer whether PIM converted %s's %s. I'll look it up in PIM and tell you.", name, roleName)})
		return nil
	}
	outcome := "converted"
	if err != nil {
		outcome = "failed: " + graphWords(err)
	}
	if _, aerr := c.store.SetCursorAudit(key, nil, c.event(a, "standing.convert", fmt.Sprintf("user=%s role=%q eligibility_request=%s removal_request=%s %s",
		userID, roleName, conv.EligibilityRequestID, conv.RemovalRequestID, outcome))); aerr != nil {
		c.log.Error("audit of a conversion", "err", aerr)
	}
	switch {
	case errors.Is(err, graph.ErrForbidden):
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("PIM refused: converting needs an active Privileged Role Administrator (or Global Administrator) role on your account. Activate it, then convert again. (%s is unchanged%s.)", name, partial(conv))})
		return nil
	case err != nil:
		c.log.Error("convert", "user_id", userID, "err", err)
		c.reply(ctx, a, Message{Kind: KindError, Text: fmt.Sprintf("The conversion did not complete. %s%s", graphWords(err), partial(conv))})
		return nil
	}
	until := "permanently eligible"
	if !conv.EligibleUntil.IsZero() {
		until = "eligible until " + conv.EligibleUntil.Format("2 Jan 2006")
	}
	c.reply(ctx, a, Message{Kind: KindResult, Text: fmt.Sprintf("Converted: %s is now %s for %s, and the standing assignment is removed.", name, until, roleName)})
	_ = c.enqueue(ctx, nil, func(out *outbox) error {
		out.alert(a.Platform, Message{Kind: KindAlert, Text: fmt.Sprintf("%s converted %s's standing %s to eligible.", cmpOr(who.UPN, a.Name), name, roleName)})
		return nil
	})
	return nil
}

func partial(conv graph.Conversion) string {
	if conv.EligibilityRequestID != "" && conv.RemovalRequestID == "" {
		return "; the eligibility was created, the standing assignment is still there"
	}
	return ""
}
