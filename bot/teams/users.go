package teams

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/store"
)

var _ bot.UserFinder = (*Adapter)(nil)

// How long member lookups are remembered: a found member for an hour, "not a member of any team
// Elevate is in" for ten minutes (someone may join a team).
const (
	findTTL     = time.Hour
	findMissTTL = 10 * time.Minute
)

// FindUser implements bot.UserFinder: the Teams user of an Entra user, by object id (or UPN),
// so that a user who never wrote to Elevate can get a direct message (a review prompt).
//
// A user who wrote to Elevate is found in the stored conversation references (Teams vouched
// for their aadObjectId). Anyone else is looked up in the teams Elevate is installed in (GET
// /v3/conversations/{team}/members/{aadObjectId or UPN}); a member found there gets a stored
// reference, so that Send can open a 1:1 chat with them. Answers are cached; a failure is an
// error, not "nobody", and is not cached.
//
// Finding a user only says where to reach them: it binds nothing. Who a Teams user is in Entra
// is what Teams says on each activity they send.
func (a *Adapter) FindUser(ctx context.Context, userID, upn string) (string, bool, error) {
	oid := strings.ToLower(strings.TrimSpace(userID))
	upn = strings.ToLower(strings.TrimSpace(upn))
	if !strings.Contains(upn, "@") {
		upn = ""
	}
	if oid == "" && upn == "" {
		return "", false, nil
	}
	convs, err := a.o.Conversations.Conversations(Platform)
	if err != nil {
		return "", false, err
	}
	if oid != "" {
		if user := storedUser(convs, oid); user != "" {
			return user, true, nil
		}
	}
	var firstErr error
	for _, key := range []string{keyOID(oid), keyUPN(upn)} {
		if key == "" {
			continue
		}
		if m, ok := a.members.get(key); ok {
			if m.ID != "" {
				return m.ID, true, nil
			}
			continue // nobody, recently
		}
		lookup := oid
		if key == keyUPN(upn) {
			lookup = upn
		}
		m, found, err := a.lookupMember(ctx, convs, lookup)
		switch {
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
		case !found:
			a.members.put(key, Member{}, findMissTTL)
		default:
			return m.ID, true, nil
		}
	}
	return "", false, firstErr
}

// storedUser is the Teams user whose stored reference carries object id oid.
func storedUser(convs []store.Conversation, oid string) string {
	user := ""
	for _, c := range convs {
		if strings.HasPrefix(c.Key, userKeyPrefix) && c.UserID != "" && strings.EqualFold(c.UserObjectID, oid) {
			if c.ConversationID != "" {
				return c.UserID // one with a 1:1 chat already
			}
			user = c.UserID
		}
	}
	return user
}

// team is a team Elevate is installed in, where members can be looked up.
type team struct{ id, serviceURL, botID string }

func teamsOf(convs []store.Conversation) []team {
	var out []team
	seen := map[string]bool{}
	for _, c := range convs {
		if c.TeamID == "" || c.ServiceURL == "" || seen[c.TeamID] {
			continue
		}
		seen[c.TeamID] = true
		out = append(out, team{id: c.TeamID, serviceURL: c.ServiceURL, botID: c.BotID})
	}
	return out
}

// lookupMember asks each team for the member id (an aadObjectId or a UPN). Not found is found
// false with no error only when every team said so.
func (a *Adapter) lookupMember(ctx context.Context, convs []store.Conversation, id string) (Member, bool, error) {
	var firstErr error
	for _, t := range teamsOf(convs) {
		m, err := a.conn.GetMember(ctx, t.serviceURL, t.id, id)
		var ce *Error
		if errors.As(err, &ce) && (ce.Status == http.StatusNotFound || ce.Status == http.StatusForbidden) {
			continue // not in this team (or the app was removed from it)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !a.plausible(m, id) {
			continue
		}
		a.remember(m)
		a.keepReference(t, m)
		return m, true, nil
	}
	return Member{}, false, firstErr
}

