package teams

import "github.com/elevate-pim/elevate/bot"

// digest keeps keys short and unambiguous whatever the ids hold.
func digest(parts ...string) string { return bot.ReplayKey(parts...) }
