package teams_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/store"
)

// oneApproverConfig makes SharePoint Administrator (not tier 0) need bob's approval, so an
// approver's click activates without a sign-in of their own. Bob is named by object id: Teams
// vouches for it, while a UPN is only known to the core after the user's first sign-in.
func oneApproverConfig(t *testing.T) []byte {
	t.Helper()
	old := "  - name: SharePoint Administrator    # aliases: sharepoint, spo\n    max_duration: 2h\n"
	if !strings.Contains(string(examples.Config), old) {
		t.Skip("examples/elevate.yaml changed; update oneApproverConfig")
	}
	return []byte(strings.Replace(string(examples.Config), old, old+"    approval:\n      approvers: [22222222-2222-4222-8222-222222222222] # bob\n", 1))
}

func activations(w *world) int {
	n := 0
	for _, c := range w.Tenant.Calls() {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/roleManagement/directory/roleAssignmentScheduleRequests") && !c.ValidationOnly() {
			n++
		}
	}
	return n
}

func lastRequest(t *testing.T, w *world) store.Request {
	t.Helper()
	rs, err := w.Store.Requests(store.Filter{Platform: "teams"})
	if err != nil || len(rs) == 0 {
		t.Fatalf("no teams request stored (%v)", err)
	}
	return rs[len(rs)-1]
}

func signIn(t *testing.T, w *world, p platform, user string) {
	t.Helper()
	status, page, err := w.SignIn(context.Background(), p.Link(t, user), user+"@"+w.Domain(), true)
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s signs in: %d %v %s", user, status, err, page)
	}
	p.Settle(t)
}

// invokeCard clicks like platform.Click but returns the invoke response's card text.
func invokeCard(t *testing.T, w *world, user, verb, value, reason string) (int, string) {
	t.Helper()
	c, _ := w.fake.Conversation(approvalsID)
	if len(c.Activities) == 0 {
		t.Fatal("no card in the approvals channel")
	}
	card := c.Activities[len(c.Activities)-1]
	body := w.deliver(t, map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": w.from(user),
		"conversation": map[string]any{"id": approvalsID + ";messageid=" + card.ID, "conversationType": "channel", "tenantId": w.tenant},
		"channelData":  w.tenantData(), "replyToId": card.ID,
		"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": map[string]any{"elevate": verb, "value": value, "reason": reason}}}}, http.StatusOK)
	var resp struct {
		StatusCode int
		Type       string
		Value      json.RawMessage
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("invoke response %s: %v", body, err)
	}
	var v any
	json.Unmarshal(resp.Value, &v)
	return resp.StatusCode, teamstest.CardText(v)
}

func TestExecuteApproveActivatesOnce(t *testing.T) {
	w := startWorldWith(t, oneApproverConfig(t))
	p := platform{w}
	p.Type(t, "dave", "sharepoint 1h fix the intranet site")
	p.Settle(t)
	signIn(t, w, p, "dave")
	r := lastRequest(t, w)
	if r.State != store.StateAwaitingApproval {
		t.Fatalf("state %s, want awaiting approval", r.State)
	}
	// The card shows bob the live version (refresh.userIds) once Teams has shown us bob.
	p.Type(t, "bob", "help")
	p.Settle(t)

	value := strings.TrimPrefix(strings.Fields(lastRequestIDText(r))[0], "#")
	var wg sync.WaitGroup
	texts := make([]string, 3)
	for i := range texts {
		wg.Add(1)
		go func() { // a triple click
			defer wg.Done()
			_, texts[i] = invokeCard(t, w, "bob", "approve", value, "")
		}()
	}
	wg.Wait()
	p.Settle(t)
	if n := activations(w); n != 1 {
		t.Fatalf("%d activations, want exactly 1", n)
	}
	if got := lastRequest(t, w).State; got != store.StateActive {
		t.Fatalf("state %s, want active", got)
	}
	for _, text := range texts {
		if strings.Contains(text, "[Approve]") {
			t.Errorf("an invoke answered with a card that still offers Approve:\n%s", text)
		}
	}
	// The card in the channel was updated in place for everyone.
	c, _ := w.fake.Conversation(approvalsID)
	got := teamstest.Text(c.Activities[len(c.Activities)-1].Body)
	if !strings.Contains(got, "active until") || c.Activities[len(c.Activities)-1].Updates == 0 {
		t.Errorf("card not updated in place: %q", got)
	}
	// A refresh (what Teams sends when an approver looks at the card) shows the same.
	if status, text := invokeCard(t, w, "bob", "refresh", value, ""); status != 200 || !strings.Contains(text, "active until") {
		t.Errorf("refresh: %d %q", status, text)
	}
	if !strings.Contains(string(mustJSON(c.Activities[0].Body)), chatID("bob")) {
		t.Errorf("refresh.userIds lacks bob: %s", mustJSON(c.Activities[0].Body))
	}
}

