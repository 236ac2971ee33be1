// Command load is Elevate's load generator: it starts `elevate serve -sandbox` as a separate
// process (simulated tenant answering after -graph-latency, a fake Slack Web API in this process),
// sends signed /elevate slash commands at -rate per second for -duration, and reports the
// acknowledgement latency, errors, the server's memory, and whether every acknowledged request
// is in the store.
//
// The acknowledgement waits for the request's fsync'd write, so its latency is bounded below by
// the disk, whose fsync latency swings by an order of magnitude between runs and machines (and
// from one minute to the next on a shared machine). The load generator therefore measures that
// floor side by side with the load, in the same run: it alternates phases of -phase, first the
// floor (this process stores the same kind of request with the same store code,
// store.CreateRequest: one fsync'd bbolt transaction, group commit, into its own file in the same
// directory, at the same rate, open loop, while the server is idle), then the load on the server,
// until each has had -duration. It reports the acknowledgement's p50 and p99 as ratios to the
// floor's, as well as in milliseconds.
//
// -db picks the store: bolt (a file in a temporary directory, the default), postgres (a
// throwaway PostgreSQL cluster started for the run, as the tests start theirs), a postgres:// URL
// of a server whose role may CREATE DATABASE (the run creates the server's and the floor's
// databases there and drops them after), or both: bbolt, then PostgreSQL, in one invocation, with
// their figures side by side at the end. On PostgreSQL the floor is the same store code writing
// into a database of its own on the same server.
//
//	go run ./bench/load -rate 200 -duration 60s -graph-latency 300ms [-db both]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elevate-pim/elevate/bench/internal/measure"
	"github.com/elevate-pim/elevate/bench/internal/signed"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/elevate-pim/elevate/store"
	"github.com/jackc/pgx/v5"
)

const secret = "load-test-signing-secret"

