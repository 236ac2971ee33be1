package bot

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// AuthCallback serves /auth/callback, where Microsoft Entra sends the user's browser after
// sign-in. It exchanges the code (PKCE), binds the chat user to the Entra user on first sign-in,
// and continues whatever the sign-in was for in the background.
func (c *Core) AuthCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		q := req.URL.Query()
		p, ok := c.signins.take(q.Get("state"))
		if !ok {
			page(w, http.StatusBadRequest, "This sign-in link has expired or was already used.", "Go back to chat and ask again; your request is kept.")
			return
		}
		if e := q.Get("error"); e != "" {
			// error_description comes from Entra; it is shown escaped and only to this browser.
			c.log.Warn("sign-in returned an error", "platform", p.actor.Platform, "chat_user", p.actor.ChatUser, "error", e)
			page(w, http.StatusBadRequest, "Sign-in did not complete.", q.Get("error_description"))
			c.send(req.Context(), p.actor.Platform, DM(p.actor.ChatUser), Message{Kind: KindError, RequestID: p.requestID,
				Text: "Your Microsoft sign-in did not complete (" + e + "). Nothing was activated; ask again when you are ready."})
			return
		}
		tok, err := c.graph.CompleteSignIn(req.Context(), q.Get("code"), p.verifier, p.claims)
		if err != nil {
			c.log.Error("completing sign-in", "platform", p.actor.Platform, "chat_user", p.actor.ChatUser, "err", err)
			page(w, http.StatusBadGateway, "Sign-in could not be completed.", "Microsoft Entra did not accept the sign-in. Go back to chat and try again.")
			return
		}
		if err := c.bind(req.Context(), p.actor, tok.UserID, tok.UPN); err != nil {
			if errors.Is(err, errBindingMismatch) {
				page(w, http.StatusForbidden, "This Microsoft account does not match your chat account.", "Your chat account is linked to a different Microsoft account. The security team has been told.")
				return
			}
			c.log.Error("binding identity", "platform", p.actor.Platform, "chat_user", p.actor.ChatUser, "err", err)
			page(w, http.StatusInternalServerError, "Something went wrong on our side.", "Nothing was activated. Go back to chat and try again.")
			return
		}
		c.tokens.put(keyOf(p.actor, tok.UserID), heldToken{tok: tok, signedIn: c.now(), requestID: p.requestID})
		page(w, http.StatusOK, "You're signed in as "+tok.UPN+".", "You can close this tab and go back to chat.")
		c.log.Info("signed in", "platform", p.actor.Platform, "chat_user", p.actor.ChatUser, "user_id", tok.UserID, "request_id", p.requestID)
		c.background("sign-in continuation", func(ctx context.Context) error { return c.continueAfter(ctx, p, tok.UserID, tok.UPN) })
	})
}

// bind links the chat user to the Entra user who signed in; a different user than before (or
// than Teams vouched for) is refused and alerted.
func (c *Core) bind(ctx context.Context, a Actor, userID, upn string) error {
	if a.UserID != "" && a.UserID != userID {
		c.alertMismatch(ctx, a, upn)
		return errBindingMismatch
	}
	err := c.store.Bind(store.Binding{Platform: a.Platform, ChatUser: a.ChatUser, UserID: userID, UPN: upn, BoundAt: c.now().UTC()},
		store.AuditRecord{At: c.now().UTC(), Actor: a.Platform + ":" + a.ChatUser, Action: "identity.bound", Detail: userID})
	if errors.Is(err, store.ErrConflict) {
		c.alertMismatch(ctx, a, upn)
		return errBindingMismatch
	}
	return err
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
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct{ Title, Text string }{title, text})
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
	r, err := c.update(ctx, r.ID, systemEvent(c.now(), "request.refused", words), func(r *store.Request) error {
		if !pending(r.State) {
			return store.ErrNoChange
		}
		r.State, r.FailureCode, r.FailureMessage = store.StateFailed, "policy", words
		return nil
	})
	if errors.Is(err, store.ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	c.tell(ctx, r, Message{Kind: KindResult, Text: fmt.Sprintf("%s was not activated. %s", r.RoleName, words)})
	c.refreshCards(ctx, r)
	return nil
}
