package bot

import (
	"context"
	"regexp"
	"strings"
)

// Channels in messages: the config names a channel by name ("#pim-approvals") or by id, and
// users should read neither a raw id nor a name their platform does not show. A Messenger that
// implements ChannelNamer says how its platform shows a channel.

// ChannelNamer is an optional Messenger capability: how the platform shows a configured channel
// in a message's text (Slack: a mention made with ChannelMention; Teams: the channel's name).
type ChannelNamer interface {
	ChannelName(ctx context.Context, channel string) string
}

// Delimiters of a channel mention in a message's text: private-use characters, so the mention
// survives the renderer's escaping of everything else, and only a renderer turns it into markup.
const mentionOpen, mentionClose = "\uE000", "\uE001"

var mentionRE = regexp.MustCompile(mentionOpen + `([A-Za-z0-9:@._-]+)` + mentionClose)

// ChannelMention marks channel id for the renderer (see ReplaceMentions).
func ChannelMention(id string) string { return mentionOpen + id + mentionClose }

// ReplaceMentions turns every channel mention in s into what render returns for its id.
func ReplaceMentions(s string, render func(id string) string) string {
	if !strings.Contains(s, mentionOpen) {
		return s
	}
	return mentionRE.ReplaceAllStringFunc(s, func(m string) string {
		return render(mentionRE.FindStringSubmatch(m)[1])
	})
}

// channelName is how channel is shown to users of platform.
func (c *Core) channelName(ctx context.Context, platform, channel string) string {
	if m, ok := c.messenger(platform); ok {
		if n, ok := m.(ChannelNamer); ok {
			if s := n.ChannelName(ctx, channel); s != "" {
				return s
			}
		}
	}
	return channel
}
