package slack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/demo"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

func (e *env) requests(t *testing.T) []store.Request {
	t.Helper()
	rs, err := e.w.Store.Requests(store.Filter{Platform: slack.Platform})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (e *env) activations() int {
	n := 0
	for _, c := range e.w.Tenant.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/roleManagement/directory/roleAssignmentScheduleRequests") && !c.ValidationOnly() {
			n++
		}
	}
	return n
}

func (e *env) last(t *testing.T, user string) string {
	t.Helper()
	seen := platform{e}.Seen(t, user)
	if len(seen) == 0 {
		t.Fatalf("%s was shown nothing", user)
	}
	return seen[len(seen)-1]
}

func (e *env) signIn(t *testing.T, user string) {
	t.Helper()
	status, page, err := e.w.SignIn(context.Background(), platform{e}.Link(t, user), user+"@"+e.w.Domain(), true)
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s signs in: %d %v %s", user, status, err, page)
	}
	e.settle()
}

func wantContains(t *testing.T, got, sub string) {
	t.Helper()
	if !strings.Contains(got, sub) {
		t.Fatalf("got %q, want it to contain %q", got, sub)
	}
}

// TestSignatures: only requests signed with the signing secret within five minutes are
// handled, and a replay of a valid request inside the window is acknowledged but ignored.
func TestSignatures(t *testing.T) {
	e := start(t, false)
	form := func(text string) []byte {
		return []byte(url.Values{"command": {"/elevate"}, "text": {text}, "user_id": {uid("alice")}, "user_name": {"alice"},
			"channel_id": {general}, "trigger_id": {"trig-" + e.next()}, "response_url": {e.fake.ResponseURL(uid("alice"), general, "")}}.Encode())
	}
	const ct = "application/x-www-form-urlencoded"

	body := form("exchange 1h fixing mail flow")
	signed := sign(body, time.Now())
	if status, out := e.post(t, "/slack/commands", ct, body, signed); status != http.StatusOK {
		t.Fatalf("signed: status %d %s", status, out)
	}
	e.settle()
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after a signed command, want 1", n)
	}
	// The same request again (a replay inside the window): acknowledged, nothing done.
	if status, _ := e.post(t, "/slack/commands", ct, body, signed); status != http.StatusOK {
		t.Fatalf("replay: status %d, want 200", status)
	}
	e.settle()
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after a replay, want 1", n)
	}

	refused := []struct {
		name string
		body []byte
		h    http.Header
	}{
		{"unsigned", form("exchange 1h a"), http.Header{}},
		{"tampered", form("exchange 8h tampered"), sign(form("exchange 1h original"), time.Now())},
		{"stale", form("exchange 1h b"), nil},
		{"future", form("exchange 1h c"), nil},
		{"wrong secret", form("exchange 1h d"), http.Header{"X-Slack-Request-Timestamp": {signed.Get("X-Slack-Request-Timestamp")}, "X-Slack-Signature": {"v0=" + strings.Repeat("ab", 32)}}},
	}
	refused[2].h = sign(refused[2].body, time.Now().Add(-6*time.Minute))
	refused[3].h = sign(refused[3].body, time.Now().Add(6*time.Minute))
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			if status, _ := e.post(t, "/slack/commands", ct, c.body, c.h); status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", status)
			}
		})
	}
	for _, path := range []string{"/slack/interactivity", "/slack/events"} {
		if status, _ := e.post(t, path, ct, []byte("payload=%7B%7D"), nil); status != http.StatusUnauthorized {
			t.Errorf("unsigned %s: status %d, want 401", path, status)
		}
	}
	e.settle()
	if n := len(e.requests(t)); n != 1 {
		t.Fatalf("%d requests after refused ones, want 1", n)
	}
	// A GET is not Slack.
	resp, err := http.Get(e.srv.URL + "/slack/commands")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", resp.StatusCode)
	}
}

