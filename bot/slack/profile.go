package slack

import (
	"context"
	"fmt"
	"sync"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
)

var _ bot.Profiler = (*Adapter)(nil)

// Profile implements bot.Profiler: the member's names and the workspace's (users.info,
// auth.test), and the profile email only when Slack marks it confirmed (is_email_confirmed,
// scope users:read.email). It is read fresh each time: it decides whether a Slack account may
// be linked to a Microsoft account, so a cached email will not do.
func (a *Adapter) Profile(ctx context.Context, user string) (bot.Profile, error) {
	var u *slackapi.User
	err := a.call(ctx, "users.info", func() (err error) {
		u, err = a.api.GetUserInfoContext(ctx, user)
		return err
	})
	if err != nil {
		return bot.Profile{}, fmt.Errorf("slack: users.info %s: %w", user, err)
	}
	p := bot.Profile{Name: u.Profile.DisplayName, Handle: u.Name}
	if p.Name == "" {
		p.Name = u.RealName
	}
	if u.IsEmailConfirmed && !u.Deleted && !u.IsBot {
		p.Email = u.Profile.Email
	}
	p.Workspace = a.workspace(ctx)
	return p, nil
}

// workspaceName caches the workspace's name (auth.test) once it was read.
type workspaceName struct {
	mu   sync.Mutex
	name string
}

// workspace is the workspace's name, "" when Slack cannot say just now.
func (a *Adapter) workspace(ctx context.Context) string {
	w := &a.team
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.name != "" {
		return w.name
	}
	var res *slackapi.AuthTestResponse
	err := a.call(ctx, "auth.test", func() (err error) {
		res, err = a.api.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		a.log.Warn("auth.test failed; no workspace name", "err", err)
		return ""
	}
	w.name = res.Team
	return w.name
}
