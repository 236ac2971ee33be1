package slack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/elevate-pim/elevate/bot"
)

// replayWindow is how long a signed request stays valid (slack-go's verifier allows ±5 min), so
// how long what was handled must be remembered.
const replayWindow = 5*time.Minute + 30*time.Second

// Replays remembers what the adapter has handled: FirstSeen records key at `at`, for window,
// and reports whether it is new. *store.Store (through the core) implements it, so a restart
// does not forget; without one the adapter remembers in memory only.
type Replays interface {
	FirstSeen(key string, at time.Time, window time.Duration) (bool, error)
}

// requestKey identifies a signed HTTP request by what its signature covers, the timestamp and
// the body, never by the signature header's spelling: the verifier decodes the hex whatever its
// case, so "v0=ABC…" and "v0=abc…" are the same request.
func requestKey(h http.Header, body []byte) string {
	sum := sha256.New()
	sum.Write([]byte("v0:" + h.Get("X-Slack-Request-Timestamp") + ":"))
	sum.Write(body)
	return "slack:req:" + hex.EncodeToString(sum.Sum(nil))
}

// commandKey identifies the user's slash command however it is delivered: Slack gives every
// invocation its own trigger_id and keeps it when it redelivers (over Socket Mode, a reconnect
// redelivers unacknowledged envelopes under new envelope ids). "" when there is none.
func commandKey(cmd slackapi.SlashCommand) string {
	if cmd.TriggerID == "" {
		return ""
	}
	return "slack:cmd:" + cmd.TriggerID
}

// interactionKey identifies the user's click or submission: a view submission by the view, its
// hash, the submission's trigger_id and what was entered (a form sent back with errors keeps its
// view id and hash; its corrected resubmission is a new trigger with new values), anything else
// by its trigger_id, else by the clicking user and the action's action_ts. "" when there is none.
func interactionKey(ic slackapi.InteractionCallback) string {
	switch {
	case ic.Type == slackapi.InteractionTypeViewSubmission || ic.Type == slackapi.InteractionTypeViewClosed:
		if ic.View.ID == "" {
			return ""
		}
		state, _ := json.Marshal(ic.View.State) // map keys sorted: the same values, the same bytes
		return "slack:view:" + digest(ic.View.ID, ic.View.Hash, ic.TriggerID, ic.User.ID, string(state))
	case ic.TriggerID != "":
		return "slack:trigger:" + digest(ic.TriggerID)
	}
	ts := ic.ActionTs
	if len(ic.ActionCallback.BlockActions) > 0 && ic.ActionCallback.BlockActions[0].ActionTs != "" {
		ts = ic.ActionCallback.BlockActions[0].ActionTs
	}
	if ts == "" {
		return ""
	}
	return "slack:action:" + digest(ic.User.ID, ts)
}

// digest keeps keys short and unambiguous whatever the ids hold.
func digest(parts ...string) string { return bot.ReplayKey(parts...) }
