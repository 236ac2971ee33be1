package slack

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"

	slackapi "github.com/slack-go/slack"
)

// CheckOptions say what `elevate check` proves about Slack.
type CheckOptions struct {
	BotToken string
	// AppToken (xapp-…), when set, is proved with apps.connections.open, which Socket Mode
	// calls first; the URL it hands out is not connected to.
	AppToken   string
	APIURL     string // with its trailing slash; Slack's own when empty
	HTTPClient *http.Client
	// Channels are the configured channels, as the config names them ("#pim-approvals" or an id).
	Channels []string
}

// CheckResult is what Slack said about the bot token and the channels.
type CheckResult struct {
	Team, TeamID, BotUser string
	// Scopes are the scopes granted to the token (auth.test's x-oauth-scopes header); Missing
	// are those of BotScopes among them that are not.
	Scopes, Missing []string
	Channels        []ChannelCheck
	// AppTokenErr is Slack's refusal of the app-level token (nil when accepted or not given).
	AppTokenErr error
}

// ChannelCheck is one configured channel as Slack knows it.
type ChannelCheck struct {
	Name    string // as configured
	ID      string // "" when not found
	Private bool
	// Member: the bot is in the channel (it can post there).
	Member bool
	// Err is Slack's refusal (channel_not_found, missing_scope, …) or nil.
	Err error
}

var channelIDRe = regexp.MustCompile(`^[CG][A-Z0-9]{6,}$`)

// ErrNotChecked: the channel could not be looked up because the token lacks the scopes to read
// channels (channels:read, groups:read).
var ErrNotChecked = errors.New("slack: not checked without the channels:read and groups:read scopes")

// Check calls auth.test with the bot token and looks each configured channel up: by id with
// conversations.info, by name through conversations.list. An error means the token itself was
// refused or Slack did not answer.
func Check(ctx context.Context, o CheckOptions) (CheckResult, error) {
	var opts []slackapi.Option
	if o.APIURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(o.APIURL))
	}
	if o.HTTPClient != nil {
		opts = append(opts, slackapi.OptionHTTPClient(o.HTTPClient))
	}
	api := slackapi.New(o.BotToken, opts...)
	at, err := api.AuthTestContext(ctx)
	if err != nil {
		return CheckResult{}, err
	}
	res := CheckResult{Team: at.Team, TeamID: at.TeamID, BotUser: at.User}
	for _, s := range strings.Split(at.Header.Get("X-OAuth-Scopes"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			res.Scopes = append(res.Scopes, s)
		}
	}
	for _, s := range BotScopes {
		if !slices.Contains(res.Scopes, s) {
			res.Missing = append(res.Missing, s)
		}
	}
	if o.AppToken != "" {
		_, _, res.AppTokenErr = slackapi.New(o.BotToken, append(opts, slackapi.OptionAppLevelToken(o.AppToken))...).StartSocketModeContext(ctx)
	}
	canRead := slices.Contains(res.Scopes, "channels:read") && slices.Contains(res.Scopes, "groups:read")
	var byName map[string]slackapi.Channel
	for _, name := range o.Channels {
		cc := ChannelCheck{Name: name}
		var ch *slackapi.Channel
		switch {
		case !canRead:
			cc.Err = ErrNotChecked
		case channelIDRe.MatchString(name):
			ch, cc.Err = api.GetConversationInfoContext(ctx, &slackapi.GetConversationInfoInput{ChannelID: name})
		default:
			if byName == nil {
				if byName, err = listChannels(ctx, api); err != nil {
					byName = nil
					cc.Err = err
					break
				}
			}
			if c, ok := byName[strings.ToLower(strings.TrimPrefix(name, "#"))]; ok {
				ch = &c
			} else {
				cc.Err = errors.New("channel_not_found")
			}
		}
		if ch != nil && cc.Err == nil {
			cc.ID, cc.Private, cc.Member = ch.ID, ch.IsPrivate, ch.IsMember
			if ch.IsArchived {
				cc.Err = errors.New("is_archived")
			}
		}
		res.Channels = append(res.Channels, cc)
	}
	return res, nil
}

// listChannels reads every public and private channel the bot can see, by lower-case name.
func listChannels(ctx context.Context, api *slackapi.Client) (map[string]slackapi.Channel, error) {
	out := map[string]slackapi.Channel{}
	p := &slackapi.GetConversationsParameters{Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: 1000}
	for {
		chs, next, err := api.GetConversationsContext(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, c := range chs {
			out[strings.ToLower(c.Name)] = c
		}
		if next == "" {
			return out, nil
		}
		p.Cursor = next
	}
}
