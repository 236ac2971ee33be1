package bot

import (
	"slices"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/policy"
)

// Incremental consent: a sign-in asks Microsoft Entra only for the delegated permissions the
// action it was started for needs, and a held token is used only for actions its permissions
// cover (docs/security.md lists what is asked when).

// scopeOf is the permission PIM needs for activating, ending, cancelling or approving role:
// PIM for Groups' for a group, the directory roles' otherwise (also when role is unknown).
func scopeOf(role *policy.Role) string {
	if role != nil && role.Group {
		return graph.ScopeGroups
	}
	return graph.ScopeActivate
}

// scopesFor is what sign-in p asks for.
func (c *Core) scopesFor(p pendingSignIn) []string {
	switch p.purpose {
	case forConvert:
		// Eligibility created, then the standing assignment removed (adminRemove).
		return []string{graph.ScopeEligibility, graph.ScopeActivate}
	case forClick:
		// The clicks that ask for a sign-in first are admins' eligibility writes (applying
		// access-review removals).
		return []string{graph.ScopeEligibility}
	}
	var role *policy.Role
	if p.requestID != 0 {
		if r, err := c.store.Request(p.requestID); err == nil {
			role = c.cfg.RoleByID(r.RoleID)
			if rs, err := c.groupOf(r); err == nil && len(rs) > 0 && p.purpose == forRequest {
				// One sign-in for every role of a multi-role request: every scope they need.
				var scopes []string
				for _, x := range rs {
					if s := scopeOf(c.cfg.RoleByID(x.RoleID)); !slices.Contains(scopes, s) {
						scopes = append(scopes, s)
					}
				}
				return scopes
			}
		}
	}
	return []string{scopeOf(role)}
}
