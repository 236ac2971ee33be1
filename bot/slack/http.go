package slack

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// MaxBody bounds what Slack may send in one request (real payloads are a few kB); a standby
// forwards no more to the leader.
const MaxBody = 1 << 20

// Commands serves /slack/commands, the slash command's request URL.
func (a *Adapter) Commands() http.Handler {
	return a.verified(func(w http.ResponseWriter, r *http.Request, body []byte) {
		cmd, err := slackapi.SlashCommandParse(r)
		if err != nil {
			http.Error(w, "bad slash command", http.StatusBadRequest)
			return
		}
		key := cmp.Or(commandKey(cmd), requestKey(r.Header, body))
		if oc := a.onceCore(); oc != nil && key != "" && strings.TrimSpace(cmd.Text) != "" {
			// The core records the key itself: for a command that creates a request, in the
			// request's own transaction (one commit before the acknowledgement, not two).
			ak, replay := a.commandOnce(oc, cmd, key)
			if replay {
				a.log.Warn("slack: request or action already handled; ignored", "kind", keyKind(key))
				w.WriteHeader(http.StatusOK)
				return
			}
			a.answer(w, ak)
			return
		}
		if !a.firstHTTP(w, key) {
			return
		}
		a.answer(w, a.command(cmd))
	})
}

// Interactivity serves /slack/interactivity: button clicks and modal submissions.
func (a *Adapter) Interactivity() http.Handler {
	return a.verified(func(w http.ResponseWriter, r *http.Request, body []byte) {
		ic, err := slackapi.InteractionCallbackParse(r)
		if err != nil {
			http.Error(w, "bad interaction payload", http.StatusBadRequest)
			return
		}
		if !a.firstHTTP(w, cmp.Or(interactionKey(ic), requestKey(r.Header, body))) {
			return
		}
		a.answer(w, a.interaction(ic))
	})
}

// Events serves /slack/events, the Events API request URL: its url_verification handshake and
// the app_home_opened event. Slack retries an event it thinks was lost (X-Slack-Retry-Num); an
// event id seen before is acknowledged and dropped.
func (a *Adapter) Events() http.Handler {
	return a.verified(func(w http.ResponseWriter, r *http.Request, body []byte) {
		var outer struct {
			Type      string `json:"type"`
			Challenge string `json:"challenge"`
			EventID   string `json:"event_id"`
		}
		if err := json.Unmarshal(body, &outer); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		if outer.Type == slackevents.URLVerification {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, outer.Challenge)
			return
		}
		key := requestKey(r.Header, body)
		if outer.EventID != "" {
			key = "slack:event:" + outer.EventID
		}
		if !a.firstHTTP(w, key) {
			return
		}
		ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
		if err != nil {
			// An event type slack-go does not know: acknowledge, or Slack retries it.
			w.WriteHeader(http.StatusOK)
			return
		}
		a.answer(w, a.event(ev))
	})
}

// verified checks a request's signature (read the body, verify, restore it). The handlers drop
// replays: each records one key per request, what it handles (the command's trigger_id, the
// interaction, the event id), else the signed timestamp and body (requestKey). Every such key is
// read from the signed body, so the same signed request again inside the window, however its
// signature header is spelled, is acknowledged and ignored; and one key means one write (and
// fsync) before the acknowledgement instead of two in a row.
func (a *Adapter) verified(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if a.secret == "" {
			http.Error(w, "Slack signing secret not configured", http.StatusServiceUnavailable)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if len(body) > MaxBody {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := verify(r.Header, body, a.secret); err != nil {
			a.log.Warn("slack request refused", "path", r.URL.Path, "err", err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next(w, r, body)
	})
}

// firstHTTP reports whether key (a request, a user action, an event) is handled for the first
// time. When it is not, it has answered: 200 for a repeat (Slack must not retry it), 500 when
// the store could not say (nothing was done; Slack or the user may try again).
func (a *Adapter) firstHTTP(w http.ResponseWriter, key string) bool {
	first, err := a.first(key)
	switch {
	case err != nil:
		http.Error(w, "could not record the request", http.StatusInternalServerError)
	case !first:
		w.WriteHeader(http.StatusOK)
	}
	return first && err == nil
}

// first records key as handled and reports whether it is new; "" is always new (nothing to
// tell it by). A store failure is logged and returned: the caller does nothing.
func (a *Adapter) first(key string) (bool, error) {
	if key == "" {
		return true, nil
	}
	first, err := a.replays.FirstSeen(key, time.Now(), replayWindow)
	if err != nil {
		a.log.Error("slack: recording what was handled", "err", err)
		return false, err
	}
	if !first {
		a.log.Warn("slack: request or action already handled; ignored", "kind", keyKind(key))
	}
	return first, nil
}

// keyKind is the kind of a replay key (request, cmd, trigger, view, action, event), for the log.
func keyKind(key string) string {
	rest, _ := strings.CutPrefix(key, "slack:")
	kind, _, _ := strings.Cut(rest, ":")
	return kind
}

// Verify checks a request's Slack signature as the adapter's HTTP handlers do, for a process
// that forwards Slack's requests to the one that handles them (a standby): it writes nothing
// anywhere for a request Slack did not sign.
func Verify(h http.Header, body []byte, secret string) error { return verify(h, body, secret) }

// verify checks Slack's request signature: HMAC-SHA256 over "v0:<timestamp>:<body>" with the
// signing secret, and a timestamp within five minutes of now.
func verify(h http.Header, body []byte, secret string) error {
	sv, err := slackapi.NewSecretsVerifier(h, secret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	if err := sv.Ensure(); err != nil {
		return err
	}
	return nil
}

// answer writes the acknowledgement, then starts what comes after it.
func (a *Adapter) answer(w http.ResponseWriter, ak ack) {
	release := a.hold()
	defer release()
	if ak.body != nil {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(ak.body); err != nil {
			a.log.Error("writing slack acknowledgement", "err", err)
		}
	} else {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if ak.then != nil {
		ak.then()
	}
}
