// Command flow is Elevate's whole-flow load: people in Slack and in Microsoft Teams ask for roles,
// sign in through the sandbox's sign-in page, get approvals clicked by approvers on both
// platforms, wait until their role is active and usable, extend it and end it with `done`, while
// a separate `elevate serve -sandbox` process does the work against the simulated tenant.
//
//	go build -o /tmp/elevate-bin . && go run ./bench/flow -bin /tmp/elevate-bin
//
// The server runs with a generated tenant (-users people, each eligible for Exchange
// Administrator and SharePoint Administrator; four approvers), Graph answering after
// -graph-latency, PIM's assignment instance showing 5 s after a grant (the sandbox's
// provisioning delay), and activations endable after a second (-sandbox-min-active 1s: PIM's own
// minimum is 5 minutes). The fake Slack Web API and the fake Bot Connector run in this process;
// the server trusts the fake connector's self-signed certificate through SSL_CERT_FILE (Go's own
// way of naming a process's root certificates: no code path of the server changes) and admits
// its host with TEAMS_SERVICE_URL_HOSTS, the variable sovereign clouds use. People act at once:
// no reading or thinking time, so every second measured is the software's.
//
// First a calibration: a few flows one at a time on the idle server, counting the Graph calls
// the server makes between a command and "active" (from its /metrics), for each kind of flow.
// Then the disk's floor (the store's own fsync'd write, as bench/load measures it). Then the
// load: -activations flows started open loop at -rate per second, each on a person not in a flow.
// The report: acknowledgement latency per kind of request; command → "active" (under load from
// when the flow was due, so the generator's own lag counts) and → "usable";
// Elevate's overhead (command → "active" minus the Graph latency of the calls the calibration
// counted for that kind of flow); click → every card updated; Graph calls per activation; the
// server's CPU seconds per 1000 activations and its peak RSS.
package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elevate-pim/elevate/bench/internal/browser"
	"github.com/elevate-pim/elevate/bench/internal/measure"
	"github.com/elevate-pim/elevate/bench/internal/signed"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/store"
)

const (
	secret      = "flow-test-signing-secret"
	appID       = "b07e0000-0000-4000-8000-0000000000b1"
	appSecret   = "flow-bot-secret"
	tenantID    = "7c3a0000-0000-4000-8000-00000000c0de" // examples/tenant.yaml's
	domain      = "contoso.example"
	slackFlow   = "C0FLOW"
	slackApprov = "C0APPROVALS"
	teamsApprov = "19:approvals0000@thread.tacv2"
	teamsSec    = "19:security0000@thread.tacv2"
	teamsTeam   = "19:itteam0000@thread.tacv2"
	wait        = 90 * time.Second
)

func main() {
	users := flag.Int("users", 400, "people who ask for roles, half in Slack and half in Teams")
	activations := flag.Int("activations", 600, "flows in the load (each one activation)")
	rate := flag.Float64("rate", 2, "flows started per second (open loop)")
	approvalShare := flag.Float64("approval-share", 0.3, "share of flows for SharePoint Administrator, which needs one approval (the rest: Exchange Administrator, none)")
	extendShare := flag.Float64("extend-share", 0.3, "share of activations extended by 30m once usable")
	doneShare := flag.Float64("done-share", 0.9, "share of activations ended with `done` (the others stay active: that person asks no more)")
	latency := flag.Duration("graph-latency", 300*time.Millisecond, "how long every simulated Graph and sign-in answer takes")
	bin := flag.String("bin", "", "elevate binary (built from this checkout when empty)")
	seed := flag.Uint64("seed", 1, "random seed of the mix")
	flag.Parse()
	o := options{users: *users, activations: *activations, rate: *rate, approval: *approvalShare, extend: *extendShare,
		done: *doneShare, latency: *latency, bin: *bin, seed: *seed}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "flow:", err)
		os.Exit(1)
	}
}

type options struct {
	users, activations           int
	rate, approval, extend, done float64
	latency                      time.Duration
	bin                          string
	seed                         uint64
}

// person is someone in the tenant with a chat account on one platform.
type person struct {
	platform string // slack or teams
	chat     string // Slack user id or Teams user id (29:…)
	upn, oid string
	conv     string     // Teams: the 1:1 conversation with the bot
	inbox    chan event // what they see privately, as it arrives
	mu       sync.Mutex // approvers: one click at a time
}

// event is a message someone saw, when the fake took it.
type event struct {
	at   time.Time
	text string
	link string // a sign-in link on it, if any
}

func userUPN(i int) string     { return fmt.Sprintf("user%04d@%s", i, domain) }
func userOID(i int) string     { return fmt.Sprintf("f1000000-0000-4000-8000-%012d", i) }
func approverUPN(i int) string { return fmt.Sprintf("approver%d@%s", i, domain) }
func approverOID(i int) string { return fmt.Sprintf("a1000000-0000-4000-8000-%012d", i) }