func lastRequestIDText(r store.Request) string { return "#" + itoa(r.ID) }

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// TestSubmitFallbackDeny: a client without Universal Actions sends Action.Submit as a message
// with the data and the reason input in value and the card's id in replyToId.
func TestSubmitFallbackDeny(t *testing.T) {
	w := startWorldWith(t, oneApproverConfig(t))
	p := platform{w}
	p.Type(t, "dave", "sharepoint 1h fix the intranet site")
	p.Settle(t)
	signIn(t, w, p, "dave")
	r := lastRequest(t, w)
	c, _ := w.fake.Conversation(approvalsID)
	card := c.Activities[len(c.Activities)-1]
	w.deliver(t, map[string]any{"type": "message", "from": w.from("bob"), "replyToId": card.ID,
		"conversation": map[string]any{"id": approvalsID + ";messageid=" + card.ID, "conversationType": "channel", "tenantId": w.tenant},
		"channelData":  w.tenantData(), "value": map[string]any{"elevate": "deny", "value": itoa(r.ID), "reason": "not during the freeze"}}, http.StatusOK)
	p.Settle(t)
	got := lastRequest(t, w)
	if got.State != store.StateDenied || len(got.Approvals) != 1 || got.Approvals[0].Reason != "not during the freeze" {
		t.Fatalf("request after deny: %s %+v", got.State, got.Approvals)
	}
	c, _ = w.fake.Conversation(approvalsID)
	if text := teamstest.Text(c.Activities[len(c.Activities)-1].Body); !strings.Contains(text, "not during the freeze") {
		t.Errorf("card not updated with the reason: %q", text)
	}
	if seen := p.Seen(t, "dave"); !strings.Contains(seen[len(seen)-1], "not during the freeze") {
		t.Errorf("dave was not told why: %q", seen[len(seen)-1])
	}
	if n := activations(w); n != 0 {
		t.Errorf("%d activations after a deny", n)
	}
}

func TestOtherTenantRefused(t *testing.T) {
	w := startWorld(t)
	other := map[string]any{"tenant": map[string]any{"id": "0ther000-0000-4000-8000-000000000000"}}
	for name, a := range map[string]map[string]any{
		"channelData tenant": {"type": "message", "text": "exchange 1h x", "from": w.from("alice"), "channelData": other,
			"conversation": map[string]any{"id": "a:evil", "conversationType": "personal"}},
		"conversation tenant": {"type": "message", "text": "exchange 1h x", "from": w.from("alice"), "channelData": w.tenantData(),
			"conversation": map[string]any{"id": "a:evil", "conversationType": "personal", "tenantId": "0ther000-0000-4000-8000-000000000000"}},
		"no tenant": {"type": "message", "text": "exchange 1h x", "from": w.from("alice"),
			"conversation": map[string]any{"id": "a:evil", "conversationType": "personal"}},
	} {
		t.Run(name, func(t *testing.T) {
			w.deliver(t, a, http.StatusForbidden)
		})
	}
	w.adapter.Wait()
	if rs, _ := w.Store.Requests(store.Filter{}); len(rs) != 0 {
		t.Errorf("%d requests stored from another tenant", len(rs))
	}
	if cs, _ := w.Store.Conversations("teams"); len(cs) != 2 { // erin and the channel, from the install in startWorld
		t.Errorf("conversation references from another tenant were stored: %+v", cs)
	}
}

func TestUnauthenticatedRefused(t *testing.T) {
	w := startWorld(t)
	for _, h := range []string{"", "Bearer x.y.z", "Basic YTpi"} {
		req, _ := http.NewRequest(http.MethodPost, w.endpoint, strings.NewReader(`{"type":"message","text":"exchange 1h x","serviceUrl":"`+w.fake.ServiceURL()+`","channelId":"msteams"}`))
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", h, resp.StatusCode)
		}
	}
	// A valid token, but for another serviceUrl than the activity names.
	act, _ := json.Marshal(w.activity(map[string]any{"type": "message", "text": "exchange 1h x", "from": w.from("alice"),
		"serviceUrl": "https://evil.example/", "conversation": w.personal("alice"), "channelData": w.tenantData()}))
	req, _ := http.NewRequest(http.MethodPost, w.endpoint, strings.NewReader(string(act)))
	req.Header.Set("Authorization", "Bearer "+w.fake.Token(w.fake.ServiceURL()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("foreign serviceUrl: status %d, want 401", resp.StatusCode)
	}
}

