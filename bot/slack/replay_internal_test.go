package slack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	slackapi "github.com/slack-go/slack"
)

func parseInteraction(t *testing.T, raw string) slackapi.InteractionCallback {
	t.Helper()
	var ic slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &ic); err != nil {
		t.Fatal(err)
	}
	return ic
}

// TestInteractionKey: a redelivery has the key of the original; a new click or a corrected
// resubmission of a form has its own.
func TestInteractionKey(t *testing.T) {
	view := func(trigger, duration string) string {
		return `{"type":"view_submission","user":{"id":"U1"},"trigger_id":"` + trigger + `","view":{"id":"V1","hash":"h1",` +
			`"state":{"values":{"duration":{"duration":{"type":"plain_text_input","value":"` + duration + `"}}}}}}`
	}
	click := func(trigger, ts string) string {
		return `{"type":"block_actions","user":{"id":"U1"},"trigger_id":"` + trigger + `","actions":[{"action_id":"approve","block_id":"request_12","value":"12","type":"button","action_ts":"` + ts + `"}]}`
	}
	cases := []struct {
		name string
		a, b string
		same bool
	}{
		{"click redelivered", click("t1", "1.1"), click("t1", "1.1"), true},
		{"another click", click("t1", "1.1"), click("t2", "1.2"), false},
		{"click without trigger, redelivered", click("", "1.1"), click("", "1.1"), true},
		{"click without trigger, another", click("", "1.1"), click("", "1.2"), false},
		{"submission redelivered", view("t1", "2h"), view("t1", "2h"), true},
		{"corrected resubmission", view("t1", "99h"), view("t2", "2h"), false},
		{"resubmission without trigger, new values", view("", "99h"), view("", "2h"), false},
	}
	for _, c := range cases {
		ka, kb := interactionKey(parseInteraction(t, c.a)), interactionKey(parseInteraction(t, c.b))
		if ka == "" || kb == "" {
			t.Errorf("%s: no key (%q, %q)", c.name, ka, kb)
			continue
		}
		if (ka == kb) != c.same {
			t.Errorf("%s: keys %q and %q, want same=%v", c.name, ka, kb, c.same)
		}
	}
	if k := interactionKey(parseInteraction(t, `{"type":"block_actions","user":{"id":"U1"}}`)); k != "" {
		t.Errorf("a payload with nothing to tell it by has key %q", k)
	}
}

// TestRequestKey: the key is what the signature covers, not how the header spells it.
func TestRequestKey(t *testing.T) {
	h := func(ts, sig string) http.Header {
		return http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {sig}}
	}
	body := []byte("text=exchange")
	k := requestKey(h("1700000000", "v0=abcdef"), body)
	if got := requestKey(h("1700000000", "v0="+strings.ToUpper("abcdef")), body); got != k {
		t.Error("an upper-case signature changed the key")
	}
	if requestKey(h("1700000001", "v0=abcdef"), body) == k || requestKey(h("1700000000", "v0=abcdef"), []byte("text=other")) == k {
		t.Error("another timestamp or body has the same key")
	}
}