func main() {
	rate := flag.Int("rate", 200, "slash commands per second (open loop: sent on schedule whatever the answers)")
	duration := flag.Duration("duration", 60*time.Second, "how long to send")
	latency := flag.Duration("graph-latency", 300*time.Millisecond, "how long every simulated Graph and sign-in answer takes")
	users := flag.Int("users", 200, "distinct Slack users")
	bin := flag.String("bin", "", "elevate binary (built from this checkout when empty)")
	profile := flag.String("cpuprofile", "", "write the server's CPU profile over the middle of the run to this file")
	blockProfile := flag.String("blockprofile", "", "write the server's block profile (where goroutines waited, the whole run) to this file")
	phase := flag.Duration("phase", 5*time.Second, "length of each floor and load phase; they alternate until each has had -duration")
	db := flag.String("db", "bolt", "the store: bolt, postgres (a throwaway cluster), a postgres:// URL (its role may CREATE DATABASE), or both (bolt then postgres)")
	flag.Parse()
	if err := runAll(*db, *rate, *duration, *latency, *users, *bin, *profile, *blockProfile, *phase); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// result is one run's headline figures, for the side-by-side table of -db both.
type result struct {
	store                      string
	floorP50, floorP99         time.Duration
	ackP50, ackP99, ackMax     time.Duration
	acked, errors, inStore     int
	loadBefore, loadAfter, rss string
	cpuPerK                    string
}

func runAll(db string, rate int, duration, latency time.Duration, users int, bin, profile, blockProfile string, phase time.Duration) error {
	dir, err := os.MkdirTemp("", "elevate-load-")
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
	var kinds []string
	switch {
	case db == "both":
		kinds = []string{"bolt", "postgres"}
	case db == "bolt" || db == "postgres" || measure.IsPostgresURL(db):
		kinds = []string{db}
	default:
		return fmt.Errorf("-db %q: use bolt, postgres, a postgres:// URL or both", db)
	}
	var results []result
	var failed error
	for _, kind := range kinds {
		t, err := newTarget(kind, dir)
		if err != nil {
			return err
		}
		fmt.Printf("## store: %s\n", t.name)
		res, err := run(t, bin, rate, duration, latency, users, profile, blockProfile, phase)
		t.cleanup()
		if err != nil {
			// Go on to the other store: its figures are worth having; the run still fails.
			fmt.Printf("%s: %v\n", t.name, err)
			failed = fmt.Errorf("%s: %w", t.name, err)
		}
		if res.store != "" {
			results = append(results, res)
		}
	}
	if len(results) > 1 {
		fmt.Printf("\n## side by side (%d/s, %s, Graph latency %s)\n", rate, duration, latency)
		fmt.Printf("| store | load before / after | floor p50 | floor p99 | ack p50 | ack p99 | ack max | ack p99 ÷ floor p99 | acked / errors / in store | server peak RSS | server CPU per 1000 commands |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range results {
			fmt.Printf("| %s | %s / %s | %s | %s | %s | %s | %s | %.2f× | %d / %d / %d | %s | %s |\n", r.store, r.loadBefore, r.loadAfter,
				ms(r.floorP50), ms(r.floorP99), ms(r.ackP50), ms(r.ackP99), ms(r.ackMax),
				float64(r.ackP99)/float64(max(r.floorP99, 1)), r.acked, r.errors, r.inStore, r.rss, r.cpuPerK)
		}
	}
	return failed
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// target is where one run's server and floor keep their stores.
type target struct {
	name          string
	server, floor string // a bbolt path or a database URL each
	cleanup       func()
}

func newTarget(kind, dir string) (target, error) {
	if kind == "bolt" {
		server, floor := filepath.Join(dir, "elevate.db"), filepath.Join(dir, "floor.db")
		return target{name: "bbolt", server: server, floor: floor,
			cleanup: func() { os.Remove(server); os.Remove(floor) }}, nil
	}
	admin, stopServer := kind, func() {}
	if kind == "postgres" {
		cdir, err := os.MkdirTemp("", "elevate-pgtest-") // as root, the postgres user must reach it
		if err != nil {
			return target{}, err
		}
		var stop func()
		if admin, stop, err = pgtest.Start(cdir); err != nil {
			os.RemoveAll(cdir)
			return target{}, fmt.Errorf("starting PostgreSQL: %w", err)
		}
		stopServer = stop
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		stopServer()
		return target{}, fmt.Errorf("PostgreSQL %s: %w", store.RedactURL(admin), err)
	}
	defer conn.Close(ctx)
	var urls, names []string
	for _, role := range []string{"server", "floor"} {
		name := fmt.Sprintf("elevate_load_%s_%d", role, os.Getpid())
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			stopServer()
			return target{}, fmt.Errorf("PostgreSQL: %w", err)
		}
		u, err := url.Parse(admin)
		if err != nil {
			stopServer()
			return target{}, err
		}
		u.Path = "/" + name
		urls, names = append(urls, u.String()), append(names, name)
	}
	var version string
	conn.QueryRow(ctx, "SHOW server_version").Scan(&version)
	version, _, _ = strings.Cut(version, " ")
	drop := func() {
		c, err := pgx.Connect(ctx, admin)
		if err == nil {
			for _, n := range names {
				c.Exec(ctx, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)")
			}
			c.Close(ctx)
		}
		stopServer()
	}
	return target{name: "PostgreSQL " + version, server: urls[0], floor: urls[1], cleanup: drop}, nil
}

// openStore opens a bbolt path or a database URL, as elevate's -db does.
func openStore(loc string) (*store.Store, error) {
	if measure.IsPostgresURL(loc) {
		return store.OpenPostgres(context.Background(), loc, store.PostgresOptions{})
	}
	return store.Open(loc)
}

func run(t target, bin string, rate int, duration, latency time.Duration, users int, profile, blockProfile string, phase time.Duration) (result, error) {
	loadBefore := measure.LoadAvg()
	fake := slacktest.New()
	defer fake.Close()
	for i := range users {
		fake.AddUser(slacktest.User{ID: userID(i), Name: "user" + strconv.Itoa(i), Email: fmt.Sprintf("user%d@contoso.example", i)})
	}
	fake.AddChannel("C0LOAD", "it-ops")

	addr, err := measure.FreeAddr()
	if err != nil {
		return result{}, err
	}
	args := []string{"serve", "-sandbox", "-listen", addr, "-metrics-on-main", "-db", t.server, "-sandbox-graph-latency", latency.String()}
	var pprofAddr string
	if profile != "" || blockProfile != "" {
		if pprofAddr, err = measure.FreeAddr(); err != nil {
			return result{}, err
		}
		args = append(args, "-pprof", pprofAddr)
		if blockProfile != "" {
			args = append(args, "-pprof-block")
		}
	}
	srv := exec.Command(bin, args...)
	srv.Env = append(os.Environ(), "SLACK_BOT_TOKEN="+slacktest.BotToken, "SLACK_SIGNING_SECRET="+secret,
		"SLACK_API_URL="+fake.APIURL(), "SLACK_APP_TOKEN=")
	var logs bytes.Buffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Process.Kill()
			srv.Wait()
		}
	}()
	base := "http://" + addr
	if err := measure.WaitUp(base, 60*time.Second); err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, logs.String())
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      = map[string]int{}
		acked     atomic.Int64
	)
	if profile != "" {
		go func() {
			// The middle of the run (floor and load phases alternate: about 2×duration in all),
			// after the first contacts, before the end: about half of it is load.
			time.Sleep(duration / 2)
			secs := max(1, int(duration.Seconds()))
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs))
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if err := os.WriteFile(profile, b, 0o600); err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
			}
		}()
	}
	fl, err := measure.OpenFloorAt(t.floor)
	if err != nil {
		return result{}, fmt.Errorf("floor: %w", err)
	}
	// After a load phase the server finishes its background work (sign-in DMs, Graph reads)
	// before the next floor phase starts, so the floor is not measured against it.
	settle := max(time.Second, 3*latency)
	total, sent := int(float64(rate)*duration.Seconds()), 0
	var loadTime time.Duration
	for sent < total {
		n := min(total-sent, int(float64(rate)*phase.Seconds()))
		fl.Run(float64(rate), n, users)
		t0 := time.Now()
		measure.OpenLoop(float64(rate), n, func(j int, due time.Time) {
			i := sent + j
			user := userID(i % users)
			form := url.Values{
				"command": {"/elevate"}, "text": {"exchange 1h load test " + strconv.Itoa(i)},
				"user_id": {user}, "user_name": {"user"}, "channel_id": {"C0LOAD"}, "team_id": {"T0LOAD"},
				"response_url": {fake.ResponseURL(user, "C0LOAD", "")}, "trigger_id": {"trig." + strconv.Itoa(i)},
			}
			code, err := signed.Post(client, base+"/slack/commands", secret, form.Encode())
			d := time.Since(due) // from when it was due: the generator's own lag counts too
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs[err.Error()]++
			case code != http.StatusOK:
				errs["HTTP "+strconv.Itoa(code)]++
			default:
				acked.Add(1)
				latencies = append(latencies, d)
			}
		})
		loadTime += time.Since(t0)
		sent += n
		time.Sleep(settle)
	}
	floorCommits := fl.CommitStats()
	serverCommits := commitStats(base)
	floorLat, floorErrs, err := fl.Close()
	if err != nil {
		return result{}, fmt.Errorf("floor: %w", err)
	}
	if blockProfile != "" {
		if err := fetch("http://"+pprofAddr+"/debug/pprof/block", blockProfile); err != nil {
			fmt.Fprintln(os.Stderr, "block profile:", err)
		}
	}
	hwm, rss := measure.Memory(srv.Process.Pid)
	cpu := measure.CPUSeconds(srv.Process.Pid)
	server := serverSide(base)

	// Stop the server the way an operator would, then count what the store kept.
	measure.Stop(srv)
	stopped = true
	st, err := openStore(t.server)
	if err != nil {
		return result{}, err
	}
	rs, err := st.Requests(store.Filter{Platform: "slack"})
	st.Close()
	if err != nil {
		return result{}, err
	}

	slices.Sort(latencies)
	loadAfter := measure.LoadAvg()
	fmt.Printf("rate %d/s, %d commands in phases of %s (load phases took %s in all), Graph latency %s, %d users; load average before/after: %s / %s\n",
		rate, total, phase, loadTime.Round(time.Millisecond), latency, users, loadBefore, loadAfter)
	fmt.Printf("floor: store.CreateRequest (durable) at %d/s into %s, %d writes in phases alternating with the load's, same disk\n", rate, t.name, len(floorLat)+floorErrs)
	fmt.Printf("| measure | p50 | p90 | p99 | max | errors |\n|---|---|---|---|---|---|\n")
	fmt.Printf("| floor | %s | %s | %s | %s | %d |\n", pct(floorLat, 50), pct(floorLat, 90), pct(floorLat, 99), pct(floorLat, 100), floorErrs)
	fmt.Printf("| ack | %s | %s | %s | %s | %d |\n", pct(latencies, 50), pct(latencies, 90), pct(latencies, 99), pct(latencies, 100), sum(errs))
	fmt.Printf("ack ÷ floor: p50 %s, p99 %s (goal p99 ≤ 2×)\n", measure.Ratio(latencies, floorLat, 50), measure.Ratio(latencies, floorLat, 99))
	fmt.Printf("| acked | errors | server peak RSS | server RSS at end | requests in store | server CPU per 1000 commands |\n|---|---|---|---|---|---|\n")
	perK := "?"
	if cpu >= 0 && total > 0 {
		perK = fmt.Sprintf("%.2f s", cpu*1000/float64(total))
	}
	fmt.Printf("| %d | %d | %s | %s | %d | %s |\n", acked.Load(), sum(errs), hwm, rss, len(rs), perK)
	fmt.Printf("server-side (from /metrics, the handler alone): %s\n", server)
	fmt.Printf("group commits (what an acknowledgement's write shares its transaction with): server %s, %.2f writes per command sent; floor %s\n",
		commitWords(serverCommits), float64(serverCommits.Writes)/float64(max(1, total)), commitWords(floorCommits))
	for e, n := range errs {
		fmt.Printf("error ×%d: %s\n", n, e)
	}
	res := result{store: t.name, floorP50: measure.At(floorLat, 50), floorP99: measure.At(floorLat, 99),
		ackP50: measure.At(latencies, 50), ackP99: measure.At(latencies, 99), ackMax: measure.At(latencies, 100),
		acked: int(acked.Load()), errors: sum(errs), inStore: len(rs), loadBefore: loadBefore, loadAfter: loadAfter, rss: hwm, cpuPerK: perK}
	if int64(len(rs)) != acked.Load() {
		return res, fmt.Errorf("%d requests acknowledged but %d in the store", acked.Load(), len(rs))
	}
	return res, nil
}

