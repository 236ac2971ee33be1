package graphtest

import (
	"crypto/sha256"
	"net/http"
	"slices"
	"strings"
)

// The directory's record of consent and licences: service principals with their application
// permission assignments (appRoleAssignments) and delegated permission grants
// (oauth2PermissionGrants), and the tenant's subscriptions (subscribedSkus), in Graph's v1.0
// wire format. Elevate's app's grants are the seed's Client.Roles and Client.Scopes, so what a
// test consents is what tokens carry and what these endpoints report.

// GraphAppID is Microsoft Graph's application id.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// graphPermissions are the Graph permissions the fake's Microsoft Graph service principal
// publishes (as application roles and delegated scopes) besides any the seed names.
var graphPermissions = []string{
	"Application.Read.All", "AuditLog.Read.All", "DelegatedPermissionGrant.Read.All", "Directory.Read.All", "Directory.ReadWrite.All",
	"Group.Read.All", "GroupMember.Read.All", "LicenseAssignment.Read.All", "Organization.Read.All",
	"PrivilegedAccess.Read.AzureADGroup", "PrivilegedAccess.ReadWrite.AzureADGroup",
	"PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup", "PrivilegedEligibilitySchedule.Read.AzureADGroup",
	"RoleAssignmentSchedule.ReadWrite.Directory", "RoleEligibilitySchedule.Remove.Directory", "RoleEligibilitySchedule.ReadWrite.Directory",
	"RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory", "RoleManagementPolicy.Read.Directory",
	"RoleManagementPolicy.ReadWrite.Directory", "RoleManagementPolicy.Read.AzureADGroup", "User.Read", "User.Read.All", "User.ReadWrite.All",
}

// permID is the fake's stable id of a Graph permission of kind "role" or "scope" (Graph's own
// ids are fixed GUIDs too; clients must read them from the service principal, as Elevate does).
func permID(kind, name string) string {
	h := sha256.Sum256([]byte(kind + ":" + name))
	return guidFrom(h[:16])
}

func (t *Tenant) graphSPID() string {
	h := sha256.Sum256([]byte("sp:" + GraphAppID))
	return guidFrom(h[:16])
}

func (t *Tenant) routeDirectory(c *gctx) bool {
	p := c.parts
	if c.r.Method != http.MethodGet || c.version != "v1.0" {
		return false
	}
	switch {
	case len(p) == 1 && strings.EqualFold(p[0], "subscribedSkus"):
		if t.allowRead(c, "Organization.Read.All", "LicenseAssignment.Read.All", "Directory.Read.All") {
			t.listSubscribedSkus(c)
		}
	case len(p) == 1 && strings.EqualFold(p[0], "applications"):
		if t.allowRead(c, "Application.Read.All", "Directory.Read.All") {
			t.listApplications(c)
		}
	case len(p) == 1 && strings.EqualFold(p[0], "servicePrincipals"):
		if t.allowRead(c, "Application.Read.All", "Directory.Read.All") {
			t.listServicePrincipals(c)
		}
	case len(p) == 3 && strings.EqualFold(p[0], "servicePrincipals") && strings.EqualFold(p[2], "appRoleAssignments"):
		if t.allowRead(c, "Application.Read.All", "Directory.Read.All") {
			t.listAppRoleAssignments(c, p[1])
		}
	case len(p) == 3 && strings.EqualFold(p[0], "servicePrincipals") && strings.EqualFold(p[2], "oauth2PermissionGrants"):
		if t.allowRead(c, "DelegatedPermissionGrant.Read.All", "Directory.Read.All") {
			t.listPermissionGrants(c, p[1])
		}
	default:
		return false
	}
	return true
}

// allowRead refuses, as Graph does, a caller holding none of the permissions that allow a read.
func (t *Tenant) allowRead(c *gctx, any ...string) bool {
	have := c.caller.Roles
	if !c.caller.App {
		have = c.caller.Scopes
	}
	for _, p := range any {
		if slices.Contains(have, p) {
			return true
		}
	}
	c.fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	return false
}

