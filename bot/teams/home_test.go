package teams_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot/teams/teamstest"
)

// homeInvoke sends the home card's refresh (verb "home", or "form" with a role) as user and
// returns the card Teams would show.
func homeInvoke(t *testing.T, w *world, user, verb, value string) map[string]any {
	t.Helper()
	body := w.deliver(t, map[string]any{"type": "invoke", "name": "adaptiveCard/action", "from": w.from(user), "conversation": w.personal(user),
		"channelData": w.tenantData(),
		"value":       map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": map[string]any{"elevate": verb, "value": value}}, "trigger": "automatic"}}, http.StatusOK)
	var resp struct {
		StatusCode int
		Type       string
		Value      map[string]any
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode != 200 || resp.Type != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("%s invoke: %s (%v)", verb, body, err)
	}
	return resp.Value
}

func cardText(card map[string]any) string {
	return teamstest.Text(map[string]any{"attachments": []any{map[string]any{"content": card}}})
}

// Teams' home: `home` (and installing the app for oneself) posts a card of one's roles that Teams
// refreshes whenever it is opened; it shows active elevations with Extend / I'm done, and a
// role's button opens the request form with the role picked.
func TestHome(t *testing.T) {
	w := startWorld(t)
	p := platform{w}
	p.Type(t, "alice", "home")
	p.Settle(t)
	seen := p.Seen(t, "alice")
	if len(seen) == 0 || !strings.Contains(seen[len(seen)-1], "Elevate: your admin roles") || !strings.Contains(seen[len(seen)-1], "Request a role") {
		t.Fatalf("alice's home: %q", seen)
	}
	c, _ := w.fake.Personal(chatID("alice"))
	card := c.Activities[len(c.Activities)-1].Body["attachments"].([]any)[0].(map[string]any)["content"].(map[string]any)
	refresh, _ := card["refresh"].(map[string]any)
	action, _ := refresh["action"].(map[string]any)
	users, _ := refresh["userIds"].([]any)
	if action["verb"] != "home" || len(users) != 1 || users[0] != chatID("alice") {
		t.Errorf("home card refresh = %v", refresh)
	}

	// Alice activates Exchange Administrator; the refreshed home shows it with its buttons.
	p.Type(t, "alice", "exchange 1h fixing mail flow")
	p.Settle(t)
	if _, page, err := w.SignIn(t.Context(), p.Link(t, "alice"), "alice@"+w.Domain(), true); err != nil {
		t.Fatalf("sign-in: %v %s", err, page)
	}
	p.Settle(t)
	home := homeInvoke(t, w, "alice", "home", "")
	text := cardText(home)
	if !strings.Contains(text, "Exchange Administrator** until") && !strings.Contains(text, "Exchange Administrator until") {
		t.Errorf("refreshed home lacks the active role:\n%s", text)
	}
	var verbs []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if x["type"] == "Action.Execute" {
				verbs = append(verbs, x["verb"].(string))
			}
			for _, k := range []string{"body", "actions", "card"} {
				walk(x[k])
			}
		}
	}
	walk(home)
	for _, want := range []string{"extend", "done", "form", "home"} {
		if !slices.Contains(verbs, want) {
			t.Errorf("home card has no %q action: %v", want, verbs)
		}
	}

	form := homeInvoke(t, w, "alice", "form", "exchange")
	if !strings.Contains(cardText(form), "Request an admin role") {
		t.Fatalf("form: %s", cardText(form))
	}
	b, _ := json.Marshal(form)
	if !strings.Contains(string(b), `"value":"exchange"`) {
		t.Errorf("the form does not have the role picked: %s", b)
	}

	// Installed for Bob personally: a welcome and his home.
	w.deliver(t, map[string]any{"type": "installationUpdate", "action": "add", "from": w.from("bob"),
		"conversation": w.personal("bob"), "channelData": w.tenantData()}, http.StatusOK)
	p.Settle(t)
	seen = p.Seen(t, "bob")
	if len(seen) == 0 || !strings.Contains(seen[len(seen)-1], "Hi! I activate your eligible admin roles") {
		t.Errorf("bob's welcome: %q", seen)
	}
}
