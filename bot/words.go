package bot

// GraphWords says in plain words, for a chat user, what a Graph failure means: never Graph's
// own message, request id or the call made, which belong in the log. For scheduled work
// (bot/schedule) that reports Graph failures to people.
func GraphWords(err error) string { return graphWords(err) }
