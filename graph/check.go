package graph

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
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
	{Name: "RoleManagementPolicy.Read.AzureADGroup", For: "read PIM for Groups settings (the maximum a group membership allows; without it Elevate's cap is shown and PIM enforces its own)", Optional: true},
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

// GraphAppID is Microsoft Graph's application id: its service principal in every tenant holds
// the application permissions (appRoles) and delegated permissions (oauth2PermissionScopes).
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// Consent is what an admin has consented to for Elevate's app registration, as the directory
// records it.
type Consent struct {
	ServicePrincipalID string // Elevate's service principal (enterprise application) object id
	DisplayName        string
	// AppPermissions are the Graph application permissions assigned (appRoleAssignments).
	AppPermissions []string
	// Delegated are the Graph delegated permissions consented for all users (oauth2PermissionGrants
	// with consentType AllPrincipals).
	Delegated []string
	// RoleIDs and ScopeIDs are Graph's ids of its application and delegated permissions by
	// name (one name can be both, with different ids), for the exact commands that add one.
	RoleIDs, ScopeIDs map[string]string
}

// ErrNoServicePrincipal: the app registration has no service principal in the tenant (nobody
// consented to it there yet).
var ErrNoServicePrincipal = errors.New("graph: the app has no service principal in this tenant")

// AppConsent reads Elevate's own service principal, its Graph application permissions and the
// tenant-wide consent to Graph delegated permissions. It needs Application.Read.All or
// Directory.Read.All.
func (c *Client) AppConsent(ctx context.Context) (Consent, error) {
	type sp struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		AppRoles    []struct {
			ID    string `json:"id"`
			Value string `json:"value"`
		} `json:"appRoles"`
		Scopes []struct {
			ID    string `json:"id"`
			Value string `json:"value"`
		} `json:"oauth2PermissionScopes"`
	}
	find := func(op, appID, sel string) (*sp, error) {
		var page struct {
			Value []sp `json:"value"`
		}
		u := c.v1("/servicePrincipals" + query("$filter", "appId eq "+odataQuote(appID), "$select", sel))
		if err := c.send(ctx, c.app, op, abstractions.GET, u, nil, &page, false); err != nil {
			return nil, err
		}
		if len(page.Value) == 0 {
			return nil, nil
		}
		return &page.Value[0], nil
	}
	mine, err := find("GET servicePrincipals (Elevate)", c.cfg.ClientID, "id,appId,displayName")
	if err != nil {
		return Consent{}, err
	}
	if mine == nil {
		return Consent{}, ErrNoServicePrincipal
	}
	gsp, err := find("GET servicePrincipals (Microsoft Graph)", GraphAppID, "id,appId,appRoles,oauth2PermissionScopes")
	if err != nil {
		return Consent{}, err
	}
	if gsp == nil {
		return Consent{}, errors.New("graph: Microsoft Graph's service principal was not found in the tenant")
	}
	out := Consent{ServicePrincipalID: mine.ID, DisplayName: mine.DisplayName, RoleIDs: map[string]string{}, ScopeIDs: map[string]string{}}
	roleName := map[string]string{}
	for _, r := range gsp.AppRoles {
		roleName[r.ID] = r.Value
		out.RoleIDs[r.Value] = r.ID
	}
	for _, s := range gsp.Scopes {
		out.ScopeIDs[s.Value] = s.ID
	}
	err = c.list(ctx, c.app, "GET appRoleAssignments", c.v1("/servicePrincipals/"+url.PathEscape(mine.ID)+"/appRoleAssignments"), func(m json.RawMessage) error {
		var a struct {
			AppRoleID  string `json:"appRoleId"`
			ResourceID string `json:"resourceId"`
		}
		if err := json.Unmarshal(m, &a); err != nil {
			return err
		}
		if n, ok := roleName[a.AppRoleID]; ok && strings.EqualFold(a.ResourceID, gsp.ID) {
			out.AppPermissions = append(out.AppPermissions, n)
		}
		return nil
	})
	if err != nil {
		return Consent{}, err
	}
	err = c.list(ctx, c.app, "GET oauth2PermissionGrants", c.v1("/servicePrincipals/"+url.PathEscape(mine.ID)+"/oauth2PermissionGrants"), func(m json.RawMessage) error {
		var g struct {
			ConsentType string `json:"consentType"`
			ResourceID  string `json:"resourceId"`
			Scope       string `json:"scope"`
		}
		if err := json.Unmarshal(m, &g); err != nil {
			return err
		}
		if g.ConsentType == "AllPrincipals" && strings.EqualFold(g.ResourceID, gsp.ID) {
			for _, s := range strings.Fields(g.Scope) {
				if !slices.Contains(out.Delegated, s) {
					out.Delegated = append(out.Delegated, s)
				}
			}
		}
		return nil
	})
	if err != nil {
		return Consent{}, err
	}
	slices.Sort(out.AppPermissions)
	out.AppPermissions = slices.Compact(out.AppPermissions)
	slices.Sort(out.Delegated)
	return out, nil
}