// tenantYAML is the demo tenant with n more people, each eligible for Exchange and SharePoint
// Administrator, and four approvers.
func tenantYAML(n int) ([]byte, error) {
	var users, elig bytes.Buffer
	for i := range n {
		fmt.Fprintf(&users, "  - {id: %s, upn: %s, display_name: User %04d, mail: %s}\n", userOID(i), userUPN(i), i, userUPN(i))
		fmt.Fprintf(&elig, "  - {principal: %s, role: Exchange Administrator}\n  - {principal: %s, role: SharePoint Administrator}\n", userUPN(i), userUPN(i))
	}
	for i := range 4 {
		fmt.Fprintf(&users, "  - {id: %s, upn: %s, display_name: Approver %d, mail: %s}\n", approverOID(i), approverUPN(i), i, approverUPN(i))
	}
	out := examples.Tenant
	for _, ins := range []struct {
		key  string
		more []byte
	}{{"\nusers:\n", users.Bytes()}, {"\neligibilities:\n", elig.Bytes()}} {
		if !bytes.Contains(out, []byte(ins.key)) {
			return nil, fmt.Errorf("examples/tenant.yaml has no %q list", strings.TrimSpace(ins.key))
		}
		out = bytes.Replace(out, []byte(ins.key), append([]byte(ins.key), ins.more...), 1)
	}
	return out, nil
}

// flowConfig is the example config with SharePoint Administrator needing one approval from the
// four approvers.
func flowConfig() ([]byte, error) {
	old := []byte("  - name: SharePoint Administrator    # aliases: sharepoint, spo\n    max_duration: 2h\n")
	var ap []string
	for i := range 4 {
		ap = append(ap, approverUPN(i))
	}
	cfg := bytes.Replace(examples.Config, old, []byte("  - name: SharePoint Administrator\n    max_duration: 2h\n    approval:\n      approvers: ["+strings.Join(ap, ", ")+"]\n"), 1)
	if bytes.Equal(cfg, examples.Config) {
		return nil, fmt.Errorf("the example config changed: SharePoint Administrator's entry not found")
	}
	return cfg, nil
}

// bench is one run: the server, the fakes, the people, and what was measured.
type bench struct {
	o       options
	base    string
	sl      *slacktest.Server
	tm      *teamstest.Server
	client  *http.Client
	people  map[string]*person // by platform + ":" + chat id
	appr    []*person
	cards   *cards
	seq     atomic.Int64
	dropped atomic.Int64

	mu       sync.Mutex
	acks     map[string][]time.Duration // kind of request → acknowledgement latencies
	ackErrs  map[string]int
	problems []string
}

func (b *bench) ack(kind string, d time.Duration, err error, code int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil || code != http.StatusOK {
		b.ackErrs[kind]++
		b.problems = append(b.problems, fmt.Sprintf("%s: HTTP %d %v", kind, code, err))
		return
	}
	b.acks[kind] = append(b.acks[kind], d)
}

