package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// Discovery of standing access and its conversion to eligible (reference §4).

// StandingAssignment is a permanent active role assignment: assignmentType Assigned, no end.
type StandingAssignment struct {
	RoleID, RoleName string
	PrincipalID      string
	PrincipalType    string // "user" or "group"
	PrincipalName    string // display name
	PrincipalUPN     string // users only
	Since            time.Time
	Members          []User // a group's users, transitively (they hold the role through it)
}

// StandingAssignments lists every permanent active assignment in the tenant, tenant-wide scope
// only, with role names and principals; a group's members are listed with it. App-only.
func (c *Client) StandingAssignments(ctx context.Context) ([]StandingAssignment, error) {
	const op = "GET roleAssignmentScheduleInstances (standing)"
	names, err := c.RoleNames(ctx)
	if err != nil {
		return nil, err
	}
	var out []StandingAssignment
	u := c.v1("/roleManagement/directory/roleAssignmentScheduleInstances" +
		query("$filter", "assignmentType eq 'Assigned'", "$expand", "principal"))
	err = c.list(ctx, c.app, op, u, func(m json.RawMessage) error {
		var v struct {
			PrincipalID, RoleDefinitionID, DirectoryScopeID, MemberType string
			StartDateTime, EndDateTime                                  *time.Time
			Principal                                                   *struct {
				Type              string `json:"@odata.type"`
				DisplayName       string `json:"displayName"`
				UserPrincipalName string `json:"userPrincipalName"`
			}
		}
		if err := json.Unmarshal(m, &v); err != nil {
			return err
		}
		// Permanent only; a membership inherited through a group is reported with the group.
		if v.EndDateTime != nil || (v.DirectoryScopeID != "" && v.DirectoryScopeID != "/") ||
			strings.EqualFold(v.MemberType, "Group") || strings.EqualFold(v.MemberType, "Inherited") {
			return nil
		}
		s := StandingAssignment{RoleID: v.RoleDefinitionID, RoleName: names[strings.ToLower(v.RoleDefinitionID)],
			PrincipalID: v.PrincipalID, PrincipalType: "user", Since: deref(v.StartDateTime)}
		if s.RoleName == "" {
			s.RoleName = v.RoleDefinitionID
		}
		if p := v.Principal; p != nil {
			s.PrincipalName, s.PrincipalUPN = p.DisplayName, p.UserPrincipalName
			if strings.HasSuffix(p.Type, ".group") {
				s.PrincipalType = "group"
			}
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].PrincipalType != "group" {
			continue
		}
		if out[i].Members, err = c.GroupUsers(ctx, out[i].PrincipalID); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b StandingAssignment) int {
		return cmp.Or(cmp.Compare(a.RoleName, b.RoleName), cmp.Compare(a.PrincipalName, b.PrincipalName))
	})
	return out, nil
}

// GroupUsers lists the users in a group, nested groups resolved (transitiveMembers). App-only.
func (c *Client) GroupUsers(ctx context.Context, groupID string) ([]User, error) {
	var out []User
	u := c.v1("/groups/" + url.PathEscape(groupID) + "/transitiveMembers/microsoft.graph.user" +
		query("$select", "id,userPrincipalName,displayName,mail"))
	err := c.list(ctx, c.app, "GET groups/{id}/transitiveMembers", u, func(m json.RawMessage) error {
		var v struct{ ID, UserPrincipalName, DisplayName, Mail string }
		if err := json.Unmarshal(m, &v); err != nil {
			return err
		}
		out = append(out, User{ID: v.ID, UPN: v.UserPrincipalName, DisplayName: v.DisplayName, Mail: v.Mail})
		return nil
	})
	return out, err
}

// RoleNames maps role definition ids (lower case) to display names; read once per client.
func (c *Client) RoleNames(ctx context.Context) (map[string]string, error) {
	c.mu.Lock()
	names := c.roleDefs
	c.mu.Unlock()
	if names != nil {
		return names, nil
	}
	names = map[string]string{}
	err := c.list(ctx, c.app, "GET roleDefinitions", c.v1("/roleManagement/directory/roleDefinitions"+query("$select", "id,displayName")),
		func(m json.RawMessage) error {
			var v struct{ ID, DisplayName string }
			if err := json.Unmarshal(m, &v); err != nil {
				return err
			}
			names[strings.ToLower(v.ID)] = v.DisplayName
			return nil
		})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.roleDefs = names
	c.mu.Unlock()
	return names, nil
}

// Conversion is what ConvertToEligible did.
type Conversion struct {
	EligibilityRequestID string // "" when the principal was already eligible
	RemovalRequestID     string
	EligibleUntil        time.Time // zero: permanently eligible
}

// ConvertToEligible turns a standing (permanent active) assignment into an eligibility, with an
// admin's delegated token: the eligibility is created first, so the principal is never left
// with nothing, then the active assignment is removed. A principal already eligible skips the
// first step. When PIM's policy requires eligibilities to expire, the eligibility lasts a year.
func (c *Client) ConvertToEligible(ctx context.Context, tok UserToken, principalID, roleID, justification string) (Conversion, error) {
	if principalID == "" || roleID == "" {
		return Conversion{}, errors.New("graph: ConvertToEligible: principal and role are required")
	}
	const opEl = "POST roleEligibilityScheduleRequests (adminAssign)"
	ad, err := c.userAdapter(opEl, tok, "")
	if err != nil {
		return Conversion{}, err
	}
	var conv Conversion
	start := c.now().UTC().Truncate(time.Second)
	body := map[string]any{"action": "adminAssign", "principalId": principalID, "roleDefinitionId": roleID,
		"directoryScopeId": "/", "justification": justification,
		"scheduleInfo": map[string]any{"startDateTime": start.Format(time.RFC3339), "expiration": map[string]any{"type": "noExpiration"}}}
	var res requestJSON
	err = c.send(ctx, ad, opEl, abstractions.POST, c.v1("/roleManagement/directory/roleEligibilityScheduleRequests"), body, &res, true)
	var ge *Error
	if errors.As(err, &ge) && ge.Rule == "ExpirationRule" {
		// Expiration_Admin_Eligibility requires an end: a year, in days (graph-pim.md §4, §5.4).
		conv.EligibleUntil = start.AddDate(0, 0, 365).Add(-time.Hour)
		body["scheduleInfo"] = map[string]any{"startDateTime": start.Format(time.RFC3339),
			"expiration": map[string]any{"type": "afterDateTime", "endDateTime": conv.EligibleUntil.Format(time.RFC3339)}}
		err = c.send(ctx, ad, opEl, abstractions.POST, c.v1("/roleManagement/directory/roleEligibilityScheduleRequests"), body, &res, true)
	}
	switch {
	case errors.As(err, &ge) && ge.Code == "RoleEligibilityExists":
		conv.EligibleUntil = time.Time{}
	case err != nil:
		return Conversion{}, err
	default:
		conv.EligibilityRequestID = res.ID
	}
	const opRm = "POST roleAssignmentScheduleRequests (adminRemove)"
	rm := map[string]any{"action": "adminRemove", "principalId": principalID, "roleDefinitionId": roleID,
		"directoryScopeId": "/", "justification": justification}
	res = requestJSON{}
	if err := c.send(ctx, ad, opRm, abstractions.POST, c.v1("/roleManagement/directory/roleAssignmentScheduleRequests"), rm, &res, true); err != nil {
		return conv, err
	}
	conv.RemovalRequestID = res.ID
	return conv, nil
}
