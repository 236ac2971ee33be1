package graphtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Delegated permissions: what a user's sign-in may ask for (the consent the seed's Client.Scopes
// records) and what Graph accepts for the PIM calls made with a user's token.

// oidcScopes are the OpenID scopes MSAL adds to every request; they are not Graph permissions.
var oidcScopes = []string{"openid", "profile", "offline_access", "email"}

// requestedScopes reads the Graph permissions an authorize or token request asks for: resource
// scopes of Microsoft Graph ("https://graph.microsoft.com/X", the app id form, or a bare name),
// without the OpenID scopes. other lists scopes for any other resource.
func requestedScopes(scope string) (graph, other []string) {
	for _, s := range strings.Fields(scope) {
		if slices.Contains(oidcScopes, strings.ToLower(s)) {
			continue
		}
		name := s
		if i := strings.LastIndex(s, "/"); i >= 0 {
			res := strings.TrimSuffix(s[:i], "/")
			if !strings.EqualFold(res, GraphAudience) && !strings.EqualFold(res, graphAppID) {
				other = append(other, s)
				continue
			}
			name = s[i+1:]
		}
		if name != "" && !slices.Contains(graph, name) {
			graph = append(graph, name)
		}
	}
	return graph, other
}

// delegatedNeed is the delegated permissions, any one of which allows a call made with a user's
// token (reference §1, §3.5, §9); nil when this fake does not restrict the call.
func delegatedNeed(version, method string, p []string) []string {
	at := func(path ...string) bool {
		if len(p) < len(path) {
			return false
		}
		for i := range path {
			if !strings.EqualFold(p[i], path[i]) {
				return false
			}
		}
		return true
	}
	switch {
	case at("roleManagement", "directory", "roleAssignmentScheduleRequests"),
		version == "beta" && at("roleManagement", "directory", "roleAssignmentApprovals"):
		return []string{"RoleAssignmentSchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory"}
	case at("roleManagement", "directory", "roleEligibilityScheduleRequests") && method != http.MethodGet:
		return []string{"RoleEligibilitySchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory"}
	case at("identityGovernance", "privilegedAccess", "group", "assignmentScheduleRequests"),
		at("identityGovernance", "privilegedAccess", "group", "assignmentApprovals"):
		return []string{"PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup", "PrivilegedAccess.ReadWrite.AzureADGroup"}
	}
	return nil
}

// scopeAllows refuses, as PIM does, a user token that holds none of the delegated permissions
// the call needs: 403 with the real code inside the message (reference §3.2, field report).
func (t *Tenant) scopeAllows(c *gctx) bool {
	if c.caller == nil || c.caller.App {
		return true
	}
	need := delegatedNeed(c.version, c.r.Method, c.parts)
	if need == nil || slices.ContainsFunc(need, func(s string) bool { return slices.Contains(c.caller.Scopes, s) }) {
		return true
	}
	msg, _ := json.Marshal(map[string]string{"errorCode": "PermissionScopeNotGranted",
		"message": "Authorization failed due to missing permission scope " + strings.Join(need, ",") + "."})
	c.fail(http.StatusForbidden, "UnknownError", string(msg))
	return false
}