func (b *bench) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "elevate-flow-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.bin == "" {
		o.bin = filepath.Join(dir, "elevate")
		build := exec.Command("go", "build", "-o", o.bin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building elevate: %w", err)
		}
	}
	loadBefore := measure.LoadAvg()
	ty, err := tenantYAML(o.users)
	if err != nil {
		return err
	}
	cfg, err := flowConfig()
	if err != nil {
		return err
	}
	tenantPath, cfgPath, certPath := filepath.Join(dir, "tenant.yaml"), filepath.Join(dir, "elevate.yaml"), filepath.Join(dir, "teams-ca.pem")
	b := &bench{o: o, sl: slacktest.New(), tm: teamstest.New(teamstest.Options{AppID: appID, AppSecret: appSecret, TenantID: tenantID}),
		people: map[string]*person{}, cards: newCards(), acks: map[string][]time.Duration{}, ackErrs: map[string]int{},
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	defer b.sl.Close()
	defer b.tm.Close()
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.tm.Certificate().Raw})
	for _, f := range []struct {
		path string
		data []byte
	}{{tenantPath, ty}, {cfgPath, cfg}, {certPath, cert}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return err
		}
	}
	b.setUpPeople()
	b.watch()

	addr, err := measure.FreeAddr()
	if err != nil {
		return err
	}
	db := filepath.Join(dir, "elevate.db")
	srv := exec.Command(o.bin, "serve", "-sandbox", "-sandbox-tenant", tenantPath, "-config", cfgPath, "-listen", addr, "-db", db,
		"-metrics-on-main", "-sandbox-graph-latency", o.latency.String(), "-sandbox-min-active", "1s")
	srv.Env = append(os.Environ(), "SLACK_BOT_TOKEN="+slacktest.BotToken, "SLACK_SIGNING_SECRET="+secret, "SLACK_API_URL="+b.sl.APIURL(), "SLACK_APP_TOKEN=",
		"MICROSOFT_APP_ID="+appID, "MICROSOFT_APP_PASSWORD="+appSecret, "MICROSOFT_APP_TENANT_ID="+tenantID,
		"TEAMS_CHANNELS=#pim-approvals="+teamsApprov+",#security="+teamsSec, "TEAMS_SERVICE_URL_HOSTS="+b.tm.Host(),
		"BOTFRAMEWORK_OPENID_METADATA_URL="+b.tm.MetadataURL(), "BOTFRAMEWORK_TOKEN_URL="+b.tm.AuthorityHost()+tenantID+"/oauth2/v2.0/token",
		"SSL_CERT_FILE="+certPath)
	var logs bytes.Buffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Process.Kill()
			srv.Wait()
		}
	}()
	b.base = "http://" + addr
	if err := measure.WaitUp(b.base, 60*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, logs.String())
	}
	// Elevate is added to the team of the approvals channel in Teams (as an admin installs it).
	if code, err := b.teams("install", map[string]any{"type": "installationUpdate", "action": "add",
		"from":         map[string]any{"id": b.appr[2].chat, "aadObjectId": b.appr[2].oid},
		"conversation": map[string]any{"id": teamsApprov, "conversationType": "channel", "tenantId": tenantID, "isGroup": true},
		"channelData":  map[string]any{"tenant": map[string]any{"id": tenantID}, "team": map[string]any{"id": teamsTeam, "name": "IT"}},
	}); err != nil || code != http.StatusOK {
		return fmt.Errorf("installing in Teams: %d %v\n%s", code, err, logs.String())
	}

	// Calibration: one flow at a time, the Graph calls between command and active counted.
	cal, err := b.calibrate()
	if err != nil {
		return fmt.Errorf("calibration: %w\nthe server's warnings and errors:\n%s", err, problemsIn(logs.String()))
	}
	// The disk's floor, the server idle: 100 fsync'd writes at 20/s.
	fl, err := measure.OpenFloor(dir)
	if err != nil {
		return err
	}
	fl.Run(20, 100, o.users)
	floor, floorErrs, err := fl.Close()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.acks = map[string][]time.Duration{}
	b.ackErrs = map[string]int{}
	b.mu.Unlock()

	// The load.
	g0, err := graphCounts(b.base)
	if err != nil {
		return err
	}
	cpu0 := measure.CPUSeconds(srv.Process.Pid)
	t0 := time.Now()
	res := b.load()
	elapsed := time.Since(t0)
	cpu1 := measure.CPUSeconds(srv.Process.Pid)
	g1, err := graphCounts(b.base)
	if err != nil {
		return err
	}
	hwm, rss := measure.Memory(srv.Process.Pid)
	loadAfter := measure.LoadAvg()

	measure.Stop(srv)
	stopped = true
	st, err := store.Open(db)
	if err != nil {
		return err
	}
	rs, err := st.Requests(store.Filter{})
	st.Close()
	if err != nil {
		return err
	}
	states := map[store.State]int{}
	for _, r := range rs {
		states[r.State]++
	}
	b.report(res, cal, floor, floorErrs, g0, g1, cpu1-cpu0, elapsed, hwm, rss, loadBefore, loadAfter, states)
	if len(b.problems) > 0 || res.failed > 0 || b.dropped.Load() > 0 {
		return fmt.Errorf("%d problems, %d failed flows, %d messages dropped", len(b.problems), res.failed, b.dropped.Load())
	}
	return nil
}