func (t *Tenant) listServicePrincipals(c *gctx) {
	conds, err := parseFilter(c.r.URL.Query().Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	t.mu.Lock()
	cl := t.seed.Client
	t.mu.Unlock()
	var names []string
	names = append(names, graphPermissions...)
	for _, n := range append(slices.Clone(cl.Roles), cl.Scopes...) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var roles, scopes []any
	for _, n := range names {
		roles = append(roles, map[string]any{"id": permID("role", n), "value": n, "isEnabled": true,
			"allowedMemberTypes": []string{"Application"}, "displayName": n, "description": n})
		scopes = append(scopes, map[string]any{"id": permID("scope", n), "value": n, "isEnabled": true, "type": "Admin",
			"adminConsentDisplayName": n, "adminConsentDescription": n})
	}
	all := []map[string]any{
		{"id": t.graphSPID(), "appId": GraphAppID, "displayName": "Microsoft Graph", "servicePrincipalType": "Application",
			"appRoles": roles, "oauth2PermissionScopes": scopes},
		{"id": cl.ObjectID, "appId": cl.ClientID, "displayName": or(cl.DisplayName, "Elevate"), "servicePrincipalType": "Application",
			"appRoles": []any{}, "oauth2PermissionScopes": []any{}},
	}
	var out []any
	for _, sp := range all {
		ok, err := matchAll(conds, func(field string) (string, bool) {
			switch strings.ToLower(field) {
			case "appid":
				return sp["appId"].(string), true
			case "id":
				return sp["id"].(string), true
			case "displayname":
				return sp["displayName"].(string), true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		if ok {
			out = append(out, selectFields(sp, c.r.URL.Query().Get("$select")))
		}
	}
	c.json(http.StatusOK, map[string]any{"@odata.context": c.context("servicePrincipals"), "value": nonNil(out)})
}

// selectFields keeps the fields $select names (and id), as Graph does; all when sel is empty.
func selectFields(m map[string]any, sel string) map[string]any {
	if sel == "" {
		return m
	}
	out := map[string]any{"id": m["id"]}
	for _, f := range strings.Split(sel, ",") {
		for k, v := range m {
			if strings.EqualFold(k, strings.TrimSpace(f)) {
				out[k] = v
			}
		}
	}
	return out
}

func (t *Tenant) listAppRoleAssignments(c *gctx, spID string) {
	t.mu.Lock()
	cl := t.seed.Client
	t.mu.Unlock()
	var out []any
	switch {
	case strings.EqualFold(spID, cl.ObjectID):
		for _, r := range cl.Roles {
			out = append(out, map[string]any{"id": permID("assignment:"+cl.ObjectID, r), "appRoleId": permID("role", r),
				"principalId": cl.ObjectID, "principalType": "ServicePrincipal", "principalDisplayName": or(cl.DisplayName, "Elevate"),
				"resourceId": t.graphSPID(), "resourceDisplayName": "Microsoft Graph", "createdDateTime": "2026-01-01T00:00:00Z", "deletedDateTime": nil})
		}
	case strings.EqualFold(spID, t.graphSPID()):
	default:
		t.spNotFound(c, spID)
		return
	}
	c.json(http.StatusOK, map[string]any{"@odata.context": c.context("servicePrincipals('" + spID + "')/appRoleAssignments"), "value": nonNil(out)})
}

func (t *Tenant) listPermissionGrants(c *gctx, spID string) {
	t.mu.Lock()
	cl := t.seed.Client
	t.mu.Unlock()
	var out []any
	switch {
	case strings.EqualFold(spID, cl.ObjectID):
		if len(cl.Scopes) > 0 {
			out = append(out, map[string]any{"id": permID("grant:"+cl.ObjectID, "AllPrincipals"), "clientId": cl.ObjectID,
				"consentType": "AllPrincipals", "principalId": nil, "resourceId": t.graphSPID(), "scope": " " + strings.Join(cl.Scopes, " ") + " "})
		}
	case strings.EqualFold(spID, t.graphSPID()):
	default:
		t.spNotFound(c, spID)
		return
	}
	c.json(http.StatusOK, map[string]any{"@odata.context": c.context("oauth2PermissionGrants"), "value": nonNil(out)})
}

func (t *Tenant) spNotFound(c *gctx, id string) {
	c.fail(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

// defaultSkus: one Microsoft Entra ID P2 subscription.
var defaultSkus = []Sku{{PartNumber: "AAD_PREMIUM_P2", Plans: []string{"AAD_PREMIUM_P2", "MFA_PREMIUM", "AAD_PREMIUM"}}}

// SetSubscribedSkus replaces the tenant's subscriptions (none when called with no argument).
func (t *Tenant) SetSubscribedSkus(skus ...Sku) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seed.SubscribedSkus = append([]Sku{}, skus...)
}

func (t *Tenant) listSubscribedSkus(c *gctx) {
	t.mu.Lock()
	skus := t.seed.SubscribedSkus
	if skus == nil {
		skus = defaultSkus
	}
	skus = slices.Clone(skus)
	tenant := t.seed.TenantID
	t.mu.Unlock()
	var out []any
	for _, s := range skus {
		var plans []any
		for _, p := range s.Plans {
			plans = append(plans, map[string]any{"servicePlanId": permID("plan", p), "servicePlanName": p,
				"provisioningStatus": "Success", "appliesTo": "User"})
		}
		skuID := permID("sku", s.PartNumber)
		out = append(out, map[string]any{"accountId": tenant, "appliesTo": "User", "capabilityStatus": or(s.Status, "Enabled"),
			"consumedUnits": 1, "id": tenant + "_" + skuID, "skuId": skuID, "skuPartNumber": s.PartNumber,
			"prepaidUnits": map[string]any{"enabled": 25, "suspended": 0, "warning": 0, "lockedOut": 0}, "servicePlans": nonNil(plans)})
	}
	c.json(http.StatusOK, map[string]any{"@odata.context": c.context("subscribedSkus"), "value": nonNil(out)})
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func nonNil(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// listApplications lists the seeded app registration (the tenant's only one), with its Web
// redirect URIs. A seed without redirect_uris lists none, although its sign-in then accepts any.
func (t *Tenant) listApplications(c *gctx) {
	conds, err := parseFilter(c.r.URL.Query().Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	t.mu.Lock()
	cl := t.seed.Client
	t.mu.Unlock()
	h := sha256.Sum256([]byte("app:" + cl.ClientID))
	app := map[string]any{"id": guidFrom(h[:16]), "appId": cl.ClientID, "displayName": or(cl.DisplayName, "Elevate"),
		"signInAudience": "AzureADMyOrg", "web": map[string]any{"redirectUris": append([]string{}, cl.RedirectURIs...),
			"homePageUrl": nil, "logoutUrl": nil, "implicitGrantSettings": map[string]any{"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}},
		"spa": map[string]any{"redirectUris": []string{}}, "publicClient": map[string]any{"redirectUris": []string{}}}
	var out []any
	ok, err := matchAll(conds, func(field string) (string, bool) {
		switch strings.ToLower(field) {
		case "appid":
			return cl.ClientID, true
		case "id":
			return app["id"].(string), true
		}
		return "", false
	})
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if ok {
		out = append(out, selectFields(app, c.r.URL.Query().Get("$select")))
	}
	c.json(http.StatusOK, map[string]any{"@odata.context": c.context("applications"), "value": nonNil(out)})
}
