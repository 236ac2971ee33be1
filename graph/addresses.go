package graph

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// Addresses returns the email addresses Entra knows for a user, lower-cased and without
// duplicates: the UPN, mail, and each SMTP proxy address (Exchange's aliases, "smtp:" cut off).
// A chat platform's verified email is compared with these before a chat account is linked to the
// user.
func (c *Client) Addresses(ctx context.Context, userID string) ([]string, error) {
	if userID == "" {
		return nil, errors.New("graph: Addresses: empty id")
	}
	var u struct {
		UPN   string   `json:"userPrincipalName"`
		Mail  string   `json:"mail"`
		Proxy []string `json:"proxyAddresses"`
	}
	err := c.send(ctx, c.app, "GET users/{id}", abstractions.GET,
		c.v1("/users/"+url.PathEscape(userID)+query("$select", "userPrincipalName,mail,proxyAddresses")), nil, &u, false)
	if err != nil {
		return nil, err
	}
	var out []string
	add := func(s string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && strings.Contains(s, "@") && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(u.UPN)
	add(u.Mail)
	for _, p := range u.Proxy {
		// Only SMTP addresses are email addresses; X500:, SIP: and the like are not.
		if kind, addr, ok := strings.Cut(p, ":"); ok && strings.EqualFold(kind, "smtp") {
			add(addr)
		}
	}
	return out, nil
}
