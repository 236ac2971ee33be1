package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
)

// stubCore answers everything and does nothing.
type stubCore struct{}

func (stubCore) Accept(bot.Actor, string) (bot.Job, error) {
	return func(context.Context) error { return nil }, nil
}
func (stubCore) Click(context.Context, bot.Actor, bot.Action, string, string) error { return nil }
func (stubCore) Choices(context.Context, bot.Actor) ([]bot.RoleChoice, bool, error) {
	return []bot.RoleChoice{{Alias: "exchange", Name: "Exchange Administrator"}}, false, nil
}
func (stubCore) Home(context.Context, bot.Actor) (bot.Home, error) { return bot.Home{}, nil }
func (stubCore) CheckForm(_ bot.Actor, f bot.Form) map[string]string {
	if f.Role == "" {
		return map[string]string{bot.FieldRole: "Pick a role."}
	}
	return nil
}
func (stubCore) SubmitForm(bot.Actor, bot.Form) (bot.Job, error) {
	return func(context.Context) error { return nil }, nil
}

// FuzzInteraction: no payload, however malformed, panics the handler or gets a 5xx.
func FuzzInteraction(f *testing.F) {
	for _, seed := range []string{
		`{"type":"block_actions","user":{"id":"U1","username":"alice","name":"alice","team_id":"T1"},"api_app_id":"A1","token":"x","container":{"type":"message","message_ts":"1700000000.000100","channel_id":"C1","is_ephemeral":false},"trigger_id":"1.2.abc","team":{"id":"T1","domain":"contoso"},"channel":{"id":"C1","name":"pim-approvals"},"message":{"type":"message","ts":"1700000000.000100","text":"Elevation request #12"},"response_url":"https://hooks.slack.com/actions/T1/1/abc","actions":[{"action_id":"approve","block_id":"request_12","text":{"type":"plain_text","text":"Approve","emoji":true},"value":"12","style":"primary","type":"button","action_ts":"1700000001.000200"}]}`,
		`{"type":"block_actions","user":{"id":"U1"},"container":{"type":"view","view_id":"V1"},"trigger_id":"t","actions":[{"action_id":"deny:1","value":"12","type":"button"}]}`,
		`{"type":"block_actions","user":{"id":"U1"},"trigger_id":"t","actions":[{"action_id":"request","value":"exchange","type":"button"}]}`,
		`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"open_url","type":"button","url":"https://login.example"}]}`,
		`{"type":"view_submission","team":{"id":"T1"},"user":{"id":"U1","username":"alice"},"trigger_id":"t","view":{"id":"V1","type":"modal","callback_id":"elevate_request","private_metadata":"{\"c\":\"C1\",\"r\":\"https://hooks.slack.com/x\"}","hash":"h","state":{"values":{"role":{"role":{"type":"static_select","selected_option":{"value":"exchange"}}},"duration":{"duration":{"type":"plain_text_input","value":"2h"}},"justification":{"justification":{"type":"plain_text_input","value":"fixing mail flow"}},"ticket":{"ticket":{"type":"plain_text_input","value":null}}}}}}`,
		`{"type":"view_submission","user":{"id":"U1"},"view":{"callback_id":"elevate_deny","private_metadata":"{\"id\":\"12\"}","state":{"values":{"reason":{"reason":{"type":"plain_text_input","value":"freeze"}}}}}}`,
		`{"type":"view_submission","user":{"id":"U1"},"view":{"callback_id":"elevate_request","private_metadata":"not json","state":null}}`,
		`{"type":"view_submission","team":{"id":"T1"},"user":{"id":"U1","username":"alice"},"trigger_id":"t","view":{"id":"V1","type":"modal","callback_id":"elevate_request","private_metadata":"{\"c\":\"C1\"}","hash":"h","state":{"values":{"role":{"role":{"type":"multi_static_select","selected_options":[{"value":"exchange"},{"value":"sharepoint"}]}},"duration":{"duration":{"type":"plain_text_input","value":"1h"}},"justification":{"justification":{"type":"plain_text_input","value":"fixing mail flow"}}}}}}`,
		`{"type":"view_closed","user":{"id":"U1"},"view":{"callback_id":"elevate_request"}}`,
		`{"type":"shortcut","callback_id":"x","trigger_id":"t","user":{"id":"U1"}}`,
		`{}`, `null`, `[]`, `{"type":"block_actions","actions":[null]}`, `{"type":"block_actions","user":{"id":"U1"},"actions":[]}`,
	} {
		f.Add(seed)
	}
	fake := slacktest.New()
	defer fake.Close()
	fake.AddUser(slacktest.User{ID: "U1", Name: "alice", Email: "alice@contoso.example"})
	fake.AddChannel("C1", "pim-approvals")
	a, err := New(Options{Core: stubCore{}, BotToken: slacktest.BotToken, SigningSecret: "s", APIURL: fake.APIURL(), HintWait: time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	h := a.Interactivity()
	n := 0
	f.Fuzz(func(t *testing.T, payload string) {
		n++
		body := url.Values{"payload": {payload}, "n": {strconv.Itoa(n)}}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/slack/interactivity", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		stamp := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte("s"))
		fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
		req.Header.Set("X-Slack-Request-Timestamp", stamp)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		a.Wait()
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, payload)
		}
	})
}
