package teams

import (
	"errors"
	"fmt"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/elevate-pim/elevate/store"
)

// userKeyPrefix keys a user's reference (where to open a 1:1 chat with them) in the store.
const userKeyPrefix = "user:"

// capture keeps the conversation references an activity carries: the sender (so we can DM
// them later, on the serviceUrl Teams gave us, never a hard-coded one) and the conversation
// (so we can post into it and update what we posted). installationUpdate and
// conversationUpdate arrive when the app is added to a team, a chat or a user.
func (a *Adapter) capture(act schema.Activity, in inbound) {
	if act.ServiceURL == "" || act.Conversation.ID == "" {
		return
	}
	botID := firstNonEmpty(act.Recipient.ID, a.botID)
	typ := act.Conversation.ConversationType
	if act.From.ID != "" && act.From.ID != botID {
		u := store.Conversation{Platform: Platform, Key: userKeyPrefix + act.From.ID, ServiceURL: act.ServiceURL, TenantID: a.o.TenantID,
			Type: "personal", UserID: act.From.ID, UserObjectID: act.From.AadObjectID, BotID: botID}
		if typ == "personal" {
			u.ConversationID = act.Conversation.ID
		}
		a.put(u)
	}
	id := act.Conversation.ID
	if typ == "channel" {
		id = baseConversation(id)
	}
	c := store.Conversation{Platform: Platform, Key: id, ConversationID: id, ServiceURL: act.ServiceURL, TenantID: a.o.TenantID,
		Type: typ, TeamID: in.ChannelData.Team.ID, BotID: botID}
	if typ == "personal" {
		c.UserID, c.UserObjectID = act.From.ID, act.From.AadObjectID
	}
	if typ == "channel" {
		// Teams names the channel on channelCreated/Renamed and on some installs; the General
		// channel's id is the team's id, and it carries the team's name.
		switch {
		case in.ChannelData.Channel.Name != "" && (in.ChannelData.Channel.ID == "" || in.ChannelData.Channel.ID == id):
			c.Name = in.ChannelData.Channel.Name
		case in.ChannelData.Team.Name != "" && in.ChannelData.Team.ID == id:
			c.Name = in.ChannelData.Team.Name
		}
	}
	a.put(c)
	if typ == "channel" && in.ChannelData.Channel.ID != "" && in.ChannelData.Channel.ID != id && in.ChannelData.Channel.Name != "" {
		// channelCreated in a team: the new channel, posted to the team's conversation.
		a.put(store.Conversation{Platform: Platform, Key: in.ChannelData.Channel.ID, ConversationID: in.ChannelData.Channel.ID,
			ServiceURL: act.ServiceURL, TenantID: a.o.TenantID, Type: "channel", Name: in.ChannelData.Channel.Name, TeamID: in.ChannelData.Team.ID, BotID: botID})
	}
}

// put stores c unless the same was stored already (a store write is an fsync).
func (a *Adapter) put(c store.Conversation) {
	a.mu.Lock()
	old, ok := a.seen[c.Key]
	a.mu.Unlock()
	if ok && same(old, c) {
		return
	}
	if err := a.o.Conversations.PutConversation(c); err != nil {
		a.log.Error("teams: saving conversation reference", "key", c.Key, "err", err)
		return
	}
	a.mu.Lock()
	a.seen[c.Key] = c
	a.mu.Unlock()
}

func same(a, b store.Conversation) bool {
	a.UpdatedAt, b.UpdatedAt = b.UpdatedAt, a.UpdatedAt
	return a == b
}

// channel finds the Teams conversation of a config channel name: Options.Channels, then the
// channel names Teams reported, then the value itself when it is a conversation id.
func (a *Adapter) channel(name string) (store.Conversation, error) {
	id := a.o.Channels[name]
	convs, err := a.o.Conversations.Conversations(Platform)
	if err != nil {
		return store.Conversation{}, err
	}
	if id == "" {
		want := normalName(name)
		for _, c := range convs {
			if c.Type == "channel" && c.Name != "" && normalName(c.Name) == want {
				id = c.ConversationID
				break
			}
		}
	}
	if id == "" && strings.HasPrefix(name, "19:") {
		id = name
	}
	if id == "" {
		return store.Conversation{}, fmt.Errorf("teams: no Teams channel for %q: set TEAMS_CHANNELS (%s=19:…@thread.tacv2) or add Elevate to the team", name, name)
	}
	for _, c := range convs {
		if c.Key == id && c.ServiceURL != "" {
			return c, nil
		}
	}
	// The channel itself never spoke to us, but the tenant's other conversations did: Teams
	// uses one serviceUrl per tenant region.
	for _, c := range convs {
		if c.ServiceURL != "" && (c.TeamID != "" || c.Type == "channel") {
			return store.Conversation{Platform: Platform, Key: id, ConversationID: id, ServiceURL: c.ServiceURL, Type: "channel", TenantID: a.o.TenantID}, nil
		}
	}
	return store.Conversation{}, errors.New("teams: Elevate has not been added to any team yet, so it cannot post to " + name + "; add the app to the team first")
}

// normalName compares channel names the way people write them: "#PIM approvals" = "pim-approvals".
func normalName(s string) string {
	s = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "#")))
	return strings.NewReplacer(" ", "-", "_", "-").Replace(s)
}

// ParseChannels reads TEAMS_CHANNELS: "#pim-approvals=19:…@thread.tacv2,#security=19:…".
func ParseChannels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, id, ok := strings.Cut(part, "=")
		name, id = strings.TrimSpace(name), strings.TrimSpace(id)
		if !ok || name == "" || !strings.HasPrefix(id, "19:") {
			return nil, fmt.Errorf("teams: TEAMS_CHANNELS entry %q: want name=19:…@thread.tacv2", part)
		}
		out[name] = id
	}
	return out, nil
}
