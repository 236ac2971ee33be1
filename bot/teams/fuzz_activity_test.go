package teams_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzActivity sends arbitrary activity bodies, with a valid Bot Framework token, to the real
// /api/messages handler: whatever arrives, the adapter answers with a status and never panics.
func FuzzActivity(f *testing.F) {
	w := startWorldWith(f, nil)
	service := w.fake.ServiceURL()
	seed := func(a map[string]any) {
		b, _ := json.Marshal(w.activity(a))
		f.Add(b)
	}
	seed(map[string]any{"type": "message", "text": "elevate exchange 1h mail flow", "from": w.from("alice"), "conversation": w.personal("alice"), "channelData": w.tenantData()})
	seed(map[string]any{"type": "message", "text": "<at>Elevate</at> status", "from": w.from("bob"),
		"conversation": map[string]any{"id": "19:x@thread.tacv2", "conversationType": "channel", "tenantId": w.tenant}, "channelData": w.tenantData(),
		"entities": []any{map[string]any{"type": "mention", "text": "<at>Elevate</at>", "mentioned": map[string]any{"id": "28:x"}}}})
	seed(map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": w.from("bob"), "conversation": w.personal("bob"), "channelData": w.tenantData(),
		"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "approve", "data": map[string]any{"request": "1"}}}})
	seed(map[string]any{"type": "message", "value": map[string]any{"action": "deny", "request": "1", "reason": "no"}, "replyToId": "a1", "from": w.from("carol"), "conversation": w.personal("carol"), "channelData": w.tenantData()})
	seed(map[string]any{"type": "conversationUpdate", "membersAdded": []any{map[string]any{"id": "28:x"}}, "conversation": w.personal("dave"), "channelData": w.tenantData()})
	f.Add([]byte(`{"type":"message","serviceUrl":"` + service + `","value":[1,2,3],"from":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+w.fake.Token(service))
		rec := httptest.NewRecorder()
		w.adapter.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code >= 600 {
			t.Fatalf("status %d", rec.Code)
		}
	})
}