// PIMPlans are the service plans that license PIM: Microsoft Entra ID P2 and Microsoft Entra ID
// Governance (also part of Microsoft Entra Suite), by servicePlanName.
var PIMPlans = map[string]string{
	"AAD_PREMIUM_P2":            "Microsoft Entra ID P2",
	"Entra_Identity_Governance": "Microsoft Entra ID Governance",
}

// Licence is the subscription that licenses PIM in the tenant.
type Licence struct {
	Plan    string // "AAD_PREMIUM_P2"
	Product string // "Microsoft Entra ID P2"
	SKU     string // the SKU's part number, e.g. "SPE_E5"
}

// ErrNoPIMLicence: no active subscription of the tenant has a service plan that licenses PIM.
var ErrNoPIMLicence = errors.New("graph: no Microsoft Entra ID P2 or Entra ID Governance licence")

// PIMLicence finds the subscription that licenses PIM among the tenant's subscribed SKUs: an
// enabled SKU (capabilityStatus Enabled or Warning, i.e. not suspended) with a PIMPlans service
// plan that is not disabled. It needs Organization.Read.All, LicenseAssignment.Read.All or
// Directory.Read.All.
func (c *Client) PIMLicence(ctx context.Context) (Licence, error) {
	var found *Licence
	err := c.list(ctx, c.app, "GET subscribedSkus", c.v1("/subscribedSkus"), func(m json.RawMessage) error {
		var s struct {
			CapabilityStatus string `json:"capabilityStatus"`
			SKUPartNumber    string `json:"skuPartNumber"`
			ServicePlans     []struct {
				Name   string `json:"servicePlanName"`
				Status string `json:"provisioningStatus"`
			} `json:"servicePlans"`
		}
		if err := json.Unmarshal(m, &s); err != nil {
			return err
		}
		if found != nil || (s.CapabilityStatus != "Enabled" && s.CapabilityStatus != "Warning") {
			return nil
		}
		for _, p := range s.ServicePlans {
			if prod, ok := PIMPlans[p.Name]; ok && p.Status != "Disabled" {
				found = &Licence{Plan: p.Name, Product: prod, SKU: s.SKUPartNumber}
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return Licence{}, err
	}
	if found == nil {
		return Licence{}, ErrNoPIMLicence
	}
	return *found, nil
}

// AppToken gets an app-only Graph token with the configured credential: proof that the client
// secret or managed identity works. The token itself is not returned.
func (c *Client) AppToken(ctx context.Context) error {
	_, err := c.appCred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.resource + "/.default"}})
	return err
}

// ReachAuthority fetches the tenant's OpenID configuration from the authority host through the
// configured HTTP client: the network path, TLS trust and tenant id, before any credential is
// tried, so that a failure names its cause (a proxy's certificate, an unknown tenant).
func (c *Client) ReachAuthority(ctx context.Context) error {
	u := strings.TrimRight(c.cfg.AuthorityHost, "/") + "/" + url.PathEscape(c.cfg.TenantID) + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		if r, ok := parseEntraError(body); ok {
			return r
		}
		return fmt.Errorf("%s answered %s", u, resp.Status)
	}
	return nil
}

// EntraError is a refusal from Entra's sign-in or token endpoint, with its AADSTS code.
type EntraError struct {
	Code        string // "invalid_client"
	AADSTS      string // "7000215"
	Description string // the description's first sentence, without the trace and correlation ids
}

func (e *EntraError) Error() string {
	if e.AADSTS == "" {
		return e.Code + ": " + e.Description
	}
	return "AADSTS" + e.AADSTS + ": " + e.Description
}

// Meaning says in plain words what the AADSTS code means and what fixes it, when known.
func (e *EntraError) Meaning() string { return AADSTSMeaning(e.AADSTS) }