// plausible checks that m is a user of our tenant and the one asked for.
func (a *Adapter) plausible(m Member, asked string) bool {
	if m.ID == "" || (m.TenantID != "" && !strings.EqualFold(m.TenantID, a.o.TenantID)) {
		return false
	}
	return strings.EqualFold(asked, m.AadObjectID) || strings.EqualFold(asked, m.UserPrincipalName) ||
		strings.EqualFold(asked, m.Email) || asked == m.ID
}

// remember caches m under every name it can be asked by.
func (a *Adapter) remember(m Member) {
	for _, k := range []string{keyID(m.ID), keyOID(m.AadObjectID), keyUPN(m.UserPrincipalName), keyUPN(m.Email)} {
		if k != "" {
			a.members.put(k, m, findTTL)
		}
	}
}

// keepReference stores where to open a 1:1 chat with a member found in team t, unless Teams
// gave us a reference for them already.
func (a *Adapter) keepReference(t team, m Member) {
	if _, err := a.o.Conversations.Conversation(Platform, userKeyPrefix+m.ID); err == nil {
		return
	}
	a.put(store.Conversation{Platform: Platform, Key: userKeyPrefix + m.ID, ServiceURL: t.serviceURL, TenantID: a.o.TenantID,
		Type: "personal", UserID: m.ID, UserObjectID: m.AadObjectID, BotID: firstNonEmpty(t.botID, a.botID)})
}

func keyID(id string) string {
	if id == "" {
		return ""
	}
	return "id:" + id
}

func keyOID(oid string) string {
	if oid == "" {
		return ""
	}
	return "oid:" + strings.ToLower(oid)
}

func keyUPN(upn string) string {
	if upn == "" || !strings.Contains(upn, "@") {
		return ""
	}
	return "upn:" + strings.ToLower(upn)
}

// hint is the sender's UPN (or email) as Teams knows it, for bot.Actor.EmailHint: a login hint
// only. Activities don't carry it; a first contact waits up to HintWait for the member lookup,
// whose answer is cached either way.
func (a *Adapter) hint(act schema.Activity, in inbound) string {
	user := act.From.ID
	if user == "" || act.ServiceURL == "" || act.Conversation.ID == "" {
		return ""
	}
	if m, ok := a.members.get(keyID(user)); ok {
		return memberHint(m)
	}
	conv := firstNonEmpty(in.ChannelData.Team.ID, baseConversation(act.Conversation.ID))
	done := make(chan string, 1)
	a.background("teams member", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		m, err := a.conn.GetMember(ctx, act.ServiceURL, conv, user)
		var ce *Error
		switch {
		case err == nil && a.plausible(m, user):
			a.remember(m)
		case err == nil, errors.As(err, &ce) && ce.Status == http.StatusNotFound:
			m = Member{}
			a.members.put(keyID(user), m, findMissTTL)
		default:
			// Not worth retrying on every message while the connector is unwell.
			a.log.Warn("teams: member lookup failed; no login hint", "chat_user", user, "err", err)
			m = Member{}
			a.members.put(keyID(user), m, findMissTTL)
		}
		done <- memberHint(m)
		return nil
	})
	t := time.NewTimer(a.o.HintWait)
	defer t.Stop()
	select {
	case h := <-done:
		return h
	case <-t.C:
		return ""
	}
}

func memberHint(m Member) string {
	return firstNonEmpty(m.UserPrincipalName, m.Email)
}

// memberCache remembers members by key (id:, oid:, upn:), a zero Member for nobody, until they
// expire; bounded.
type memberCache struct {
	mu  sync.Mutex
	m   map[string]memberEntry
	max int
	now func() time.Time
}

type memberEntry struct {
	m       Member
	expires time.Time
}

func newMemberCache(max int) *memberCache {
	return &memberCache{m: map[string]memberEntry{}, max: max, now: time.Now}
}

func (c *memberCache) get(key string) (Member, bool) {
	if key == "" {
		return Member{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !c.now().Before(e.expires) {
		return Member{}, false
	}
	return e.m, true
}

func (c *memberCache) put(key string, m Member, ttl time.Duration) {
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
	c.m[key] = memberEntry{m, now.Add(ttl)}
}
