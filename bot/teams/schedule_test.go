package teams_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/store"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func scheduler(t *testing.T, w *world) *schedule.Scheduler {
	t.Helper()
	s, err := schedule.New(schedule.Options{Config: w.Config, Core: w.Core, Graph: w.Graph, Store: w.Store})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (w *world) settle() {
	for range 3 {
		w.adapter.Wait()
		w.Core.Wait()
	}
}

// elements returns the card elements of an activity (or card) with the given type, depth first.
func elements(v any, typ string) []map[string]any {
	var out []map[string]any
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, elements(e, typ)...)
		}
	case map[string]any:
		if x["type"] == typ {
			out = append(out, x)
		}
		for _, k := range []string{"attachments", "content", "body", "items", "columns", "actions", "card"} {
			out = append(out, elements(x[k], typ)...)
		}
	}
	return out
}

func cardOf(t *testing.T, activity map[string]any) map[string]any {
	t.Helper()
	atts, _ := activity["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("want one attachment: %v", activity)
	}
	att, _ := atts[0].(map[string]any)
	if att["contentType"] != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("attachment is %v", att["contentType"])
	}
	card, _ := att["content"].(map[string]any)
	return card
}

// imageData decodes an Image element's data: URL.
func imageData(t *testing.T, img map[string]any) (mime string, data []byte) {
	t.Helper()
	u, _ := img["url"].(string)
	rest, ok := strings.CutPrefix(u, "data:")
	head, b64, ok2 := strings.Cut(rest, ";base64,")
	if !ok || !ok2 {
		t.Fatalf("image url is not a base64 data URL: %.80s", u)
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return head, data
}

// TestDigestWithChart: the scheduled digest is posted to the digest channel as a full-width
// Adaptive Card with its PNG chart embedded as an Image (a data: URL), within Teams' size limit.
func TestDigestWithChart(t *testing.T) {
	w := startWorld(t)
	now := time.Now()
	if _, err := scheduler(t, w).PostDigest(t.Context(), now.AddDate(0, 0, -7), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	w.settle()
	c, _ := w.fake.Conversation(digestID)
	if len(c.Activities) != 1 {
		t.Fatalf("%d activities in #it-admins, want the digest", len(c.Activities))
	}
	body := c.Activities[0].Body
	text := teamstest.Text(body)
	for _, want := range []string{"Weekly PIM digest", "Standing access", "Break-glass sign-ins"} {
		if !strings.Contains(text, want) {
			t.Errorf("the digest lacks %q:\n%s", want, text)
		}
	}
	card := cardOf(t, body)
	if ms, _ := card["msteams"].(map[string]any); ms["width"] != "Full" {
		t.Errorf("the digest card is not full width: %v", card["msteams"])
	}
	if len(elements(card, "FactSet")) != 1 {
		t.Error("the digest's figures are not a FactSet")
	}
	imgs := elements(card, "Image")
	if len(imgs) != 1 {
		t.Fatalf("%d images in the digest card, want the chart", len(imgs))
	}
	mime, data := imageData(t, imgs[0])
	if mime != "image/png" || !bytes.HasPrefix(data, pngSignature) {
		t.Errorf("the chart is %s, %q…", mime, data[:min(8, len(data))])
	}
	if alt, _ := imgs[0]["altText"].(string); alt == "" {
		t.Error("the chart has no alt text")
	}
	if b, _ := json.Marshal(body); len(b) > 28<<10 {
		t.Errorf("the digest activity is %d bytes, over Teams' 28 KB", len(b))
	}
}

// TestSendFiles: a small image goes in the card and the reference stays updatable; an image too
// large for a Teams activity, or a file that is not an image, is left out with a warning and
// the message is posted all the same.
func TestSendFiles(t *testing.T) {
	var logs logbuf.Buffer
	w := startWorldLog(t, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := t.Context()
	m := bot.Message{Kind: schedule.KindDigest, Title: "Weekly PIM digest", Text: "No activations this week.",
		Fields: []bot.Field{{Label: "Standing access", Value: "3 permanent assignments"}}}
	small := append(bytes.Clone(pngSignature), "tiny chart"...)

	ref, err := w.adapter.SendFiles(ctx, bot.Address{Channel: "#it-admins"}, m, []bot.Attachment{{Name: "chart.png", MIME: "image/png", Alt: "Bar chart", Data: small}})
	if err != nil || ref.Channel != digestID || ref.MessageID == "" || ref.Kind != string(schedule.KindDigest) {
		t.Fatalf("SendFiles = %+v, %v", ref, err)
	}
	c, _ := w.fake.Conversation(digestID)
	if imgs := elements(c.Activities[0].Body, "Image"); len(imgs) != 1 {
		t.Fatalf("%d images, want 1", len(imgs))
	} else if _, data := imageData(t, imgs[0]); !bytes.Equal(data, small) {
		t.Errorf("the image is %q, want %q", data, small)
	}
	m.Text = "Updated."
	if err := w.adapter.Update(ctx, ref, m); err != nil {
		t.Fatalf("updating the digest: %v", err)
	}
	c, _ = w.fake.Conversation(digestID)
	if a := c.Activities[0]; a.Updates != 1 || !strings.Contains(teamstest.Text(a.Body), "Updated.") {
		t.Fatalf("after the update: %d updates, %s", a.Updates, teamstest.Text(a.Body))
	}

	big := append(bytes.Clone(pngSignature), make([]byte, 30<<10)...)
	rand.Read(big[len(pngSignature):])
	files := []bot.Attachment{{Name: "big.png", MIME: "image/png", Alt: "Big chart", Data: big}, {Name: "data.csv", MIME: "text/csv", Data: []byte("a,b\n")}}
	ref, err = w.adapter.SendFiles(ctx, bot.Address{Channel: "#it-admins"}, m, files)
	if err != nil || ref.MessageID == "" {
		t.Fatalf("a large image lost the message: %+v, %v", ref, err)
	}
	c, _ = w.fake.Conversation(digestID)
	last := c.Activities[len(c.Activities)-1].Body
	if len(c.Activities) != 2 || len(elements(last, "Image")) != 0 || !strings.Contains(teamstest.Text(last), "Standing access") {
		t.Fatalf("want the card without the image: %d activities, last %v", len(c.Activities), teamstest.Text(last))
	}
	if b, _ := json.Marshal(last); len(b) > 28<<10 {
		t.Errorf("%d bytes posted", len(b))
	}
	for _, want := range []string{"size limit", "only PNG, JPEG and GIF"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning with %q in the log:\n%s", want, logs.String())
		}
	}

	// A direct message carries the image too.
	if _, err := w.adapter.SendFiles(ctx, bot.DM(chatID("alice")), bot.Message{Text: "Chart"}, []bot.Attachment{{Name: "c.png", Data: small}}); err != nil {
		t.Fatal(err)
	}
	p, _ := w.fake.Personal(chatID("alice"))
	if len(p.Activities) != 1 || len(elements(p.Activities[0].Body, "Image")) != 1 {
		t.Fatalf("the DM has no image: %+v", p.Activities)
	}
}

// TestFindUser: a user who never wrote to Elevate is found by object id (or UPN) among the
// members of the team Elevate is installed in; answers are cached, a miss too; a user who did
// write is found without asking; a connector failure is an error, not "nobody", and is not
// cached. Reach goes through it, and the found user can be sent a DM, but nothing is bound.
func TestFindUser(t *testing.T) {
	w := startWorld(t)
	ctx := t.Context()
	oid := func(u string) string { return w.Tenant.UserID(u + "@" + w.Domain()) }

	before := w.fake.MemberGets()
	for range 2 {
		u, ok, err := w.adapter.FindUser(ctx, strings.ToUpper(oid("dave")), "")
		if err != nil || !ok || u != chatID("dave") {
			t.Fatalf("FindUser(dave) = %q, %v, %v", u, ok, err)
		}
	}
	if u, ok, err := w.adapter.FindUser(ctx, "", " Dave@"+strings.ToUpper(w.Domain())); err != nil || !ok || u != chatID("dave") {
		t.Fatalf("FindUser(dave's UPN) = %q, %v, %v", u, ok, err)
	}
	if n := w.fake.MemberGets() - before; n != 1 {
		t.Errorf("%d member lookups for dave asked three times, want 1 (cached)", n)
	}
	for range 2 {
		if u, ok, err := w.adapter.FindUser(ctx, "00000000-0000-4000-8000-00000000dead", "nobody@"+w.Domain()); err != nil || ok || u != "" {
			t.Fatalf("FindUser(nobody) = %q, %v, %v", u, ok, err)
		}
	}
	if n := w.fake.MemberGets() - before; n != 3 {
		t.Errorf("%d member lookups, want 3 (nobody by id and by UPN, once)", n)
	}
	for _, upn := range []string{"", "not-a-upn"} {
		if _, ok, err := w.adapter.FindUser(ctx, "", upn); ok || err != nil {
			t.Errorf("FindUser(%q) = %v, %v", upn, ok, err)
		}
	}

	// Alice wrote to Elevate: her stored reference answers.
	platform{w}.Type(t, "alice", "help")
	w.settle()
	before = w.fake.MemberGets()
	if u, ok, err := w.adapter.FindUser(ctx, oid("alice"), ""); err != nil || !ok || u != chatID("alice") {
		t.Fatalf("FindUser(alice) = %q, %v, %v", u, ok, err)
	}
	if w.fake.MemberGets() != before {
		t.Error("alice was looked up although she wrote to Elevate")
	}

	// The connector fails (429 beyond the retries): an error, and the next call asks again.
	w.fake.Throttle(4, "0")
	if _, ok, err := w.adapter.FindUser(ctx, oid("carol"), ""); err == nil || ok {
		t.Fatalf("a failed lookup: ok %v, err %v", ok, err)
	}
	if u, ok, err := w.adapter.FindUser(ctx, oid("carol"), ""); err != nil || !ok || u != chatID("carol") {
		t.Fatalf("after a failure FindUser(carol) = %q, %v, %v (a failure must not be cached)", u, ok, err)
	}

	// Reach, the core's way to a person who never signed in, goes through it; Tell opens a chat.
	rs, err := w.Core.Reach(ctx, oid("bob"), "")
	if err != nil || len(rs) != 1 || rs[0] != (bot.Recipient{Platform: "teams", ChatUser: chatID("bob")}) {
		t.Fatalf("Reach(bob) = %+v, %v", rs, err)
	}
	if err := w.Core.Tell(ctx, "teams", chatID("bob"), bot.Message{Text: "Hello Bob"}); err != nil {
		t.Fatalf("Tell(bob): %v", err)
	}
	if c, ok := w.fake.Personal(chatID("bob")); !ok || len(c.Activities) != 1 || !strings.Contains(teamstest.Text(c.Activities[0].Body), "Hello Bob") {
		t.Fatalf("bob's chat: %+v", c)
	}
	if _, _, known, _ := w.Core.Identity(bot.Actor{Platform: "teams", ChatUser: chatID("bob")}); known {
		t.Error("finding bob bound his identity")
	}
}

// TestEmailHint: the member lookup's UPN reaches the core as the actor's login hint (kept
// with the request), looked up once per user.
func TestEmailHint(t *testing.T) {
	w := startWorld(t)
	p := platform{w}
	before := w.fake.MemberGets()
	p.Type(t, "alice", "exchange 1h mail flow")
	p.Settle(t)
	if r := lastRequest(t, w); r.LoginHint != "alice@"+w.Domain() {
		t.Errorf("login hint = %q, want alice's UPN", r.LoginHint)
	}
	p.Type(t, "alice", "status")
	p.Settle(t)
	if n := w.fake.MemberGets() - before; n != 1 {
		t.Errorf("%d member lookups for two messages, want 1 (cached)", n)
	}
}

// invoke sends an Action.Execute click on activity in conv and returns the invoke response.
func invoke(t *testing.T, w *world, user, conv, activity, verb, value string) (status int, typ string, value2 json.RawMessage) {
	t.Helper()
	body := w.deliver(t, map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": w.from(user),
		"conversation": map[string]any{"id": conv, "conversationType": "personal", "tenantId": w.tenant},
		"channelData":  w.tenantData(), "replyToId": activity,
		"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": map[string]any{"elevate": verb, "value": value}}}}, http.StatusOK)
	var resp struct {
		StatusCode int
		Type       string
		Value      json.RawMessage
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("invoke response %s: %v", body, err)
	}
	return resp.StatusCode, resp.Type, resp.Value
}

