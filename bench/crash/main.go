// Command crash kills Elevate with SIGKILL at random moments while it serves requests, restarts
// it, and then checks the store: every acknowledged request is there exactly once (or the user
// was told it duplicates one of theirs already open, which Elevate refuses without storing it),
// and no request was activated twice.
//
//	go run ./bench/crash -requests 500 -kills 10
//
// It runs `elevate serve -sandbox` (simulated tenant) with a fake Slack Web API in this process.
// Users sign in through the sandbox's sign-in page, so requests really activate.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elevate-pim/elevate/bench/internal/signed"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/store"
)

const secret = "crash-test-signing-secret"

// people are Slack users and who they are in the sandbox tenant, with a role each can activate.
// Those who sign in get their role activated, after which Elevate refuses their next requests
// for it as duplicates (without storing them); those who never sign in make a stored request
// every time (each superseding the last), so kills keep landing on request writes too.
var people = []struct {
	slack, upn, text string
	signsIn          bool
}{
	{"UALICE", "alice@contoso.example", "exchange 1h crash", true},
	{"UDAVE", "dave@contoso.example", "sharepoint 1h crash", false},
	{"UBOB", "bob@contoso.example", "user 1h crash", true},
	{"UCAROL", "carol@contoso.example", "user 1h crash", false},
}

func main() {
	requests := flag.Int("requests", 500, "slash commands to send")
	kills := flag.Int("kills", 10, "SIGKILLs at random moments")
	bin := flag.String("bin", "", "elevate binary (built from this checkout when empty)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay a run)")
	flag.Parse()
	if err := run(*requests, *kills, *bin, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "crash:", err)
		os.Exit(1)
	}
}

type server struct {
	bin, addr, db string
	env           []string
	mu            sync.Mutex
	cmd           *exec.Cmd
	logs          bytes.Buffer
	starts        int
}

func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = exec.Command(s.bin, "serve", "-sandbox", "-listen", s.addr, "-db", s.db)
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
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the server did not come up:\n%s", s.logs.String())
}

