// Command failover runs two `elevate serve` processes on one PostgreSQL database, one leading and
// one standing by, sends them signed Slack commands, sign-ins and approvals under load through a
// load balancer that sends each request to either running process at random (the standby
// forwards what it gets to the leader through the database), and kills the leader with SIGKILL
// at random moments; the standby takes over and the killed process is restarted as the new
// standby. Each takeover is timed: from the kill to the new leader serving (its /readyz 200 with
// X-Elevate-Role: leader), and to the first acknowledged command after the kill; the balancer
// counts the requests that went through a standby, by answer. Then it checks Elevate's record against the
// simulated tenant's:
//
//   - every acknowledged request is stored exactly once;
//   - no request is left in flight (activating, or with a PIM write whose outcome is unknown), and
//     none is still pending past its deadline;
//   - Elevate's active elevations are exactly PIM's activated assignments;
//   - PIM activated no request twice (PIM's own requests, by the marker in the justification);
//   - every approval card in the channel shows its request as it is (approvals, buttons), once;
//   - the chat outbox is empty, and the audit chain verifies.
//
// It exits non-zero on any problem.
//
//	go run ./bench/failover -requests 300 -kills 10
//
// Both processes run `elevate serve -sandbox -sandbox-state FILE -db postgres://…` with the same
// state file: the simulated tenant's PIM state survives the kills, and a new leader loads it when
// it takes over. The database is -db, or a throwaway cluster started with internal/pgtest.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elevate-pim/elevate/bench/internal/crashrun"
	"github.com/elevate-pim/elevate/bench/internal/measure"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/elevate-pim/elevate/store"
)

const secret = "failover-test-signing-secret"

func main() {
	requests := flag.Int("requests", 300, "slash commands to send, all users together")
	kills := flag.Int("kills", 10, "SIGKILLs of the leader at random moments")
	bin := flag.String("bin", "", "elevate binary (built from this checkout when empty)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay a run)")
	latency := flag.Duration("graph-latency", 150*time.Millisecond, "how long every simulated Graph answer takes")
	settle := flag.Duration("settle", 75*time.Second, "how long the last leader runs before the checks (its minute sweep must run)")
	db := flag.String("db", "", "PostgreSQL URL of an empty database (default: a throwaway cluster, as the tests start one)")
	ttl := flag.Duration("leader-ttl", 5*time.Second, "elevate serve -leader-ttl")
	renew := flag.Duration("leader-renew", time.Second, "elevate serve -leader-renew")
	flag.Parse()
	if err := run(*requests, *kills, *bin, *db, *seed, *latency, *settle, *ttl, *renew); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

// leads says whether the process leads and serves: its /readyz answers 200 as the leader. (A
// standby's /readyz is 200 too while a leader serves: it forwards.)
func leads(s *crashrun.Server) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + s.Addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && resp.Header.Get("X-Elevate-Role") == "leader"
}

// balancer is the load balancer in front of both: it sends each request to a process chosen at
// random among those running, leader or standby (every replica is ready while a leader serves;
// a standby forwards to the leader through the database). It counts what went through a
// standby: a process that did not lead when the request was sent, by the last look (every
// 100 ms).
type balancer struct {
	servers []*crashrun.Server
	leader  atomic.Pointer[crashrun.Server]
	proxies map[*crashrun.Server]*httputil.ReverseProxy

	mu         sync.Mutex
	viaLeader  map[int]int // by status code
	viaStandby map[int]int
}

func newBalancer(servers ...*crashrun.Server) *balancer {
	b := &balancer{servers: servers, proxies: map[*crashrun.Server]*httputil.ReverseProxy{}, viaLeader: map[int]int{}, viaStandby: map[int]int{}}
	for _, s := range servers {
		p := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: s.Addr})
		// A killed backend is expected here: its requests fail with 502, without a log line each.
		p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
		b.proxies[s] = p
	}
	return b
}

