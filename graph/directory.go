package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// User is an Entra user.
type User struct{ ID, UPN, DisplayName, Mail string }

// Eligibility is a role the user may activate, directly or through a group.
type Eligibility struct {
	RoleID, RoleName         string
	ViaGroupID, ViaGroupName string    // empty for a direct eligibility
	EndsAt                   time.Time // zero: permanent eligibility
}

// Assignment is an active role assignment instance (activated or assigned).
type Assignment struct {
	ID, RoleID, PrincipalID string
	AssignmentType          string // "Activated" | "Assigned"
	MemberType              string // "Direct" | "Group" | "Inherited"
	Start, End              time.Time
}

// User looks a user up by object id or UPN.
func (c *Client) User(ctx context.Context, idOrUPN string) (User, error) {
	if idOrUPN == "" {
		return User{}, errors.New("graph: User: empty id")
	}
	var u struct {
		ID          string `json:"id"`
		UPN         string `json:"userPrincipalName"`
		DisplayName string `json:"displayName"`
		Mail        string `json:"mail"`
	}
	err := c.send(ctx, c.app, "GET users/{id}", abstractions.GET,
		c.v1("/users/"+url.PathEscape(idOrUPN)+query("$select", "id,userPrincipalName,displayName,mail")), nil, &u, false)
	if err != nil {
		return User{}, err
	}
	return User{ID: u.ID, UPN: u.UPN, DisplayName: u.DisplayName, Mail: u.Mail}, nil
}

// MemberOfAny returns those of groupIDs the user is a member of, transitively
// (checkMemberGroups).
func (c *Client) MemberOfAny(ctx context.Context, userID string, groupIDs []string) ([]string, error) {
	var in []string
	const perCall = 20 // checkMemberGroups takes at most 20 group ids
	for chunk := range slices.Chunk(groupIDs, perCall) {
		var r struct {
			Value []string `json:"value"`
		}
		body := map[string][]string{"groupIds": chunk}
		// A read in POST's clothing: safe to retry, so not marked as a write.
		if err := c.send(ctx, c.app, "POST users/{id}/checkMemberGroups", abstractions.POST,
			c.v1("/users/"+url.PathEscape(userID)+"/checkMemberGroups"), body, &r, false); err != nil {
			return nil, err
		}
		in = append(in, r.Value...)
	}
	return in, nil
}