func TestMentionInChannel(t *testing.T) {
	w := startWorld(t)
	w.deliver(t, map[string]any{"type": "message", "from": w.from("alice"),
		"text":         "<at>Elevate</at> elevate exchange 2h fixing mail flow",
		"entities":     []any{map[string]any{"type": "mention", "text": "<at>Elevate</at>", "mentioned": map[string]any{"id": "28:" + appID, "name": "Elevate"}}},
		"conversation": map[string]any{"id": "19:general@thread.tacv2;messageid=1", "conversationType": "channel", "tenantId": w.tenant, "isGroup": true},
		"channelData":  w.tenantData()}, http.StatusOK)
	platform{w}.Settle(t)
	r := lastRequest(t, w)
	if r.RoleName != "Exchange Administrator" || r.Justification != "fixing mail flow" || r.Channel != "19:general@thread.tacv2" || r.UserID != w.Tenant.UserID("alice@"+w.Domain()) {
		t.Fatalf("request %+v", r)
	}
	// The sign-in link went to alice privately, not into the channel.
	if seen := (platform{w}).Seen(t, "alice"); len(seen) == 0 || !strings.Contains(seen[len(seen)-1], "Sign in") {
		t.Errorf("alice's DMs: %q", seen)
	}
	if c, ok := w.fake.Conversation("19:general@thread.tacv2"); ok && len(c.Activities) > 0 {
		t.Errorf("something was posted in the channel: %q", teamstest.Text(c.Activities[0].Body))
	}
}

