package policy

import (
	"fmt"
	"strings"
)

// parseAdmin reads the PIM administrators' commands:
//
//	discover | digest | drift
//	convert <user> <role>      user is a UPN or an object id
//	review start | review status
//
// Who may run them is the bot's decision; the grammar is the same for everyone.
func (c *Config) parseAdmin(word string, rest []string) (Command, error) {
	switch word {
	case "discover", "digest", "drift":
		if len(rest) > 0 {
			return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("%q takes nothing after it — just say %q", word, word)}
		}
		return Command{Kind: map[string]Kind{"discover": KindDiscover, "digest": KindDigest, "drift": KindDrift}[word]}, nil
	case "review":
		if len(rest) != 1 || (strings.ToLower(rest[0]) != "start" && strings.ToLower(rest[0]) != "status") {
			return Command{}, &Error{Code: CodeUnexpected, Message: `Say "review start" to open this quarter's access review, or "review status" to see how it is going`}
		}
		return Command{Kind: KindReview, Action: strings.ToLower(rest[0])}, nil
	}
	// convert <user> <role>
	const example = `e.g. "convert erin@contoso.com global"`
	if len(rest) < 2 {
		return Command{}, &Error{Code: CodeMissingRole, Message: "Say who and which role, " + example}
	}
	user := rest[0]
	if !isUPN(user) && !isGUID(user) {
		return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("%q is not a user: give their sign-in name or object id, %s", clip(user), example)}
	}
	r, n, err := c.rolePrefix(rest[1:], false)
	if err != nil {
		return Command{}, err
	}
	if 1+n < len(rest) {
		return Command{}, &Error{Code: CodeUnexpected, Message: "\"convert\" takes a user and one role, " + example}
	}
	return Command{Kind: KindConvert, Target: user, Role: r}, nil
}