func messageText(t *testing.T, typ string, v json.RawMessage) string {
	t.Helper()
	var s string
	if typ != "application/vnd.microsoft.activity.message" || json.Unmarshal(v, &s) != nil {
		t.Fatalf("want a message response, got %s %s", typ, v)
	}
	return s
}

// TestReviewClickedInTeams: the quarterly review prompts a user who never used Elevate in a
// Teams 1:1 chat (found in the team by object id); clicking Keep reaches the scheduler's handler
// through core.Click and the invoke response carries its answer; someone else's click is
// refused; Remove through the Action.Submit fallback changes the answer.
func TestReviewClickedInTeams(t *testing.T) {
	w := startWorld(t)
	if _, err := scheduler(t, w).StartReview(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	c, ok := w.fake.Personal(chatID("dave"))
	if !ok {
		t.Fatal("dave has no 1:1 chat with Elevate")
	}
	var prompt *teamstest.Activity
	for _, a := range c.Activities {
		if strings.Contains(teamstest.Text(a.Body), "Do you still need") {
			prompt = a
			break
		}
	}
	if prompt == nil {
		t.Fatalf("dave got no review prompt; he saw %d activities", len(c.Activities))
	}
	if !strings.Contains(teamstest.Text(prompt.Body), "Answer by") {
		t.Errorf("the prompt has no deadline:\n%s", teamstest.Text(prompt.Body))
	}
	var keep, remove map[string]any
	for _, a := range elements(cardOf(t, prompt.Body), "Action.Execute") {
		switch bot.Action(a["verb"].(string)) {
		case schedule.ActionReviewKeep:
			keep = a
		case schedule.ActionReviewRemove:
			remove = a
		}
	}
	if keep == nil || remove == nil || keep["style"] != "positive" || remove["style"] != "destructive" {
		t.Fatalf("buttons: keep %v, remove %v", keep, remove)
	}
	value := keep["data"].(map[string]any)["value"].(string)
	if remove["data"].(map[string]any)["value"] != value {
		t.Fatalf("keep and remove act on different items: %v, %v", keep["data"], remove["data"])
	}
	parts := strings.Split(value, "|")
	if len(parts) != 3 {
		t.Fatalf("button value %q is not campaign|user|role", value)
	}
	item := func() store.ReviewItem {
		t.Helper()
		it, err := w.Store.ReviewItem(parts[0], parts[1], parts[2])
		if err != nil {
			t.Fatal(err)
		}
		return it
	}

	status, typ, v := invoke(t, w, "dave", c.ID, prompt.ID, string(schedule.ActionReviewKeep), value)
	if got := messageText(t, typ, v); status != 200 || !strings.Contains(got, "Noted: you keep") {
		t.Fatalf("Keep answered %d %q", status, got)
	}
	if it := item(); it.Decision != store.DecisionKeep || it.DecidedBy != "teams:"+chatID("dave") {
		t.Fatalf("after Keep: %+v", it)
	}

	// Someone else clicking dave's button is refused.
	status, typ, v = invoke(t, w, "erin", w.fake.OpenPersonal(chatID("erin")), prompt.ID, string(schedule.ActionReviewRemove), value)
	if got := messageText(t, typ, v); status != 200 || !strings.Contains(got, "Only the person this question is about") {
		t.Fatalf("erin's Remove answered %d %q", status, got)
	}
	if it := item(); it.Decision != store.DecisionKeep {
		t.Fatalf("erin changed dave's answer: %+v", it)
	}

	// Action.Submit (clients without Universal Actions): the data comes in a message's value.
	w.deliver(t, map[string]any{"type": "message", "from": w.from("dave"), "conversation": w.personal("dave"), "channelData": w.tenantData(),
		"replyToId": prompt.ID, "value": map[string]any{"elevate": string(schedule.ActionReviewRemove), "value": value}}, http.StatusOK)
	w.settle()
	if it := item(); it.Decision != store.DecisionRemove {
		t.Fatalf("after Remove: %+v", it)
	}
	c, _ = w.fake.Personal(chatID("dave"))
	if last := teamstest.Text(c.Activities[len(c.Activities)-1].Body); !strings.Contains(last, "will be removed after the review closes") {
		t.Errorf("dave was told %q", last)
	}
}

// TestClickAnswers: a click on a button the core handles with an error gets an error response;
// an unknown button gets the core's own answer.
func TestClickAnswers(t *testing.T) {
	w := startWorld(t)
	w.Core.HandleAction("boom", func(ctx context.Context, a bot.Actor, value, reason string) error { return errors.New("store on fire") })
	conv := w.fake.OpenPersonal(chatID("alice"))
	if status, typ, v := invoke(t, w, "alice", conv, "1", "boom", "x"); status != 500 || typ != "application/vnd.microsoft.error" {
		t.Errorf("a failing click answered %d %s %s", status, typ, v)
	}
	status, typ, v := invoke(t, w, "alice", conv, "1", "no_such_button", "x")
	if got := messageText(t, typ, v); status != 200 || !strings.Contains(got, "no longer works") {
		t.Errorf("an unknown button answered %d %q", status, got)
	}
}
