package slack

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
)

var _ bot.UserFinder = (*Adapter)(nil)

// How long users.lookupByEmail answers are remembered: a found member for an hour, "nobody has
// that email" for ten minutes (someone may join the workspace).
const (
	findTTL     = time.Hour
	findMissTTL = 10 * time.Minute
)

// FindUser implements bot.UserFinder: the Slack member whose profile email is the Entra user's
// UPN (users.lookupByEmail, scope users:read.email). Deleted members and bots are not matches.
//
// The email only says where to reach a person who never used Elevate (a review prompt in a
// direct message). It never binds identity: who a Slack user is in Entra is decided by their
// own Microsoft sign-in, as everywhere else in Elevate, and a profile email is something a
// workspace lets people edit.
func (a *Adapter) FindUser(ctx context.Context, _, upn string) (string, bool, error) {
	email := strings.ToLower(strings.TrimSpace(upn))
	if email == "" || !strings.Contains(email, "@") {
		return "", false, nil
	}
	if user, ok := a.finds.get(email); ok {
		return user, user != "", nil
	}
	var u *slackapi.User
	err := a.call(ctx, "users.lookupByEmail", func() (err error) {
		u, err = a.api.GetUserByEmailContext(ctx, email)
		return err
	})
	var se slackapi.SlackErrorResponse
	switch {
	case errors.As(err, &se) && se.Err == "users_not_found":
		a.finds.put(email, "", findMissTTL)
		return "", false, nil
	case err != nil:
		return "", false, err
	case u == nil || u.ID == "" || u.Deleted || u.IsBot:
		a.finds.put(email, "", findMissTTL)
		return "", false, nil
	}
	a.finds.put(email, u.ID, findTTL)
	return u.ID, true, nil
}

// findCache remembers short answers until they expire, bounded: users.lookupByEmail (email →
// Slack user id, "" for nobody) and users.info (user → email, the login hint).
type findCache struct {
	mu  sync.Mutex
	m   map[string]findEntry
	max int
	now func() time.Time
}

type findEntry struct {
	user    string
	expires time.Time
}

func newFindCache(max int) *findCache {
	return &findCache{m: map[string]findEntry{}, max: max, now: time.Now}
}

func (c *findCache) get(email string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[email]
	if !ok || !c.now().Before(e.expires) {
		return "", false
	}
	return e.user, true
}

func (c *findCache) put(email, user string, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m) // cheap to look up again
		}
	}
	c.m[email] = findEntry{user, now.Add(ttl)}
}
