package teamstest

import (
	"encoding/json"
	"testing"
)

func TestPressSendsWhatTheClientSends(t *testing.T) {
	var card map[string]any
	if err := json.Unmarshal([]byte(`{"type":"AdaptiveCard","version":"1.5","body":[
		{"type":"Input.ChoiceSet","id":"roles","isMultiSelect":true,"choices":[{"title":"A","value":"a"},{"title":"B","value":"b"}]},
		{"type":"Input.ChoiceSet","id":"one","choices":[{"title":"A","value":"a"},{"title":"B","value":"b"}]},
		{"type":"ActionSet","actions":[{"type":"Action.Execute","title":"Alone","verb":"form","data":{"value":"a"},"associatedInputs":"none"}]}],
		"actions":[{"type":"Action.Execute","title":"Go","verb":"form","data":{"value":""}},
		{"type":"Action.ShowCard","title":"Why","card":{"type":"AdaptiveCard","body":[{"type":"Input.Text","id":"reason","isRequired":true,"maxLength":5}],
			"actions":[{"type":"Action.Execute","title":"Deny","verb":"deny","data":{"value":"7"}}]}}]}`), &card); err != nil {
		t.Fatal(err)
	}
	verb, data, err := Press(card, "Go", map[string]string{"roles": "a,b"})
	if err != nil || verb != "form" || data["roles"] != "a,b" || data["value"] != "" {
		t.Fatalf("Go: %s %v %v", verb, data, err)
	}
	if _, data, err := Press(card, "Alone", nil); err != nil || data["roles"] != nil || data["value"] != "a" {
		t.Fatalf("Alone: %v %v", data, err)
	}
	if _, data, err := Press(card, "Deny", map[string]string{"reason": "no", "roles": "b"}); err != nil || data["reason"] != "no" || data["roles"] != "b" {
		t.Fatalf("Deny: %v %v", data, err)
	}
	for name, try := range map[string]func() error{
		"a choice not offered":            func() error { _, _, err := Press(card, "Go", map[string]string{"roles": "a,c"}); return err },
		"several in a single choice":      func() error { _, _, err := Press(card, "Go", map[string]string{"one": "a,b"}); return err },
		"an input out of scope":           func() error { _, _, err := Press(card, "Go", map[string]string{"reason": "x"}); return err },
		"inputs to associatedInputs none": func() error { _, _, err := Press(card, "Alone", map[string]string{"roles": "a"}); return err },
		"a required input left empty":     func() error { _, _, err := Press(card, "Deny", nil); return err },
		"a text over its maxLength":       func() error { _, _, err := Press(card, "Deny", map[string]string{"reason": "nope, no"}); return err },
		"no such button":                  func() error { _, _, err := Press(card, "Nope", nil); return err },
	} {
		if try() == nil {
			t.Errorf("Press accepts %s", name)
		}
	}
}
