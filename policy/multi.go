package policy

import (
	"fmt"
	"strings"
)

// MaxRoles is how many roles one request may name ("exchange,sharepoint,teams 4h …"). Five keeps
// the approvers' card readable (every role is a line they approve), keeps one request's PIM
// writes (one activation per role, each its own intent) well inside Graph's per-user throttling
// and one sign-in's freshness window, and covers the incidents that need several workloads at
// once; more than that is a standing-access smell better asked as separate requests.
const MaxRoles = 5

// CodeTooManyRoles and CodeRoleList are the multi-role request's own refusals.
const (
	CodeTooManyRoles = "too_many_roles"
	CodeRoleList     = "role_list"
)

// roleList reads the roles at the start of words: one role ("exchange", "exchange administrator")
// or several separated by commas ("exchange,sharepoint", "exchange, sharepoint administrator").
// It returns the roles in the order given and the words after the last one.
//
// A comma makes a list only where it ends a role's name: "exchange fixing mail, urgent" is one role
// and a justification with a comma in it. A name before a comma must be a whole role name; an
// unknown one is answered with "did you mean" for that name alone.
func (c *Config) roleList(words []string, withCommands bool) ([]*Role, []string, error) {
	maxWords := c.maxRoleWords()
	var roles []*Role
	for {
		if len(words) == 0 {
			return nil, nil, listError(roles, "After the comma, name another role")
		}
		k := -1 // the word, within a role name's reach, that holds a comma
		for i := 0; i < min(len(words), maxWords); i++ {
			if strings.Contains(words[i], ",") {
				k = i
				break
			}
		}
		if k < 0 {
			if len(roles) > 0 {
				if d, looks, _ := parseDuration(words[0]); looks && d >= 0 {
					return nil, nil, listError(roles, "After the comma, name another role")
				}
			}
			r, n, err := c.rolePrefix(words, withCommands && len(roles) == 0)
			if err != nil {
				return nil, nil, err
			}
			roles, err = addRole(roles, r)
			if err != nil {
				return nil, nil, err
			}
			return roles, words[n:], nil
		}
		before, after, _ := strings.Cut(words[k], ",")
		phrase := append(append([]string{}, words[:k]...), strings.Fields(before)...)
		rest := words[k+1:]
		if after = strings.TrimSpace(after); after != "" {
			rest = append([]string{after}, rest...)
		}
		if len(phrase) == 0 {
			if len(roles) == 0 {
				return nil, nil, &Error{Code: CodeRoleList, Message: `Start with a role, then a comma and the next one, e.g. "exchange,sharepoint 4h fixing mail flow"`}
			}
			return nil, nil, listError(roles, "There is nothing between two commas")
		}
		r, n, err := c.rolePrefix(phrase, false) // a comma: a list of roles, not a command
		if err == nil && n < len(phrase) {
			err = c.unknownRole(strings.Join(phrase, " "), false)
		}
		if err != nil {
			if len(roles) == 0 && k > 0 {
				// "exchange fixing mail, urgent": the comma is in the justification.
				r, n, err := c.rolePrefix(words, withCommands)
				if err != nil {
					return nil, nil, err
				}
				return []*Role{r}, words[n:], nil
			}
			return nil, nil, err
		}
		if roles, err = addRole(roles, r); err != nil {
			return nil, nil, err
		}
		words = rest
	}
}

func addRole(roles []*Role, r *Role) ([]*Role, error) {
	for _, x := range roles {
		if x == r {
			return nil, &Error{Code: CodeRoleList, Message: fmt.Sprintf("%s is named twice — name each role once, e.g. %q", r.Name, exampleList(roles))}
		}
	}
	if len(roles) == MaxRoles {
		return nil, &Error{Code: CodeTooManyRoles, Message: fmt.Sprintf("At most %d roles in one request — ask for the others in a second request", MaxRoles)}
	}
	return append(roles, r), nil
}

func listError(roles []*Role, why string) *Error {
	return &Error{Code: CodeRoleList, Message: fmt.Sprintf("%s, e.g. %q", why, exampleList(roles))}
}

// exampleList is a role list the way users type it, ending with another role to name.
func exampleList(roles []*Role) string {
	var as []string
	for _, r := range roles {
		as = append(as, r.Alias())
	}
	if len(as) < 2 {
		as = append(as, "sharepoint")
	}
	return strings.Join(as, ",") + " 4h fixing mail flow"
}

func (c *Config) maxRoleWords() int {
	if c.index != nil {
		return max(1, c.index.maxWords)
	}
	maxWords := 1
	for _, r := range c.Roles {
		maxWords = max(maxWords, len(strings.Fields(r.Name)))
	}
	for _, r := range c.disabled {
		maxWords = max(maxWords, len(strings.Fields(r.Name)))
	}
	return maxWords
}

// spacedList answers "exchange sharepoint 4h …": a second role name where the duration or the
// justification would start, followed by a duration, was almost certainly meant as a list.
func (c *Config) spacedList(roles []*Role, rest []string) *Error {
	if len(rest) < 2 {
		return nil
	}
	r, n, err := c.rolePrefix(rest, false)
	if err != nil || n >= len(rest) {
		return nil
	}
	if _, looks, _ := parseDuration(rest[n]); !looks {
		return nil
	}
	list := append(append([]*Role{}, roles...), r)
	var as []string
	for _, x := range list {
		as = append(as, x.Alias())
	}
	want := strings.Join(as, ",") + " " + strings.Join(rest[n:], " ")
	return &Error{Code: CodeRoleList, Message: fmt.Sprintf("Several roles? Separate them with commas — did you mean %q?", clip(want)), Suggestions: []string{strings.Join(as, ",")}}
}

// RoleNames lists the commands' roles by name: "Exchange Administrator and SharePoint
// Administrator".
func RoleNames(roles []*Role) string {
	var ns []string
	for _, r := range roles {
		ns = append(ns, r.Name)
	}
	return JoinAnd(ns)
}

// JoinAnd joins words as a sentence does: "a", "a and b", "a, b and c".
func JoinAnd(ws []string) string {
	switch len(ws) {
	case 0:
		return ""
	case 1:
		return ws[0]
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " and " + ws[len(ws)-1]
}
