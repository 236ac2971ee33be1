package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/forward"
	"github.com/elevate-pim/elevate/lead"
)

// High availability (PostgreSQL only): several `elevate serve` processes share one database and
// one leads, through the lead package's lease. A standby listens at once and forwards the chat
// endpoints' requests to the leader through the database (the forward package): the leader
// handles them with the same handler as its own listener's, so every replica is ready while a
// registered leader serves, and a request that reaches a standby (a load balancer's choice, or
// its lag after a takeover) is answered, not refused. A standby does not open the store: opening
// creates and migrates the schema, which a new version's standby must not do under an old
// version's leader; an old version's leader does not take forwarded requests, so under it a
// standby answers 503 and is not ready, as before. Once it leads it opens the store and starts
// what a single process starts (chat adapters, Socket Mode, schedules, sweeps, the outbox,
// Resume), then the forwarding worker. When it loses the lease it stops acting at once (the
// store's writes are fenced, so nothing it still tries commits) and exits non-zero; its
// supervisor restarts it as a standby. Exiting, rather than stepping back to standby in-process,
// leaves no half-stopped adapter or worker behind; Kubernetes controllers' leader election does
// the same.

// gate passes requests to next only while this process serves: it leads and has started.
// Before that (a standby, a leader starting) requests go to forward when set, else 503.
type gate struct {
	next   http.Handler
	ready  atomic.Pointer[http.Handler] // /readyz's checks while serving; nil otherwise
	closed atomic.Bool                  // for good: leadership was lost

	forward      http.Handler                    // nil with bbolt
	forwardReady func(ctx context.Context) error // /readyz while forwarding
}

// open starts serving, with ready as /readyz, unless close came first (leadership lost while
// starting): whatever the interleaving, a closed gate stays closed.
func (g *gate) open(ready http.Handler) {
	g.ready.Store(&ready)
	if g.closed.Load() {
		g.ready.Store(nil)
	}
}

// close stops serving at once, for good.
func (g *gate) close() {
	g.closed.Store(true)
	g.ready.Store(nil)
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.ready.Load() == nil {
		if g.forward != nil && !g.closed.Load() && !forward.Forwarded(r.Context()) {
			g.forward.ServeHTTP(w, r)
			return
		}
		notServing(w)
		return
	}
	g.next.ServeHTTP(w, r)
}

// Ready is /readyz: the readiness checks while serving; while forwarding, 200 when a leader that
// takes forwarded requests holds the lease; else 503.
func (g *gate) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := g.ready.Load()
		if h != nil {
			w.Header().Set(roleHeader, "leader")
			(*h).ServeHTTP(w, r)
			return
		}
		w.Header().Set(roleHeader, "standby")
		if g.forwardReady == nil || g.closed.Load() {
			notServing(w)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := g.forwardReady(ctx); err != nil {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "not ready: this Elevate process is a standby and no leader that takes forwarded requests holds the lease", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok: standby, forwarding to the leader\n")
	})
}

// roleHeader on /readyz's answers says which this process is now: "leader" (it serves) or
// "standby" (it forwards, or waits). Both are ready while a leader serves; operators and the
// failover bench tell them apart by it.
const roleHeader = "X-Elevate-Role"

// forwardChecks are the checks a process that does not serve makes before it writes a request
// to the database for the leader: each chat platform's own authentication, as the leader's
// handlers make it, on the same bytes and with the same answer when it fails. So nobody on the
// internet can make a standby write to the database without the Slack signing secret or a token
// the Bot Connector signed (the leader verifies everything again). A platform this process is
// not configured for is 404, as on the leader, whose mux then has no such route.
type forwardChecks struct {
	slackSecret string           // "" when Slack's HTTP endpoints are off (no SLACK_BOT_TOKEN or no SLACK_SIGNING_SECRET)
	teams       *teams.Validator // nil when Teams is off (no MICROSOFT_APP_ID)
	sandbox     bool
}

// newForwardChecks reads the chat platforms' settings as startSlack and startTeams do.
func newForwardChecks(getenv func(string) string, sandbox bool) (forwardChecks, error) {
	c := forwardChecks{sandbox: sandbox}
	if getenv("SLACK_BOT_TOKEN") != "" {
		c.slackSecret = getenv("SLACK_SIGNING_SECRET")
	}
	if id := getenv("MICROSOFT_APP_ID"); id != "" {
		v, err := teams.NewValidator(teams.ValidatorOptions{AppID: id, MetadataURL: getenv("BOTFRAMEWORK_OPENID_METADATA_URL")})
		if err != nil {
			return c, err
		}
		c.teams = v
	}
	return c, nil
}

// forwarded is what a process that does not serve does with a request: the leader's routes are
// forwarded to it once they pass the checks the leader's handlers make first (forwardChecks: the
// same refusal, without a database write); anything else is 404, as the leader's mux answers.
func forwarded(sb *forward.Standby, c forwardChecks, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	if c.slackSecret != "" {
		slackRoute := func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, slack.MaxBody+1))
			switch {
			case err != nil:
				http.Error(w, "cannot read body", http.StatusBadRequest)
				return
			case len(body) > slack.MaxBody:
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			if err := slack.Verify(r.Header, body, c.slackSecret); err != nil {
				log.Warn("slack request refused; not forwarded", "path", r.URL.Path, "err", err)
				http.Error(w, "invalid signature", http.StatusUnauthorized)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			sb.Forward(w, r, slack.MaxBody)
		}
		for _, p := range []string{"/slack/commands", "/slack/interactivity", "/slack/events"} {
			mux.HandleFunc("POST "+p, slackRoute)
		}
	}
	if c.teams != nil {
		mux.HandleFunc("POST /api/messages", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, teams.MaxBody))
			if err != nil {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			// The token names the service URL and the channel's key: read them as the leader's
			// Bot Framework parser does (a json.Decoder, which reads the first value and leaves
			// what follows; the schema's names).
			var act struct {
				ServiceURL string `json:"serviceUrl"`
				ChannelID  string `json:"channelId"`
			}
			if err := json.NewDecoder(bytes.NewReader(body)).Decode(&act); err != nil {
				http.Error(w, "bad activity", http.StatusBadRequest)
				return
			}
			if _, err := c.teams.Validate(r.Context(), r.Header.Get("Authorization"), act.ServiceURL, act.ChannelID); err != nil {
				log.Warn("teams: activity refused; not forwarded", "reason", err.Error(), "remote", r.RemoteAddr)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			sb.Forward(w, r, teams.MaxBody)
		})
	}
	mux.HandleFunc("/auth/callback", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		sb.Forward(w, r, bot.MaxCallbackBody)
	})
	if c.sandbox {
		mux.HandleFunc("/sandbox/sign-in", func(w http.ResponseWriter, r *http.Request) { sb.Forward(w, r, 64<<10) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		// The metrics middleware names a request by the route ServeMux set on it, after the
		// handler: a forwarded one is counted as "forwarded <route>" here, apart from the
		// leader's count of the same request under its route.
		if r.Pattern != "" {
			r.Pattern = "forwarded " + r.Pattern
		}
	})
}

func notServing(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "not ready: this Elevate process is a standby or still starting", http.StatusServiceUnavailable)
}

// campaign waits for leadership, or for the listener to fail.
func campaign(ctx context.Context, el *lead.Elector, errc <-chan error) (context.Context, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		ctx context.Context
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := el.Campaign(ctx)
		done <- result{l, err}
	}()
	select {
	case r := <-done:
		return r.ctx, r.err
	case err := <-errc:
		cancel()
		<-done // a lease won meanwhile ends with the elector (Close)
		return nil, err
	}
}
