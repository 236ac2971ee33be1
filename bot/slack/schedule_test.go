package slack_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/store"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func (e *env) scheduler(t *testing.T) *schedule.Scheduler {
	t.Helper()
	s, err := schedule.New(schedule.Options{Config: e.w.Config, Core: e.w.Core, Graph: e.w.Graph, Store: e.w.Store})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDigestWithChart: the scheduled digest is posted to the digest channel as Block Kit, with
// its PNG chart uploaded (files v2) and shared right below it.
func TestDigestWithChart(t *testing.T) {
	e := start(t, false)
	now := time.Now()
	if _, err := e.scheduler(t).PostDigest(t.Context(), now.AddDate(0, 0, -7), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.settle()
	msgs := e.fake.InChannel("#it-admins")
	if len(msgs) != 2 {
		t.Fatalf("%d messages in #it-admins, want the digest and its chart: %+v", len(msgs), msgs)
	}
	digest, chart := msgs[0], msgs[1]
	if digest.Via != "chat.postMessage" || digest.TS == "" {
		t.Errorf("digest posted by %s, ts %q", digest.Via, digest.TS)
	}
	plain := digest.Plain()
	for _, want := range []string{"Weekly PIM digest", "Standing access", "Break-glass sign-ins"} {
		wantContains(t, plain, want)
	}
	if !strings.Contains(string(digest.Blocks), `"type":"header"`) {
		t.Errorf("the digest has no header: %s", digest.Blocks)
	}
	files := e.fake.Files()
	if len(files) != 1 {
		t.Fatalf("%d files uploaded, want 1", len(files))
	}
	f := files[0]
	if !bytes.HasPrefix(f.Data, pngSignature) || len(f.Data) != f.Length {
		t.Errorf("the file is not the PNG announced (%d of %d bytes): %q…", len(f.Data), f.Length, f.Data[:min(8, len(f.Data))])
	}
	if !f.Complete || f.Channel != e.fake.ChannelID("#it-admins") || f.ThreadTS != "" || !strings.HasSuffix(f.Name, ".png") || f.AltText == "" {
		t.Errorf("file = %+v", f)
	}
	if chart.Via != "files.completeUploadExternal" || len(chart.Files) != 1 || chart.Files[0] != f.ID || chart.Seq != digest.Seq+1 {
		t.Errorf("the chart was not shared right below the digest: %+v", chart)
	}
	if up := e.fake.Calls(); !hasCall(up, "upload", slacktest.BotToken) {
		t.Error("no upload to the upload URL with the bot token")
	}
}

func hasCall(cs []slacktest.Call, method, token string) bool {
	for _, c := range cs {
		if c.Method == method && c.Token == token && c.Status == 200 {
			return true
		}
	}
	return false
}

// TestSendFiles: the reference SendFiles returns is the message's, updatable; a failed upload
// loses the chart, not the message; a 429 is retried without sharing twice; a private message
// carries no files.
func TestSendFiles(t *testing.T) {
	e := start(t, false)
	ctx := t.Context()
	png := append(bytes.Clone(pngSignature), "chart"...)
	files := []bot.Attachment{{Name: "chart.png", MIME: "image/png", Alt: "Bar chart", Data: png}}
	m := bot.Message{Kind: schedule.KindDigest, Title: "Weekly PIM digest", Text: "No activations this week."}

	ref, err := e.a.SendFiles(ctx, bot.Address{Channel: "#it-admins"}, m, files)
	if err != nil || ref.MessageID == "" || ref.Channel != "C0ITADMINS" || ref.Kind != string(schedule.KindDigest) {
		t.Fatalf("SendFiles = %+v, %v", ref, err)
	}
	m.Text = "Updated."
	if err := e.a.Update(ctx, ref, m); err != nil {
		t.Fatalf("updating the digest: %v", err)
	}
	if got := e.fake.InChannel("#it-admins"); len(got) != 2 || got[0].Updates != 1 || !strings.Contains(got[0].Plain(), "Updated.") || len(got[1].Files) != 1 {
		t.Fatalf("after the update: %+v", got)
	}

	e.fake.Fail("files.completeUploadExternal", "internal_error")
	ref, err = e.a.SendFiles(ctx, bot.Address{Channel: "#it-admins"}, m, files)
	var de *bot.DeliveryError
	if ref.MessageID == "" || !errors.As(err, &de) || de.NotSent || de.Refused || de.Unknown {
		t.Fatalf("a failed share: %+v, %v; want the message's reference and an error saying the message was posted (to retry the file)", ref, err)
	}
	if got := e.fake.InChannel("#it-admins"); len(got) != 3 {
		t.Fatalf("%d messages after a failed upload, want 3", len(got))
	}
	e.fake.Fail("files.getUploadURLExternal", "invalid_arguments") // refused for good: left out
	if ref, err = e.a.SendFiles(ctx, bot.Address{Channel: "#it-admins"}, m, files); err != nil || ref.MessageID == "" {
		t.Fatalf("a file refused for good: %+v, %v; want the message posted without it", ref, err)
	}
	if got := e.fake.InChannel("#it-admins"); len(got) != 4 {
		t.Fatalf("%d messages after a refused file, want 4", len(got))
	}

	e.fake.Throttle("files.getUploadURLExternal", "0")
	e.fake.Throttle("files.completeUploadExternal", "0")
	if _, err := e.a.SendFiles(ctx, bot.Address{Channel: "#it-admins"}, m, files); err != nil {
		t.Fatal(err)
	}
	got := e.fake.InChannel("#it-admins")
	if len(got) != 6 || len(got[5].Files) != 1 {
		t.Fatalf("after 429s: %d messages, the last %+v", len(got), got[len(got)-1])
	}
	shared := 0
	for _, f := range e.fake.Files() {
		if f.Complete {
			shared++
		}
	}
	if shared != 2 {
		t.Errorf("%d files shared, want 2 (one failed)", shared)
	}

	before := len(e.fake.Files())
	ref, err = e.a.SendFiles(ctx, bot.Address{Channel: general, User: uid("alice"), Private: true}, m, files)
	if err != nil || ref.Channel != general {
		t.Fatalf("private SendFiles = %+v, %v", ref, err)
	}
	if len(e.fake.Files()) != before {
		t.Error("a file was uploaded for an ephemeral message")
	}
}

// TestFindUser: members are found by email (case and spaces don't matter), answers are cached
// (a miss too), deleted members and bots are nobody, and a Slack failure is an error, not
// "nobody".
func TestFindUser(t *testing.T) {
	e := start(t, false)
	ctx := t.Context()
	e.fake.AddUser(slacktest.User{ID: "UGONE", Name: "gone", Email: "gone@contoso.example", Deleted: true})
	e.fake.AddUser(slacktest.User{ID: "UBOT", Name: "bot", Email: "bot@contoso.example", Bot: true})

	for range 2 {
		u, ok, err := e.a.FindUser(ctx, "00000000-dave", " Dave@Contoso.Example ")
		if err != nil || !ok || u != uid("dave") {
			t.Fatalf("FindUser(dave) = %q, %v, %v", u, ok, err)
		}
	}
	for range 2 {
		if u, ok, err := e.a.FindUser(ctx, "", "nobody@contoso.example"); err != nil || ok || u != "" {
			t.Fatalf("FindUser(nobody) = %q, %v, %v", u, ok, err)
		}
	}
	if n := e.fake.CallCount("users.lookupByEmail"); n != 2 {
		t.Errorf("%d lookups for two people asked twice, want 2 (cached)", n)
	}
	for _, email := range []string{"gone@contoso.example", "bot@contoso.example", "", "not-an-email"} {
		if u, ok, err := e.a.FindUser(ctx, "", email); err != nil || ok {
			t.Errorf("FindUser(%q) = %q, %v, %v", email, u, ok, err)
		}
	}
	e.fake.Fail("users.lookupByEmail", "internal_error")
	if _, ok, err := e.a.FindUser(ctx, "", "erin@contoso.example"); err == nil || ok {
		t.Fatalf("a failed lookup: ok %v, err %v", ok, err)
	}
	if u, ok, err := e.a.FindUser(ctx, "", "erin@contoso.example"); err != nil || !ok || u != uid("erin") {
		t.Fatalf("after a failure the next lookup = %q, %v, %v (a failure must not be cached)", u, ok, err)
	}

	// Reach, the core's way to a person who never signed in, goes through it.
	rs, err := e.w.Core.Reach(ctx, "", "carol@contoso.example")
	if err != nil || len(rs) != 1 || rs[0] != (bot.Recipient{Platform: "slack", ChatUser: uid("carol")}) {
		t.Fatalf("Reach(carol) = %+v, %v", rs, err)
	}
	// A found member is not bound: the core still does not know who carol is.
	if _, _, known, _ := e.w.Core.Identity(bot.Actor{Platform: "slack", ChatUser: uid("carol")}); known {
		t.Error("finding carol by email bound her identity")
	}
}

// TestReviewClickedInSlack: the quarterly review prompts a user who never used Elevate in a
// Slack DM (found by email); clicking Keep in Slack reaches the scheduler's handler through
// core.Click, and Remove changes the answer.
func TestReviewClickedInSlack(t *testing.T) {
	for _, socket := range []bool{false, true} {
		name := "http"
		if socket {
			name = "socket"
		}
		t.Run(name, func(t *testing.T) {
			e := start(t, socket)
			sch := e.scheduler(t)
			if _, err := sch.StartReview(t.Context(), "test"); err != nil {
				t.Fatal(err)
			}
			e.settle()
			var prompts []slacktest.Message
			for _, m := range e.fake.Private(uid("dave")) {
				if strings.Contains(m.Plain(), "Do you still need") {
					prompts = append(prompts, m)
				}
			}
			if len(prompts) == 0 {
				t.Fatalf("dave got no review prompt; he saw %+v", e.fake.Private(uid("dave")))
			}
			p := prompts[0]
			if p.Channel != slacktest.DMChannel(uid("dave")) || p.Ephemeral {
				t.Fatalf("the prompt is not a DM: %+v", p)
			}
			var keep, remove slacktest.Button
			for _, b := range p.Buttons() {
				switch bot.Action(b.ActionID) {
				case schedule.ActionReviewKeep:
					keep = b
				case schedule.ActionReviewRemove:
					remove = b
				}
			}
			if keep.Value == "" || keep.Style != "primary" || remove.Value != keep.Value || remove.Style != "danger" {
				t.Fatalf("buttons = %+v", p.Buttons())
			}
			cid, userID, roleID := splitKey(t, keep.Value)

			e.interact(t, e.blockActions("dave", p, keep))
			e.settle()
			wantContains(t, e.last(t, "dave"), "Noted: you keep")
			if it := e.item(t, cid, userID, roleID); it.Decision != store.DecisionKeep || it.DecidedBy != "slack:"+uid("dave") {
				t.Fatalf("after Keep: %+v", it)
			}

			// Someone else clicking dave's button is refused.
			e.interact(t, e.blockActions("erin", p, remove))
			e.settle()
			wantContains(t, e.last(t, "erin"), "Only the person this question is about")

			e.interact(t, e.blockActions("dave", p, remove))
			e.settle()
			wantContains(t, e.last(t, "dave"), "will be removed after the review closes")
			if it := e.item(t, cid, userID, roleID); it.Decision != store.DecisionRemove {
				t.Fatalf("after Remove: %+v", it)
			}
		})
	}
}

func splitKey(t *testing.T, v string) (string, string, string) {
	t.Helper()
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		t.Fatalf("button value %q is not campaign|user|role", v)
	}
	return parts[0], parts[1], parts[2]
}

func (e *env) item(t *testing.T, cid, userID, roleID string) store.ReviewItem {
	t.Helper()
	it, err := e.w.Store.ReviewItem(cid, userID, roleID)
	if err != nil {
		t.Fatal(err)
	}
	return it
}
