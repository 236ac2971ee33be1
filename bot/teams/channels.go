package teams

import (
	"context"
	"strings"
)

// ChannelName implements bot.ChannelNamer: Teams has no channel mention a bot can write in
// text, so a channel is shown by its name as Teams reported it (never its 19:… id).
func (a *Adapter) ChannelName(_ context.Context, channel string) string {
	if c, err := a.channel(channel); err == nil && c.Name != "" {
		return "the " + c.Name + " channel"
	}
	if strings.HasPrefix(channel, "19:") {
		return "the approvals channel Elevate was set up with"
	}
	return "the " + strings.TrimPrefix(strings.TrimSpace(channel), "#") + " channel"
}