// problemsIn are the server log's warnings and errors.
func problemsIn(logs string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// setUpPeople makes the fakes know everyone: requesters alternate between Slack and Teams;
// approvers 0 and 1 are in Slack, 2 and 3 in Teams.
func (b *bench) setUpPeople() {
	for _, ch := range []struct{ id, name string }{{slackFlow, "it-ops"}, {slackApprov, "pim-approvals"}, {"C0SECURITY", "security"}, {"C0ITADMINS", "it-admins"}} {
		b.sl.AddChannel(ch.id, ch.name)
	}
	add := func(platform, chat, upn, oid string) *person {
		p := &person{platform: platform, chat: chat, upn: upn, oid: oid, inbox: make(chan event, 256)}
		if platform == "slack" {
			b.sl.AddUser(slacktest.User{ID: chat, Name: strings.Split(upn, "@")[0], Email: upn})
		} else {
			b.tm.AddMember(teamstest.Member{ID: chat, Name: strings.Split(upn, "@")[0], AadObjectID: oid, UserPrincipalName: upn})
			p.conv = b.tm.OpenPersonal(chat)
		}
		b.people[platform+":"+chat] = p
		return p
	}
	b.tm.AddTeam(teamsTeam, teamstest.Channel{ID: teamsApprov, Name: "pim-approvals"}, teamstest.Channel{ID: teamsSec, Name: "security"})
	for i := range b.o.users {
		if i%2 == 0 {
			add("slack", fmt.Sprintf("U%05d", i), userUPN(i), userOID(i))
		} else {
			add("teams", fmt.Sprintf("29:1user%04d", i), userUPN(i), userOID(i))
		}
	}
	for i := range 4 {
		if i < 2 {
			b.appr = append(b.appr, add("slack", fmt.Sprintf("UAPPROVER%d", i), approverUPN(i), approverOID(i)))
		} else {
			b.appr = append(b.appr, add("teams", fmt.Sprintf("29:1approver%d", i), approverUPN(i), approverOID(i)))
		}
	}
}

// watch routes what the fakes take to the people who see it and to the card tracker, stamped
// with the time the fake took it.
func (b *bench) watch() {
	deliver := func(key string, ev func() event) {
		p, ok := b.people[key]
		if !ok {
			return
		}
		select {
		case p.inbox <- ev():
		default:
			b.dropped.Add(1)
		}
	}
	b.sl.OnMessage(func(m slacktest.Message) {
		at := time.Now()
		if m.Channel == slackApprov && !m.Ephemeral {
			b.cards.seen("slack", at, m.Plain(), m.TS, m.Buttons())
			return
		}
		user := ""
		switch {
		case m.Ephemeral:
			user = m.User
		case strings.HasPrefix(m.Channel, "D"):
			user = strings.TrimPrefix(m.Channel, "D")
		}
		if user == "" {
			return
		}
		deliver("slack:"+user, func() event {
			ev := event{at: at, text: m.Plain()}
			for _, bt := range m.Buttons() {
				if bt.URL != "" {
					ev.link = bt.URL
				}
			}
			return ev
		})
	})
	convs := map[string]string{}
	for k, p := range b.people {
		if p.platform == "teams" {
			convs[p.conv] = k
		}
	}
	b.tm.OnActivity(func(conv string, a teamstest.Activity) {
		at := time.Now()
		if strings.HasPrefix(conv, teamsApprov) {
			b.cards.seen("teams", at, teamstest.Text(a.Body), a.ID, nil)
			return
		}
		if k, ok := convs[conv]; ok {
			deliver(k, func() event { return event{at: at, text: teamstest.Text(a.Body), link: teamstest.OpenURL(a.Body)} })
		}
	})
}

// say sends text as p's command (Slack: the slash command; Teams: a message in the 1:1 chat) and
// records its acknowledgement under kind.
func (b *bench) say(p *person, text, kind string) {
	n := strconv.FormatInt(b.seq.Add(1), 10)
	if p.platform == "slack" {
		form := url.Values{"command": {"/elevate"}, "text": {text}, "user_id": {p.chat}, "user_name": {p.chat},
			"channel_id": {slackFlow}, "team_id": {"T0FLOW"}, "response_url": {b.sl.ResponseURL(p.chat, slackFlow, "")},
			"trigger_id": {"trig." + n}}
		t0 := time.Now()
		code, err := signed.Post(b.client, b.base+"/slack/commands", secret, form.Encode())
		b.ack("slack "+kind, time.Since(t0), err, code)
		return
	}
	b.teamsTimed("teams "+kind, map[string]any{"type": "message", "text": text,
		"from":         map[string]any{"id": p.chat, "name": p.upn, "aadObjectId": p.oid},
		"conversation": map[string]any{"id": p.conv, "conversationType": "personal", "tenantId": tenantID},
		"channelData":  map[string]any{"tenant": map[string]any{"id": tenantID}}})
}

// teams posts an activity to /api/messages as the Bot Connector does (signed), untimed.
func (b *bench) teams(_ string, a map[string]any) (int, error) {
	code, _, err := b.teamsPost(a)
	return code, err
}

// teamsTimed posts an activity and records its acknowledgement under kind; the token is signed
// before the clock starts.
func (b *bench) teamsTimed(kind string, a map[string]any) (int, error) {
	code, d, err := b.teamsPost(a)
	b.ack(kind, d, err, code)
	return code, err
}

func (b *bench) teamsPost(a map[string]any) (int, time.Duration, error) {
	n := b.seq.Add(1)
	act := map[string]any{"id": "act-" + strconv.FormatInt(n, 10), "channelId": "msteams", "serviceUrl": b.tm.ServiceURL(),
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "recipient": map[string]any{"id": "28:" + appID, "name": "Elevate"}}
	for k, v := range a {
		act[k] = v
	}
	body, err := json.Marshal(act)
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequest(http.MethodPost, b.base+"/api/messages", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.tm.Token(b.tm.ServiceURL()))
	t0 := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, time.Since(t0), err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(t0), nil
}

// flow is one person's activation, start to end.
type flow struct {
	n                     int
	p                     *person
	approval              bool
	approver              int
	extend, done          bool
	signIn, apprSignIn    bool
	start, active, usable time.Time // start: when the command was due (see load), else when it was sent
	signInTime            time.Duration
	clickToCards          time.Duration
	clicked               bool
	extendReply           time.Duration
	doneReply             time.Duration
	graphCalls            float64 // calibration only: Graph calls from command to active
	graphSeconds          float64
	onActive              func() // calibration: called when the person sees "active"
	err                   string
}

func (f *flow) kind() string {
	k := "no approval"
	if f.approval {
		k = "one approval"
	}
	if f.signIn {
		k += ", sign-in"
	} else {
		k += ", signed in already"
	}
	return k
}

var (
	activeRE = regexp.MustCompile(`(Exchange|SharePoint) Administrator active until`)
	failRE   = regexp.MustCompile(`was not activated|denied your request|expired without a decision|already (have a pending request|active for you)|is being activated right now|not eligible`)
)

func roleName(approval bool) string {
	if approval {
		return "SharePoint Administrator"
	}
	return "Exchange Administrator"
}

// next waits for p's next message for which ok says true; messages before it are passed over.
// A sign-in link on the way is followed (the person signs in at once) and counted in f.
func (b *bench) next(f *flow, p *person, ok func(ev event) bool) (event, bool) {
	deadline := time.After(wait)
	var seen []string
	for {
		select {
		case ev := <-p.inbox:
			if ok(ev) {
				return ev, true
			}
			seen = append(seen, ev.text)
			if ev.link != "" && strings.Contains(ev.link, "/sandbox/sign-in") {
				t0 := time.Now()
				if !browser.SignIn(b.client, ev.link, p.upn) {
					f.err = "the sign-in failed"
					return ev, false
				}
				if p == f.p {
					f.signIn = true
					f.signInTime += time.Since(t0)
				} else {
					f.apprSignIn = true
				}
				continue
			}
			if p == f.p && failRE.MatchString(ev.text) {
				f.err = "refused: " + ev.text
				return ev, false
			}
		case <-deadline:
			f.err = fmt.Sprintf("nothing came in %s; seen: %q", wait, seen)
			return event{}, false
		}
	}
}

// play runs flow f: the command, a sign-in when asked, the approval when needed (clicked by the
// approver on their platform), active, usable, then extend and done as drawn.
func (b *bench) play(f *flow) {
	p := f.p
	role := roleName(f.approval)
	alias := map[bool]string{false: "exchange", true: "sharepoint"}[f.approval]
	var approved chan struct{}
	if f.approval {
		approved = make(chan struct{})
		ready := b.cards.expect(f.n)
		go func() {
			defer close(approved)
			b.approve(f, ready)
		}()
	}
	if f.start.IsZero() {
		f.start = time.Now()
	}
	b.say(p, fmt.Sprintf("%s 1h flow %d", alias, f.n), "request")
	ev, ok := b.next(f, p, func(ev event) bool { return activeRE.MatchString(ev.text) && strings.Contains(ev.text, role) })
	if approved != nil {
		if !ok {
			b.cards.forget(f.n)
		}
		<-approved
	}
	if !ok {
		return
	}
	f.active = ev.at
	if f.onActive != nil {
		f.onActive()
	}
	ev, ok = b.next(f, p, func(ev event) bool { return strings.Contains(ev.text, role+" is usable now") })
	if !ok {
		return
	}
	f.usable = ev.at
	if f.extend {
		t0 := time.Now()
		b.say(p, "extend "+alias+" 30m", "extend")
		if ev, ok = b.next(f, p, func(ev event) bool { return strings.HasPrefix(ev.text, "OK: when "+role) }); !ok {
			return
		}
		f.extendReply = ev.at.Sub(t0)
	}
	if f.done {
		t0 := time.Now()
		b.say(p, "done "+alias, "done")
		if ev, ok = b.next(f, p, func(ev event) bool { return strings.HasPrefix(ev.text, "Done: "+role) }); !ok {
			return
		}
		f.doneReply = ev.at.Sub(t0)
	}
}

// approve clicks Approve for flow f's request as its approver, once the card is up on both
// platforms, and waits until both cards show the approval.
func (b *bench) approve(f *flow, ready <-chan cardInfo) {
	var ci cardInfo
	select {
	case ci = <-ready:
	case <-time.After(wait):
		return // the flow itself reports what went wrong
	}
	a := b.appr[f.approver]
	a.mu.Lock()
	defer a.mu.Unlock()
	for drained := false; !drained; {
		select {
		case <-a.inbox: // answers to earlier clicks
		default:
			drained = true
		}
	}
	t0 := time.Now()
	if a.platform == "slack" {
		var btn slacktest.Button
		for _, x := range ci.slackButtons {
			if strings.HasPrefix(x.ActionID, "approve") {
				btn = x
			}
		}
		n := strconv.FormatInt(b.seq.Add(1), 10)
		payload, _ := json.Marshal(map[string]any{"type": "block_actions", "api_app_id": "A1",
			"user":       map[string]any{"id": a.chat, "username": a.chat, "name": a.chat, "team_id": "T0FLOW"},
			"team":       map[string]any{"id": "T0FLOW", "domain": "contoso"},
			"container":  map[string]any{"type": "message", "message_ts": ci.slackTS, "channel_id": slackApprov},
			"channel":    map[string]any{"id": slackApprov},
			"message":    map[string]any{"type": "message", "ts": ci.slackTS},
			"trigger_id": "trig." + n, "response_url": b.sl.ResponseURL(a.chat, slackApprov, ci.slackTS),
			"actions": []any{map[string]any{"type": "button", "action_id": btn.ActionID, "block_id": btn.BlockID, "value": btn.Value,
				"action_ts": strconv.FormatInt(time.Now().UnixNano(), 10)}}})
		t0 = time.Now()
		code, err := signed.Post(b.client, b.base+"/slack/interactivity", secret, url.Values{"payload": {string(payload)}}.Encode())
		b.ack("slack approve click", time.Since(t0), err, code)
	} else {
		id := strconv.FormatUint(ci.id, 10)
		data := map[string]any{"elevate": "approve", "value": id}
		b.teamsTimed("teams approve click (invoke, answered after the decision)", map[string]any{"type": "invoke", "name": "adaptiveCard/action",
			"from":         map[string]any{"id": a.chat, "name": a.upn, "aadObjectId": a.oid},
			"conversation": map[string]any{"id": teamsApprov + ";messageid=" + ci.teamsID, "conversationType": "channel", "tenantId": tenantID, "isGroup": true},
			"replyToId":    ci.teamsID, "channelData": map[string]any{"tenant": map[string]any{"id": tenantID}},
			"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "approve", "data": data}, "trigger": "manual"}})
	}
	f.clicked = true
	// Until both cards show the approval; an approver unknown to Elevate is asked to sign in
	// first (their approval counts then).
	done := b.cards.approvedBoth(ci.id)
	deadline := time.After(wait)
	for {
		select {
		case at := <-done:
			if !f.apprSignIn {
				f.clickToCards = at.Sub(t0)
			}
			if os.Getenv("FLOW_DEBUG") != "" {
				b.cards.mu.Lock()
				fmt.Fprintf(os.Stderr, "flow %d #%d by %s: slack %s teams %s (sign-in %v)\n", f.n, ci.id, a.platform,
					b.cards.approved[ci.id]["slack"].Sub(t0), b.cards.approved[ci.id]["teams"].Sub(t0), f.apprSignIn)
				b.cards.mu.Unlock()
			}
			return
		case ev := <-a.inbox:
			if ev.link != "" && strings.Contains(ev.link, "/sandbox/sign-in") {
				f.apprSignIn = true
				if !browser.SignIn(b.client, ev.link, a.upn) {
					b.problem("flow %d: approver %s's sign-in failed", f.n, a.upn)
					return
				}
			}
		case <-deadline:
			b.problem("flow %d: request #%d's cards did not both show the approval in %s", f.n, ci.id, wait)
			return
		}
	}
}

// cardInfo is a request's approval card, up on both platforms.
type cardInfo struct {
	id           uint64
	slackTS      string
	slackButtons []slacktest.Button
	teamsID      string
}

// cards follows the approval cards in both approvals channels.
type cards struct {
	mu       sync.Mutex
	flowOf   map[uint64]int
	info     map[uint64]*cardInfo
	posted   map[uint64]map[string]bool
	approved map[uint64]map[string]time.Time
	ready    map[int]chan cardInfo
	both     map[uint64]chan time.Time
}

func newCards() *cards {
	return &cards{flowOf: map[uint64]int{}, info: map[uint64]*cardInfo{}, posted: map[uint64]map[string]bool{},
		approved: map[uint64]map[string]time.Time{}, ready: map[int]chan cardInfo{}, both: map[uint64]chan time.Time{}}
}

var (
	cardRE = regexp.MustCompile(`Elevation request #(\d+)`)
	flowRE = regexp.MustCompile(`flow (\d+)`)
)

// expect returns the channel on which flow n's card is handed over once it is up on both
// platforms.
func (c *cards) expect(n int) <-chan cardInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan cardInfo, 1)
	c.ready[n] = ch
	return ch
}

func (c *cards) forget(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ready, n)
}