// serverSide reads the server's own histogram of the slash-command handler from /metrics and
// says which bucket holds its p50 and p99: what the server spent, without the load generator's
// own scheduling on the same two cores.
func serverSide(base string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return "unavailable: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	type bucket struct {
		le    string
		count float64
	}
	var bs []bucket
	for _, line := range strings.Split(string(body), "\n") {
		const prefix = `elevate_http_request_seconds_bucket{handler="POST /slack/commands",le="`
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		rest := strings.TrimPrefix(line, prefix)
		i := strings.Index(rest, `"}`)
		if i < 0 {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(rest[i+2:]), 64)
		if err == nil {
			bs = append(bs, bucket{rest[:i], n})
		}
	}
	if len(bs) == 0 {
		return "no histogram"
	}
	total := bs[len(bs)-1].count
	at := func(q float64) string {
		for _, b := range bs {
			if b.count >= q*total {
				return "≤ " + b.le + " s"
			}
		}
		return "?"
	}
	return fmt.Sprintf("%.0f requests, p50 %s, p99 %s", total, at(0.5), at(0.99))
}

func userID(i int) string { return fmt.Sprintf("U%05d", i) }

var pct = measure.Pct

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// fetch writes what url answers to file.
func fetch(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o600)
}

// commitStats reads the server's group-commit counters from /metrics (the whole run: the
// acknowledgements' writes and the background work's).
func commitStats(base string) store.CommitStats {
	var st store.CommitStats
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "elevate_store_commits_total":
			st.Commits = int64(v)
		case "elevate_store_commit_writes_total":
			st.Writes = int64(v)
		case "elevate_store_commit_seconds_total":
			st.Time = time.Duration(v * float64(time.Second))
		}
	}
	return st
}

func commitWords(st store.CommitStats) string {
	if st.Commits == 0 {
		return "none"
	}
	return fmt.Sprintf("%d commits carrying %d writes (%.2f per commit, %s per commit)", st.Commits, st.Writes,
		float64(st.Writes)/float64(st.Commits), (st.Time / time.Duration(st.Commits)).Round(10*time.Microsecond))
}
