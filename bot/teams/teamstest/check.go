package teamstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The Adaptive Card checks the conformance suite runs on every card the Teams adapter renders:
// the schema's required properties for the elements and actions Elevate uses, the version Teams
// renders (Universal Actions need 1.4; Teams renders up to 1.5), and the sizes Elevate keeps to.
// The fake itself refuses only what the Bot Connector refuses (its size limits, MessageSize), as
// it cannot know every card Teams would render; these checks are the suite's, applied to what the
// fake recorded.

// MaxActivityBytes is the size, in JSON bytes with images, of the activities the conformance
// suite holds the adapter to: the "about 28 KB" of Teams' limits page, stricter than the
// connector's own count (MessageSize), so that what Elevate ordinarily sends stays far from any
// limit (the adapter shortens only a message over the connector's).
const MaxActivityBytes = 28 << 10

// maxRefreshUsers is Universal Actions' limit on refresh.userIds.
const maxRefreshUsers = 60

var (
	elementTypes = map[string]bool{"TextBlock": true, "FactSet": true, "ActionSet": true, "Image": true, "Container": true,
		"ColumnSet": true, "Column": true, "RichTextBlock": true, "TextRun": true,
		"Input.Text": true, "Input.ChoiceSet": true, "Input.Toggle": true, "Input.Number": true, "Input.Date": true, "Input.Time": true}
	actionTypes = map[string]bool{"Action.Execute": true, "Action.Submit": true, "Action.OpenUrl": true, "Action.ShowCard": true, "Action.ToggleVisibility": true}
)

// CheckActivity checks an activity as the adapter sent it: its size, and every Adaptive Card
// attached to it.
func CheckActivity(activity map[string]any) error {
	b, err := json.Marshal(activity)
	if err != nil {
		return err
	}
	if len(b) > MaxActivityBytes {
		return fmt.Errorf("activity of %d bytes, over %d", len(b), MaxActivityBytes)
	}
	atts, _ := activity["attachments"].([]any)
	for i, a := range atts {
		am, _ := a.(map[string]any)
		if am["contentType"] != "application/vnd.microsoft.card.adaptive" {
			continue
		}
		if err := CheckCard(am["content"]); err != nil {
			return fmt.Errorf("attachment %d: %w", i, err)
		}
	}
	return nil
}

// CheckCard checks one Adaptive Card (an attachment's content, or an invoke response's value).
func CheckCard(card any) error {
	c, ok := card.(map[string]any)
	if !ok {
		return errors.New("the card is not a JSON object")
	}
	if c["type"] != "AdaptiveCard" {
		return fmt.Errorf("card type %v, want AdaptiveCard", c["type"])
	}
	switch v, _ := c["version"].(string); v {
	case "1.4", "1.5":
	default:
		return fmt.Errorf("card version %q: Universal Actions need 1.4, Teams renders up to 1.5", v)
	}
	ids := map[string]bool{}
	var errs []error
	if _, ok := c["body"].([]any); !ok && c["body"] != nil {
		errs = append(errs, errors.New("body is not an array"))
	}
	checkElements(c["body"], "body", ids, &errs)
	checkActions(c["actions"], "actions", ids, &errs)
	if r, ok := c["refresh"].(map[string]any); ok {
		a, _ := r["action"].(map[string]any)
		if a["type"] != "Action.Execute" {
			errs = append(errs, fmt.Errorf("refresh.action is %v, want Action.Execute", a["type"]))
		} else if v, _ := a["verb"].(string); v == "" {
			errs = append(errs, errors.New("refresh.action has no verb"))
		}
		if users, _ := r["userIds"].([]any); len(users) > maxRefreshUsers {
			errs = append(errs, fmt.Errorf("refresh.userIds has %d users, at most %d", len(users), maxRefreshUsers))
		}
	}
	return errors.Join(errs...)
}

func checkElements(v any, at string, ids map[string]bool, errs *[]error) {
	els, _ := v.([]any)
	for i, e := range els {
		where := fmt.Sprintf("%s[%d]", at, i)
		m, ok := e.(map[string]any)
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s is not an object", where))
			continue
		}
		typ, _ := m["type"].(string)
		if !elementTypes[typ] {
			*errs = append(*errs, fmt.Errorf("%s: unknown element type %q", where, typ))
			continue
		}
		where += " (" + typ + ")"
		switch {
		case typ == "TextBlock":
			if s, _ := m["text"].(string); strings.TrimSpace(s) == "" {
				*errs = append(*errs, fmt.Errorf("%s has no text", where))
			}
		case typ == "FactSet":
			facts, _ := m["facts"].([]any)
			if len(facts) == 0 {
				*errs = append(*errs, fmt.Errorf("%s has no facts", where))
			}
			for j, f := range facts {
				fm, _ := f.(map[string]any)
				_, tok := fm["title"].(string)
				_, vok := fm["value"].(string)
				if !tok || !vok {
					*errs = append(*errs, fmt.Errorf("%s fact %d needs a title and a value (strings)", where, j))
				}
			}
		case typ == "Image":
			if s, _ := m["url"].(string); s == "" {
				*errs = append(*errs, fmt.Errorf("%s has no url", where))
			}
		case typ == "ActionSet":
			if as, _ := m["actions"].([]any); len(as) == 0 {
				*errs = append(*errs, fmt.Errorf("%s has no actions", where))
			}
			checkActions(m["actions"], where+".actions", ids, errs)
		case strings.HasPrefix(typ, "Input."):
			id, _ := m["id"].(string)
			if id == "" {
				*errs = append(*errs, fmt.Errorf("%s has no id", where))
			} else if ids[id] {
				*errs = append(*errs, fmt.Errorf("%s: id %q is used twice", where, id))
			}
			ids[id] = true
			if typ == "Input.ChoiceSet" {
				choices, _ := m["choices"].([]any)
				for j, ch := range choices {
					cm, _ := ch.(map[string]any)
					_, tok := cm["title"].(string)
					_, vok := cm["value"].(string)
					if !tok || !vok {
						*errs = append(*errs, fmt.Errorf("%s choice %d needs a title and a value (strings)", where, j))
					}
				}
			}
		}
		checkElements(m["items"], where+".items", ids, errs)
		checkElements(m["columns"], where+".columns", ids, errs)
	}
}

func checkActions(v any, at string, ids map[string]bool, errs *[]error) {
	as, _ := v.([]any)
	for i, a := range as {
		where := fmt.Sprintf("%s[%d]", at, i)
		m, ok := a.(map[string]any)
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s is not an object", where))
			continue
		}
		typ, _ := m["type"].(string)
		if !actionTypes[typ] {
			*errs = append(*errs, fmt.Errorf("%s: unknown action type %q", where, typ))
			continue
		}
		where += " (" + typ + ")"
		if s, _ := m["title"].(string); strings.TrimSpace(s) == "" {
			*errs = append(*errs, fmt.Errorf("%s has no title", where))
		}
		switch typ {
		case "Action.Execute":
			if s, _ := m["verb"].(string); s == "" {
				*errs = append(*errs, fmt.Errorf("%s has no verb", where))
			}
		case "Action.OpenUrl":
			if s, _ := m["url"].(string); s == "" {
				*errs = append(*errs, fmt.Errorf("%s has no url", where))
			}
		case "Action.ShowCard":
			card, _ := m["card"].(map[string]any)
			if card == nil {
				*errs = append(*errs, fmt.Errorf("%s has no card", where))
				continue
			}
			checkElements(card["body"], where+".card.body", ids, errs)
			checkActions(card["actions"], where+".card.actions", ids, errs)
		}
	}
}
