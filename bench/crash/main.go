// Command crash kills Elevate with SIGKILL at random moments while requests are in flight,
// restarts it, lets it settle, and then checks Elevate's record against the simulated tenant's:
//
//   - every acknowledged request is stored exactly once;
//   - no request is left in flight (activating, or with a PIM write whose outcome is unknown), and
//     none is still pending past its deadline;
//   - Elevate's active elevations are exactly PIM's activated assignments;
//   - PIM activated no request twice (PIM's own requests, by the marker in the justification);
//   - every approval card in the channel shows its request as it is (approvals, buttons), once;
//   - no chat post was delivered twice (each carries its outbox key in Slack message metadata);
//   - the chat outbox is empty, and the audit chain verifies.
//
// It prints each assertion's result.
//
// It exits non-zero on any problem.
//
//	go run ./bench/crash -requests 300 -kills 20
//
// It runs `elevate serve -sandbox -sandbox-state FILE` (the simulated tenant keeps its PIM state
// in FILE, so it survives the kills and a double write stays visible) with a fake Slack Web API in
// this process. Four users send commands concurrently — requests, sign-ins, approvals of each
// other's Exchange requests, `done` and `extend` — while a killer kills and restarts the server
// and the fake Slack loses the answers of some posts it made (-lost-answers).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elevate-pim/elevate/bench/internal/crashrun"
	"github.com/elevate-pim/elevate/bench/internal/measure"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/store"
)

const secret = "crash-test-signing-secret"

func main() {
	requests := flag.Int("requests", 300, "slash commands to send, all users together")
	kills := flag.Int("kills", 20, "SIGKILLs at random moments")
	bin := flag.String("bin", "", "elevate binary (built from this checkout when empty)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay a run)")
	latency := flag.Duration("graph-latency", 150*time.Millisecond, "how long every simulated Graph answer takes")
	settle := flag.Duration("settle", 150*time.Second, "how long the last server runs before the checks (two minute sweeps must run: a write PIM does not show yet is looked at again by the next)")
	lost := flag.Int("lost-answers", 20, "chat.postMessage calls whose answer the fake Slack loses after posting, at random moments")
	flag.Parse()
	if err := run(*requests, *kills, *lost, *bin, *seed, *latency, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "crash:", err)
		os.Exit(1)
	}
}

type server struct {
	bin, addr, metrics, db, state, config string
	latency                               time.Duration
	env                                   []string
	mu                                    sync.Mutex
	cmd                                   *exec.Cmd
	logs                                  bytes.Buffer
	starts                                int
	up                                    bool
}

func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = exec.Command(s.bin, "serve", "-sandbox", "-sandbox-state", s.state, "-config", s.config,
		"-sandbox-graph-latency", s.latency.String(), "-sandbox-min-active", "1s", "-listen", s.addr, "-db", s.db,
		"-metrics-addr", s.metrics)
	s.cmd.Env = s.env
	s.cmd.Stderr = &s.logs
	s.starts++
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			resp.Body.Close()
			s.up = true
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the server did not come up:\n%s", s.logs.String())
}

// kill stops the server with SIGKILL.
func (s *server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.up = false
}

// stop stops the server as an operator would (SIGTERM), so its last outbox pass runs.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.up = false
}