// approvedBoth returns the channel that gets the time both cards of request id first showed an
// approval.
func (c *cards) approvedBoth(id uint64) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if a := c.approved[id]; len(a) == 2 {
		ch <- later(a["slack"], a["teams"])
		return ch
	}
	c.both[id] = ch
	return ch
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// seen takes a card as a fake took it (posted or updated).
func (c *cards) seen(platform string, at time.Time, text, msgID string, buttons []slacktest.Button) {
	m := cardRE.FindStringSubmatch(text)
	if m == nil {
		return
	}
	id, _ := strconv.ParseUint(m[1], 10, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := c.info[id]
	if ci == nil {
		ci = &cardInfo{id: id}
		c.info[id] = ci
		c.posted[id] = map[string]bool{}
		c.approved[id] = map[string]time.Time{}
		c.flowOf[id] = -1
		if f := flowRE.FindStringSubmatch(text); f != nil {
			c.flowOf[id], _ = strconv.Atoi(f[1])
		}
	}
	if !c.posted[id][platform] {
		c.posted[id][platform] = true
		if platform == "slack" {
			ci.slackTS, ci.slackButtons = msgID, buttons
		} else {
			ci.teamsID = msgID
		}
		if ch, ok := c.ready[c.flowOf[id]]; ok && len(c.posted[id]) == 2 {
			ch <- *ci
			delete(c.ready, c.flowOf[id])
		}
	}
	if _, ok := c.approved[id][platform]; !ok && strings.Contains(text, "Approved by") {
		c.approved[id][platform] = at
		if a := c.approved[id]; len(a) == 2 {
			if ch, ok := c.both[id]; ok {
				ch <- later(a["slack"], a["teams"])
				delete(c.both, id)
			}
		}
	}
}

// graphCounts reads the server's Graph call counters by method, and the seconds spent in them.
func graphCounts(base string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		switch {
		case strings.HasPrefix(line, "elevate_graph_requests_total{"):
			m := methodRE.FindStringSubmatch(line)
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if m == nil || err != nil {
				continue
			}
			out[m[1]] += v
			out["all"] += v
		case strings.HasPrefix(line, "elevate_graph_request_seconds_sum{"):
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				out["seconds"] += v
			}
		}
	}
	return out, nil
}