func (s *server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

func run(n, kills int, bin string, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
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
	fake := slacktest.New()
	defer fake.Close()
	for _, p := range people {
		fake.AddUser(slacktest.User{ID: p.slack, Name: p.slack, Email: p.upn})
	}
	fake.AddChannel("C0CRASH", "it-ops")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := &server{bin: bin, addr: addr, db: filepath.Join(dir, "elevate.db"),
		env: append(os.Environ(), "SLACK_BOT_TOKEN="+slacktest.BotToken, "SLACK_SIGNING_SECRET="+secret,
			"SLACK_API_URL="+fake.APIURL(), "SLACK_APP_TOKEN=")}
	if err := srv.start(); err != nil {
		return err
	}
	defer srv.kill()

	killAt := map[int]bool{}
	for len(killAt) < kills {
		killAt[1+rng.IntN(n-1)] = true
	}
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	acked := map[int]bool{}
	respID := map[int]string{} // command → its response_url's id, where a refusal is told
	signIns, signInFailures := 0, 0
	for i := range n {
		if killAt[i] {
			// Kill while the previous request's work (sign-in, activation) may still run.
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
			srv.kill()
			if err := srv.start(); err != nil {
				return err
			}
		}
		p := people[i%len(people)]
		text := fmt.Sprintf("%s %d", p.text, i)
		ru := fake.ResponseURL(p.slack, "C0CRASH", "")
		respID[i] = path.Base(ru)
		form := url.Values{"command": {"/elevate"}, "text": {text}, "user_id": {p.slack}, "user_name": {p.slack},
			"channel_id": {"C0CRASH"}, "team_id": {"T0CRASH"}, "response_url": {ru},
			"trigger_id": {"trig." + strconv.Itoa(i)}}
		before := len(fake.Private(p.slack))
		if code, err := signed.Post(client, base+"/slack/commands", secret, form.Encode()); err == nil && code == http.StatusOK {
			acked[i] = true
		}
		// Half the time the user signs in at once, so activations run while kills happen.
		if p.signsIn && rng.IntN(2) == 0 {
			if link := waitLink(fake, p.slack, before, 2*time.Second); link != "" {
				signIns++
				if !signIn(client, link, p.upn) {
					signInFailures++
				}
			}
		}
	}
	time.Sleep(2 * time.Second) // let the last activations finish before the final stop
	srv.kill()

	st, err := store.Open(srv.db)
	if err != nil {
		return err
	}
	defer st.Close()
	rs, err := st.Requests(store.Filter{Platform: "slack"})
	if err != nil {
		return err
	}
	byText := map[int]int{}
	states := map[store.State]int{}
	for _, r := range rs {
		states[r.State]++
		if m := numRE.FindStringSubmatch(r.Justification); m != nil {
			k, _ := strconv.Atoi(m[1])
			byText[k]++
		}
	}
	activating := map[uint64]int{}
	active := map[uint64]int{}
	if err := st.Audit(func(a store.AuditRecord) error {
		switch a.Action {
		case "request.activating":
			activating[a.RequestID]++
		case "request.active":
			active[a.RequestID]++
		}
		return nil
	}); err != nil {
		return err
	}
	nAudit, verr := st.VerifyAudit()

	// A second request for a role the person already has open (active, waiting for approval,
	// being activated) is refused, not stored, and the user is told so through the command's
	// response_url.
	refusedIDs := map[string]bool{}
	for _, m := range fake.Messages() {
		if m.Via == "response_url" && duplicateRE.MatchString(m.Plain()) {
			refusedIDs[m.Response] = true
		}
	}
	// open: the people with a request open at the end (each person asks for one role only, so a
	// refusal whose reply a kill cut short is explained by one of these).
	open := map[string]bool{}
	for _, r := range rs {
		if r.State == store.StateActive || r.State == store.StateAwaitingApproval || r.State == store.StateActivating {
			open[r.ChatUser] = true
		}
	}
	var problems []string
	refused, cutShort := 0, 0
	for i := range acked {
		p := people[i%len(people)]
		switch {
		case byText[i] == 1:
		case byText[i] == 0 && refusedIDs[respID[i]]:
			refused++
		case byText[i] == 0 && killAt[i+1] && open[p.slack]:
			cutShort++ // refused as a duplicate, its reply lost to the kill right after
		default:
			problems = append(problems, fmt.Sprintf("acknowledged request %d is in the store %d times", i, byText[i]))
		}
	}
	for i, c := range byText {
		if c > 1 {
			problems = append(problems, fmt.Sprintf("request %d stored %d times", i, c))
		}
	}
	for id, c := range activating {
		if c > 1 || active[id] > 1 {
			problems = append(problems, fmt.Sprintf("request #%d activated %d times (%d active records)", id, c, active[id]))
		}
	}
	if verr != nil {
		problems = append(problems, "audit chain: "+verr.Error())
	}
	fmt.Printf("| sent | acknowledged | kills (restarts) | in store | refused as duplicates (reply cut short by a kill) | sign-ins (failed: link died with a kill) | activation attempts | audit records | problems |\n|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %d (%d) | %d | %d (%d) | %d (%d) | %d | %d | %d |\n", n, len(acked), kills, srv.starts-1, len(rs), refused+cutShort, cutShort, signIns, signInFailures, len(activating), nAudit, len(problems))
	fmt.Printf("states: %v\n", states)
	for _, p := range problems {
		fmt.Println("PROBLEM:", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems", len(problems))
	}
	return nil
}

var numRE = regexp.MustCompile(`crash (\d+)$`)

// duplicateRE matches the core's refusal of a request for a role the person already has open.
var duplicateRE = regexp.MustCompile(`is already active for you|You already have a pending request for|is being activated right now`)

var linkRE = regexp.MustCompile(`https?://[^\s"<>|]+/sandbox/sign-in\?to=[^\s"<>|]+`)

// waitLink waits for a sign-in link among the messages user got after the first `after`: the
// link for the request just sent, not an older one.
func waitLink(fake *slacktest.Server, user string, after int, wait time.Duration) string {
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

// signIn plays the browser: the sandbox's user picker, then Elevate's /auth/callback.
func signIn(c *http.Client, link, upn string) bool {
	u, err := url.Parse(link)
	if err != nil {
		return false
	}
	form := url.Values{"to": {u.Query().Get("to")}, "user": {upn}, "mfa": {"on"}}
	resp, err := c.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		return false
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		return false
	}
	resp, err = c.Get(loc)
	if err != nil {
		return false
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	lf := linkForm.FindStringSubmatch(string(page))
	if resp.StatusCode != http.StatusOK || lf == nil {
		return resp.StatusCode == http.StatusOK
	}
	// A chat account's first sign-in: the person confirms on Elevate's page that it is theirs
	// (the form's token and the cookie the page set).
	v := url.Values{"answer": {"link"}}
	for _, in := range linkInput.FindAllStringSubmatch(string(page), -1) {
		v.Set(in[1], html.UnescapeString(in[2]))
	}
	cb, err := url.Parse(loc)
	if err != nil {
		return false
	}
	req, err := http.NewRequest(http.MethodPost, cb.Scheme+"://"+cb.Host+html.UnescapeString(lf[1]), strings.NewReader(v.Encode()))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range resp.Cookies() {
		req.AddCookie(ck)
	}
	resp, err = c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var (
	linkForm  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	linkInput = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
)