func run(n, kills, lost int, bin string, seed uint64, latency, settle time.Duration) error {
	fmt.Printf("seed %d\n", seed)
	dir, err := os.MkdirTemp("", "elevate-crash-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
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
	addr, err := measure.FreeAddr()
	if err != nil {
		return err
	}
	metricsAddr, err := measure.FreeAddr()
	if err != nil {
		return err
	}
	srv := &server{bin: bin, addr: addr, metrics: metricsAddr, db: filepath.Join(dir, "elevate.db"), state: filepath.Join(dir, "tenant.json"),
		config: cfgPath, latency: latency,
		env: append(os.Environ(), "SLACK_BOT_TOKEN="+slacktest.BotToken, "SLACK_SIGNING_SECRET="+secret,
			"SLACK_API_URL="+fake.APIURL(), "SLACK_APP_TOKEN=")}
	if err := srv.start(); err != nil {
		return err
	}
	defer func() {
		if srv.up {
			srv.kill()
		}
	}()

	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	st := crashrun.NewStats()
	sender := crashrun.Sender{Client: client, Base: base, Secret: secret, Fake: fake, RetryUnavailable: false}
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
	// The killer: kills at random moments while the senders run, each followed by a restart.
	killRNG := rand.New(rand.NewPCG(seed, seed^0xdead))
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()
	// Meanwhile Slack loses the answers of some posts it made: the outbox must find them in the
	// history instead of posting them again.
	loseRNG := rand.New(rand.NewPCG(seed, seed^0x1057))
	go func() {
		for range lost {
			select {
			case <-sendersDone:
				return
			case <-time.After(time.Duration(200+loseRNG.IntN(1800)) * time.Millisecond):
			}
			fake.LoseAnswer("chat.postMessage", "")
		}
	}()
	killed := 0
	for killed < kills {
		select {
		case <-sendersDone:
		case <-time.After(time.Duration(300+killRNG.IntN(2500)) * time.Millisecond):
		}
		srv.kill()
		st.Mu.Lock()
		st.Kills = append(st.Kills, time.Now())
		st.Mu.Unlock()
		killed++
		if err := srv.start(); err != nil {
			return err
		}
	}
	<-sendersDone
	fmt.Printf("sent %d commands with %d kills; settling for %s\n", n, killed, settle)
	time.Sleep(settle)
	// The outbox as the settled server sees it; what the shutdown itself queues is not counted.
	depth, err := crashrun.OutboxDepth(metricsAddr)
	if err != nil {
		return err
	}
	srv.stop()
	return check(srv, fake, st, n, killed, depth)
}

func check(srv *server, fake *slacktest.Server, st *crashrun.Stats, n, killed, queued int) error {
	now := time.Now()
	var pim crashrun.PIMState
	b, err := os.ReadFile(srv.state)
	if err != nil {
		return fmt.Errorf("reading the tenant's state: %w", err)
	}
	if err := json.Unmarshal(b, &pim); err != nil {
		return fmt.Errorf("reading the tenant's state: %w", err)
	}
	db, err := store.Open(srv.db)
	if err != nil {
		return err
	}
	defer db.Close()
	rs, err := db.Requests(store.Filter{Platform: "slack"})
	if err != nil {
		return err
	}
	// Each assertion's problems, in the order the assertions are checked.
	var (
		problems   []string
		assertions []string
		failed     = map[string]int{}
		current    string
	)
	assert := func(name string) { current = name; assertions = append(assertions, name) }
	problem := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
		failed[current]++
	}

	// Every acknowledged request stored once.
	assert("every acknowledged request stored once")
	byText := map[int]int{}
	byID := map[uint64]store.Request{}
	states := map[store.State]int{}
	for _, r := range rs {
		byID[r.ID] = r
		states[r.State]++
		if m := numRE.FindStringSubmatch(r.Justification); m != nil {
			k, _ := strconv.Atoi(m[1])
			byText[k]++
		}
	}
	assert("no request in flight (activating, a PIM write of unknown outcome) or pending past its deadline")
	for _, r := range rs {
		switch {
		case r.State == store.StateActivating:
			problem("request #%d is still activating (%s)", r.ID, r.UpdatedAt.Format(time.TimeOnly))
		case r.Write != nil:
			problem("request #%d (%s) still has a PIM write (%s) of unknown outcome", r.ID, r.State, r.Write.Action)
		case !r.State.Terminal() && r.State != store.StateActive && !r.ExpiresAt.IsZero() && now.Sub(r.ExpiresAt) > 90*time.Second:
			problem("request #%d is %s, %s past its deadline", r.ID, r.State, now.Sub(r.ExpiresAt).Round(time.Second))
		}
	}
	assert("every acknowledged request stored once")
	// A request refused at once (a duplicate of one the user has open) is acknowledged and
	// answered, not stored; the answer goes through the command's response_url.
	refused := map[int]bool{}
	answered := map[int]bool{}
	for _, m := range fake.Messages() {
		if k, ok := strings.CutPrefix(m.Original, "cmd-"); ok {
			i, _ := strconv.Atoi(k)
			answered[i] = true
			if dupRE.MatchString(m.Plain()) {
				refused[i] = true
			}
		}
	}
	lostAnswers := 0
	for i := range st.Acked {
		switch {
		case byText[i] == 1:
		case byText[i] == 0 && refused[i]:
		case byText[i] == 0 && !answered[i] && st.KilledAfter(i):
			// Not stored, so Accept refused it (it stores before acknowledging); its answer died
			// with the kill right after. Counted, not a problem: nothing was acknowledged as taken.
			lostAnswers++
		default:
			problem("acknowledged request %d is in the store %d times (answered: %v)", i, byText[i], answered[i])
		}
	}
	for i, c := range byText {
		if c > 1 {
			problem("request %d stored %d times", i, c)
		}
	}

	// Elevate's active set is PIM's: (user, role) pairs, leaving out what ends within the
	// tolerance of the sweep.
	assert("Elevate's active set equal to PIM's active assignments")
	near := func(t time.Time) bool { d := t.Sub(now); return d > -90*time.Second && d < 90*time.Second }
	elevate := map[string]uint64{}
	for _, r := range rs {
		if r.State == store.StateActive && !near(r.EndsAt) {
			elevate[strings.ToLower(r.UserID+" "+r.RoleID)] = r.ID
		}
	}
	inPIM := map[string]bool{}
	for _, a := range pim.Assign {
		if a.AssignmentType != "Activated" || a.End == nil || a.Start.After(now) || !a.End.After(now) || near(*a.End) {
			continue
		}
		inPIM[strings.ToLower(a.PrincipalID+" "+a.RoleID)] = true
	}
	for k, id := range elevate {
		if !inPIM[k] {
			problem("request #%d is active in Elevate, not in PIM (%s)", id, k)
		}
	}
	for k := range inPIM {
		if _, ok := elevate[k]; !ok {
			problem("PIM has %s active, Elevate has no active request for it", k)
			for _, r := range rs {
				if strings.EqualFold(r.UserID+" "+r.RoleID, k) {
					problem("  Elevate #%d %s %q created %s updated %s ends %s failure %s", r.ID, r.State, r.Justification,
						r.CreatedAt.Format(time.TimeOnly), r.UpdatedAt.Format(time.TimeOnly), r.EndsAt.Format(time.TimeOnly), r.FailureCode)
				}
			}
			for id, q := range pim.Requests {
				if strings.EqualFold(q.PrincipalID+" "+q.RoleID, k) {
					problem("  PIM %s %s %s %q created %s start %s", id, q.Action, q.Status, q.Justification,
						q.Created.Format(time.TimeOnly), q.Start.Format(time.TimeOnly))
				}
			}
		}
	}

	// PIM activated no request twice: its own selfActivate requests (not extensions' scheduled
	// follow-ups) that it granted, by the request's marker.
	assert("no request activated twice (in PIM, or recorded active twice)")
	granted := map[string]int{}
	for _, q := range pim.Requests {
		if q.Action != "selfActivate" || q.StartGiven && q.Start.After(q.Created.Add(time.Second)) {
			continue
		}
		switch q.Status {
		case "Granted", "Provisioned", "PendingProvisioning", "ScheduleCreated":
		default:
			continue
		}
		if m := numRE.FindStringSubmatch(q.Justification); m != nil {
			granted[q.PrincipalID+" "+m[1]]++
		}
	}
	activations := 0
	for k, c := range granted {
		activations += c
		if c > 1 {
			problem("PIM activated request %q %d times", k, c)
		}
	}
	active := map[uint64]int{}
	if err := db.Audit(func(a store.AuditRecord) error {
		if a.Action == "request.active" {
			active[a.RequestID]++
		}
		return nil
	}); err != nil {
		return err
	}
	for id, c := range active {
		if c > 1 {
			problem("request #%d recorded active %d times", id, c)
		}
	}

	// Every card shows its request as it is, and each request has one card at most.
	assert("every card's final text matches its request; one card per request")
	cards := map[uint64]int{}
	for _, m := range fake.InChannel("C0APPROVALS") {
		c := crashrun.CardRE.FindStringSubmatch(m.Plain())
		if c == nil {
			continue
		}
		id, _ := strconv.ParseUint(c[1], 10, 64)
		cards[id]++
		r, ok := byID[id]
		if !ok {
			problem("a card for request #%d, which is not in the store", id)
			continue
		}
		text := m.Plain()
		got := 0
		for _, ap := range r.Approvals {
			if ap.Decision == "approve" {
				got++
			}
		}
		if want := fmt.Sprintf("%d of %d", got, r.ApprovalsNeeded); !strings.Contains(text, want) {
			problem("request #%d's card does not say %q (%s): %q", id, want, r.State, text)
		}
		live := r.State == store.StateAwaitingApproval && got < r.ApprovalsNeeded
		if buttons := strings.Contains(text, "[Approve]"); buttons != live {
			problem("request #%d is %s but its card has buttons=%v", id, r.State, buttons)
		}
	}
	for id, c := range cards {
		if c > 1 {
			problem("request #%d has %d cards", id, c)
		}
	}
	for _, r := range rs {
		if r.ApprovalsNeeded > 0 && cards[r.ID] == 0 && (r.State == store.StateAwaitingApproval || len(r.Approvals) > 0) {
			problem("request #%d (%s) waited for approval but has no card", r.ID, r.State)
		}
	}

	// No post made twice: every outbox post carries its key in Slack message metadata; two
	// messages with one key are one delivery made twice (a lost answer posted again).
	assert("no chat post delivered twice (by its outbox key)")
	keys := map[string]int{}
	for _, m := range fake.Messages() {
		var md struct {
			EventPayload map[string]any `json:"event_payload"`
		}
		if len(m.Metadata) == 0 || json.Unmarshal(m.Metadata, &md) != nil {
			continue
		}
		if k, _ := md.EventPayload["outbox_key"].(string); k != "" {
			keys[m.Channel+" "+k]++
		}
	}
	for k, c := range keys {
		if c > 1 {
			problem("%s posted %d times", k, c)
		}
	}

	// The outbox is empty and the audit chain verifies.
	assert("outbox empty")
	depth, oldest, err := db.OutboxStats()
	if err != nil {
		return err
	}
	if queued > 0 {
		problem("%d chat deliveries still in the outbox after settling (%d after the stop, oldest from %s)", queued, depth, oldest.Format(time.TimeOnly))
		items, _ := db.OutboxItems()
		for _, it := range items {
			problem("still queued: #%d %s %s to %q/%q for request #%d, created %s, %d attempts, next %s, after #%d, run %q: %s",
				it.ID, it.Platform, it.Op, it.Channel, it.User, it.RequestID, it.CreatedAt.Format(time.TimeOnly), it.Attempts,
				it.NextAt.Format(time.TimeOnly), it.After, it.Run, it.LastError)
		}
	}
	assert("audit chain verifies")
	nAudit, verr := db.VerifyAudit()
	if verr != nil {
		problem("audit chain: %v", verr)
	}

	fmt.Printf("| sent | acknowledged requests | done / extend / approve | kills (restarts) | in store | sign-ins (failed) | PIM activations | cards | audit records | problems |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %d / %d / %d | %d (%d) | %d | %d (%d) | %d | %d | %d | %d |\n", st.Sent, len(st.Acked), st.Dones, st.Extends, st.Approves,
		killed, srv.starts-1, len(rs), st.SignIns, st.SignInFails, activations, len(cards), nAudit, len(problems))
	srv.mu.Lock()
	found := strings.Count(srv.logs.String(), "outbox post was already delivered")
	srv.mu.Unlock()
	fmt.Printf("states: %v\nrefused as duplicates: %d; refused with the answer lost in a kill: %d\n", states, len(refused), lostAnswers)
	lostPosts := 0
	for _, c := range fake.Calls() {
		if c.Method == "chat.postMessage" && c.Status == 0 {
			lostPosts++
		}
	}
	fmt.Printf("posts with an outbox key: %d; post answers lost by Slack: %d; conversations.history look-ups: %d; posts found there instead of posted again: %d\n",
		len(keys), lostPosts, fake.CallCount("conversations.history"), found)
	fmt.Printf("\n| assertion | result |\n|---|---|\n")
	seen := map[string]bool{}
	for _, a := range assertions {
		if seen[a] {
			continue
		}
		seen[a] = true
		if failed[a] == 0 {
			fmt.Printf("| %s | ok |\n", a)
		} else {
			fmt.Printf("| %s | **%d problem(s)** |\n", a, failed[a])
		}
	}
	for _, p := range problems {
		fmt.Println("PROBLEM:", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems", len(problems))
	}
	return nil
}

var (
	numRE = regexp.MustCompile(`crash (\d+)$`)
	dupRE = regexp.MustCompile(`already (have a pending request|active for you)|is being activated right now`)
)
