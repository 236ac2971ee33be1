package teams

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/elevate-pim/elevate/store"
)

// Channel names. Installation activities carry the team's id but not its channels' names, so
// a configured "#pim-approvals" would stay unknown until someone set TEAMS_CHANNELS or renamed
// the channel. The Bot Connector lists a team's channels with their names; Elevate asks when
// it is added to a team and, on demand, when a configured channel name is not known yet.

// TeamChannel is one channel of a team as the Bot Connector lists it. The General channel's id
// is the team's id, and it may have no name.
type TeamChannel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// TeamChannels lists a team's channels: GET {serviceUrl}/v3/teams/{teamId}/conversations.
func (c *Connector) TeamChannels(ctx context.Context, serviceURL, teamID string) ([]TeamChannel, error) {
	var out struct {
		Conversations []TeamChannel `json:"conversations"`
	}
	u := strings.TrimRight(serviceURL, "/") + "/v3/teams/" + url.PathEscape(teamID) + "/conversations"
	if err := c.do(ctx, http.MethodGet, u, nil, &out); err != nil {
		return nil, err
	}
	return out.Conversations, nil
}

// added says whether act tells that Elevate was added to a team.
func (a *Adapter) added(act schema.Activity, in inbound) bool {
	if in.ChannelData.Team.ID == "" {
		return false
	}
	switch act.Type {
	case "installationUpdate":
		return act.Action == "add" || act.Action == ""
	case schema.ConversationUpdate:
		botID := firstNonEmpty(act.Recipient.ID, a.botID)
		for _, m := range act.MembersAdded {
			if m.ID == botID {
				return true
			}
		}
	}
	return false
}

// learnChannels lists teamID's channels and keeps a reference to each, with its name.
func (a *Adapter) learnChannels(ctx context.Context, serviceURL, teamID, teamName string) error {
	chs, err := a.conn.TeamChannels(ctx, serviceURL, teamID)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		name := ch.Name
		if name == "" && ch.ID == teamID {
			name = firstNonEmpty(teamName, a.knownName(ch.ID), "General")
		}
		a.put(store.Conversation{Platform: Platform, Key: ch.ID, ConversationID: ch.ID, ServiceURL: serviceURL, TenantID: a.o.TenantID,
			Type: "channel", Name: name, TeamID: teamID, BotID: a.botID})
	}
	a.log.Info("teams: channels listed", "team_id", teamID, "channels", len(chs))
	return nil
}

// knownName is the name stored for a conversation, if any.
func (a *Adapter) knownName(id string) string {
	if c, err := a.o.Conversations.Conversation(Platform, id); err == nil {
		return c.Name
	}
	return ""
}

// channelListing limits on-demand listings: a name nobody configured in Teams must not make
// every post list every team.
type channelListing struct {
	mu   sync.Mutex
	last time.Time
}

const relistEvery = time.Minute

// relist lists the channels of every team Elevate knows, at most once a minute; false when it
// did not (too soon, or no team known).
func (a *Adapter) relist(ctx context.Context) bool {
	a.listing.mu.Lock()
	if now := a.o.Now(); !a.listing.last.IsZero() && now.Sub(a.listing.last) < relistEvery {
		a.listing.mu.Unlock()
		return false
	} else {
		a.listing.last = now
	}
	a.listing.mu.Unlock()
	convs, err := a.o.Conversations.Conversations(Platform)
	if err != nil {
		return false
	}
	teams := map[string]string{} // team id → service URL
	for _, c := range convs {
		if c.TeamID != "" && c.ServiceURL != "" {
			teams[c.TeamID] = c.ServiceURL
		}
	}
	listed := false
	for team, su := range teams {
		if err := a.learnChannels(ctx, su, team, ""); err != nil {
			a.log.Warn("teams: listing a team's channels", "team_id", team, "err", err)
			continue
		}
		listed = true
	}
	return listed
}

// channelNow is channel, listing the teams' channels once more when name is not known yet.
func (a *Adapter) channelNow(ctx context.Context, name string) (store.Conversation, error) {
	conv, err := a.channel(name)
	if err != nil && !strings.HasPrefix(name, "19:") && a.relist(ctx) {
		conv, err = a.channel(name)
	}
	return conv, err
}

// ChannelName implements bot.ChannelNamer: Teams has no channel mention a bot can write in
// text, so a channel is shown by its name as Teams reported it (never its 19:… id).
func (a *Adapter) ChannelName(_ context.Context, channel string) string {
	if c, err := a.channel(channel); err == nil && c.Name != "" {
		return "the " + c.Name + " channel"
	}
	if strings.HasPrefix(channel, "19:") {
		return "the channel Elevate was set up with"
	}
	return "the " + strings.TrimPrefix(strings.TrimSpace(channel), "#") + " channel"
}
