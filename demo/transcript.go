package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

// transcript is the demo's Messenger: it prints what each person sees and numbers every button so
// a person can click it by number.
type transcript struct {
	mu      sync.Mutex
	out     io.Writer
	now     func() time.Time
	seq     int
	buttons []shown
	msgs    map[string]bot.Message
	order   []posted
	domain  string // the simulated tenant's: demo users' emails are <user>@domain
}

// posted is where a message went, in the order sent.
type posted struct {
	platform string
	to       bot.Address
	ref      string
}

// shown is a button as it was shown to someone.
type shown struct {
	n        int
	platform string
	to       bot.Address
	button   bot.Button
	live     bool // false once the message it was on has been replaced
	ref      string
}

// The demo's chat platforms: the transcript itself is a Slack-like "demo" platform, and its
// Teams view shows what people who live in Teams see of the same Elevate (DESIGN: one Elevate
// across both platforms).
const (
	platformDemo  = "demo"
	platformTeams = "teams"
)

// view is the transcript as one more chat platform shows it; it shares the transcript's output
// and button numbers.
type view struct {
	t    *transcript
	name string
}

func (v view) Platform() string { return v.name }

func (v view) Profile(ctx context.Context, user string) (bot.Profile, error) {
	return v.t.Profile(ctx, user)
}

func (v view) Send(_ context.Context, to bot.Address, m bot.Message) (store.MessageRef, error) {
	return v.t.send(v.name, to, m)
}

func (v view) Update(_ context.Context, ref store.MessageRef, m bot.Message) error {
	return v.t.update(v.name, ref, m)
}

func newTranscript(out io.Writer, now func() time.Time) *transcript {
	return &transcript{out: out, now: now, msgs: map[string]bot.Message{}}
}

func (t *transcript) Platform() string { return "demo" }

// Profile plays the chat platform's directory: every demo user's verified email is
// <user>@domain, as in the simulated tenant.
func (t *transcript) Profile(_ context.Context, user string) (bot.Profile, error) {
	if user == "" {
		return bot.Profile{}, errors.New("demo: no user")
	}
	return bot.Profile{Name: strings.ToUpper(user[:1]) + user[1:], Handle: user, Workspace: "Contoso", Email: user + "@" + t.domain}, nil
}

func (t *transcript) Send(_ context.Context, to bot.Address, m bot.Message) (store.MessageRef, error) {
	return t.send(platformDemo, to, m)
}

func (t *transcript) Update(_ context.Context, ref store.MessageRef, m bot.Message) error {
	return t.update(platformDemo, ref, m)
}

// view returns the transcript as the named platform.
func (t *transcript) view(name string) view { return view{t: t, name: name} }

func (t *transcript) send(platform string, to bot.Address, m bot.Message) (store.MessageRef, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	ref := store.MessageRef{Platform: platform, Channel: to.Channel, MessageID: fmt.Sprintf("m%d", t.seq), At: t.now()}
	if to.Channel == "" || to.Private {
		ref.Channel = "@" + to.User
	}
	t.msgs[ref.MessageID] = m
	t.order = append(t.order, posted{platform: platform, to: to, ref: ref.MessageID})
	t.print(platform, audience(to), "", ref.MessageID, to, m)
	return ref, nil
}

func (t *transcript) update(platform string, ref store.MessageRef, m bot.Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.msgs[ref.MessageID]; !ok {
		return fmt.Errorf("demo: no message %s to update", ref.MessageID)
	}
	t.msgs[ref.MessageID] = m
	for i := range t.buttons {
		if t.buttons[i].ref == ref.MessageID {
			t.buttons[i].live = false
		}
	}
	t.print(platform, ref.Channel, " (updated in place)", ref.MessageID, bot.Address{Channel: ref.Channel}, m)
	return nil
}

func audience(to bot.Address) string {
	switch {
	case to.Private && to.Channel != "":
		return to.User + ", only you, in " + to.Channel
	case to.Private || to.Channel == "":
		return to.User + ", direct message"
	}
	return to.Channel
}

func (t *transcript) print(platform, where, note, ref string, to bot.Address, m bot.Message) {
	var b strings.Builder
	from := "Elevate"
	if platform == platformTeams {
		from = "Elevate in Teams"
	}
	fmt.Fprintf(&b, "    ┌ %s → %s%s\n", from, where, note)
	if m.Title != "" {
		fmt.Fprintf(&b, "    │ *%s*\n", m.Title)
	}
	for _, line := range strings.Split(m.Text, "\n") {
		if line != "" {
			fmt.Fprintf(&b, "    │ %s\n", line)
		}
	}
	for _, f := range m.Fields {
		fmt.Fprintf(&b, "    │   %-14s %s\n", f.Label+":", f.Value)
	}
	if m.Footer != "" {
		fmt.Fprintf(&b, "    │ _%s_\n", m.Footer)
	}
	if len(m.Buttons) > 0 {
		var labels []string
		for _, btn := range m.Buttons {
			n := len(t.buttons) + 1
			t.buttons = append(t.buttons, shown{n: n, platform: platform, to: to, button: btn, live: true, ref: ref})
			label := fmt.Sprintf("[%d %s]", n, btn.Label)
			if btn.URL != "" {
				label = fmt.Sprintf("[%d %s ↗]", n, btn.Label)
			}
			labels = append(labels, label)
		}
		fmt.Fprintf(&b, "    │ %s\n", strings.Join(labels, " "))
	}
	b.WriteString("    └\n")
	io.WriteString(t.out, b.String())
}

// button returns button n if it is still on screen.
func (t *transcript) button(n int) (shown, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n < 1 || n > len(t.buttons) || !t.buttons[n-1].live {
		return shown{}, false
	}
	return t.buttons[n-1], true
}

// last finds the newest live button with action a that user can see on the demo platform (their
// own messages and channel posts).
func (t *transcript) last(user string, a bot.Action) (shown, bool) {
	return t.lastOn(platformDemo, user, a)
}

// lastOn is last on the given platform.
func (t *transcript) lastOn(platform, user string, a bot.Action) (shown, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.buttons) - 1; i >= 0; i-- {
		s := t.buttons[i]
		if !s.live || s.button.Action != a || s.platform != platform {
			continue
		}
		if s.to.User == user || (!s.to.Private && s.to.Channel != "") {
			return s, true
		}
	}
	return shown{}, false
}

func (t *transcript) say(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, format, args...)
}

// seen returns the text of every message shown to user privately, updates applied.
func (t *transcript) seen(user string) []string {
	return t.texts(func(to bot.Address) bool { return to.User == user && (to.Private || to.Channel == "") })
}

// channel returns the text of every message posted in channel, updates applied.
func (t *transcript) channel(channel string) []string {
	return t.texts(func(to bot.Address) bool { return to.Channel == channel && !to.Private })
}

// texts returns what the demo platform showed where match says, updates applied.
func (t *transcript) texts(match func(bot.Address) bool) []string {
	return t.textsOn(platformDemo, match)
}

func (t *transcript) textsOn(platform string, match func(bot.Address) bool) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, p := range t.order {
		if p.platform == platform && match(p.to) {
			out = append(out, plain(t.msgs[p.ref]))
		}
	}
	return out
}

// plain is a message as one string, for assertions.
func plain(m bot.Message) string {
	parts := []string{m.Title, m.Text}
	for _, f := range m.Fields {
		parts = append(parts, f.Label+": "+f.Value)
	}
	parts = append(parts, m.Footer)
	return strings.TrimSpace(strings.Join(parts, "\n"))
}
