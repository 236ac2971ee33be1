// Package crashrun holds what bench/crash and bench/failover share: reading the server's outbox
// depth, finding sign-in links and undecided approval cards in the fake Slack, and the simulated
// tenant's state file.
package crashrun

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/bot/slack/slacktest"
)

var depthRE = regexp.MustCompile(`(?m)^elevate_outbox_depth (\d+)$`)

// OutboxDepth reads elevate_outbox_depth from the server's /metrics.
func OutboxDepth(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := depthRE.FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no elevate_outbox_depth in /metrics")
	}
	return strconv.Atoi(string(m[1]))
}

// CardRE finds a request's id in the text of its approval card.
var CardRE = regexp.MustCompile(`Elevation request #(\d+)`)

// Undecided are the ids of the requests whose card in the approvals channel still has buttons.
func Undecided(fake *slacktest.Server) []string {
	var out []string
	for _, m := range fake.InChannel("C0APPROVALS") {
		if c := CardRE.FindStringSubmatch(m.Plain()); c != nil && strings.Contains(m.Plain(), "[Approve]") {
			out = append(out, c[1])
		}
	}
	return out
}

// PIMState is what the simulated tenant keeps in its state file (graph/graphtest/persist.go).
type PIMState struct {
	Assign []struct {
		PrincipalID, RoleID, AssignmentType string
		Start                               time.Time
		End                                 *time.Time
	}
	Requests map[string]struct {
		Action, PrincipalID, RoleID, Justification, Status string
		Created, Start                                     time.Time
		StartGiven                                         bool
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>|]+/sandbox/sign-in\?to=[^\s"<>|]+`)

// WaitLink waits for a sign-in link among the messages user got after the first `after`: the
// link for the request just sent, not an older one.
func WaitLink(fake *slacktest.Server, user string, after int, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		msgs := fake.Private(user)
		for i := len(msgs) - 1; i >= after; i-- {
			raw := string(msgs[i].Blocks) + " " + msgs[i].Text
			if l := linkRE.FindString(raw); l != "" && strings.Contains(msgs[i].Plain(), "Sign in") {
				return strings.ReplaceAll(l, `\u0026`, "&")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ""
}
