package bot

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Linking a chat account to a Microsoft account. A chat account the platform does not vouch for
// (Slack) is linked only after the person who signed in confirms, on a page that names the chat
// account, that it is theirs; the platform's verified email must be one of the Entra user's
// addresses (config identity.email_match); an Entra user already linked to another chat account
// of the platform is refused. Administrators link and unlink accounts with rebind and unbind.

// Profile is what a chat platform says about one of its users.
type Profile struct {
	Name      string // display name, "Mallory M."
	Handle    string // user name without the @, "mallory"
	Workspace string // Slack workspace or Teams team name, "Contoso"
	Email     string // the email the platform has verified for the user; "" when it has none
}

// Profiler is an optional Messenger capability: a user's profile, for the page that confirms a
// link and for the email check. Without it the page shows the name from the chat message and no
// email can be compared.
type Profiler interface {
	Profile(ctx context.Context, chatUser string) (Profile, error)
}

// addresser is the optional Graph capability of listing a user's email addresses (UPN, mail,
// proxy addresses); *graph.Client has it.
type addresser interface {
	Addresses(ctx context.Context, userID string) ([]string, error)
}

// pendingLink is a completed sign-in waiting for the person to confirm the link on the page.
type pendingLink struct {
	p       pendingSignIn
	tok     graph.UserToken
	csrf    string // in the page's form and in a cookie set with the page
	created time.Time
}

type linkBook struct {
	now   func() time.Time
	mu    sync.Mutex
	m     map[string]pendingLink
	order []string // ids in the order added: pages expire in the same order
}

func newLinkBook(now func() time.Time) *linkBook {
	return &linkBook{now: now, m: map[string]pendingLink{}}
}

// add keeps l until it is confirmed or expires and returns its id and CSRF token.
func (b *linkBook) add(l pendingLink) (id, csrf string) {
	id = randomString()
	l.csrf, l.created = randomString(), b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	// Expired pages go from the front, as sign-in links do (signInBook.add): no scan per add.
	for len(b.order) > 0 {
		old, ok := b.m[b.order[0]]
		if ok && l.created.Sub(old.created) <= signInTTL {
			break
		}
		delete(b.m, b.order[0])
		b.order = b.order[1:]
	}
	b.m[id] = l
	b.order = append(b.order, id)
	return id, l.csrf
}

func (b *linkBook) peek(id string) (pendingLink, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.m[id]
	if !ok || b.now().Sub(l.created) > signInTTL {
		return pendingLink{}, false
	}
	return l, true
}

func (b *linkBook) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.m)
	b.order = nil
}

// take forgets id: a confirmation works once.
func (b *linkBook) take(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.m[id]
	delete(b.m, id)
	return ok
}

const linkCookie = "elevate_link"

// profile asks the platform about a's user; the chat message's name stands in when it cannot.
func (c *Core) profile(ctx context.Context, a Actor) (Profile, bool) {
	if m, ok := c.messenger(a.Platform); ok {
		if pr, ok := m.(Profiler); ok {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			p, err := pr.Profile(ctx, a.ChatUser)
			if err == nil {
				if p.Name == "" {
					p.Name = a.Name
				}
				return p, true
			}
			c.log.Warn("reading the chat profile", "platform", a.Platform, "chat_user", a.ChatUser, "err", err)
		}
	}
	return Profile{Name: a.Name}, false
}

// describe names a chat account the way its owner would recognise it:
// "Slack user Mallory M. (@mallory, Contoso workspace)".
func describe(a Actor, p Profile) string {
	name := cmpOr(p.Name, a.ChatUser)
	var details []string
	if p.Handle != "" {
		details = append(details, "@"+p.Handle)
	} else if name != a.ChatUser {
		details = append(details, a.ChatUser)
	}
	if p.Workspace != "" {
		word := " workspace"
		if a.Platform == "teams" {
			word = " team"
		}
		details = append(details, p.Workspace+word)
	}
	s := platformName(a.Platform) + " user " + name
	if len(details) > 0 {
		s += " (" + strings.Join(details, ", ") + ")"
	}
	return s
}

