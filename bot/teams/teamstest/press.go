package teamstest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Press is what a Teams client sends when its user fills in inputs and presses the
// Action.Execute titled title on card: the action's verb and its data with the inputs merged in
// (all the inputs in the action's scope, the card's and those of the Action.ShowCard it sits in,
// unless the action's associatedInputs is "none"). It refuses what the client would not send:
// a value for an input not in scope, a choice that is not offered, several choices in a
// single-select, a text longer than its maxLength, a required input left empty.
func Press(card map[string]any, title string, values map[string]string) (string, map[string]any, error) {
	action, scope := findAction(card, title, nil)
	if action == nil {
		return "", nil, fmt.Errorf("no Action.Execute titled %q on the card", title)
	}
	verb, _ := action["verb"].(string)
	data := map[string]any{}
	if d, ok := action["data"].(map[string]any); ok {
		maps.Copy(data, d)
	}
	if action["associatedInputs"] == "none" {
		if len(values) > 0 {
			return "", nil, fmt.Errorf("%q sends no inputs (associatedInputs none), yet values were given", title)
		}
		return verb, data, nil
	}
	inputs := map[string]map[string]any{}
	for _, in := range scope {
		id, _ := in["id"].(string)
		inputs[id] = in
	}
	for id := range values {
		if inputs[id] == nil {
			return "", nil, fmt.Errorf("input %q is not in the scope of %q", id, title)
		}
	}
	for id, in := range inputs {
		v, given := values[id]
		if !given {
			v, _ = in["value"].(string)
		}
		if in["type"] == "Input.ChoiceSet" && v != "" {
			picked := strings.Split(v, ",")
			if multi, _ := in["isMultiSelect"].(bool); !multi && len(picked) > 1 {
				return "", nil, fmt.Errorf("input %q is a single choice; %q picks several", id, v)
			}
			var offered []string
			choices, _ := in["choices"].([]any)
			for _, ch := range choices {
				cm, _ := ch.(map[string]any)
				s, _ := cm["value"].(string)
				offered = append(offered, s)
			}
			for _, p := range picked {
				if !slices.Contains(offered, p) {
					return "", nil, fmt.Errorf("input %q offers no choice %q", id, p)
				}
			}
		}
		if n, ok := maxLength(in); ok && in["type"] == "Input.Text" && len([]rune(v)) > n {
			return "", nil, fmt.Errorf("input %q takes at most %d characters; the client lets no more be typed", id, n)
		}
		if req, _ := in["isRequired"].(bool); req && v == "" {
			return "", nil, fmt.Errorf("input %q is required", id)
		}
		if v != "" {
			data[id] = v
		}
	}
	return verb, data, nil
}

// maxLength is an input's maxLength, from JSON (a float64) or from a card built in Go (an int).
func maxLength(in map[string]any) (int, bool) {
	switch n := in["maxLength"].(type) {
	case float64:
		return int(n), true
	case int:
		return n, true
	}
	return 0, false
}

// findAction finds the Action.Execute titled title in card and the inputs in its scope.
func findAction(card map[string]any, title string, outer []map[string]any) (map[string]any, []map[string]any) {
	scope := append(slices.Clone(outer), inputsOf(card["body"])...)
	var look func(v any) (map[string]any, []map[string]any)
	look = func(v any) (map[string]any, []map[string]any) {
		as, _ := v.([]any)
		for _, a := range as {
			m, _ := a.(map[string]any)
			switch m["type"] {
			case "Action.Execute":
				if m["title"] == title {
					return m, scope
				}
			case "Action.ShowCard":
				if sc, ok := m["card"].(map[string]any); ok {
					if found, s := findAction(sc, title, scope); found != nil {
						return found, s
					}
				}
			}
		}
		return nil, nil
	}
	if found, s := look(card["actions"]); found != nil {
		return found, s
	}
	var walk func(v any) (map[string]any, []map[string]any)
	walk = func(v any) (map[string]any, []map[string]any) {
		els, _ := v.([]any)
		for _, e := range els {
			m, _ := e.(map[string]any)
			if m["type"] == "ActionSet" {
				if found, s := look(m["actions"]); found != nil {
					return found, s
				}
			}
			for _, k := range []string{"items", "columns"} {
				if found, s := walk(m[k]); found != nil {
					return found, s
				}
			}
		}
		return nil, nil
	}
	return walk(card["body"])
}

// inputsOf lists the inputs among elements (and their containers' items and columns).
func inputsOf(v any) []map[string]any {
	var out []map[string]any
	els, _ := v.([]any)
	for _, e := range els {
		m, _ := e.(map[string]any)
		if t, _ := m["type"].(string); strings.HasPrefix(t, "Input.") {
			out = append(out, m)
		}
		out = append(out, inputsOf(m["items"])...)
		out = append(out, inputsOf(m["columns"])...)
	}
	return out
}
