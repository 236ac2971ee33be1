package teams

import "github.com/elevate-pim/elevate/bot"

// WatchReplies collects what the adapter sends user privately, as it does while answering
// their click: replies lists it, stop ends the watch.
func (a *Adapter) WatchReplies(user string) (replies func() []bot.Message, stop func()) {
	w := a.watch(user)
	return w.replies, func() { a.unwatch(w) }
}