// EligibleRoles lists the roles the user may activate: their own tenant-wide eligibilities and
// those of the groups they belong to, transitively (PIM's "my roles" filter misses the latter).
func (c *Client) EligibleRoles(ctx context.Context, userID string) ([]Eligibility, error) {
	if userID == "" {
		return nil, errors.New("graph: EligibleRoles: empty user id")
	}
	out, err := c.eligibilities(ctx, userID, "", "")
	if err != nil {
		return nil, err
	}
	groups, err := c.transitiveGroups(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		es, err := c.eligibilities(ctx, g.id, g.id, g.name)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	slices.SortFunc(out, func(a, b Eligibility) int {
		return cmp.Or(cmp.Compare(a.RoleName, b.RoleName), cmp.Compare(a.RoleID, b.RoleID),
			cmp.Compare(a.ViaGroupName, b.ViaGroupName), cmp.Compare(a.ViaGroupID, b.ViaGroupID))
	})
	return out, nil
}

type group struct{ id, name string }

// transitiveGroups lists the groups that can hold a role: only role-assignable groups can be
// eligible for a directory role, so the others are skipped (when Graph says which they are).
func (c *Client) transitiveGroups(ctx context.Context, userID string) ([]group, error) {
	var out []group
	err := c.list(ctx, c.app, "GET users/{id}/transitiveMemberOf/graph.group",
		c.v1("/users/"+url.PathEscape(userID)+"/transitiveMemberOf/microsoft.graph.group"+query("$select", "id,displayName,isAssignableToRole")),
		func(raw json.RawMessage) error {
			var g struct {
				ID                 string `json:"id"`
				DisplayName        string `json:"displayName"`
				IsAssignableToRole *bool  `json:"isAssignableToRole"`
			}
			if err := json.Unmarshal(raw, &g); err != nil {
				return fmt.Errorf("graph: transitiveMemberOf: %w", err)
			}
			if g.IsAssignableToRole == nil || *g.IsAssignableToRole {
				out = append(out, group{id: g.ID, name: g.DisplayName})
			}
			return nil
		})
	return out, err
}

// eligibilities lists principalID's tenant-wide eligibility instances.
func (c *Client) eligibilities(ctx context.Context, principalID, viaID, viaName string) ([]Eligibility, error) {
	var out []Eligibility
	err := c.list(ctx, c.app, "GET roleEligibilityScheduleInstances",
		c.v1("/roleManagement/directory/roleEligibilityScheduleInstances"+
			query("$filter", "principalId eq "+odataQuote(principalID), "$expand", "roleDefinition")),
		func(raw json.RawMessage) error {
			var in struct {
				RoleID           string     `json:"roleDefinitionId"`
				DirectoryScopeID string     `json:"directoryScopeId"`
				EndDateTime      *time.Time `json:"endDateTime"`
				RoleDefinition   *struct {
					DisplayName string `json:"displayName"`
				} `json:"roleDefinition"`
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				return fmt.Errorf("graph: roleEligibilityScheduleInstances: %w", err)
			}
			// Activation is requested tenant-wide ("/"); an administrative-unit eligibility
			// would fail it.
			if in.DirectoryScopeID != "" && in.DirectoryScopeID != "/" {
				return nil
			}
			e := Eligibility{RoleID: in.RoleID, ViaGroupID: viaID, ViaGroupName: viaName, EndsAt: deref(in.EndDateTime)}
			if in.RoleDefinition != nil {
				e.RoleName = in.RoleDefinition.DisplayName
			}
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ActiveAssignments lists the user's active role assignment instances: activated eligibilities
// and standing assignments.
func (c *Client) ActiveAssignments(ctx context.Context, userID string) ([]Assignment, error) {
	if userID == "" {
		return nil, errors.New("graph: ActiveAssignments: empty user id")
	}
	var out []Assignment
	err := c.list(ctx, c.app, "GET roleAssignmentScheduleInstances",
		c.v1("/roleManagement/directory/roleAssignmentScheduleInstances"+query("$filter", "principalId eq "+odataQuote(userID))),
		func(raw json.RawMessage) error {
			var in struct {
				ID             string     `json:"id"`
				RoleID         string     `json:"roleDefinitionId"`
				PrincipalID    string     `json:"principalId"`
				AssignmentType string     `json:"assignmentType"`
				MemberType     string     `json:"memberType"`
				Start          *time.Time `json:"startDateTime"`
				End            *time.Time `json:"endDateTime"` // null: permanent
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				return fmt.Errorf("graph: roleAssignmentScheduleInstances: %w", err)
			}
			out = append(out, Assignment{ID: in.ID, RoleID: in.RoleID, PrincipalID: in.PrincipalID,
				AssignmentType: in.AssignmentType, MemberType: in.MemberType, Start: deref(in.Start), End: deref(in.End)})
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WaitUsable polls the user's assignment instances (app-only) every PollInterval until one for
// roleID is in force, because PIM can take minutes after "Granted" before the role works. It
// returns ctx's error when ctx ends first. Throttling only slows the polling down.
func (c *Client) WaitUsable(ctx context.Context, userID, roleID string) (Assignment, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return Assignment{}, fmt.Errorf("graph: waiting for %s to become usable: %w", roleID, ctx.Err())
		case <-t.C:
		}
		wait := c.cfg.PollInterval
		as, err := c.ActiveAssignments(ctx, userID)
		var ge *Error
		switch {
		case err == nil:
			// Instances are current by definition; comparing their times with our clock would
			// only add clock skew.
			for _, a := range as {
				if a.RoleID == roleID {
					return a, nil
				}
			}
		case errors.Is(err, ErrThrottled) && errors.As(err, &ge):
			wait = max(wait, ge.RetryAfter)
		case ctx.Err() != nil:
			return Assignment{}, fmt.Errorf("graph: waiting for %s to become usable: %w", roleID, ctx.Err())
		default:
			return Assignment{}, err
		}
		t.Reset(wait)
	}
}
