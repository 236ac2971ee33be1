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
// request id (UPNs resolved through Graph; members of an approver group are not expanded),
// without the requester. A platform uses it to show them the live card (Teams refresh.userIds);
// who may approve is still decided by Click.
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
			u, err := c.graph.User(ctx, a)
			if err != nil {
				c.log.Warn("resolving approver", "approver", a, "err", err)
				continue
			}
			oid = u.ID
		}
		if oid != "" && oid != r.UserID && !slices.Contains(out, oid) {
			out = append(out, oid)
		}
	}
	return out, nil
}