func (b *balancer) watch(ctx context.Context) {
	for ctx.Err() == nil {
		var leader *crashrun.Server
		for _, s := range b.servers {
			if s.Up() && leads(s) {
				leader = s
				break
			}
		}
		b.leader.Store(leader)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var up []*crashrun.Server
	for _, s := range b.servers {
		if s.Up() {
			up = append(up, s)
		}
	}
	if len(up) == 0 {
		http.Error(w, "no backend running", http.StatusServiceUnavailable)
		return
	}
	s := up[rand.IntN(len(up))]
	viaStandby := s != b.leader.Load()
	rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	b.proxies[s].ServeHTTP(rec, r)
	b.mu.Lock()
	defer b.mu.Unlock()
	if viaStandby {
		b.viaStandby[rec.code]++
	} else {
		b.viaLeader[rec.code]++
	}
}

// statusWriter keeps the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// Flush passes the proxy's flushes on.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (b *balancer) report() {
	b.mu.Lock()
	defer b.mu.Unlock()
	byCode := func(m map[int]int) (int, string) {
		total := 0
		codes := make([]int, 0, len(m))
		for c, n := range m {
			total += n
			codes = append(codes, c)
		}
		slices.Sort(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d × %d", m[c], c))
		}
		return total, strings.Join(parts, ", ")
	}
	ln, lc := byCode(b.viaLeader)
	sn, sc := byCode(b.viaStandby)
	fmt.Printf("requests through the balancer: %d to the leader (%s), %d to a standby (%s)\n", ln, lc, sn, sc)
}

// takeover is one kill of the leader and what followed.
type takeover struct {
	killed   string
	at       time.Time
	ready    time.Duration // kill → the standby leads and serves
	firstAck time.Duration // kill → the first acknowledged command
}

func run(n, kills int, bin, db string, seed uint64, latency, settle, ttl, renew time.Duration) error {
	fmt.Printf("seed %d\n", seed)
	dir, err := os.MkdirTemp("", "elevate-failover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if db == "" {
		// A directory of its own under the system's temp dir: when running as root the server
		// runs as postgres, which must reach it.
		pgDir, err := os.MkdirTemp("", "elevate-failover-pg-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(pgDir)
		var stop func()
		db, stop, err = pgtest.Start(pgDir)
		if err != nil {
			return fmt.Errorf("starting PostgreSQL: %w", err)
		}
		defer stop()
	}
	if bin == "" {
		bin = filepath.Join(dir, "elevate")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building elevate: %w", err)
		}
	}
	cfg, err := crashrun.Config()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "elevate.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return err
	}
	fake := slacktest.New()
	defer fake.Close()
	for _, p := range crashrun.People {
		fake.AddUser(slacktest.User{ID: p.Slack, Name: p.Slack, Email: p.UPN})
	}
	fake.AddChannel("C0CRASH", "it-ops")
	fake.AddChannel("C0APPROVALS", "pim-approvals")
	fake.AddChannel("C0SECURITY", "security")
	fake.AddChannel("C0ITADMINS", "it-admins")

	// The balancer's address is the public URL: sign-in links and the sign-in callback reach
	// whichever process leads.
	lbListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + lbListener.Addr().String()
	env := append(os.Environ(), "SLACK_BOT_TOKEN="+slacktest.BotToken, "SLACK_SIGNING_SECRET="+secret,
		"SLACK_API_URL="+fake.APIURL(), "SLACK_APP_TOKEN=", "ELEVATE_PUBLIC_URL="+base)
	var servers []*crashrun.Server
	for _, name := range []string{"a", "b"} {
		addr, err := measure.FreeAddr()
		if err != nil {
			return err
		}
		metricsAddr, err := measure.FreeAddr()
		if err != nil {
			return err
		}
		servers = append(servers, &crashrun.Server{Name: name, Bin: bin, Addr: addr, Metrics: metricsAddr, DB: db,
			State: filepath.Join(dir, "tenant.json"), Config: cfgPath, Latency: latency, Env: env, FreshLogs: true,
			Args: []string{"-leader-ttl", ttl.String(), "-leader-renew", renew.String()}})
	}
	for _, s := range servers {
		if err := s.Start(); err != nil {
			return err
		}
		defer func() {
			if s.Up() {
				s.Kill()
			}
		}()
	}
	lb := newBalancer(servers...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go lb.watch(ctx)
	go http.Serve(lbListener, lb)
	if _, err := waitLeader(servers, 60*time.Second); err != nil {
		return err
	}

	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	st := crashrun.NewStats()
	sender := crashrun.Sender{Client: client, Base: base, Secret: secret, Fake: fake, RetryUnavailable: true}
	var next atomic.Int64
	var senders sync.WaitGroup
	for w, p := range crashrun.People {
		rng := rand.New(rand.NewPCG(seed+uint64(w), seed^0x5eed))
		senders.Add(1)
		go func() {
			defer senders.Done()
			sender.Send(p.Slack, p.UPN, p.Text, rng, &next, n, st)
		}()
	}
	// The killer: kills the leader at random moments while the senders run; the standby takes
	// over and the killed process comes back as the new standby.
	killRNG := rand.New(rand.NewPCG(seed, seed^0xdead))
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()
	var takeovers []takeover
	for len(takeovers) < kills {
		select {
		case <-sendersDone:
		case <-time.After(time.Duration(300+killRNG.IntN(2500)) * time.Millisecond):
		}
		leader, err := waitLeader(servers, 60*time.Second)
		if err != nil {
			return err
		}
		leader.Kill()
		at := time.Now()
		st.Mu.Lock()
		st.Kills = append(st.Kills, at)
		st.Mu.Unlock()
		var standby *crashrun.Server
		for _, s := range servers {
			if s != leader {
				standby = s
			}
		}
		if err := waitLeads(standby, at, 60*time.Second); err != nil {
			return err
		}
		takeovers = append(takeovers, takeover{killed: leader.Name, at: at, ready: time.Since(at)})
		if err := leader.Start(); err != nil {
			return err
		}
	}
	<-sendersDone
	for i := range takeovers {
		if first, ok := st.FirstAckAfter(takeovers[i].at); ok {
			takeovers[i].firstAck = first.Sub(takeovers[i].at)
		}
	}
	fmt.Printf("sent %d commands with %d kills of the leader; settling for %s\n", n, len(takeovers), settle)
	time.Sleep(settle)
	leader, err := waitLeader(servers, 60*time.Second)
	if err != nil {
		return err
	}
	// The outbox as the settled leader sees it; what the shutdown itself queues is not counted.
	depth, err := crashrun.OutboxDepth(leader.Metrics)
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s != leader {
			s.Stop()
		}
	}
	leader.Stop()
	starts := 0
	for _, s := range servers {
		starts += s.Starts()
	}
	report(takeovers, ttl, renew)
	lb.report()
	return check(db, servers[0].State, fake, st, len(takeovers), starts-len(servers), depth)
}