// emailMatches compares the platform's verified email with the Entra user's addresses.
func (c *Core) emailMatches(ctx context.Context, email string, tok graph.UserToken) (bool, error) {
	addrs := []string{tok.UPN}
	if ad, ok := c.graph.(addresser); ok {
		more, err := ad.Addresses(ctx, tok.UserID)
		if err != nil {
			return false, err
		}
		addrs = append(addrs, more...)
	}
	for _, x := range addrs {
		if x != "" && strings.EqualFold(strings.TrimSpace(email), x) {
			return true, nil
		}
	}
	return false, nil
}

// refused records a refused or declined link in the audit chain, in the same transaction as
// the alert to the security channel and the words to the chat account (requestID: the request
// the sign-in was for, if any).
func (c *Core) refused(ctx context.Context, a Actor, action string, tok graph.UserToken, why, alert, words string, requestID uint64) {
	ev := c.event(a, action, fmt.Sprintf("%s (%s): %s", tok.UPN, tok.UserID, why))
	_ = c.enqueue(ctx, &ev, func(out *outbox) error { // a failure is logged by enqueue
		out.alert(a.Platform, Message{Kind: KindAlert, Text: alert})
		out.send(a.Platform, DM(a.ChatUser), Message{Kind: KindError, RequestID: requestID, Text: words})
		return nil
	})
}

// alert posts text to the security channel of platform, through the outbox.
func (c *Core) alert(ctx context.Context, platform, text string) {
	_ = c.enqueue(ctx, nil, func(out *outbox) error {
		out.alert(platform, Message{Kind: KindAlert, Text: text})
		return nil
	})
}

// link decides what a completed sign-in of a chat account not linked yet leads to: refused
// (taken, email mismatch) or the confirmation page.
func (c *Core) link(w http.ResponseWriter, req *http.Request, p pendingSignIn, tok graph.UserToken) {
	ctx := req.Context()
	a := p.actor
	prof, known := c.profile(ctx, a)
	who := describe(a, prof)
	bs, err := c.store.BindingsByUser(tok.UserID)
	if err != nil {
		c.log.Error("reading bindings", "user_id", tok.UserID, "err", err)
		page(w, http.StatusInternalServerError, "Something went wrong on our side.", "Nothing was linked or activated. Go back to chat and try again.")
		return
	}
	for _, b := range bs {
		if b.Platform == a.Platform && b.ChatUser != a.ChatUser {
			c.refuseTaken(ctx, w, a, who, tok, b.ChatUser)
			return
		}
	}
	warning := ""
	if mode := c.cfg.Identity.EmailMatch; mode != policy.EmailMatchOff && a.UserID == "" {
		var ok bool
		var err error
		switch {
		case !known:
			// The platform could not say (an outage, or no Profiler): not a mismatch to alert.
			err = fmt.Errorf("bot: no profile of %s user %s to compare emails with", a.Platform, a.ChatUser)
		case prof.Email != "":
			ok, err = c.emailMatches(ctx, prof.Email, tok)
		}
		switch {
		case err != nil && mode == policy.EmailMatchRequire:
			c.log.Error("email check", "user_id", tok.UserID, "err", err)
			page(w, http.StatusServiceUnavailable, "I couldn't check your account just now.", "Nothing was linked or activated. Go back to chat and try again in a minute.")
			return
		case err != nil:
			c.log.Warn("email check", "user_id", tok.UserID, "err", err)
		case !ok:
			email := cmpOr(prof.Email, "no verified email")
			c.log.Warn("chat email does not match the Microsoft account", "platform", a.Platform, "chat_user", a.ChatUser,
				"user_id", tok.UserID, "mode", string(mode))
			if mode == policy.EmailMatchRequire {
				c.refused(ctx, a, "identity.refused", tok, "the chat account's verified email ("+email+") is not one of the user's addresses",
					fmt.Sprintf("Refused: %s (%s) signed in as %s, whose addresses do not include that email. Nothing was linked or activated; if the sign-in link was forwarded, this was someone else's account.",
						who, email, tok.UPN),
					"The Microsoft account that signed in ("+tok.UPN+") does not match your chat account's email, so it was not linked and nothing was done. Sign in with your own account; the security team has been told.",
					p.requestID)
				page(w, http.StatusForbidden, "This Microsoft account does not match the chat account.",
					"The chat account's verified email ("+email+") is not one of "+tok.UPN+"'s addresses, so they were not linked and nothing was done. The security team has been told.")
				return
			}
			c.alert(ctx, a.Platform, fmt.Sprintf("Warning: %s (%s) is being linked to %s, whose addresses do not include that email (identity.email_match: warn).", who, email, tok.UPN))
			warning = "The chat account's verified email (" + email + ") is not one of " + tok.UPN + "'s addresses. The security team has been told."
		}
	}
	id, csrf := c.links.add(pendingLink{p: p, tok: tok})
	http.SetCookie(w, &http.Cookie{Name: linkCookie, Value: csrf, Path: req.URL.Path, MaxAge: int(signInTTL / time.Second),
		HttpOnly: true, Secure: req.TLS != nil, SameSite: http.SameSiteStrictMode})
	secureHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = linkTmpl.Execute(w, struct {
		Who, UPN, Platform, For, Warning, Action, ID, CSRF string
	}{who, tok.UPN, platformName(a.Platform), c.purposeWords(p), warning, req.URL.Path, id, csrf})
}

