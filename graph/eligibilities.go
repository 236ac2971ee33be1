package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// Tenant-wide eligibilities, for the quarterly self-review and the Global Administrator count,
// and the removal a review decides.

// RoleEligibility is a principal's eligibility for a tenant-wide directory role.
type RoleEligibility struct {
	RoleID, RoleName string
	PrincipalID      string
	PrincipalType    string    // "user" or "group"
	PrincipalName    string    // display name
	PrincipalUPN     string    // users only
	Start, End       time.Time // End zero: permanent
}

// TenantEligibilities lists every tenant-wide role eligibility in force, with role and principal
// names. A group's eligibility is listed once, for the group. App-only.
func (c *Client) TenantEligibilities(ctx context.Context) ([]RoleEligibility, error) {
	const op = "GET roleEligibilityScheduleInstances (all)"
	names, err := c.RoleNames(ctx)
	if err != nil {
		return nil, err
	}
	var out []RoleEligibility
	u := c.v1("/roleManagement/directory/roleEligibilityScheduleInstances" + query("$expand", "principal"))
	err = c.list(ctx, c.app, op, u, func(m json.RawMessage) error {
		var v struct {
			PrincipalID, RoleDefinitionID, DirectoryScopeID string
			StartDateTime, EndDateTime                      *time.Time
			Principal                                       *struct {
				Type              string `json:"@odata.type"`
				DisplayName       string `json:"displayName"`
				UserPrincipalName string `json:"userPrincipalName"`
			}
		}
		if err := json.Unmarshal(m, &v); err != nil {
			return err
		}
		if v.DirectoryScopeID != "" && v.DirectoryScopeID != "/" {
			return nil
		}
		e := RoleEligibility{RoleID: v.RoleDefinitionID, RoleName: cmp.Or(names[strings.ToLower(v.RoleDefinitionID)], v.RoleDefinitionID),
			PrincipalID: v.PrincipalID, PrincipalType: "user", Start: deref(v.StartDateTime), End: deref(v.EndDateTime)}
		if p := v.Principal; p != nil {
			e.PrincipalName, e.PrincipalUPN = p.DisplayName, p.UserPrincipalName
			if strings.HasSuffix(p.Type, ".group") {
				e.PrincipalType = "group"
			}
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b RoleEligibility) int {
		return cmp.Or(cmp.Compare(a.PrincipalName, b.PrincipalName), cmp.Compare(a.RoleName, b.RoleName))
	})
	return out, nil
}

// RemoveEligibility removes a principal's tenant-wide eligibility for a role (adminRemove) with
// an admin's delegated token: how a review's Remove decisions are applied when the app holds no
// removal permission. PIM wants the admin to have an active Privileged Role Administrator or
// Global Administrator role.
func (c *Client) RemoveEligibility(ctx context.Context, tok UserToken, principalID, roleID, justification string) error {
	const op = "POST roleEligibilityScheduleRequests (adminRemove)"
	ad, err := c.userAdapter(op, tok, "")
	if err != nil {
		return err
	}
	body := map[string]any{"action": "adminRemove", "principalId": principalID, "roleDefinitionId": roleID,
		"directoryScopeId": "/", "justification": justification}
	var out struct{ ID string }
	return c.send(ctx, ad, op, abstractions.POST, c.v1("/roleManagement/directory/roleEligibilityScheduleRequests"), body, &out, true)
}
