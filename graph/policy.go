package graph

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/policies"
)

// RolePolicy is what PIM requires to activate a role (its end-user assignment rules).
type RolePolicy struct {
	RoleID               string
	MaxDuration          time.Duration // 0: the policy did not say
	RequireMFA           bool
	RequireJustification bool
	RequireTicket        bool
	RequireApproval      bool
	AuthContext          string // Conditional Access authentication context ("c1"); "" when off
}

type cachedPolicy struct {
	p  RolePolicy
	at time.Time
}

// RolePolicy reads the PIM role settings for a tenant-wide role. Results are cached for
// PolicyTTL: policies change rarely, and PIM itself enforces the live policy at activation.
func (c *Client) RolePolicy(ctx context.Context, roleID string) (RolePolicy, error) {
	if roleID == "" {
		return RolePolicy{}, errors.New("graph: RolePolicy: empty role id")
	}
	c.mu.Lock()
	cp, ok := c.policies[roleID]
	c.mu.Unlock()
	if ok && time.Since(cp.at) < c.cfg.PolicyTTL {
		return cp.p, nil
	}
	// $filter on scopeId and scopeType is required by the API.
	filter := "scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq " + odataQuote(roleID)
	res, err := c.policyRoot(c.app).RoleManagementPolicyAssignments().Get(ctx,
		&policies.RoleManagementPolicyAssignmentsRequestBuilderGetRequestConfiguration{
			QueryParameters: &policies.RoleManagementPolicyAssignmentsRequestBuilderGetQueryParameters{
				Filter: &filter, Expand: []string{"policy($expand=rules)"}}})
	if err != nil {
		return RolePolicy{}, wrapErr("GET roleManagementPolicyAssignments", err)
	}
	var pa models.UnifiedRoleManagementPolicyAssignmentable
	for _, a := range res.GetValue() {
		if deref(a.GetRoleDefinitionId()) == roleID || a.GetRoleDefinitionId() == nil {
			pa = a
			break
		}
	}
	if pa == nil || pa.GetPolicy() == nil {
		return RolePolicy{}, &Error{op: "GET roleManagementPolicyAssignments", Status: http.StatusNotFound,
			Code: "PolicyNotFound", Message: "no PIM policy is assigned to role " + roleID}
	}
	p := parsePolicy(roleID, pa.GetPolicy().GetRules())
	c.mu.Lock()
	c.policies[roleID] = cachedPolicy{p: p, at: time.Now()}
	c.mu.Unlock()
	return p, nil
}

// parsePolicy reads the rules that govern a user's own activation: those whose target is
// caller EndUser, level Assignment (ids *_EndUser_Assignment).
func parsePolicy(roleID string, rules []models.UnifiedRoleManagementPolicyRuleable) RolePolicy {
	p := RolePolicy{RoleID: roleID}
	for _, r := range rules {
		if !endUserAssignment(r) {
			continue
		}
		switch r := r.(type) {
		case models.UnifiedRoleManagementPolicyExpirationRuleable:
			if d := r.GetMaximumDuration(); d != nil {
				if v, err := d.ToDuration(); err == nil {
					p.MaxDuration = v
				}
			}
		case models.UnifiedRoleManagementPolicyEnablementRuleable:
			for _, e := range r.GetEnabledRules() {
				switch {
				case strings.EqualFold(e, "MultiFactorAuthentication"):
					p.RequireMFA = true
				case strings.EqualFold(e, "Justification"):
					p.RequireJustification = true
				case strings.EqualFold(e, "Ticketing"):
					p.RequireTicket = true
				}
			}
		case models.UnifiedRoleManagementPolicyApprovalRuleable:
			if s := r.GetSetting(); s != nil {
				p.RequireApproval = deref(s.GetIsApprovalRequired())
			}
		case models.UnifiedRoleManagementPolicyAuthenticationContextRuleable:
			if deref(r.GetIsEnabled()) {
				p.AuthContext = deref(r.GetClaimValue())
			}
		}
	}
	return p
}

func endUserAssignment(r models.UnifiedRoleManagementPolicyRuleable) bool {
	if t := r.GetTarget(); t != nil && t.GetCaller() != nil && t.GetLevel() != nil {
		return strings.EqualFold(*t.GetCaller(), "EndUser") && strings.EqualFold(*t.GetLevel(), "Assignment")
	}
	return slices.Contains([]string{"Expiration_EndUser_Assignment", "Enablement_EndUser_Assignment",
		"Approval_EndUser_Assignment", "AuthenticationContext_EndUser_Assignment"}, deref(r.GetId()))
}