// TestEventsRetry: url_verification answers the challenge; an event Slack redelivers
// (X-Slack-Retry-Num, same event id, new signature) is handled once.
func TestEventsRetry(t *testing.T) {
	e := start(t, false)
	out := e.postSigned(t, "/slack/events", "application/json", []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`))
	if string(out) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("challenge answer %q", out)
	}
	ev := []byte(`{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev42","event_time":1,
		"event":{"type":"app_home_opened","user":"UALICE","channel":"DUALICE","tab":"home","event_ts":"1.1"}}`)
	e.postSigned(t, "/slack/events", "application/json", ev)
	time.Sleep(1100 * time.Millisecond) // a new timestamp, so a new signature
	h := sign(ev, time.Now())
	h.Set("X-Slack-Retry-Num", "1")
	h.Set("X-Slack-Retry-Reason", "http_timeout")
	if status, _ := e.post(t, "/slack/events", "application/json", ev, h); status != http.StatusOK {
		t.Fatalf("retry: status %d", status)
	}
	e.settle()
	if n := e.fake.CallCount("views.publish"); n != 1 {
		t.Fatalf("%d home publishes, want 1", n)
	}
}

// TestDoubleClickApprove: the approval that completes a request, clicked twice at once,
// activates it exactly once.
func TestDoubleClickApprove(t *testing.T) {
	for _, socket := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "socket"}[socket], func(t *testing.T) {
			// Global Administrator as an ordinary two-approval role: a tier-0 approval needs a
			// sign-in for that very request, so a second click would only get another link.
			cfg := strings.Replace(string(examples.Config), "  - name: Global Administrator        # aliases: ga, global, globaladmin\n    tier0: true\n",
				"  - name: Global Administrator        # aliases: ga, global, globaladmin\n    tier0: false\n", 1)
			e := startConfig(t, socket, []byte(cfg))
			p := platform{e}
			// Bob signs in once (his own request), so his approval needs no sign-in later.
			p.Type(t, "bob", "user 30m reset a password")
			e.settle()
			e.signIn(t, "bob")
			wantContains(t, e.last(t, "bob"), "usable now")

			p.Type(t, "alice", "ga 1h INC-7 restore tenant")
			e.settle()
			e.signIn(t, "alice")
			p.Click(t, "carol", bot.ActionApprove, "")
			e.settle()
			e.signIn(t, "carol")
			wantContains(t, e.last(t, "carol"), "1 of 2")
			before := e.activations()

			m, b := e.newestButton(t, "bob", bot.ActionApprove)
			var wg sync.WaitGroup
			for range 2 {
				payload := e.blockActions("bob", m, b)
				wg.Go(func() { e.interact(t, payload) })
			}
			wg.Wait()
			e.settle()
			if got := e.activations() - before; got != 1 {
				t.Fatalf("%d activations after a double click, want 1", got)
			}
			seen := strings.Join(p.Seen(t, "bob"), "\n")
			wantContains(t, seen, "(2 of 2)")
			if !strings.Contains(seen, "already") {
				t.Errorf("the second click was not answered as a repeat:\n%s", seen)
			}
			cards := p.Channel(t, "#pim-approvals")
			wantContains(t, cards[len(cards)-1], "active until")
		})
	}
}

// TestRequestModal: /elevate alone opens the form; bad fields come back as errors next to the
// field; a good submission is accepted and the sign-in arrives.
func TestRequestModal(t *testing.T) {
	for _, socket := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "socket"}[socket], func(t *testing.T) {
			e := start(t, socket)
			e.command(t, "dave", general, "")
			e.settle()
			views := e.fake.Views()
			if len(views) != 1 || views[0].Method != "views.open" || views[0].CallbackID != "elevate_request" {
				t.Fatalf("views after /elevate: %+v", views)
			}
			v := views[0]
			if !strings.Contains(string(v.JSON), `"value":"exchange"`) {
				t.Fatalf("the form does not offer exchange: %s", v.JSON)
			}
			cases := []struct {
				name   string
				values map[string]string
				field  string
				words  string
			}{
				{"bad duration", map[string]string{"role": "exchange", "duration": "forever", "justification": "mail flow"}, "duration", "30m"},
				{"too long", map[string]string{"role": "exchange", "duration": "12h", "justification": "mail flow"}, "duration", "8h"},
				{"no justification", map[string]string{"role": "exchange", "duration": "1h"}, "justification", ""},
				{"no ticket", map[string]string{"role": "ga", "duration": "1h", "justification": "restore"}, "ticket", ""},
				{"unknown role", map[string]string{"role": "nope", "duration": "1h", "justification": "x y"}, "role", ""},
				// Several roles picked: each is decided as if asked alone, the error names the role.
				{"one of two roles too long", map[string]string{"role": "exchange,sharepoint", "duration": "4h", "justification": "mail flow"}, "duration", "SharePoint Administrator allows at most 2h"},
				{"six roles", map[string]string{"role": "exchange,sharepoint,teams,intune,user,helpdesk", "duration": "1h", "justification": "x y"}, "role", "at most 5 roles"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					out := e.interact(t, e.submit("dave", v, c.values))
					var res struct {
						ResponseAction string            `json:"response_action"`
						Errors         map[string]string `json:"errors"`
					}
					if err := json.Unmarshal(out, &res); err != nil {
						t.Fatalf("answer %q: %v", out, err)
					}
					if res.ResponseAction != "errors" || res.Errors[c.field] == "" {
						t.Fatalf("answer %s, want an error on %s", out, c.field)
					}
					wantContains(t, res.Errors[c.field], c.words)
				})
			}
			e.settle()
			if n := len(e.requests(t)); n != 0 {
				t.Fatalf("%d requests after bad forms, want 0", n)
			}
			out := e.interact(t, e.submit("dave", v, map[string]string{"role": "exchange", "duration": "2h", "justification": "fixing mail flow"}))
			if len(out) != 0 {
				t.Fatalf("a good form was answered %s, want an empty acknowledgement (closes the modal)", out)
			}
			e.settle()
			rs := e.requests(t)
			if len(rs) != 1 || rs[0].RoleName != "Exchange Administrator" || rs[0].Duration != 2*time.Hour {
				t.Fatalf("requests %+v", rs)
			}
			wantContains(t, e.last(t, "dave"), "Sign in")
			e.signIn(t, "dave")
			wantContains(t, e.last(t, "dave"), "usable now")

			// Two roles picked in the multi-select: one request for both.
			e.command(t, "dave", general, "")
			e.settle()
			views = e.fake.Views()
			v = views[len(views)-1]
			if !strings.Contains(string(v.JSON), `"multi_static_select"`) || !strings.Contains(string(v.JSON), `"max_selected_items":5`) {
				t.Fatalf("the form's role field is not a multi-select of at most 5: %s", v.JSON)
			}
			out = e.interact(t, e.submit("dave", v, map[string]string{"role": "sharepoint,tier1", "duration": "1h", "justification": "restore the intranet"}))
			if len(out) != 0 {
				t.Fatalf("a good form with two roles was answered %s", out)
			}
			e.settle()
			rs = e.requests(t)
			if len(rs) != 3 || rs[1].RoleName != "SharePoint Administrator" || rs[2].RoleName != "Tier1 Admins" || rs[2].Group != rs[1].ID || rs[1].Justification != "restore the intranet" {
				t.Fatalf("requests after the two-role form: %+v", rs)
			}
			wantContains(t, e.last(t, "dave"), "Sign in with your Microsoft account to activate SharePoint Administrator and Tier1 Admins for 1h")
		})
	}
}

// TestDenyAsksForReason: Deny opens a modal; its reason reaches the card and the requester.
func TestDenyAsksForReason(t *testing.T) {
	e := start(t, false)
	p := platform{e}
	p.Type(t, "alice", "ga 1h INC-9 restore tenant")
	e.settle()
	e.signIn(t, "alice")
	p.Click(t, "bob", bot.ActionDeny, "not during the freeze")
	e.settle()
	var deny slacktest.View
	for _, v := range e.fake.Views() {
		if v.Method == "views.open" {
			deny = v
		}
	}
	if deny.CallbackID != "elevate_deny" {
		t.Fatalf("Deny opened %+v, want the reason modal", deny)
	}
	e.signIn(t, "bob")
	if got := e.requests(t)[0].State; got != store.StateDenied {
		t.Fatalf("state %s, want denied", got)
	}
	wantContains(t, e.last(t, "alice"), "not during the freeze")
	cards := p.Channel(t, "#pim-approvals")
	wantContains(t, cards[len(cards)-1], "Denied by bob@contoso.example")
	wantContains(t, cards[len(cards)-1], "not during the freeze")
	if strings.Contains(cards[len(cards)-1], "[Approve]") {
		t.Errorf("a decided card still has buttons: %s", cards[len(cards)-1])
	}
}

// TestAppHome: opening the tab publishes it; a change to a request shown there republishes the
// homes of the requester and of the approvers who were shown it.
func TestAppHome(t *testing.T) {
	for _, socket := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "socket"}[socket], func(t *testing.T) {
			// Alice asks for Privileged Authentication Administrator too: PIM must show her
			// eligible, or Elevate refuses before any sign-in.
			tenant := strings.Replace(string(examples.Tenant), "eligibilities:\n", "eligibilities:\n  - {principal: alice@contoso.example, role: Privileged Authentication Administrator}\n", 1)
			e := startWith(t, socket, []byte(tenant))
			p := platform{e}
			homeOf := func(user string) (slacktest.View, int) {
				var last slacktest.View
				n := 0
				for _, v := range e.fake.Views() {
					if v.Method == "views.publish" && v.UserID == uid(user) {
						last, n = v, n+1
					}
				}
				return last, n
			}
			e.homeOpened(t, "alice")
			e.settle()
			home, n := homeOf("alice")
			if n != 1 || !strings.Contains(string(home.JSON), "Roles you can request") {
				t.Fatalf("alice's home after opening it (%d publishes): %s", n, home.JSON)
			}
			// Bob approves once (and so is known as an approver), then opens his home.
			p.Type(t, "alice", "ga 1h INC-1 restore tenant")
			e.settle()
			e.signIn(t, "alice")
			p.Click(t, "bob", bot.ActionApprove, "")
			e.settle()
			e.signIn(t, "bob")
			e.homeOpened(t, "bob")
			e.homeOpened(t, "carol")
			e.settle()
			// A new request waiting for approval shows in the approver's home without his doing.
			p.Type(t, "alice", "paa 1h INC-2 reset an admin's MFA")
			e.settle()
			e.signIn(t, "alice")
			waitFor(t, func() bool {
				v, _ := homeOf("bob")
				return strings.Contains(slacktest.PlainBlocks(viewBlocks(v)), "Privileged Authentication Administrator")
			})
			_, before := homeOf("alice")
			e.homeOpened(t, "alice")
			e.settle()
			home, _ = homeOf("alice")
			plain := slacktest.PlainBlocks(viewBlocks(home))
			wantContains(t, plain, "Global Administrator")
			wantContains(t, plain, "waiting for approval (1 of 2)")
			if _, after := homeOf("alice"); after <= before {
				t.Fatalf("alice's home was not republished")
			}
		})
	}
}

func viewBlocks(v slacktest.View) json.RawMessage {
	var x struct {
		Blocks json.RawMessage `json:"blocks"`
	}
	_ = json.Unmarshal(v.JSON, &x)
	return x.Blocks
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRateLimits: a 429 is retried after Retry-After; when Slack keeps refusing, the send
// fails (and is logged by the core) but the request stays in the store.
func TestRateLimits(t *testing.T) {
	e := start(t, false)
	e.fake.Throttle("chat.postEphemeral", "0", "0")
	e.fake.Throttle("response_url") // none: response_url is not throttled here
	p := platform{e}
	p.Type(t, "dave", "help")
	e.settle()
	wantContains(t, e.last(t, "dave"), "/elevate")

	// Slack keeps refusing DMs: the request is stored all the same.
	e.fake.Throttle("chat.postMessage", "0", "0", "0", "0", "0", "0", "0", "0")
	p.Type(t, "dave", "exchange 1h fixing mail flow")
	e.settle()
	rs := e.requests(t)
	if len(rs) != 1 || rs[0].State != store.StateAwaitingSignIn {
		t.Fatalf("requests %+v, want one awaiting sign-in", rs)
	}
	if n := e.fake.CallCount("chat.postMessage"); n != 0 {
		t.Fatalf("%d posts went through a throttled Slack", n)
	}
	// Asking again later works: the request is the same one.
	p.Type(t, "dave", "status")
	e.settle()
	wantContains(t, e.last(t, "dave"), "waiting for your sign-in")
}

// TestPrivateFallbacks: without a response_url a private reply is an ephemeral message; where
// the bot cannot post ephemerally it becomes a DM.
func TestPrivateFallbacks(t *testing.T) {
	e := start(t, false)
	ctx := context.Background()
	if _, err := e.a.Send(ctx, bot.Address{Channel: general, User: uid("erin"), Private: true}, bot.Message{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	e.fake.Fail("chat.postEphemeral", "channel_not_found")
	ref, err := e.a.Send(ctx, bot.Address{Channel: "C0UNKNOWN", User: uid("erin"), Private: true}, bot.Message{Text: "two"})
	if err != nil {
		t.Fatal(err)
	}
	got := e.fake.Private(uid("erin"))
	if len(got) != 2 || !got[0].Ephemeral || got[1].Channel != slacktest.DMChannel(uid("erin")) {
		t.Fatalf("erin's messages %+v", got)
	}
	if ref.MessageID == "" {
		t.Errorf("a DM's reference has no ts")
	}
	// A channel post by name returns the channel id and ts, and can be updated.
	ref, err = e.a.Send(ctx, bot.Address{Channel: "#security"}, bot.Message{Kind: bot.KindAlert, Text: "x activated y"})
	if err != nil || ref.Channel != "C0SECURITY" || ref.MessageID == "" {
		t.Fatalf("post: %+v %v", ref, err)
	}
	if err := e.a.Update(ctx, ref, bot.Message{Text: "updated"}); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.InChannel("#security"); len(got) != 1 || got[0].Plain() != "updated" || got[0].Updates != 1 {
		t.Fatalf("security channel %+v", got)
	}
	if err := e.a.Update(ctx, store.MessageRef{Platform: "slack", Channel: general}, bot.Message{Text: "x"}); err == nil {
		t.Error("updating an ephemeral message (no ts) did not fail")
	}
}

// TestLoginHint: an approver's sign-in link carries their Slack email as a login hint, nothing
// more: the click is not bound to anyone until the sign-in.
func TestLoginHint(t *testing.T) {
	e := start(t, false)
	p := platform{e}
	p.Type(t, "alice", "ga 1h INC-3 restore tenant")
	e.settle()
	e.signIn(t, "alice")
	p.Click(t, "bob", bot.ActionApprove, "")
	e.settle()
	link := p.Link(t, "bob")
	if !strings.Contains(link, "bob%40contoso.example") && !strings.Contains(link, "bob%2540contoso.example") {
		t.Errorf("sign-in link without the login hint: %s", link)
	}
	if b, err := e.w.Store.Binding(slack.Platform, uid("bob")); err == nil {
		t.Errorf("bob was bound to %s before signing in", b.UserID)
	}
}

// TestFormChecksEligibility: the form lists the PIM for Groups memberships `roles` lists, with
// PIM's limits; a role the user is not eligible for (a forged submission: Slack does not check a
// select's value against its options) is refused before any sign-in, and never reaches PIM.
func TestFormChecksEligibility(t *testing.T) {
	e := start(t, false)
	e.command(t, "dave", general, "exchange 1h fixing mail flow")
	e.settle()
	e.signIn(t, "dave")
	e.command(t, "dave", general, "roles")
	e.settle()
	wantContains(t, e.last(t, "dave"), "Tier1 Admins")
	e.command(t, "dave", general, "")
	e.settle()
	vs := e.fake.Views()
	v := vs[len(vs)-1]
	if v.CallbackID != "elevate_request" {
		t.Fatalf("newest view %+v, want the request form", v)
	}
	form := string(v.JSON)
	for _, want := range []string{`"value":"tier1-admins"`, "Tier1 Admins (up to 4h)", "SharePoint Administrator (up to 1h)"} {
		wantContains(t, form, want)
	}
	// Within Elevate's cap (2h) but over PIM's (1h): the field says PIM's limit.
	res := e.interact(t, e.submit("dave", v, map[string]string{"role": "sharepoint", "duration": "2h", "justification": "restore the site"}))
	wantContains(t, string(res), `"response_action":"errors"`)
	wantContains(t, string(res), "SharePoint Administrator allows at most 1h in PIM")
	posts := e.activations()
	out := e.interact(t, e.submit("dave", v, map[string]string{"role": "ga", "duration": "1h", "justification": "INC-1234 take over the tenant"}))
	if len(out) != 0 {
		t.Fatalf("the forged form was answered %s", out)
	}
	e.settle()
	wantContains(t, e.last(t, "dave"), "You are not eligible for Global Administrator in PIM")
	if n := e.activations() - posts; n != 0 {
		t.Fatalf("%d PIM writes for a forged role", n)
	}
	rs := e.requests(t)
	if got := rs[len(rs)-1]; got.RoleName != "Global Administrator" || got.State != store.StateFailed || got.FailureCode != bot.CodeNotEligible {
		t.Fatalf("the forged request: %s %s %s", got.RoleName, got.State, got.FailureCode)
	}
}

// TestChannelMention: the requester is told where the card went as a Slack channel mention
// (<#C…>, which Slack shows as the channel's current name), never as a raw id or escaped text.
func TestChannelMention(t *testing.T) {
	e := start(t, false)
	e.command(t, "alice", general, "ga 1h INC-1234 restore tenant")
	e.settle()
	e.signIn(t, "alice")
	var told slacktest.Message
	for _, m := range e.fake.Private(uid("alice")) {
		if strings.Contains(m.Plain(), "I've asked in") {
			told = m
		}
	}
	var blocks []struct {
		Text struct{ Text string } `json:"text"`
	}
	if err := json.Unmarshal(told.Blocks, &blocks); err != nil || len(blocks) == 0 {
		t.Fatalf("alice was not told where the card is: %+v (%v)", told, err)
	}
	if got := blocks[0].Text.Text; !strings.Contains(got, "I've asked in <#C0APPROVALS>.") {
		t.Fatalf("alice was told %q, want a mention of <#C0APPROVALS>", got)
	}
}

// TestSlowChecksSayWorkingOnIt: when Microsoft Graph is slow to say whether the user is eligible,
// the user is told the request is being checked (Slack shows nothing for a slash command until
// the first reply), and the answer follows.
func TestSlowChecksSayWorkingOnIt(t *testing.T) {
	e := start(t, false)
	hold := make(chan struct{})
	e.w.Tenant.Inject(graphtest.Fault{Method: http.MethodGet, Path: "roleEligibilityScheduleInstances", Hold: hold})
	e.command(t, "dave", general, "sharepoint 2h restore the intranet site")
	waitFor(t, func() bool {
		seen := platform{e}.Seen(t, "dave")
		return len(seen) > 0 && strings.Contains(seen[len(seen)-1], "Checking your eligibility and PIM's limit for SharePoint Administrator")
	})
	close(hold)
	e.settle()
	wantContains(t, e.last(t, "dave"), "SharePoint Administrator allows at most 1h in PIM — use 1h?")
}

// TestExtendInSlack: `extend` stores the consent and writes nothing (PIM refuses a second
// activation while one runs); the sign-in for the follow-up is asked for ahead of the end, and
// the role is activated again once the first activation has ended, as the user was told.
func TestExtendInSlack(t *testing.T) {
	var mu sync.Mutex
	var off time.Duration
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(off) }
	e := startEnv(t, false, examples.Tenant, examples.Config, func(o *demo.Options) { o.Now = now })
	later := func(d time.Duration) {
		mu.Lock()
		off += d
		mu.Unlock()
		e.w.Tenant.Advance(d)
		if err := e.w.Core.Expire(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.settle()
	}
	e.command(t, "alice", general, "exchange 30m fixing mail flow")
	e.settle()
	e.signIn(t, "alice")
	wantContains(t, e.last(t, "alice"), "usable now")
	e.command(t, "alice", general, "extend 1h")
	e.settle()
	wantContains(t, e.last(t, "alice"), "I'll activate it again for 1h")
	if n := e.activations(); n != 1 {
		t.Fatalf("%d PIM writes after extend, want 1", n)
	}
	later(21 * time.Minute)
	wantContains(t, e.last(t, "alice"), "To activate Exchange Administrator again for 1h when it ends")
	e.signIn(t, "alice")
	later(10 * time.Minute)
	wantContains(t, e.last(t, "alice"), "Exchange Administrator is active again until")
	if n := e.activations(); n != 2 {
		t.Fatalf("%d PIM writes, want 2 (the follow-up)", n)
	}
}

// TestEscalationNamesChannel: the requester of an escalated tier-0 request is told where it was
// escalated with a Slack channel mention, not the configured name or id.
func TestEscalationNamesChannel(t *testing.T) {
	var mu sync.Mutex
	var off time.Duration
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(off) }
	e := startEnv(t, false, examples.Tenant, examples.Config, func(o *demo.Options) { o.Now = now })
	e.command(t, "alice", general, "ga 1h INC-1234 restore tenant")
	e.settle()
	e.signIn(t, "alice")
	mu.Lock()
	off += 56 * time.Minute // tier-0: escalated to the security channel 5 minutes before expiry
	mu.Unlock()
	if err := e.w.Core.Expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.settle()
	wantContains(t, e.last(t, "alice"), "I've escalated it to <#C0SECURITY>")
}