func (c *Core) refuseTaken(ctx context.Context, w http.ResponseWriter, a Actor, who string, tok graph.UserToken, other string) {
	if other == "" {
		other = "(another account)"
	}
	c.log.Warn("second chat account for a Microsoft account refused", "platform", a.Platform, "chat_user", a.ChatUser, "user_id", tok.UserID, "bound_chat_user", other)
	c.refused(ctx, a, "identity.refused", tok, "already linked to "+a.Platform+" user "+other,
		fmt.Sprintf("Refused: %s tried to link to %s, which is already linked to %s user %s. Nothing was linked or activated; an Elevate admin can link a second account with `/elevate rebind`.",
			who, tok.UPN, platformName(a.Platform), other),
		tok.UPN+" is already linked to another chat account, so it was not linked to this one and nothing was done. Ask an Elevate admin if you need both.", 0)
	page(w, http.StatusForbidden, "This Microsoft account is already linked to another chat account.",
		tok.UPN+" is linked to a different "+platformName(a.Platform)+" account, so it was not linked to "+who+" and nothing was done. The security team has been told.")
}

var linkTmpl = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Elevate: link your chat account</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222}button{padding:.5rem 1rem;margin:.3rem .3rem 0 0}</style></head>
<body><h1>Link {{.Who}} to {{.UPN}}?</h1>
<p>You signed in to Microsoft as <strong>{{.UPN}}</strong>. If you link them, Elevate treats this {{.Platform}} account as you: its requests and approvals are made as {{.UPN}}.</p>
{{if .For}}<p>This sign-in was started for: {{.For}}</p>{{end}}
{{if .Warning}}<p><strong>{{.Warning}}</strong></p>{{end}}
<p>Link only if that chat account is yours. If someone sent you this link, it is not: choose "This is not my chat account".</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="link" value="{{.ID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button name="answer" value="link">Link my account</button>
<button name="answer" value="decline">This is not my chat account</button>
</form></body></html>
`))

// MaxCallbackBody bounds the body /auth/callback reads (the confirmation form); a standby
// forwards no more to the leader.
const MaxCallbackBody = 4 << 10

// confirm serves the POST of the confirmation page.
func (c *Core) confirm(w http.ResponseWriter, req *http.Request) {
	req.Body = http.MaxBytesReader(w, req.Body, MaxCallbackBody)
	if err := req.ParseForm(); err != nil {
		page(w, http.StatusBadRequest, "That did not look like Elevate's page.", "Nothing was linked. Go back to chat and ask again.")
		return
	}
	id, csrf := req.PostForm.Get("link"), req.PostForm.Get("csrf")
	l, ok := c.links.peek(id)
	if !ok {
		page(w, http.StatusBadRequest, "This page has expired or was already used.", "Nothing was linked. Go back to chat and ask again; your request is kept.")
		return
	}
	ck, err := req.Cookie(linkCookie)
	if err != nil || !same(ck.Value, l.csrf) || !same(csrf, l.csrf) {
		c.log.Warn("link confirmation without its token", "platform", l.p.actor.Platform, "chat_user", l.p.actor.ChatUser)
		page(w, http.StatusForbidden, "This confirmation did not come from the page Elevate showed in this browser.", "Nothing was linked. Go back to chat and ask again.")
		return
	}
	if !c.links.take(id) {
		page(w, http.StatusBadRequest, "This page was already used.", "Go back to chat.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: linkCookie, Value: "", Path: req.URL.Path, MaxAge: -1, HttpOnly: true, Secure: req.TLS != nil, SameSite: http.SameSiteStrictMode})
	ctx := req.Context()
	a, tok := l.p.actor, l.tok
	prof, _ := c.profile(ctx, a)
	who := describe(a, prof)
	if req.PostForm.Get("answer") != "link" {
		c.log.Warn("link declined", "platform", a.Platform, "chat_user", a.ChatUser, "user_id", tok.UserID)
		c.refused(ctx, a, "identity.declined", tok, "the person who signed in said the chat account is not theirs",
			fmt.Sprintf("%s declined to link %s to their Microsoft account: the sign-in link was probably forwarded. Nothing was linked or activated.", tok.UPN, who),
			"The person who opened your sign-in link said this chat account is not theirs, so nothing was linked or done. Sign in yourself, with your own Microsoft account.",
			l.p.requestID)
		page(w, http.StatusOK, "Nothing was linked.", "Thank you. The security team has been told; you can close this tab.")
		return
	}
	err = c.store.Bind(store.Binding{Platform: a.Platform, ChatUser: a.ChatUser, UserID: tok.UserID, UPN: tok.UPN, BoundAt: c.now().UTC()},
		store.AuditRecord{At: c.now().UTC(), Actor: a.Platform + ":" + a.ChatUser, Action: "identity.bound", Detail: tok.UserID + " confirmed by " + tok.UPN})
	switch {
	case errors.Is(err, store.ErrIdentityTaken):
		c.refuseTaken(ctx, w, a, who, tok, "")
		return
	case errors.Is(err, store.ErrConflict):
		c.alertMismatch(ctx, a, tok.UPN)
		page(w, http.StatusForbidden, "This Microsoft account does not match your chat account.", "Your chat account is linked to a different Microsoft account. The security team has been told.")
		return
	case err != nil:
		c.log.Error("binding identity", "platform", a.Platform, "chat_user", a.ChatUser, "err", err)
		page(w, http.StatusInternalServerError, "Something went wrong on our side.", "Nothing was linked or activated. Go back to chat and try again.")
		return
	}
	c.log.Info("identity linked", "platform", a.Platform, "chat_user", a.ChatUser, "user_id", tok.UserID)
	c.finish(w, l.p, tok, "Linked. ")
}

func same(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// purposeWords says what a sign-in was started for, for the pages the person sees.
func (c *Core) purposeWords(p pendingSignIn) string {
	var r store.Request
	if p.requestID != 0 {
		var err error
		if r, err = c.store.Request(p.requestID); err != nil {
			return ""
		}
	}
	switch p.purpose {
	case forRequest:
		return fmt.Sprintf("activating %s for %s (request #%d).", r.RoleName, hm(r.Duration), r.ID)
	case forApproval:
		verb := map[Action]string{ActionApprove: "approving", ActionDeny: "denying"}[p.decision]
		return fmt.Sprintf("%s request #%d: %s asks for %s for %s (%q).", verb, r.ID, nameOf(r), r.RoleName, hm(r.Duration), r.Justification)
	case forDone:
		return fmt.Sprintf("ending %s early (request #%d).", r.RoleName, r.ID)
	case forExtend:
		return fmt.Sprintf("extending %s (request #%d).", r.RoleName, r.ID)
	case forCancel:
		return fmt.Sprintf("withdrawing your request for %s in PIM (request #%d).", r.RoleName, r.ID)
	case forConvert:
		return "converting standing access to eligible."
	}
	return ""
}

// Rebind answers `/elevate rebind <chat user> <user>`: a PIM administrator links a chat account
// of their own platform to an Entra user, replacing its link. It is how a second chat account
// gets the same Microsoft account, and how a wrong link is put right. Audited and alerted.
func (c *Core) Rebind(ctx context.Context, a Actor, cmd policy.Command) error {
	admin, ok, err := c.mayAdmin(ctx, a)
	if !ok || err != nil {
		return err
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
	by := cmpOr(admin.UPN, a.Name)
	old, err := c.store.Rebind(store.Binding{Platform: a.Platform, ChatUser: cmd.ChatUser, UserID: u.ID, UPN: u.UPN, BoundAt: c.now().UTC()},
		c.event(a, "identity.rebound", fmt.Sprintf("%s user %s linked to %s (%s) by %s", a.Platform, cmd.ChatUser, u.UPN, u.ID, by)))
	if err != nil {
		return err
	}
	c.tokens.dropChatUser(a.Platform, cmd.ChatUser)
	was := "not linked before"
	if old.UserID != "" {
		was = "was " + cmpOr(old.UPN, old.UserID)
	}
	also := ""
	if bs, err := c.store.BindingsByUser(u.ID); err == nil {
		var others []string
		for _, b := range bs {
			if b.Platform == a.Platform && b.ChatUser != cmd.ChatUser {
				others = append(others, b.ChatUser)
			}
		}
		if len(others) > 0 {
			also = fmt.Sprintf(" %s is also linked to %s.", u.UPN, strings.Join(others, ", "))
		}
	}
	c.reply(ctx, a, Message{Kind: KindResult, Text: fmt.Sprintf("Linked %s user %s to %s (%s).%s", platformName(a.Platform), cmd.ChatUser, u.UPN, was, also)})
	c.alert(ctx, a.Platform, fmt.Sprintf("%s linked %s user %s to %s (%s).%s", by, platformName(a.Platform), cmd.ChatUser, u.UPN, was, also))
	return nil
}

// Unbind answers `/elevate unbind <chat user>`: the chat account's link is removed, and its next
// sign-in links it again (with the confirmation page and checks). Audited and alerted.
func (c *Core) Unbind(ctx context.Context, a Actor, cmd policy.Command) error {
	admin, ok, err := c.mayAdmin(ctx, a)
	if !ok || err != nil {
		return err
	}
	by := cmpOr(admin.UPN, a.Name)
	old, err := c.store.Unbind(a.Platform, cmd.ChatUser, c.event(a, "identity.unbound", fmt.Sprintf("%s user %s unlinked by %s", a.Platform, cmd.ChatUser, by)))
	if errors.Is(err, store.ErrNotFound) {
		c.reply(ctx, a, Message{Kind: KindText, Text: fmt.Sprintf("%s user %s is not linked to a Microsoft account.", platformName(a.Platform), cmd.ChatUser)})
		return nil
	}
	if err != nil {
		return err
	}
	c.tokens.dropChatUser(a.Platform, cmd.ChatUser)
	c.reply(ctx, a, Message{Kind: KindResult, Text: fmt.Sprintf("Unlinked %s user %s from %s; their next sign-in links it again.", platformName(a.Platform), cmd.ChatUser, cmpOr(old.UPN, old.UserID))})
	c.alert(ctx, a.Platform, fmt.Sprintf("%s unlinked %s user %s from %s.", by, platformName(a.Platform), cmd.ChatUser, cmpOr(old.UPN, old.UserID)))
	return nil
}
