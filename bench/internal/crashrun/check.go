package crashrun

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/store"
)

var (
	numRE = regexp.MustCompile(`crash (\d+)$`)
	dupRE = regexp.MustCompile(`already (have a pending request|active for you)|is being activated right now`)
)

// Result is what Check found.
type Result struct {
	Problems    []string
	Assertions  []string       // in the order they were checked; a name may come twice
	Failed      map[string]int // each assertion's problems
	Requests    int            // requests in the store
	States      map[store.State]int
	Refused     int // acknowledged requests refused as duplicates
	LostAnswers int // acknowledged requests refused whose answer was lost in a kill
	Activations int // PIM activations of the senders' requests
	Cards       int // requests with an approval card
	Audit       int // audit records
	OutboxKeys  int // posts with an outbox key (with duplicatePosts)
}

// Check checks Elevate's record (db) against the simulated tenant's (its state file at
// statePath) and the fake Slack's, once the senders' commands and the kills in st settled;
// queued is the outbox depth the settled server reported. With duplicatePosts it also checks
// that no chat post was delivered twice, by the outbox key in each message's metadata.
func Check(db *store.Store, statePath string, fake *slacktest.Server, st *Stats, queued int, duplicatePosts bool) (*Result, error) {
	now := time.Now()
	var pim PIMState
	b, err := os.ReadFile(statePath)
	if err != nil {
		return nil, fmt.Errorf("reading the tenant's state: %w", err)
	}
	if err := json.Unmarshal(b, &pim); err != nil {
		return nil, fmt.Errorf("reading the tenant's state: %w", err)
	}
	rs, err := db.Requests(store.Filter{Platform: "slack"})
	if err != nil {
		return nil, err
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
		return nil, err
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
		c := CardRE.FindStringSubmatch(m.Plain())
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

	keys := map[string]int{}
	if duplicatePosts {
		// No post made twice: every outbox post carries its key in Slack message metadata; two
		// messages with one key are one delivery made twice (a lost answer posted again).
		assert("no chat post delivered twice (by its outbox key)")
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
	}

	// The outbox is empty and the audit chain verifies.
	assert("outbox empty")
	depth, oldest, err := db.OutboxStats()
	if err != nil {
		return nil, err
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

	return &Result{Problems: problems, Assertions: assertions, Failed: failed, Requests: len(rs), States: states,
		Refused: len(refused), LostAnswers: lostAnswers, Activations: activations, Cards: len(cards), Audit: nAudit,
		OutboxKeys: len(keys)}, nil
}

// PrintAssertions prints each assertion's result as a table.
func (r *Result) PrintAssertions() {
	fmt.Printf("\n| assertion | result |\n|---|---|\n")
	seen := map[string]bool{}
	for _, a := range r.Assertions {
		if seen[a] {
			continue
		}
		seen[a] = true
		if r.Failed[a] == 0 {
			fmt.Printf("| %s | ok |\n", a)
		} else {
			fmt.Printf("| %s | **%d problem(s)** |\n", a, r.Failed[a])
		}
	}
}

// Err prints each problem and says how many there were.
func (r *Result) Err() error {
	for _, p := range r.Problems {
		fmt.Println("PROBLEM:", p)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("%d problems", len(r.Problems))
	}
	return nil
}
