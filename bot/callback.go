package bot

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// AuthCallback serves /auth/callback, where Microsoft Entra sends the user's browser after
// sign-in. GET exchanges the code (PKCE); a chat account already linked to the Microsoft account
// that signed in (or vouched for by its platform) goes straight on with whatever the sign-in was
// for, in the background. A chat account not linked yet gets the confirmation page, whose POST
// links it (binding.go).
func (c *Core) AuthCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodGet:
			c.callback(w, req)
		case http.MethodPost:
			c.confirm(w, req)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

func (c *Core) callback(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	state, code := q.Get("state"), q.Get("code")
	if e := q.Get("error"); e != "" || code == "" {
		// No code: nothing was proven, so the link is not used up (whoever can put an error on
		// the URL must not be able to void someone's link).
		p, ok := c.signins.peek(state)
		if !ok {
			page(w, http.StatusBadRequest, "This sign-in link has expired or was already used.", "Go back to chat and ask again; your request is kept.")
			return
		}
		c.log.Warn("sign-in returned no code", "platform", p.actor.Platform, "chat_user", p.actor.ChatUser, "error", e)
		again := "Nothing was done. The sign-in link in chat still works until " + c.clock(p.created.Add(signInTTL)) + ": open it again when you are ready."
		if e == "" {
			page(w, http.StatusBadRequest, "Sign-in did not complete.", "Microsoft Entra sent no sign-in code back. "+again)
			return
		}
		// error_description comes from Entra; it is shown escaped and only to this browser.
		page(w, http.StatusBadRequest, "Sign-in did not complete.", strings.TrimSpace(q.Get("error_description")+" "+again))
		return
	}
	p, ok := c.signins.take(state)
	if !ok {
		// Links live in the memory of the process that made them: after a restart or a
		// takeover the request's new link is in chat.
		page(w, http.StatusBadRequest, "This sign-in link has expired or was already used.", "Use the newest sign-in link Elevate sent you in chat (after a restart it sends a new one), or ask again; your request is kept.")
		return
	}
	tok, err := c.graph.CompleteSignIn(req.Context(), code, p.verifier, p.claims, p.scopes)
	if err != nil {
		c.log.Error("completing sign-in", "platform", p.actor.Platform, "chat_user", p.actor.ChatUser, "err", err)
		page(w, http.StatusBadGateway, "Sign-in could not be completed.", "Microsoft Entra did not accept the sign-in. Go back to chat and try again.")
		return
	}
	a := p.actor
	mismatch := func() {
		c.alertMismatch(req.Context(), a, tok.UPN)
		page(w, http.StatusForbidden, "This Microsoft account does not match your chat account.", "Your chat account is linked to a different Microsoft account, so nothing was done. The security team has been told.")
	}
	if a.UserID != "" && a.UserID != tok.UserID {
		mismatch() // the platform vouched for someone else
		return
	}
	b, err := c.store.Binding(a.Platform, a.ChatUser)
	switch {
	case err == nil && b.UserID == tok.UserID:
		c.finish(w, p, tok, "")
		return
	case err == nil:
		mismatch()
		return
	case !errors.Is(err, store.ErrNotFound):
		c.log.Error("reading binding", "platform", a.Platform, "chat_user", a.ChatUser, "err", err)
		page(w, http.StatusInternalServerError, "Something went wrong on our side.", "Nothing was activated. Go back to chat and try again.")
		return
	}
	if a.UserID == "" {
		c.link(w, req, p, tok) // not linked yet: the person confirms
		return
	}
	// The platform vouches for this very Entra user (Teams): linked without a page, unless the
	// Entra user is linked to another account of the platform.
	err = c.store.Bind(store.Binding{Platform: a.Platform, ChatUser: a.ChatUser, UserID: tok.UserID, UPN: tok.UPN, BoundAt: c.now().UTC()},
		store.AuditRecord{At: c.now().UTC(), Actor: a.Platform + ":" + a.ChatUser, Action: "identity.bound", Detail: tok.UserID})
	switch {
	case errors.Is(err, store.ErrIdentityTaken):
		prof, _ := c.profile(req.Context(), a)
		c.refuseTaken(req.Context(), w, a, describe(a, prof), tok, "")
		return
	case errors.Is(err, store.ErrConflict):
		mismatch()
		return
	case err != nil:
		c.log.Error("binding identity", "platform", a.Platform, "chat_user", a.ChatUser, "err", err)
		page(w, http.StatusInternalServerError, "Something went wrong on our side.", "Nothing was activated. Go back to chat and try again.")
		return
	}
	c.finish(w, p, tok, "")
}

