package policy

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// EmailMatch says what Elevate does when the email a chat platform has verified for a user
// (Slack's profile email) is none of the Entra user's addresses (UPN, mail, proxy addresses) at
// the sign-in that would link the two. Platforms that vouch for the Entra identity themselves
// (Teams) are not compared.
type EmailMatch string

const (
	EmailMatchRequire EmailMatch = "require" // refused and alerted to the security channel (default)
	EmailMatchWarn    EmailMatch = "warn"    // alerted; the person may still confirm the link
	EmailMatchOff     EmailMatch = "off"     // not compared
)

// Identity is how chat accounts are linked to Entra users (config `identity:`).
type Identity struct {
	EmailMatch EmailMatch
}

func (p *parser) identity(n *yaml.Node, id *Identity) {
	id.EmailMatch = EmailMatchRequire
	f := p.mapping(n, "identity", []string{"email_match"})
	v := f.get("email_match")
	if v == nil {
		return
	}
	s, ok := p.str(v, "identity.email_match")
	if !ok {
		return
	}
	switch m := EmailMatch(strings.ToLower(s)); m {
	case EmailMatchRequire, EmailMatchWarn, EmailMatchOff:
		id.EmailMatch = m
	default:
		p.errorf(v.Line, "identity.email_match: %q should be require, warn or off", s)
	}
}
