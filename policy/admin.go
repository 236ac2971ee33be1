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
//	rebind <chat user> <user>  links a chat account to an Entra user (UPN or object id)
//	unbind <chat user>         the chat account's next sign-in links it again
//
// A chat user is the platform's user id or a Slack mention (<@U123> or <@U123|name>).
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
	case "rebind", "unbind":
		return parseBinding(word, rest)
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

func parseBinding(word string, rest []string) (Command, error) {
	const rebindExample = `e.g. "rebind @mallory mallory@contoso.com"`
	if word == "unbind" {
		if len(rest) != 1 {
			return Command{}, &Error{Code: CodeUnexpected, Message: `Say whose link to remove, e.g. "unbind @mallory"`}
		}
		chat, ok := chatUser(rest[0])
		if !ok {
			return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("%q is not a chat user: mention them or give their user id", clip(rest[0]))}
		}
		return Command{Kind: KindUnbind, ChatUser: chat}, nil
	}
	if len(rest) != 2 {
		return Command{}, &Error{Code: CodeUnexpected, Message: "Say which chat user and which Microsoft account, " + rebindExample}
	}
	chat, ok := chatUser(rest[0])
	if !ok {
		return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("%q is not a chat user: mention them or give their user id, %s", clip(rest[0]), rebindExample)}
	}
	if !isUPN(rest[1]) && !isGUID(rest[1]) {
		return Command{}, &Error{Code: CodeUnexpected, Message: fmt.Sprintf("%q is not a user: give their sign-in name or object id, %s", clip(rest[1]), rebindExample)}
	}
	return Command{Kind: KindRebind, ChatUser: chat, Target: rest[1]}, nil
}

// chatUser reads a chat user: a Slack mention as slash commands carry it (<@U123> or
// <@U123|name>) or a bare user id. A plain @name is not an id and is refused.
func chatUser(s string) (string, bool) {
	if inner, ok := strings.CutPrefix(s, "<@"); ok {
		inner, ok = strings.CutSuffix(inner, ">")
		if !ok {
			return "", false
		}
		s, _, _ = strings.Cut(inner, "|")
	}
	if s == "" || strings.HasPrefix(s, "@") || strings.ContainsAny(s, "<>|") {
		return "", false
	}
	return s, true
}
