package teamstest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestMessageSizeRefused: the connector refuses a post or an update over the message limit
// (counted in UTF-16, embedded images' base64 data left out) and any body over 256 KiB with 413
// MessageSizeTooBig, as the Bot Connector does, and keeps nothing of what it refused.
func TestMessageSizeRefused(t *testing.T) {
	s := New(Options{AppID: "app", AppSecret: "secret", TenantID: "tenant"})
	t.Cleanup(s.Close)
	tok := s.issue("test")
	do := func(method, path string, body any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, s.URL()+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.NewDecoder(res.Body).Decode(&e)
		return res.StatusCode, e.Error.Code
	}
	text := func(n int) map[string]any { return map[string]any{"type": "message", "text": strings.Repeat("x", n)} }
	const path = "/amer/v3/conversations/19:general@thread.tacv2/activities"
	if st, _ := do("POST", path, text(15_000)); st != http.StatusCreated {
		t.Fatalf("a 15,000-character message: %d, want 201", st)
	}
	if st, code := do("POST", path, text(25_000)); st != http.StatusRequestEntityTooLarge || code != "MessageSizeTooBig" {
		t.Fatalf("a 25,000-character message (50,000 bytes in UTF-16): %d %s, want 413 MessageSizeTooBig", st, code)
	}
	// é is one UTF-16 unit, as x is: 19,000 of either are 38,000 bytes, under 40 KiB.
	if st, _ := do("POST", path, map[string]any{"type": "message", "text": strings.Repeat("é", 19_000)}); st != http.StatusCreated {
		t.Fatalf("19,000 é: %d, want 201", st)
	}
	conv, _ := s.Conversation("19:general@thread.tacv2")
	id := conv.Activities[0].ID
	if st, code := do("PUT", path+"/"+id, text(25_000)); st != http.StatusRequestEntityTooLarge || code != "MessageSizeTooBig" {
		t.Fatalf("an update to 25,000 characters: %d %s, want 413 MessageSizeTooBig", st, code)
	}
	if conv, _ = s.Conversation("19:general@thread.tacv2"); len(conv.Activities) != 2 || conv.Activities[0].Updates != 0 {
		t.Fatalf("after the refusals: %d activities, the first updated %d times; want 2, none updated", len(conv.Activities), conv.Activities[0].Updates)
	}
	image := map[string]any{"type": "message", "attachments": []any{map[string]any{"contentType": "application/vnd.microsoft.card.adaptive",
		"content": map[string]any{"type": "AdaptiveCard", "body": []any{map[string]any{"type": "Image", "url": "data:image/png;base64," + strings.Repeat("A", 60_000)}}}}}}
	if st, _ := do("POST", path, image); st != http.StatusCreated {
		t.Fatalf("a card with a 60 KB embedded image: %d, want 201 (images are not counted)", st)
	}
	image["attachments"].([]any)[0].(map[string]any)["content"].(map[string]any)["body"].([]any)[0].(map[string]any)["url"] = "data:image/png;base64," + strings.Repeat("A", 300_000)
	if st, code := do("POST", path, image); st != http.StatusRequestEntityTooLarge || code != "MessageSizeTooBig" {
		t.Fatalf("a 300 KB body: %d %s, want 413 MessageSizeTooBig", st, code)
	}
	s.SetMaxMessageSize(1000)
	if st, _ := do("POST", path, text(600)); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("600 characters under a 1000-byte limit: %d, want 413", st)
	}
}