var methodRE = regexp.MustCompile(`method="([A-Z]+)"`)

// calibrate plays flows one at a time on the idle server: each kind of flow (approval or not,
// sign-in or not, in Slack and in Teams), twice, and keeps for each kind the fewest Graph calls
// and Graph seconds from command to active. It also signs the Slack approvers in (their first
// approval asks them to).
func (b *bench) calibrate() (map[string]*flow, error) {
	u := func(key string) *person { return b.people[key] }
	plan := []*flow{
		{p: u("slack:U00000")}, {p: u("slack:U00000")}, {p: u("teams:29:1user0001")}, {p: u("teams:29:1user0001")},
		// The Slack approvers' first approvals ask them to sign in: not counted.
		{p: u("slack:U00002"), approval: true, approver: 0}, {p: u("teams:29:1user0003"), approval: true, approver: 1},
		{p: u("slack:U00004"), approval: true, approver: 2}, {p: u("teams:29:1user0005"), approval: true, approver: 0},
		{p: u("slack:U00002"), approval: true, approver: 3}, {p: u("teams:29:1user0003"), approval: true, approver: 1},
	}
	best := map[string]*flow{}
	for i, f := range plan {
		f.n, f.done = 100000+i, true
		g0, err := graphCounts(b.base)
		if err != nil {
			return nil, err
		}
		var g1 map[string]float64
		f.onActive = func() { g1, _ = graphCounts(b.base) }
		b.play(f)
		if f.err != "" {
			return nil, fmt.Errorf("flow %d (%s, %s): %s", f.n, f.p.platform, f.kind(), f.err)
		}
		time.Sleep(time.Second) // the card updates and the "usable" wait settle
		if f.apprSignIn || g1 == nil {
			continue
		}
		f.graphCalls, f.graphSeconds = g1["all"]-g0["all"], g1["seconds"]-g0["seconds"]
		// The fewest calls, then the fastest: the first flows of a run also warm caches and
		// connections.
		if cur, ok := best[f.kind()]; !ok || f.graphCalls < cur.graphCalls ||
			f.graphCalls == cur.graphCalls && f.active.Sub(f.start) < cur.active.Sub(cur.start) {
			best[f.kind()] = f
		}
	}
	return best, nil
}

