package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/elevate-pim/elevate/store"
)

// A burst of failed or refused activations by one person may be a compromised account or a
// confused user (the PIM rollout guide). When a person's failures and denials within the
// configured window reach the threshold, the security channel is told, once per burst: the
// burst is named by its oldest failure in the window, so a burst that goes on after that one
// leaves the window is told again.
func (c *Core) failureBurst(ctx context.Context, r store.Request) {
	fa := c.cfg.FailureAlert
	if fa.Count == 0 || (r.State != store.StateFailed && r.State != store.StateDenied) {
		return
	}
	// The person: their Entra identity once known, else the chat account (a user never signed in).
	f, person := store.Filter{UserID: r.UserID}, r.UserID
	if r.UserID == "" {
		f, person = store.Filter{Platform: r.Platform, ChatUser: r.ChatUser}, r.Platform+":"+r.ChatUser
	}
	f.States = []store.State{store.StateFailed, store.StateDenied}
	rs, err := c.store.Requests(f)
	if err != nil {
		c.log.Error("counting failed activations", "user_id", r.UserID, "err", err)
		return
	}
	since := c.now().Add(-fa.Within)
	var recent []store.Request
	for _, x := range rs {
		if !x.UpdatedAt.Before(since) {
			recent = append(recent, x)
		}
	}
	if len(recent) < fa.Count {
		return
	}
	first, err := c.store.Once(fmt.Sprintf("failure-burst:%s:%d", person, recent[0].ID), c.now())
	if err != nil || !first {
		return
	}
	var what []string
	for _, x := range recent {
		why := x.FailureMessage
		if x.State == store.StateDenied {
			why = "denied by an approver"
		}
		if len(why) > 90 {
			why = why[:87] + "…"
		}
		what = append(what, fmt.Sprintf("#%d %s: %s", x.ID, x.RoleName, why))
	}
	who := r.UPN
	if who == "" { // not signed in yet: the chat account, never its email hint, names them
		who = fmt.Sprintf("%s user %s", platformName(r.Platform), cmpOr(r.ChatName, r.ChatUser))
	}
	text := fmt.Sprintf("%d failed or refused activations by %s in the last %s — a compromised account or a confused user? %s",
		len(recent), who, hm(fa.Within), strings.Join(what, "; "))
	ev := systemEvent(c.now(), "alert.failure_burst", fmt.Sprintf("%s: %d within %s", who, len(recent), hm(fa.Within)))
	_ = c.enqueue(ctx, &ev, func(out *outbox) error {
		out.alert(r.Platform, Message{Kind: KindAlert, Text: text})
		return nil
	})
}