func TestFormWhenArgumentsMissing(t *testing.T) {
	w := startWorld(t)
	p := platform{w}
	p.Type(t, "dave", "elevate")
	p.Settle(t)
	c, _ := w.fake.Personal(chatID("dave"))
	form := c.Activities[len(c.Activities)-1]
	if text := teamstest.Text(form.Body); !strings.Contains(text, "Request an admin role") || !strings.Contains(text, "[Request]") {
		t.Fatalf("form: %q", text)
	}
	submit := func(data map[string]any) string {
		data["elevate"] = "request"
		body := w.deliver(t, map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": w.from("dave"), "conversation": w.personal("dave"),
			"channelData": w.tenantData(), "replyToId": form.ID,
			"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "request", "data": data}}}, http.StatusOK)
		var resp struct{ Value any }
		json.Unmarshal(body, &resp)
		return teamstest.CardText(resp.Value)
	}
	if got := submit(map[string]any{"role": "exchange", "duration": "forever", "justification": "x"}); !strings.Contains(got, "30m, 4h or 1h30m") {
		t.Errorf("a bad duration gives no error next to the field: %q", got)
	}
	if got := submit(map[string]any{"role": "exchange", "duration": "2h", "justification": "migrate mailboxes"}); !strings.Contains(got, "Request sent") {
		t.Errorf("a good form: %q", got)
	}
	p.Settle(t)
	if r := lastRequest(t, w); r.RoleName != "Exchange Administrator" || r.Justification != "migrate mailboxes" {
		t.Errorf("request from the form: %+v", r)
	}
	if seen := p.Seen(t, "dave"); !strings.Contains(seen[len(seen)-1], "Sign in") {
		t.Errorf("no sign-in prompt after the form: %q", seen[len(seen)-1])
	}
	// The role field is a multi-select: Teams sends the roles picked comma-separated.
	if b, _ := json.Marshal(form.Body); !strings.Contains(string(b), `"isMultiSelect":true`) {
		t.Errorf("the form's role field is not a multi-select: %s", b)
	}
	if got := submit(map[string]any{"role": "exchange,sharepoint", "duration": "4h", "justification": "x y"}); !strings.Contains(got, "SharePoint Administrator allows at most 2h") {
		t.Errorf("one of two roles refused: %q", got)
	}
	if got := submit(map[string]any{"role": "sharepoint,tier1", "duration": "1h", "justification": "restore the intranet"}); !strings.Contains(got, "Request sent") {
		t.Errorf("a good form with two roles: %q", got)
	}
	p.Settle(t)
	if r := lastRequest(t, w); r.RoleName != "Tier1 Admins" || r.Group == 0 || r.Group == r.ID {
		t.Errorf("the two-role form's last item: %+v", r)
	}
	if seen := p.Seen(t, "dave"); !strings.Contains(seen[len(seen)-1], "Sign in with your Microsoft account to activate SharePoint Administrator and Tier1 Admins for 1h") {
		t.Errorf("no sign-in prompt for both roles: %q", seen[len(seen)-1])
	}
}

// TestProactive: channel names learned from Teams, a DM opened with createConversation, a 429
// waited out.
func TestProactive(t *testing.T) {
	w := startWorld(t)
	w.deliver(t, map[string]any{"type": "conversationUpdate", "from": w.from("erin"),
		"conversation": map[string]any{"id": approvalsID, "conversationType": "channel", "tenantId": w.tenant, "isGroup": true},
		"channelData": map[string]any{"eventType": "channelCreated", "tenant": map[string]any{"id": w.tenant},
			"channel": map[string]any{"id": "19:sec0000@thread.tacv2", "name": "Security"}, "team": map[string]any{"id": approvalsID}}}, http.StatusOK)
	w.fake.Throttle(1, "1")
	ref, err := w.adapter.Send(context.Background(), bot.Address{Channel: "#security"}, bot.Message{Kind: bot.KindAlert, Text: "Exchange Administrator activated by alice"})
	if err != nil {
		t.Fatal(err)
	}
	if ref.Channel != "19:sec0000@thread.tacv2" || ref.MessageID == "" || ref.Platform != "teams" {
		t.Errorf("ref %+v", ref)
	}
	var throttled bool
	for _, r := range w.fake.Requests() {
		throttled = throttled || r.Status == http.StatusTooManyRequests
	}
	if !throttled {
		t.Error("the fake never answered 429")
	}
	// erin never wrote to the bot in a 1:1 chat: the DM opens one.
	dm, err := w.adapter.Send(context.Background(), bot.DM(chatID("erin")), bot.Message{Kind: bot.KindText, Text: "Do you still need *Exchange Administrator*?"})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := w.fake.Personal(chatID("erin"))
	if !ok || c.ID != dm.Channel || len(c.Activities) != 1 || !strings.Contains(teamstest.Text(c.Activities[0].Body), "**Exchange Administrator**") {
		t.Fatalf("erin's DM: %+v %v", c, ok)
	}
	if err := w.adapter.Update(context.Background(), dm, bot.Message{Kind: bot.KindText, Text: "Thanks"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.adapter.Send(context.Background(), bot.Address{Channel: "#nowhere"}, bot.Message{Text: "x"}); err == nil || !strings.Contains(err.Error(), "TEAMS_CHANNELS") {
		t.Errorf("unknown channel: %v", err)
	}
	if _, err := w.adapter.Send(context.Background(), bot.DM("29:stranger"), bot.Message{Text: "x"}); err == nil {
		t.Error("a DM to a user Teams never showed us was sent")
	}
}

// TestDenyAsksForReason: a Deny with an empty reason is not a decision; the approver is asked
// for one (as Slack's modal does), and the request stays pending.
func TestDenyAsksForReason(t *testing.T) {
	w := startWorldWith(t, oneApproverConfig(t))
	p := platform{w}
	p.Type(t, "dave", "sharepoint 1h fix the intranet site")
	p.Settle(t)
	signIn(t, w, p, "dave")
	r := lastRequest(t, w)
	p.Type(t, "bob", "help")
	p.Settle(t)
	if status, _ := invokeCard(t, w, "bob", "deny", itoa(r.ID), "  "); status != 200 {
		t.Fatalf("invoke status %d", status)
	}
	p.Settle(t)
	if got := lastRequest(t, w); got.State != store.StateAwaitingApproval || len(got.Approvals) != 0 {
		t.Fatalf("a deny without a reason was taken: %s %+v", got.State, got.Approvals)
	}
	if seen := p.Seen(t, "bob"); !strings.Contains(seen[len(seen)-1], "Say why you are denying this request") {
		t.Fatalf("bob was told %q", seen[len(seen)-1])
	}
	invokeCard(t, w, "bob", "deny", itoa(r.ID), "not during the freeze")
	p.Settle(t)
	if got := lastRequest(t, w); got.State != store.StateDenied || got.Approvals[0].Reason != "not during the freeze" {
		t.Fatalf("a deny with a reason: %s %+v", got.State, got.Approvals)
	}
}

// TestSubmitFormStoredBeforeAck: a request form sent as Action.Submit (clients without Universal
// Actions) is stored before Teams gets its 200, as on the invoke path: an acknowledged request
// is never lost to a crash right after the answer.
func TestSubmitFormStoredBeforeAck(t *testing.T) {
	w := startWorld(t)
	p := platform{w}
	w.deliver(t, map[string]any{"type": "message", "from": w.from("alice"), "channelData": w.tenantData(),
		"conversation": map[string]any{"id": "a:alice-chat", "conversationType": "personal", "tenantId": w.tenant},
		"value":        map[string]any{"elevate": "request", bot.FieldRole: "exchange", bot.FieldDuration: "1h", bot.FieldJustification: "mail flow is broken"}}, http.StatusOK)
	// Checked as soon as the 200 is in, before the adapter's background work is waited for.
	rs, err := w.Store.Requests(store.Filter{Platform: "teams"})
	if err != nil || len(rs) != 1 || rs[0].RoleName != "Exchange Administrator" || rs[0].Justification != "mail flow is broken" {
		t.Fatalf("requests when the 200 was sent: %+v (%v); want alice's, stored", rs, err)
	}
	p.Settle(t)
}

// TestPIMStageOnItsOwn: SharePoint needs bob's approval in Elevate, and the tenant's PIM setting
// wants its own approval too. The card shows the two as separate steps, each with its own count
// and expiry: never Elevate's and PIM's approvals summed, never an expiry of "now".
func TestPIMStageOnItsOwn(t *testing.T) {
	w := startWorldWith(t, oneApproverConfig(t))
	if err := w.Tenant.SetPolicy(graphtest.PolicyConfig{Role: "SharePoint Administrator", MaxDuration: graphtest.Duration(time.Hour),
		Approval: &struct {
			Approvers []string `yaml:"approvers"`
		}{Approvers: []string{"PIM Approvers"}}}); err != nil {
		t.Fatal(err)
	}
	p := platform{w}
	p.Type(t, "dave", "sharepoint 1h fix the intranet site")
	p.Settle(t)
	signIn(t, w, p, "dave")
	p.Type(t, "bob", "help")
	p.Settle(t)
	r := lastRequest(t, w)
	invokeCard(t, w, "bob", "approve", itoa(r.ID), "")
	p.Settle(t)
	if got := lastRequest(t, w); got.GraphStatus != "PendingApproval" {
		t.Fatalf("after Elevate's approval: %s %s, want PIM's approval pending", got.State, got.GraphStatus)
	}
	c, _ := w.fake.Conversation(approvalsID)
	card := teamstest.Text(c.Activities[len(c.Activities)-1].Body)
	for _, want := range []string{"Approvals: 1 of 1", "PIM approval: waiting for one of PIM's approvers", "PIM's approval expires at"} {
		if !strings.Contains(card, want) {
			t.Errorf("card during PIM's stage lacks %q:\n%s", want, card)
		}
	}
	if strings.Contains(card, "of 2") || strings.Contains(card, "Expires at "+time.Now().UTC().Format("15:04")) {
		t.Errorf("card during PIM's stage sums the steps or expires now:\n%s", card)
	}
	// Erin is no approver in PIM's setting (PIM Approvers: bob and carol): told at once.
	p.Type(t, "erin", "help")
	p.Settle(t)
	invokeCard(t, w, "erin", "approve", itoa(r.ID), "")
	p.Settle(t)
	if seen := p.Seen(t, "erin"); !strings.Contains(seen[len(seen)-1], "You are not an approver for SharePoint Administrator in PIM") {
		t.Errorf("erin, no approver in PIM, was told %q", seen[len(seen)-1])
	}
	// Carol approves PIM's stage, in PIM, after her own sign-in.
	p.Type(t, "carol", "help")
	p.Settle(t)
	invokeCard(t, w, "carol", "approve", itoa(r.ID), "")
	p.Settle(t)
	signIn(t, w, p, "carol")
	if got := lastRequest(t, w); got.State != store.StateActive {
		t.Fatalf("after PIM's approval: %s", got.State)
	}
	c, _ = w.fake.Conversation(approvalsID)
	card = teamstest.Text(c.Activities[len(c.Activities)-1].Body)
	for _, want := range []string{"Approvals: 1 of 1", "PIM approval: approved by", "Approved in PIM by"} {
		if !strings.Contains(card, want) {
			t.Errorf("final card lacks %q:\n%s", want, card)
		}
	}
	if n := strings.Count(card, "Approved by bob"); n > 1 {
		t.Errorf("bob is listed %d times:\n%s", n, card)
	}
}