// loadResult is what the load's flows measured.
type loadResult struct {
	flows   []*flow
	failed  int
	skipped int
}

// load starts o.activations flows at o.rate per second, each on a person not in a flow (people
// who kept a role active ask no more).
func (b *bench) load() loadResult {
	rng := rand.New(rand.NewPCG(b.o.seed, b.o.seed^0xf10e))
	idle := make(chan *person, len(b.people))
	var order []*person
	for k, p := range b.people {
		if !strings.Contains(k, "APPROVER") && !strings.Contains(k, "approver") {
			order = append(order, p)
		}
	}
	slices.SortFunc(order, func(a, c *person) int { return strings.Compare(a.upn, c.upn) })
	for _, p := range order {
		idle <- p
	}
	flows := make([]*flow, b.o.activations)
	for i := range flows {
		f := &flow{n: i, approval: rng.Float64() < b.o.approval, approver: rng.IntN(4),
			extend: rng.Float64() < b.o.extend, done: rng.Float64() < b.o.done}
		flows[i] = f
	}
	var skipped atomic.Int64
	measure.OpenLoop(b.o.rate, len(flows), func(j int, due time.Time) {
		f := flows[j]
		// Timed from when the flow was due, not from when its goroutine ran: the generator's own
		// lag (a stalled machine) counts, as in bench/load.
		f.start = due
		select {
		case f.p = <-idle:
		default:
			skipped.Add(1)
			f.err = "nobody free to ask"
			return
		}
		b.play(f)
		if f.err == "" && f.done {
			idle <- f.p
		}
	})
	res := loadResult{flows: flows, skipped: int(skipped.Load())}
	for _, f := range flows {
		if f.err != "" {
			res.failed++
			b.problem("flow %d (%s, %s): %s", f.n, platformOf(f), f.kind(), f.err)
		}
	}
	return res
}

func platformOf(f *flow) string {
	if f.p == nil {
		return "-"
	}
	return f.p.platform
}

