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
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
	srv := &crashrun.Server{Bin: bin, Addr: addr, Metrics: metricsAddr, DB: filepath.Join(dir, "elevate.db"), State: filepath.Join(dir, "tenant.json"),
		Config: cfgPath, Latency: latency,
		Env: append(os.Environ(), "SLACK_BOT_TOKEN="+slacktest.BotToken, "SLACK_SIGNING_SECRET="+secret,
			"SLACK_API_URL="+fake.APIURL(), "SLACK_APP_TOKEN=")}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		if srv.Up() {
			srv.Kill()
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
		srv.Kill()
		st.Mu.Lock()
		st.Kills = append(st.Kills, time.Now())
		st.Mu.Unlock()
		killed++
		if err := srv.Start(); err != nil {
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
	srv.Stop()
	return check(srv, fake, st, killed, depth)
}

func check(srv *crashrun.Server, fake *slacktest.Server, st *crashrun.Stats, killed, queued int) error {
	db, err := store.Open(srv.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := crashrun.Check(db, srv.State, fake, st, queued, true)
	if err != nil {
		return err
	}
	fmt.Printf("| sent | acknowledged requests | done / extend / approve | kills (restarts) | in store | sign-ins (failed) | PIM activations | cards | audit records | problems |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %d / %d / %d | %d (%d) | %d | %d (%d) | %d | %d | %d | %d |\n", st.Sent, len(st.Acked), st.Dones, st.Extends, st.Approves,
		killed, srv.Starts()-1, r.Requests, st.SignIns, st.SignInFails, r.Activations, r.Cards, r.Audit, len(r.Problems))
	found := strings.Count(srv.Logs(), "outbox post was already delivered")
	fmt.Printf("states: %v\nrefused as duplicates: %d; refused with the answer lost in a kill: %d\n", r.States, r.Refused, r.LostAnswers)
	lostPosts := 0
	for _, c := range fake.Calls() {
		if c.Method == "chat.postMessage" && c.Status == 0 {
			lostPosts++
		}
	}
	fmt.Printf("posts with an outbox key: %d; post answers lost by Slack: %d; conversations.history look-ups: %d; posts found there instead of posted again: %d\n",
		r.OutboxKeys, lostPosts, fake.CallCount("conversations.history"), found)
	r.PrintAssertions()
	return r.Err()
}