var aadstsMeanings = map[string]string{
	"7000215": "the client secret is wrong: use the secret's Value (shown once when it is created), not its Secret ID",
	"7000222": "the client secret has expired: create a new one",
	"700016":  "no application with this client id exists in this tenant: check the client id and the tenant",
	"90002":   "the tenant was not found: check the tenant id",
	"900023":  "the tenant id is not a valid tenant id or domain",
	"7000112": "the application is disabled in this tenant",
	"700027":  "the client assertion (certificate) is not valid",
	"70011":   "the scope asked for is not valid for this resource",
	"65001":   "an admin has not consented to the permissions asked for",
	"53003":   "a Conditional Access policy blocked the sign-in",
}

// AADSTSMeaning is what an AADSTS code (digits only) means and what fixes it; "" when unknown.
func AADSTSMeaning(code string) string { return aadstsMeanings[code] }

var aadstsRe = regexp.MustCompile(`^AADSTS(\d+):\s*`)

// ParseEntraError reads an Entra error description such as "AADSTS7000215: Invalid client secret
// provided. Ensure ... Trace ID: ..." into its code and first sentence.
func ParseEntraError(code, description string) *EntraError {
	e := &EntraError{Code: code}
	d := strings.TrimSpace(description)
	if m := aadstsRe.FindStringSubmatch(d); m != nil {
		e.AADSTS = m[1]
		d = d[len(m[0]):]
	}
	d, _, _ = strings.Cut(d, "\n")
	d, _, _ = strings.Cut(d, "\r")
	for _, cut := range []string{" Trace ID:", " Correlation ID:", " Timestamp:"} {
		d, _, _ = strings.Cut(d, cut)
	}
	if i := strings.Index(d, ". "); i > 0 {
		d = d[:i+1]
	}
	e.Description = strings.TrimSpace(d)
	return e
}

func parseEntraError(body []byte) (*EntraError, bool) {
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &b) != nil || (b.Error == "" && b.Description == "") {
		return nil, false
	}
	return ParseEntraError(b.Error, b.Description), true
}

// AsEntraError finds Entra's refusal in err: an *EntraError, or the token endpoint's answer
// inside azidentity's error. nil when err carries none.
func AsEntraError(err error) *EntraError {
	var ee *EntraError
	if errors.As(err, &ee) {
		return ee
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		if body, rerr := runtime.Payload(af.RawResponse); rerr == nil {
			if e, ok := parseEntraError(body); ok {
				return e
			}
		}
	}
	return nil
}

// Cause is the one line that says why a credential or Graph call failed: Entra's AADSTS code
// and its meaning instead of azidentity's full response dump, a TLS failure as the x509 error
// it is, Graph's own error code. It never includes a token or secret.
func Cause(err error) string {
	if err == nil {
		return ""
	}
	if ee := AsEntraError(err); ee != nil {
		if m := ee.Meaning(); m != "" {
			return ee.Error() + " (" + m + ")"
		}
		return ee.Error()
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		// Not an Entra error body: say who answered (a managed identity endpoint, a proxy).
		where := "the token endpoint"
		if r := af.RawResponse.Request; r != nil && r.URL != nil {
			where = r.URL.Scheme + "://" + r.URL.Host + r.URL.Path
		}
		return fmt.Sprintf("%s answered %s", where, af.RawResponse.Status)
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ua):
		return ua.Error()
	case errors.As(err, &hn):
		return hn.Error()
	case errors.As(err, &ci):
		return ci.Error()
	case errors.As(err, &cv):
		return cv.Error()
	}
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Error()
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// ErrNoApplication: the tenant has no app registration with Elevate's client id (an app
// registered in another tenant, used here through its service principal only).
var ErrNoApplication = errors.New("graph: no app registration with this client id in the tenant")

// RedirectURIs are the app registration's Web platform redirect URIs: where Entra may send a
// user's browser back with an authorization code for a confidential client. It needs
// Application.Read.All or Directory.Read.All.
func (c *Client) RedirectURIs(ctx context.Context) ([]string, error) {
	var page struct {
		Value []struct {
			Web struct {
				RedirectURIs []string `json:"redirectUris"`
			} `json:"web"`
		} `json:"value"`
	}
	u := c.v1("/applications" + query("$filter", "appId eq "+odataQuote(c.cfg.ClientID), "$select", "id,appId,web"))
	if err := c.send(ctx, c.app, "GET applications", abstractions.GET, u, nil, &page, false); err != nil {
		return nil, err
	}
	if len(page.Value) == 0 {
		return nil, ErrNoApplication
	}
	return page.Value[0].Web.RedirectURIs, nil
}