func durs(fs []*flow, get func(*flow) (time.Duration, bool)) []time.Duration {
	var out []time.Duration
	for _, f := range fs {
		if d, ok := get(f); ok {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

func row(name string, ds []time.Duration) string {
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %s |", name, len(ds), measure.Pct(ds, 50), measure.Pct(ds, 90), measure.Pct(ds, 99), measure.Pct(ds, 100))
}

func (b *bench) report(res loadResult, cal map[string]*flow, floor []time.Duration, floorErrs int, g0, g1 map[string]float64,
	cpu float64, elapsed time.Duration, hwm, rss, loadBefore, loadAfter string, states map[store.State]int) {
	o := b.o
	var ok []*flow
	for _, f := range res.flows {
		if f.err == "" && !f.active.IsZero() {
			ok = append(ok, f)
		}
	}
	fmt.Printf("whole-flow load: %d flows started at %.2f/s over %s (%d people: half Slack, half Teams; 4 approvers: 2 Slack, 2 Teams); mix: %.0f%% need one approval, %.0f%% extended, %.0f%% ended with done; Graph latency %s; load average before/after: %s / %s\n",
		len(res.flows), o.rate, elapsed.Round(time.Second), o.users, o.approval*100, o.extend*100, o.done*100, o.latency, loadBefore, loadAfter)
	fmt.Printf("activated: %d; failed: %d; not started (nobody free): %d; messages dropped by the generator: %d; store at the end: %v\n\n",
		len(ok), res.failed, res.skipped, b.dropped.Load(), states)

	fmt.Printf("floor (store.CreateRequest, fsync'd, 100 writes at 20/s, server idle): p50 %s, p99 %s, errors %d\n\n", measure.Pct(floor, 50), measure.Pct(floor, 99), floorErrs)
	fmt.Printf("| acknowledgement | n | p50 | p90 | p99 | max | errors | p99 ÷ floor p99 |\n|---|---|---|---|---|---|---|---|\n")
	kinds := make([]string, 0, len(b.acks))
	for k := range b.acks {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		ds := slices.Sorted(slices.Values(b.acks[k]))
		fmt.Printf("%s %d | %s |\n", row(k, ds), b.ackErrs[k], measure.Ratio(ds, floor, 99))
	}

	// The Graph calls on the path to "active" are not all in a row (the approval path reads in
	// parallel), so their count times the latency overstates PIM's part. The calls in a row are
	// the whole latencies in the idle flow's time, at most the calls counted: Elevate's own idle
	// time on the path is under one latency (the remainder, shown), which -graph-latency 1s can
	// confirm.
	seq := map[string]time.Duration{}
	fmt.Printf("\ncalibration (one flow at a time, server idle)\n\n| kind of flow | platform | Graph calls, command → active | Graph seconds | command → active | Graph latencies in a row | Elevate's part (the remainder) |\n|---|---|---|---|---|---|---|\n")
	calKinds := slices.Sorted(maps.Keys(cal))
	for _, k := range calKinds {
		f := cal[k]
		t := f.active.Sub(f.start)
		n := min(t/o.latency, time.Duration(f.graphCalls))
		seq[k] = n * o.latency
		fmt.Printf("| %s | %s | %.0f | %.2f | %s | %d | %s |\n", k, f.p.platform, f.graphCalls, f.graphSeconds, t.Round(time.Millisecond), n,
			(t - seq[k]).Round(time.Millisecond))
	}

	fmt.Printf("\n| under load | n | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n")
	byKind := map[string][]*flow{}
	for _, f := range ok {
		byKind[f.kind()] = append(byKind[f.kind()], f)
	}
	for _, k := range calKinds {
		fs := byKind[k]
		fmt.Println(row("command → active, "+k, durs(fs, func(f *flow) (time.Duration, bool) { return f.active.Sub(f.start), true })))
		fmt.Println(row(fmt.Sprintf("Elevate's overhead (− %s of Graph in a row), %s", seq[k], k), durs(fs, func(f *flow) (time.Duration, bool) {
			return f.active.Sub(f.start) - seq[k], true
		})))
	}
	for k, fs := range byKind {
		if _, ok := cal[k]; !ok {
			fmt.Println(row("command → active, "+k+" (no calibration)", durs(fs, func(f *flow) (time.Duration, bool) { return f.active.Sub(f.start), true })))
		}
	}
	fmt.Println(row("active → usable (PIM's 5 s provisioning, polled every 2 s)", durs(ok, func(f *flow) (time.Duration, bool) { return f.usable.Sub(f.active), !f.usable.IsZero() })))
	fmt.Println(row("sign-in (the browser's three requests)", durs(ok, func(f *flow) (time.Duration, bool) { return f.signInTime, f.signIn })))
	fmt.Println(row("click → both cards show the approval (goal p99 < 1 s)", durs(ok, func(f *flow) (time.Duration, bool) {
		return f.clickToCards, f.clicked && !f.apprSignIn && f.clickToCards > 0
	})))
	fmt.Println(row("extend → its answer", durs(ok, func(f *flow) (time.Duration, bool) { return f.extendReply, f.extendReply > 0 })))
	fmt.Println(row("done → its answer", durs(ok, func(f *flow) (time.Duration, bool) { return f.doneReply, f.doneReply > 0 })))

	n := float64(len(ok))
	if n > 0 {
		fmt.Printf("\nGraph calls per activation (all the server's calls during the load, sign-ins, extensions, done and background work included, ÷ %d activations): %.2f (GET %.2f, POST %.2f, PATCH %.2f)\n",
			len(ok), (g1["all"]-g0["all"])/n, (g1["GET"]-g0["GET"])/n, (g1["POST"]-g0["POST"])/n, (g1["PATCH"]-g0["PATCH"])/n)
		fmt.Printf("server CPU during the load: %.2f s, %.2f s per 1000 activations; server peak RSS (the whole run): %s (at the end %s)\n", cpu, cpu*1000/n, hwm, rss)
	}
	for _, p := range b.problems {
		fmt.Println("PROBLEM:", p)
	}
}
