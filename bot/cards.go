package bot

import (
	"context"
	"slices"
	"strings"
)

// Card returns request id's approval card as it stands now. Platforms that render a card per
// viewer on demand (Teams Universal Actions: the card's refresh action) call it; the others get
// cards through Messenger.Send and Update.
func (c *Core) Card(id uint64) (Message, error) {
	r, err := c.store.Request(id)
	if err != nil {
		return Message{}, err
	}
	return c.card(r), nil
}

// Approvers lists the Entra object ids of the people the configuration names as approvers of
// request id (UPNs resolved through Graph once per process, as upnOf does the other way; members
// of an approver group are not expanded), without the requester. A platform uses it to show them
// the live card (Teams refresh.userIds) on every post and update of a card, so it must not cost
// a Graph read per approver each time; who may approve is still decided by Click.
func (c *Core) Approvers(ctx context.Context, id uint64) ([]string, error) {
	r, err := c.store.Request(id)
	if err != nil {
		return nil, err
	}
	role := c.cfg.RoleByID(r.RoleID)
	if role == nil {
		return nil, nil
	}
	var out []string
	for _, a := range role.Approval.Approvers {
		oid := a
		if strings.Contains(a, "@") {
			var err error
			if oid, err = c.oidOf(ctx, a); err != nil {
				c.log.Warn("resolving approver", "approver", a, "err", err)
				continue
			}
		}
		if oid != "" && oid != r.UserID && !slices.Contains(out, oid) {
			out = append(out, oid)
		}
	}
	return out, nil
}

// oidOf looks up the Entra object id of upn, cached: like upnOf, approvers' identities change
// rarely and every card render needs them.
func (c *Core) oidOf(ctx context.Context, upn string) (string, error) {
	key := strings.ToLower(upn)
	if v, ok := c.oids.Load(key); ok {
		return v.(string), nil
	}
	u, err := c.graph.User(ctx, upn)
	if err != nil {
		return "", err
	}
	c.oids.Store(key, u.ID)
	return u.ID, nil
}
