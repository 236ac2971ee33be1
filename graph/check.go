package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// What `elevate check` asks of Graph: the application permissions actually granted (the roles
// claim of the app's own token) against those Elevate needs, and whether each endpoint answers.

// Permission is an application permission Elevate uses, and what it is for.
type Permission struct {
	Name      string
	For       string   // in plain words
	Optional  bool     // Elevate works without it, doing less
	CoveredBy []string // broader permissions that include it
}

// Permissions are the application permissions Elevate asks for: read-only, plus an optional
// removal-only one. It never needs a permission that can grant a role.
var Permissions = []Permission{
	{Name: "RoleManagement.Read.Directory", For: "read eligible and active role assignments and role definitions",
		CoveredBy: []string{"RoleManagement.ReadWrite.Directory"}},
	{Name: "RoleManagementPolicy.Read.Directory", For: "read each role's PIM settings (maximum duration, approval)",
		CoveredBy: []string{"RoleManagementPolicy.ReadWrite.Directory"}},
	{Name: "User.Read.All", For: "look users up by sign-in name", CoveredBy: []string{"Directory.Read.All", "User.ReadWrite.All"}},
	{Name: "GroupMember.Read.All", For: "check approver groups and roles held through groups",
		CoveredBy: []string{"Directory.Read.All", "Group.Read.All"}},
	{Name: "AuditLog.Read.All", For: "see activations made outside Elevate and break-glass sign-ins"},
	{Name: "Directory.Read.All", For: "read the sign-in log (Graph requires it with AuditLog.Read.All)"},
	{Name: "PrivilegedAccess.Read.AzureADGroup", For: "list PIM for Groups eligibilities (only with groups in the config)", Optional: true,
		CoveredBy: []string{"PrivilegedEligibilitySchedule.Read.AzureADGroup", "PrivilegedAccess.ReadWrite.AzureADGroup"}},
	{Name: "RoleEligibilitySchedule.Remove.Directory", For: "apply access-review removals without an admin's sign-in (removal only)", Optional: true,
		CoveredBy: []string{"RoleEligibilitySchedule.ReadWrite.Directory"}},
}

// tooBroad are application permissions Elevate must not hold: with them the app could grant a
// role by itself, which breaks "PIM stays the system of record".
var tooBroad = []string{"RoleManagement.ReadWrite.Directory", "RoleAssignmentSchedule.ReadWrite.Directory",
	"RoleEligibilitySchedule.ReadWrite.Directory", "PrivilegedAccess.ReadWrite.AzureADGroup", "Directory.ReadWrite.All"}

// Grants compares granted permissions with Permissions: what is missing, what is optional and
// missing, and what is granted but broader than Elevate should have.
func Grants(granted []string) (missing, optional []Permission, excess []string) {
	has := func(p Permission) bool {
		return slices.Contains(granted, p.Name) || slices.ContainsFunc(p.CoveredBy, func(c string) bool { return slices.Contains(granted, c) })
	}
	for _, p := range Permissions {
		switch {
		case has(p):
		case p.Optional:
			optional = append(optional, p)
		default:
			missing = append(missing, p)
		}
	}
	for _, g := range granted {
		if slices.Contains(tooBroad, g) {
			excess = append(excess, g)
		}
	}
	return missing, optional, excess
}

// GrantedPermissions returns the application permissions in the app's own token (its roles
// claim): what an admin has actually consented to, as Entra issues it.
func (c *Client) GrantedPermissions(ctx context.Context) ([]string, error) {
	tok, err := c.appCred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.resource + "/.default"}})
	if err != nil {
		return nil, fmt.Errorf("graph: app token: %w: %w", ErrUnauthorized, err)
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		return nil, errors.New("graph: the app token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("graph: app token: %w", err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		return nil, fmt.Errorf("graph: app token: %w", err)
	}
	slices.Sort(claims.Roles)
	return claims.Roles, nil
}

// Probe is one endpoint `elevate check` tried.
type Probe struct {
	Name    string // what it reads, in plain words
	Path    string
	Err     error // nil: reached and answered
	Elapsed time.Duration
}

// Probes reads one item from each endpoint Elevate reads with the app identity.
func (c *Client) Probes(ctx context.Context, withGroups bool) []Probe {
	paths := []struct{ name, path string }{
		{"role definitions", "/roleManagement/directory/roleDefinitions?$top=1"},
		{"eligible role assignments", "/roleManagement/directory/roleEligibilityScheduleInstances?$top=1"},
		{"active role assignments", "/roleManagement/directory/roleAssignmentScheduleInstances?$top=1"},
		{"PIM role settings", "/policies/roleManagementPolicyAssignments" + query("$filter", "scopeId eq '/' and scopeType eq 'DirectoryRole'", "$top", "1")},
		{"users", "/users?$top=1"},
		{"directory audit log", "/auditLogs/directoryAudits?$top=1"},
		{"sign-in log", "/auditLogs/signIns?$top=1"},
	}
	if withGroups {
		paths = append(paths, struct{ name, path string }{"PIM for Groups eligibilities",
			groupBase + "/eligibilityScheduleInstances" + query("$filter", "principalId eq '00000000-0000-0000-0000-000000000000'")})
	}
	var out []Probe
	for _, p := range paths {
		start := time.Now()
		var v json.RawMessage
		err := c.send(ctx, c.app, "GET "+p.name, abstractions.GET, c.v1(p.path), nil, &v, false)
		out = append(out, Probe{Name: p.name, Path: "/v1.0" + p.path, Err: err, Elapsed: time.Since(start)})
	}
	return out
}