// waitLeader waits for a process that leads and serves.
func waitLeader(servers []*crashrun.Server, wait time.Duration) (*crashrun.Server, error) {
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, s := range servers {
			if s.Up() && leads(s) {
				return s, nil
			}
		}
	}
	var logs strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&logs, "--- %s:\n%s\n", s.Name, s.Logs())
	}
	return nil, fmt.Errorf("no process led within %s\n%s", wait, logs.String())
}

// waitLeads waits for s to lead and serve, looking every 20 ms.
func waitLeads(s *crashrun.Server, since time.Time, wait time.Duration) error {
	for time.Since(since) < wait {
		if leads(s) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the standby %s did not take over within %s:\n%s", s.Name, wait, s.Logs())
}

// report prints each takeover's times and their spread.
func report(ts []takeover, ttl, renew time.Duration) {
	fmt.Printf("\nleader TTL %s, renewal every %s: worst case to the lease's end %s\n\n", ttl, renew, ttl+renew)
	fmt.Printf("| kill | killed | kill → standby leads and serves | kill → first acknowledged command |\n|---|---|---|---|\n")
	var ready, ack []time.Duration
	for i, t := range ts {
		fmt.Printf("| %d | %s | %s | %s |\n", i+1, t.killed, t.ready.Round(10*time.Millisecond), t.firstAck.Round(10*time.Millisecond))
		ready = append(ready, t.ready)
		if t.firstAck > 0 {
			ack = append(ack, t.firstAck)
		}
	}
	spread := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "-"
		}
		slices.Sort(ds)
		return fmt.Sprintf("min %s, median %s, max %s", ds[0].Round(10*time.Millisecond),
			ds[len(ds)/2].Round(10*time.Millisecond), ds[len(ds)-1].Round(10*time.Millisecond))
	}
	fmt.Printf("\nkill → standby leads and serves: %s\nkill → first acknowledged command: %s\n\n", spread(ready), spread(ack))
}

func check(dbURL, statePath string, fake *slacktest.Server, st *crashrun.Stats, killed, restarts, queued int) error {
	db, err := store.OpenPostgres(context.Background(), dbURL, store.PostgresOptions{})
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := crashrun.Check(db, statePath, fake, st, queued, false)
	if err != nil {
		return err
	}
	fmt.Printf("| sent | acknowledged requests | done / extend / approve | kills (restarts) | in store | sign-ins (failed) | PIM activations | cards | audit records | problems |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %d / %d / %d | %d (%d) | %d | %d (%d) | %d | %d | %d | %d |\n", st.Sent, len(st.Acked), st.Dones, st.Extends, st.Approves,
		killed, restarts, r.Requests, st.SignIns, st.SignInFails, r.Activations, r.Cards, r.Audit, len(r.Problems))
	fmt.Printf("states: %v\nrefused as duplicates: %d; refused with the answer lost in a kill: %d; attempts answered 503 (no leader; tried again): %d\n",
		r.States, r.Refused, r.LostAnswers, st.Unavailable)
	return r.Err()
}
