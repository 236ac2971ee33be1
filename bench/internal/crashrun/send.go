package crashrun

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elevate-pim/elevate/bench/internal/browser"
	"github.com/elevate-pim/elevate/bench/internal/signed"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/examples"
)

// People are Slack users and who they are in the sandbox tenant, with a role each can activate.
// Exchange needs one approval from bob or carol (Config), so approvals run too.
var People = []struct{ Slack, UPN, Text string }{
	{"UALICE", "alice@contoso.example", "exchange 1h crash"},
	{"UDAVE", "dave@contoso.example", "sharepoint 1h crash"},
	{"UBOB", "bob@contoso.example", "user 1h crash"},
	{"UCAROL", "carol@contoso.example", "user 1h crash"},
}

// Config is the example config with Exchange Administrator needing one approval from bob or
// carol, so kills also land during approvals.
func Config() ([]byte, error) {
	old := []byte("  - name: Exchange Administrator      # aliases: exchange, exo\n    max_duration: 8h\n    approval: none\n")
	cfg := bytes.Replace(examples.Config, old,
		[]byte("  - name: Exchange Administrator\n    max_duration: 8h\n    approval:\n      approvers: [bob@contoso.example, carol@contoso.example]\n"), 1)
	if bytes.Equal(cfg, examples.Config) {
		return nil, fmt.Errorf("the example config changed: Exchange Administrator's entry not found")
	}
	return cfg, nil
}

// Stats counts what the senders did.
type Stats struct {
	Mu                         sync.Mutex
	Acked                      map[int]bool
	AckedAt                    map[int]time.Time
	Acks                       []time.Time // every acknowledged command, requests or not
	Kills                      []time.Time
	Sent, SignIns, SignInFails int
	Approves, Dones, Extends   int
	Unavailable                int // attempts answered 503 (no leader at that moment)
}

// NewStats is an empty Stats.
func NewStats() *Stats {
	return &Stats{Acked: map[int]bool{}, AckedAt: map[int]time.Time{}}
}

// KilledAfter says whether a kill came within 5 seconds after command i was acknowledged.
func (st *Stats) KilledAfter(i int) bool {
	at := st.AckedAt[i]
	for _, k := range st.Kills {
		if !k.Before(at) && k.Sub(at) < 5*time.Second {
			return true
		}
	}
	return false
}

// FirstAckAfter is the first acknowledged command after t.
func (st *Stats) FirstAckAfter(t time.Time) (time.Time, bool) {
	st.Mu.Lock()
	defer st.Mu.Unlock()
	var first time.Time
	for _, a := range st.Acks {
		if a.After(t) && (first.IsZero() || a.Before(first)) {
			first = a
		}
	}
	return first, !first.IsZero()
}

// Sender sends signed slash commands to Base and signs in through the fake Slack's links.
type Sender struct {
	Client *http.Client
	Base   string
	Secret string
	Fake   *slacktest.Server
	// RetryUnavailable sends a command answered 503 again, every 200 ms for up to 12 s: with no
	// leader, or from a standby, nothing was stored or acknowledged, so the person tries again.
	// Anything else (a 502: the leader died with the request) is not retried: it may have been taken.
	RetryUnavailable bool
}

// Send plays one user until n commands were sent by everyone: a request, often a sign-in, and
// now and then done or extend; approvers approve the Exchange requests on the channel's cards.
func (s Sender) Send(slack, upn, text string, rng *rand.Rand, next *atomic.Int64, n int, st *Stats) {
	client, base, secret, fake := s.Client, s.Base, s.Secret, s.Fake
	approver := slack == "UBOB" || slack == "UCAROL"
	command := func(i int, cmd string) bool {
		form := url.Values{"command": {"/elevate"}, "text": {cmd}, "user_id": {slack}, "user_name": {slack},
			"channel_id": {"C0CRASH"}, "team_id": {"T0CRASH"}, "response_url": {fake.ResponseURL(slack, "C0CRASH", "cmd-"+strconv.Itoa(i))},
			"trigger_id": {"trig." + slack + "." + strconv.Itoa(i)}}
		code, err := signed.Post(client, base+"/slack/commands", secret, form.Encode())
		for try := 0; s.RetryUnavailable && err == nil && code == http.StatusServiceUnavailable && try < 60; try++ {
			st.Mu.Lock()
			st.Unavailable++
			st.Mu.Unlock()
			time.Sleep(200 * time.Millisecond)
			code, err = signed.Post(client, base+"/slack/commands", secret, form.Encode())
		}
		st.Mu.Lock()
		defer st.Mu.Unlock()
		if code == http.StatusServiceUnavailable {
			st.Unavailable++
		}
		if err == nil && code == http.StatusOK {
			st.Acks = append(st.Acks, time.Now())
		}
		return err == nil && code == http.StatusOK
	}
	maybeSignIn := func(before int) {
		if rng.IntN(3) == 0 {
			return
		}
		if link := WaitLink(fake, slack, before, 2*time.Second); link != "" {
			ok := browser.SignIn(client, link, upn)
			st.Mu.Lock()
			st.SignIns++
			if !ok {
				st.SignInFails++
			}
			st.Mu.Unlock()
		}
	}
	for {
		i := int(next.Add(1)) - 1
		if i >= n {
			return
		}
		before := len(fake.Private(slack))
		var cmd string
		switch r := rng.IntN(10); {
		case r < 5:
			cmd = fmt.Sprintf("%s %d", text, i)
		case r < 8:
			cmd = "done"
		default:
			cmd = "extend 30m"
		}
		ok := command(i, cmd)
		st.Mu.Lock()
		st.Sent++
		switch {
		case strings.HasPrefix(cmd, "done"):
			st.Dones++
		case strings.HasPrefix(cmd, "extend"):
			st.Extends++
		case ok:
			st.Acked[i], st.AckedAt[i] = true, time.Now()
		}
		st.Mu.Unlock()
		maybeSignIn(before)
		if approver {
			for _, id := range Undecided(fake) {
				if rng.IntN(2) == 0 {
					continue
				}
				before := len(fake.Private(slack))
				if command(i, "approve "+id) {
					st.Mu.Lock()
					st.Approves++
					st.Mu.Unlock()
				}
				maybeSignIn(before)
			}
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
	}
}
