package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/elevate-pim/elevate/bot"
)

// ack is the answer to one request from Slack: body is sent at once (nil for an empty 200),
// then runs after it has been sent.
type ack struct {
	body any
	then func()
}

// Callback ids of Elevate's modals and the action id of App Home's request buttons.
const (
	callbackRequest = "elevate_request"
	callbackDeny    = "elevate_deny"
	actionRequest   = "request"
)

// responseURLUses and responseURLLife are Slack's limits on one response_url.
const (
	responseURLUses = 5
	responseURLLife = 30 * time.Minute
)

// origin is the interaction a job answers: private replies to its user in its channel go
// through its response_url while that still works.
type origin struct {
	user, channel, responseURL string
	expires                    time.Time

	mu   sync.Mutex
	uses int
}

func newOrigin(user, channel, responseURL string) *origin {
	return &origin{user: user, channel: channel, responseURL: responseURL, expires: time.Now().Add(responseURLLife - time.Minute)}
}

func (o *origin) takeResponse() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.responseURL == "" || o.uses >= responseURLUses || time.Now().After(o.expires) {
		return false
	}
	o.uses++
	return true
}

type originKey struct{}

func withOrigin(ctx context.Context, o *origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

func originFrom(ctx context.Context) *origin {
	o, _ := ctx.Value(originKey{}).(*origin)
	return o
}

// meta is what a modal carries in its private_metadata: where it was opened from, so the
// replies to its submission land there, and the request a Deny is about.
type meta struct {
	Channel     string `json:"c,omitempty"`
	ResponseURL string `json:"r,omitempty"`
	Request     string `json:"id,omitempty"`
}

func (m meta) encode() string {
	b, _ := json.Marshal(m)
	if len(b) > maxMetadata {
		m.ResponseURL = ""
		b, _ = json.Marshal(m)
	}
	return string(b)
}

func decodeMeta(s string) meta {
	var m meta
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

func ephemeral(text string) map[string]any {
	return map[string]any{"response_type": "ephemeral", "text": text}
}

const notReady = "Elevate is starting up; try again in a moment."

// actor is who typed or clicked, with the email Slack knows as a login hint.
func (a *Adapter) actor(user, name, channel string) bot.Actor {
	return bot.Actor{Platform: Platform, ChatUser: user, Name: name, Channel: channel, EmailHint: a.hint(user)}
}

// command handles /elevate: alone it opens the request modal, otherwise the text is accepted
// (persisted) before the acknowledgement and the job runs after it.
func (a *Adapter) command(cmd slackapi.SlashCommand) ack {
	core := a.getCore()
	if core == nil {
		return ack{body: ephemeral(notReady)}
	}
	o := newOrigin(cmd.UserID, cmd.ChannelID, cmd.ResponseURL)
	actor := a.actor(cmd.UserID, cmd.UserName, cmd.ChannelID)
	text := strings.TrimSpace(cmd.Text)
	if text == "" {
		return ack{then: func() {
			a.runJob(o, "request modal", func(ctx context.Context) error {
				return a.openRequestModal(ctx, core, actor, cmd.TriggerID, "", meta{Channel: o.channel, ResponseURL: o.responseURL})
			})
		}}
	}
	job, err := core.Accept(actor, text)
	return a.accepted(o, cmd, job, err)
}

// onceCore is the core when it is also the adapter's Replays and can record a command's replay
// key itself (see bot.Core.AcceptOnce); nil otherwise.
func (a *Adapter) onceCore() OnceCore {
	core := a.getCore()
	oc, ok := core.(OnceCore)
	if !ok || core == nil || any(a.replays) != any(core) {
		return nil
	}
	return oc
}

// commandOnce is command for a non-empty text, the core recording key: replay reports a repeat.
func (a *Adapter) commandOnce(core OnceCore, cmd slackapi.SlashCommand, key string) (ak ack, replay bool) {
	o := newOrigin(cmd.UserID, cmd.ChannelID, cmd.ResponseURL)
	actor := a.actor(cmd.UserID, cmd.UserName, cmd.ChannelID)
	job, err := core.AcceptOnce(actor, strings.TrimSpace(cmd.Text), bot.Once{Key: key, At: time.Now(), Window: replayWindow})
	if errors.Is(err, bot.ErrReplay) {
		return ack{}, true
	}
	return a.accepted(o, cmd, job, err), false
}

// accepted is the acknowledgement of an accepted command.
func (a *Adapter) accepted(o *origin, cmd slackapi.SlashCommand, job bot.Job, err error) ack {
	if err != nil {
		a.log.Error("accepting a command", "user", cmd.UserID, "err", err)
		return ack{body: ephemeral("Something went wrong on our side; nothing was saved. Please try again in a minute.")}
	}
	return ack{then: func() { a.runJob(o, "command", job) }}
}

// interaction handles button clicks and modal submissions.
func (a *Adapter) interaction(ic slackapi.InteractionCallback) ack {
	core := a.getCore()
	if core == nil {
		return ack{}
	}
	switch ic.Type {
	case slackapi.InteractionTypeBlockActions:
		if len(ic.ActionCallback.BlockActions) == 0 || ic.User.ID == "" {
			return ack{}
		}
		act := ic.ActionCallback.BlockActions[0]
		channel := ic.Channel.ID
		if channel == "" {
			channel = ic.Container.ChannelID
		}
		o := newOrigin(ic.User.ID, channel, ic.ResponseURL)
		actor := a.actor(ic.User.ID, userName(ic.User), channel)
		m := meta{Channel: channel, ResponseURL: ic.ResponseURL, Request: act.Value}
		switch action := actionOf(act.ActionID); action {
		case bot.ActionOpenURL, "":
			return ack{} // a link button: Slack opened the link
		case actionRequest:
			m.Request = ""
			return ack{then: func() {
				a.runJob(o, "request modal", func(ctx context.Context) error {
					return a.openRequestModal(ctx, core, actor, ic.TriggerID, act.Value, m)
				})
			}}
		case bot.ActionDeny:
			// Ask for a reason first; the decision is made when the modal is submitted.
			return ack{then: func() {
				a.runJob(o, "deny modal", func(ctx context.Context) error {
					return a.openView(ctx, ic.TriggerID, denyModal(act.Value, m))
				})
			}}
		default:
			return ack{then: func() {
				a.runJob(o, "click "+string(action), func(ctx context.Context) error {
					return core.Click(ctx, actor, action, act.Value, "")
				})
			}}
		}
	case slackapi.InteractionTypeViewSubmission:
		m := decodeMeta(ic.View.PrivateMetadata)
		o := newOrigin(ic.User.ID, m.Channel, m.ResponseURL)
		actor := a.actor(ic.User.ID, userName(ic.User), m.Channel)
		switch ic.View.CallbackID {
		case callbackRequest:
			f := formOf(ic.View.State)
			if errs := core.CheckForm(actor, f); len(errs) > 0 {
				return ack{body: slackapi.NewErrorsViewSubmissionResponse(errs)}
			}
			job, err := core.SubmitForm(actor, f)
			if err != nil {
				a.log.Error("accepting a form", "user", ic.User.ID, "err", err)
				return ack{body: slackapi.NewErrorsViewSubmissionResponse(map[string]string{bot.FieldRole: "Something went wrong on our side; nothing was saved. Please try again."})}
			}
			return ack{then: func() { a.runJob(o, "form", job) }}
		case callbackDeny:
			reason := strings.TrimSpace(stateValue(ic.View.State, "reason", "reason"))
			return ack{then: func() {
				a.runJob(o, "deny", func(ctx context.Context) error {
					return core.Click(ctx, actor, bot.ActionDeny, m.Request, reason)
				})
			}}
		}
	}
	return ack{}
}

// event handles an Events API event (over HTTP or Socket Mode): App Home openings, and the bot
// being invited to a channel (the outbox then delivers at once what it held for that channel).
func (a *Adapter) event(ev slackevents.EventsAPIEvent) ack {
	if ev.Type != slackevents.CallbackEvent {
		return ack{}
	}
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.MemberJoinedChannelEvent:
		if e.User == "" {
			return ack{}
		}
		return ack{then: func() {
			a.runJob(nil, "member joined", func(ctx context.Context) error { return a.joined(ctx, e.User, e.Channel) })
		}}
	case *slackevents.AppHomeOpenedEvent:
		if e.Tab != "home" || e.User == "" {
			return ack{}
		}
		return ack{then: func() {
			a.runJob(nil, "app home", func(ctx context.Context) error { a.homes.opened(ctx, e.User); return nil })
		}}
	}
	return ack{}
}

// TargetWatcher is an optional Core capability: being told that a chat target may have become
// known, so that messages held for it are delivered at once (bot.Core.TargetsChanged).
type TargetWatcher interface {
	TargetsChanged()
}

// joined handles member_joined_channel: when the member is the bot itself, the channel just
// became a place it can post in.
func (a *Adapter) joined(ctx context.Context, user, channel string) error {
	me, err := a.self(ctx)
	if err != nil {
		return fmt.Errorf("auth.test, to tell whether the bot joined %s: %w", channel, err)
	}
	if user != me.userID {
		return nil
	}
	a.log.Info("slack: invited to a channel; delivering what waited for it", "channel", channel)
	if w, ok := a.getCore().(TargetWatcher); ok {
		w.TargetsChanged()
	}
	return nil
}

func userName(u slackapi.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}

func formOf(st *slackapi.ViewState) bot.Form {
	role := ""
	if st != nil {
		if v, ok := st.Values[bot.FieldRole][bot.FieldRole]; ok {
			role = v.SelectedOption.Value // a single select (a modal opened before multi-select)
			var picked []string
			for _, o := range v.SelectedOptions {
				picked = append(picked, o.Value)
			}
			if len(picked) > 0 {
				role = strings.Join(picked, ",")
			}
		}
	}
	return bot.Form{
		Role:          role,
		Duration:      stateValue(st, bot.FieldDuration, bot.FieldDuration),
		Justification: stateValue(st, bot.FieldJustification, bot.FieldJustification),
		Ticket:        stateValue(st, bot.FieldTicket, bot.FieldTicket),
	}
}

func stateValue(st *slackapi.ViewState, block, action string) string {
	if st == nil {
		return ""
	}
	return st.Values[block][action].Value
}

// hint is the user's email as Slack knows it, a login hint only (DESIGN §2). A first contact
// waits briefly for users.info; the answer is cached either way.
func (a *Adapter) hint(user string) string {
	if email, ok := a.hints.get(user); ok {
		return email
	}
	done := make(chan string, 1)
	started := a.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		u, err := a.api.GetUserInfoContext(ctx, user)
		email := ""
		if err != nil {
			a.log.Warn("users.info failed; no login hint", "user", user, "err", err)
		} else {
			email = u.Profile.Email
		}
		a.hints.put(user, email, time.Hour)
		done <- email
	})
	if !started {
		return ""
	}
	t := time.NewTimer(a.hintTO)
	defer t.Stop()
	select {
	case email := <-done:
		return email
	case <-t.C:
		return ""
	}
}
