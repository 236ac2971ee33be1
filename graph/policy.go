package graph

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
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
	// ApproverUsers and ApproverGroups are PIM's own approvers (the first stage's primary
	// approvers: singleUser and groupMembers), when RequireApproval.
	ApproverUsers, ApproverGroups []string
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
	// $filter on scopeId and scopeType is required by the API.
	return c.policy(ctx, "GET roleManagementPolicyAssignments", roleID, roleID, roleID,
		"scopeId eq '/' and scopeType eq 'DirectoryRole' and roleDefinitionId eq "+odataQuote(roleID), "role")
}

// GroupPolicy reads the PIM for Groups settings for a user's own activation of access ("member"
// or "owner") in a group, cached like RolePolicy. Reading it needs
// RoleManagementPolicy.Read.AzureADGroup.
func (c *Client) GroupPolicy(ctx context.Context, groupID, access string) (RolePolicy, error) {
	if groupID == "" {
		return RolePolicy{}, errors.New("graph: GroupPolicy: empty group id")
	}
	if access == "" {
		access = "member"
	}
	return c.policy(ctx, "GET roleManagementPolicyAssignments (group)", "group:"+strings.ToLower(groupID)+"|"+access, groupID, access,
		"scopeId eq "+odataQuote(groupID)+" and scopeType eq 'Group' and roleDefinitionId eq "+odataQuote(access), "group")
}

// policy reads the policy assignment filter selects, for id (a role, or a group), the one whose
// roleDefinitionId is def (or that names none), parses its rules and caches them under key.
func (c *Client) policy(ctx context.Context, op, key, id, def, filter, what string) (RolePolicy, error) {
	c.mu.Lock()
	cp, ok := c.policies[key]
	c.mu.Unlock()
	if ok && time.Since(cp.at) < c.cfg.PolicyTTL {
		return cp.p, nil
	}
	var res struct {
		Value []struct {
			RoleID *string `json:"roleDefinitionId"`
			Policy *struct {
				Rules []policyRule `json:"rules"`
			} `json:"policy"`
		} `json:"value"`
	}
	err := c.send(ctx, c.app, op, abstractions.GET,
		c.v1("/policies/roleManagementPolicyAssignments"+query("$filter", filter, "$expand", "policy($expand=rules)")), nil, &res, false)
	if err != nil {
		return RolePolicy{}, err
	}
	for _, a := range res.Value {
		if (a.RoleID == nil || strings.EqualFold(*a.RoleID, def)) && a.Policy != nil {
			p := parsePolicy(id, a.Policy.Rules)
			c.mu.Lock()
			c.policies[key] = cachedPolicy{p: p, at: time.Now()}
			c.mu.Unlock()
			return p, nil
		}
	}
	return RolePolicy{}, &Error{op: op, Status: http.StatusNotFound, Code: "PolicyNotFound", Message: "no PIM policy is assigned to " + what + " " + id}
}

// policyRule holds the fields of the rule types Elevate reads, told apart by @odata.type
// (graph-pim.md §5): expiration, enablement, approval and authentication context.
type policyRule struct {
	Type   string `json:"@odata.type"`
	ID     string `json:"id"`
	Target *struct {
		Caller string `json:"caller"`
		Level  string `json:"level"`
	} `json:"target"`
	MaximumDuration string   `json:"maximumDuration"` // expiration
	EnabledRules    []string `json:"enabledRules"`    // enablement
	Setting         *struct {
		IsApprovalRequired bool `json:"isApprovalRequired"`
		ApprovalStages     []struct {
			PrimaryApprovers []struct {
				Type    string `json:"@odata.type"`
				UserID  string `json:"userId"`
				GroupID string `json:"groupId"`
			} `json:"primaryApprovers"`
		} `json:"approvalStages"`
	} `json:"setting"` // approval
	IsEnabled  bool   `json:"isEnabled"`  // authentication context
	ClaimValue string `json:"claimValue"` // authentication context
}

// ruleType is the common prefix of the rules' @odata.type, without its "#".
const ruleType = "microsoft.graph.unifiedRoleManagementPolicy"

// parsePolicy reads the rules that govern a user's own activation: those whose target is
// caller EndUser, level Assignment (ids *_EndUser_Assignment).
func parsePolicy(roleID string, rules []policyRule) RolePolicy {
	p := RolePolicy{RoleID: roleID}
	for _, r := range rules {
		if !endUserAssignment(r) {
			continue
		}
		switch strings.TrimPrefix(r.Type, "#") {
		case ruleType + "ExpirationRule":
			if r.MaximumDuration != "" {
				if d, err := serialization.ParseISODuration(r.MaximumDuration); err == nil {
					if v, err := d.ToDuration(); err == nil {
						p.MaxDuration = v
					}
				}
			}
		case ruleType + "EnablementRule":
			for _, e := range r.EnabledRules {
				switch {
				case strings.EqualFold(e, "MultiFactorAuthentication"):
					p.RequireMFA = true
				case strings.EqualFold(e, "Justification"):
					p.RequireJustification = true
				case strings.EqualFold(e, "Ticketing"):
					p.RequireTicket = true
				}
			}
		case ruleType + "ApprovalRule":
			if r.Setting != nil {
				p.RequireApproval = r.Setting.IsApprovalRequired
				if len(r.Setting.ApprovalStages) > 0 {
					for _, a := range r.Setting.ApprovalStages[0].PrimaryApprovers {
						switch {
						case strings.HasSuffix(a.Type, "singleUser") && a.UserID != "":
							p.ApproverUsers = append(p.ApproverUsers, a.UserID)
						case strings.HasSuffix(a.Type, "groupMembers") && a.GroupID != "":
							p.ApproverGroups = append(p.ApproverGroups, a.GroupID)
						}
					}
				}
			}
		case ruleType + "AuthenticationContextRule":
			if r.IsEnabled {
				p.AuthContext = r.ClaimValue
			}
		}
	}
	return p
}

func endUserAssignment(r policyRule) bool {
	if t := r.Target; t != nil && t.Caller != "" && t.Level != "" {
		return strings.EqualFold(t.Caller, "EndUser") && strings.EqualFold(t.Level, "Assignment")
	}
	return slices.Contains([]string{"Expiration_EndUser_Assignment", "Enablement_EndUser_Assignment",
		"Approval_EndUser_Assignment", "AuthenticationContext_EndUser_Assignment"}, r.ID)
}