// finish holds the token for the chat account whose sign-in produced it, tells the browser what
// happens now, and continues what the sign-in was for.
func (c *Core) finish(w http.ResponseWriter, p pendingSignIn, tok graph.UserToken, prefix string) {
	c.tokens.put(keyOf(p.actor, tok.UserID), heldToken{tok: tok, signedIn: c.now(), requestID: p.requestID})
	text := "You can close this tab and go back to chat."
	if what := c.purposeWords(p); what != "" {
		text = "Now " + what + " " + text
	}
	page(w, http.StatusOK, prefix+"You're signed in as "+tok.UPN+".", text)
	c.log.Info("signed in", "platform", p.actor.Platform, "chat_user", p.actor.ChatUser, "user_id", tok.UserID, "request_id", p.requestID)
	c.background("sign-in continuation", func(ctx context.Context) error { return c.continueAfter(ctx, p, tok.UserID, tok.UPN) })
}

func (c *Core) continueAfter(ctx context.Context, p pendingSignIn, userID, upn string) error {
	switch p.purpose {
	case forApproval:
		return c.decide(ctx, p.actor, p.requestID, p.decision, p.reason)
	case forDone, forExtend, forCancel, forConvert:
		return c.continueLifecycle(ctx, p)
	case forClick:
		return c.Click(ctx, p.actor, p.decision, p.value, p.reason)
	case forRequest:
		if r, err := c.store.Request(p.requestID); err == nil && r.Group != 0 {
			return c.signedInGroup(ctx, r.Group, userID, upn)
		}
		r, err := c.update(ctx, p.requestID, systemEvent(c.now(), "request.signed_in", userID), func(r *store.Request) error {
			if r.UserID == userID && r.UPN == upn {
				return store.ErrNoChange
			}
			r.UserID, r.UPN = userID, upn
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNoChange) {
			return err
		}
		// Who the requester is may only be known now: decide again (break-glass, contract end).
		if role := c.cfg.RoleByID(r.RoleID); role != nil {
			if refusal := c.recheck(r, role); refusal != "" {
				return c.refuse(ctx, r, refusal)
			}
		}
		return c.afterSignIn(ctx, r.ID)
	}
	return fmt.Errorf("bot: unknown sign-in purpose %d", p.purpose)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Elevate</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

func page(w http.ResponseWriter, status int, title, text string) {
	secureHeaders(w)
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct{ Title, Text string }{title, text})
}

// secureHeaders: no caching, no scripts, forms only to ourselves, never in a frame (a confirm
// button must not be clickjacked), no referrer carrying the code onwards.
func secureHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// recheck decides r again now that the requester's Entra identity is known; it returns the
// refusal in the user's words, or "" when the request may go on.
func (c *Core) recheck(r store.Request, role *policy.Role) string {
	cmd := policy.Command{Kind: policy.KindRequest, Role: role, Duration: r.Duration, Justification: r.Justification, Ticket: r.Ticket}
	dec := c.cfg.Decide(cmd, policy.Requester{ObjectID: r.UserID, UPN: r.UPN}, c.now())
	if dec.Allowed {
		return ""
	}
	if dec.Problem != nil {
		return dec.Problem.Message
	}
	return "Elevate's policy does not allow this request."
}

// refuse ends a pending request as failed because policy refuses it.
func (c *Core) refuse(ctx context.Context, r store.Request, words string) error {
	_, err := c.change(ctx, r.ID, systemEvent(c.now(), "request.refused", words), func(r *store.Request, out *outbox) error {
		if !pending(r.State) {
			return store.ErrNoChange
		}
		r.State, r.FailureCode, r.FailureMessage = store.StateFailed, "policy", words
		out.tell(*r, Message{Kind: KindResult, Text: fmt.Sprintf("%s was not activated. %s", r.RoleName, words)})
		out.cards(*r)
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	return err
}
