package graphtest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// gctx is one Graph request being served.
type gctx struct {
	w        http.ResponseWriter
	r        *http.Request
	reqID    string
	date     time.Time
	version  string   // v1.0 or beta
	parts    []string // path segments after the version
	body     []byte
	caller   *caller
	status   int
	base     string // http://127.0.0.1:PORT, for absolute next links
	pageSize int    // 0: one page
}

func (c *gctx) json(status int, v any) {
	c.status = status
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	_ = json.NewEncoder(c.w).Encode(v)
}

// fail answers with the Graph error shape (reference §10.1).
func (c *gctx) fail(status int, code, msg string) {
	inner := map[string]any{"request-id": c.reqID, "client-request-id": c.reqID, "date": c.date.UTC().Format("2006-01-02T15:04:05")}
	if status == http.StatusTooManyRequests {
		inner["code"] = "429"
		inner["status"] = "429"
		inner["message"] = "Please retry after"
	}
	c.json(status, map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": inner}})
}

func (c *gctx) context(entity string) string {
	return "https://graph.microsoft.com/" + c.version + "/$metadata#" + entity
}

func (t *Tenant) serveGraph(w http.ResponseWriter, r *http.Request) {
	c := &gctx{w: w, r: r, reqID: newID(), date: t.now(), base: t.graph.URL, pageSize: t.pageSize}
	w.Header().Set("request-id", c.reqID)
	if id := r.Header.Get("client-request-id"); id != "" {
		w.Header().Set("client-request-id", id)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	c.body = raw
	defer func() {
		t.mu.Lock()
		t.calls = append(t.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Body: string(c.body), Caller: c.caller.String(), Status: c.status})
		t.mu.Unlock()
	}()
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "The request body could not be read.")
		return
	}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") && len(raw) > 0 {
		// Strict like Graph: a body labelled gzip that is not gzip (kiota-http-go #183, a retried
		// POST) is refused rather than guessed at.
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			c.body = raw
			c.fail(http.StatusBadRequest, "BadRequest", "The request body is labelled Content-Encoding: gzip but is not gzip.")
			return
		}
		c.body, err = io.ReadAll(io.LimitReader(zr, 1<<20))
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", "The gzip request body is corrupt.")
			return
		}
	}

	t.mu.Lock()
	throttled := t.throttle > 0
	if throttled {
		t.throttle--
	}
	t.mu.Unlock()
	if throttled {
		w.Header().Set("Retry-After", "0")
		c.fail(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		return
	}

	authz := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	c.caller, err = t.verify(strings.TrimSpace(tok))
	if err != nil {
		c.caller = nil
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. "+err.Error())
		return
	}

	p := strings.Trim(r.URL.Path, "/")
	segs := strings.Split(p, "/")
	if len(segs) < 2 || (segs[0] != "v1.0" && segs[0] != "beta") {
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("Invalid version: %s", segs[0]))
		return
	}
	c.version, c.parts = segs[0], segs[1:]
	if f := t.takeFault(c); f != nil && t.serveFault(c, f) {
		return
	}
	t.mu.Lock()
	down, downStatus, lose := t.outage > 0, t.outageStatus, t.lose > 0 && r.Method != http.MethodGet
	if down {
		t.outage--
	}
	if lose {
		t.lose--
	}
	t.mu.Unlock()
	if down {
		c.fail(downStatus, "ServiceUnavailable", "The service is temporarily unavailable.")
		return
	}
	if lose {
		// The write is processed, but its answer never reaches the client: a gateway timeout.
		rec := httptest.NewRecorder()
		c.w = rec
		t.route(c)
		c.w = w
		if t.stateFile != "" {
			t.mu.Lock()
			t.saveState()
			t.mu.Unlock()
		}
		c.fail(http.StatusGatewayTimeout, "GatewayTimeout", "The gateway timed out.")
		return
	}
	if t.stateFile != "" && r.Method != http.MethodGet {
		t.routeDurably(c)
		return
	}
	t.route(c)
}

func (t *Tenant) route(c *gctx) {
	if !t.scopeAllows(c) {
		return
	}
	p, m := c.parts, c.r.Method
	is := func(method string, path ...string) bool {
		if m != method || len(p) != len(path) {
			return false
		}
		for i := range path {
			if path[i] != "*" && !strings.EqualFold(path[i], p[i]) {
				return false
			}
		}
		return true
	}
	const rd = "roleManagement"
	switch {
	case is("GET", "users"):
		t.listUsers(c)
	case is("GET", "users", "*"):
		t.getUser(c, p[1])
	case is("POST", "users", "*", "checkMemberGroups"):
		t.checkMemberGroups(c, p[1])
	case is("GET", "users", "*", "transitiveMemberOf"),
		is("GET", "users", "*", "transitiveMemberOf", "microsoft.graph.group"),
		is("GET", "users", "*", "transitiveMemberOf", "graph.group"):
		t.transitiveMemberOf(c, p[1])
	case is("GET", "auditLogs", "signIns"):
		t.listSignIns(c)
	case is("GET", "auditLogs", "directoryAudits"):
		t.listDirectoryAudits(c)
	case is("GET", "groups", "*"):
		t.getGroup(c, p[1])
	case is("GET", "groups", "*", "transitiveMembers"), is("GET", "groups", "*", "transitiveMembers", "microsoft.graph.user"),
		is("GET", "groups", "*", "transitiveMembers", "graph.user"):
		t.transitiveMembers(c, p[1])
	case t.routeGroups(c):
	case t.routeDirectory(c):
	case is("GET", rd, "directory", "roleDefinitions"):
		t.listRoleDefinitions(c)
	case is("GET", rd, "directory", "roleDefinitions", "*"):
		t.getRoleDefinition(c, p[3])
	case is("GET", rd, "directory", "roleEligibilityScheduleInstances"):
		t.listEligibilityInstances(c)
	case is("GET", rd, "directory", "roleAssignmentScheduleInstances"):
		t.listAssignmentInstances(c)
	case is("GET", "policies", "roleManagementPolicyAssignments"):
		t.listPolicyAssignments(c)
	case is("POST", rd, "directory", "roleAssignmentScheduleRequests"):
		t.createScheduleRequest(c)
	case is("POST", rd, "directory", "roleEligibilityScheduleRequests"):
		t.createEligibilityRequest(c)
	case is("GET", rd, "directory", "roleAssignmentScheduleRequests", "*"):
		t.getScheduleRequest(c, p[3])
	case is("POST", rd, "directory", "roleAssignmentScheduleRequests", "*", "cancel"):
		t.cancelScheduleRequest(c, p[3])
	case c.version == "beta" && is("GET", rd, "directory", "roleAssignmentApprovals", "*"):
		t.getApproval(c, p[3])
	case c.version == "beta" && is("PATCH", rd, "directory", "roleAssignmentApprovals", "*", "steps", "*"):
		t.patchApprovalStep(c, p[3], p[5])
	default:
		c.fail(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("Resource not found for the segment '%s'.", p[len(p)-1]))
	}
}

func userJSON(u *User) map[string]any {
	var mail any
	if u.Mail != "" {
		mail = u.Mail
	}
	return map[string]any{
		"@odata.type": "#microsoft.graph.user", "id": u.ID, "userPrincipalName": u.UPN,
		"displayName": u.DisplayName, "mail": mail, "proxyAddresses": append([]string{}, u.ProxyAddresses...),
	}
}

func groupJSON(g *group) map[string]any {
	return map[string]any{
		"@odata.type": "#microsoft.graph.group", "id": g.ID, "displayName": g.DisplayName,
		"securityEnabled": true, "mailEnabled": false, "isAssignableToRole": true,
	}
}

func (t *Tenant) userNotFound(c *gctx, ref string) {
	c.fail(http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", ref))
}

func (t *Tenant) getUser(c *gctx, ref string) {
	t.mu.Lock()
	u := t.st.user(ref)
	t.mu.Unlock()
	if u == nil {
		t.userNotFound(c, ref)
		return
	}
	out := userJSON(u)
	delete(out, "@odata.type")
	out["@odata.context"] = c.context("users/$entity")
	c.json(http.StatusOK, out)
}

func (t *Tenant) listUsers(c *gctx) {
	conds, err := parseFilter(c.r.URL.Query().Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []any
	for _, u := range t.sortedUsers() {
		ok, err := matchAll(conds, func(field string) (string, bool) {
			switch strings.ToLower(field) {
			case "mail":
				return u.Mail, true
			case "userprincipalname":
				return u.UPN, true
			case "id":
				return u.ID, true
			case "displayname":
				return u.DisplayName, true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "Request_UnsupportedQuery", err.Error())
			return
		}
		if ok {
			v := userJSON(u)
			delete(v, "@odata.type")
			out = append(out, v)
		}
	}
	c.page(c.context("users"), out)
}

func (t *Tenant) sortedUsers() []*User {
	out := make([]*User, 0, len(t.st.users))
	for _, u := range t.seed.Users {
		if x := t.st.users[strings.ToLower(u.ID)]; x != nil {
			out = append(out, x)
		}
	}
	return out
}

func collection(ctx string, items []any) map[string]any {
	if items == nil {
		items = []any{}
	}
	return map[string]any{"@odata.context": ctx, "value": items}
}

// page answers a collection one page at a time: $top or the tenant's page size (WithPageSize)
// bounds a page, and @odata.nextLink is an absolute URL on this server carrying $skiptoken, as the
// SDK's PageIterator expects (reference §10.5).
func (c *gctx) page(ctx string, items []any) {
	q := c.r.URL.Query()
	size := c.pageSize
	if top := q.Get("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 || n > 999 {
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", top))
			return
		}
		size = n
	}
	skip := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "skip:"))
		if err != nil || err2 != nil || n < 0 {
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid $skiptoken.")
			return
		}
		skip = min(n, len(items))
	}
	items = items[skip:]
	out := collection(ctx, nil)
	if size > 0 && len(items) > size {
		q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("skip:"+strconv.Itoa(skip+size))))
		out["@odata.nextLink"] = c.base + c.r.URL.Path + "?" + q.Encode()
		items = items[:size]
	}
	if len(items) > 0 {
		out["value"] = items
	}
	c.json(http.StatusOK, out)
}

func (t *Tenant) checkMemberGroups(c *gctx, ref string) {
	var body struct {
		GroupIDs []string `json:"groupIds"`
	}
	if err := json.Unmarshal(c.body, &body); err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return
	}
	if len(body.GroupIDs) > 20 {
		c.fail(http.StatusBadRequest, "Request_BadRequest", "The number of groupIds must not exceed 20.")
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.st.user(ref)
	if u == nil {
		t.userNotFound(c, ref)
		return
	}
	out := []any{}
	for _, g := range body.GroupIDs {
		if t.st.inGroup(u.ID, strings.ToLower(g), map[string]bool{}) {
			out = append(out, g)
		}
	}
	c.json(http.StatusOK, collection(c.context("Collection(Edm.String)"), out))
}

func (t *Tenant) transitiveMemberOf(c *gctx, ref string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.st.user(ref)
	if u == nil {
		t.userNotFound(c, ref)
		return
	}
	var out []any
	for _, g := range t.st.groupsOf(u.ID) {
		out = append(out, groupJSON(g))
	}
	c.page(c.context("groups"), out)
}

func (t *Tenant) getGroup(c *gctx, id string) {
	t.mu.Lock()
	g := t.st.groups[strings.ToLower(id)]
	t.mu.Unlock()
	if g == nil {
		t.userNotFound(c, id)
		return
	}
	out := groupJSON(g)
	delete(out, "@odata.type")
	out["@odata.context"] = c.context("groups/$entity")
	c.json(http.StatusOK, out)
}

func roleJSON(r RoleDef) map[string]any {
	return map[string]any{
		"id": r.ID, "displayName": r.DisplayName, "templateId": r.ID, "isBuiltIn": true, "isEnabled": true,
		"description": r.DisplayName + " role", "version": "1",
	}
}

func (t *Tenant) listRoleDefinitions(c *gctx) {
	conds, err := parseFilter(c.r.URL.Query().Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []any
	for _, id := range t.st.roleOrder {
		r := t.st.roles[id]
		ok, err := matchAll(conds, func(f string) (string, bool) {
			switch strings.ToLower(f) {
			case "displayname":
				return r.DisplayName, true
			case "id", "templateid":
				return r.ID, true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		if ok {
			out = append(out, roleJSON(r))
		}
	}
	c.page(c.context("roleManagement/directory/roleDefinitions"), out)
}

func (t *Tenant) getRoleDefinition(c *gctx, id string) {
	t.mu.Lock()
	r, ok := t.st.roles[strings.ToLower(id)]
	t.mu.Unlock()
	if !ok {
		c.fail(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist.", id))
		return
	}
	out := roleJSON(r)
	out["@odata.context"] = c.context("roleManagement/directory/roleDefinitions/$entity")
	c.json(http.StatusOK, out)
}

// expandSet parses $expand=a,b($expand=c) into top-level name → nested options.
func expandSet(s string) map[string]string {
	out := map[string]string{}
	depth, start := 0, 0
	add := func(item string) {
		item = strings.TrimSpace(item)
		if item == "" {
			return
		}
		name, nested, _ := strings.Cut(item, "(")
		out[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSuffix(nested, ")")
	}
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				add(s[start:i])
				start = i + 1
			}
		}
	}
	add(s[start:])
	return out
}

func timeJSON(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func timePtrJSON(t *time.Time) any {
	if t == nil {
		return nil
	}
	return timeJSON(*t)
}

func (t *Tenant) principalJSON(id string) any {
	if u := t.st.users[id]; u != nil {
		return userJSON(u)
	}
	if g := t.st.groups[id]; g != nil {
		return groupJSON(g)
	}
	return nil
}

func (t *Tenant) listEligibilityInstances(c *gctx) {
	q := c.r.URL.Query()
	conds, err := parseFilter(q.Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	exp := expandSet(q.Get("$expand"))
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []any
	for _, e := range t.st.elig {
		if e.Start.After(now) || (e.End != nil && !e.End.After(now)) {
			continue
		}
		ok, err := matchAll(conds, func(f string) (string, bool) {
			switch strings.ToLower(f) {
			case "principalid":
				return e.PrincipalID, true
			case "roledefinitionid":
				return e.RoleID, true
			case "directoryscopeid":
				return "/", true
			case "membertype":
				return "Direct", true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		if !ok {
			continue
		}
		v := map[string]any{
			"id": e.ID, "principalId": e.PrincipalID, "roleDefinitionId": e.RoleID,
			"directoryScopeId": "/", "appScopeId": nil, "startDateTime": timeJSON(e.Start),
			"endDateTime": timePtrJSON(e.End), "memberType": "Direct", "roleEligibilityScheduleId": e.ScheduleID,
		}
		t.expandInstance(v, exp, e.RoleID, e.PrincipalID)
		out = append(out, v)
	}
	c.page(c.context("roleManagement/directory/roleEligibilityScheduleInstances"), out)
}

func (t *Tenant) expandInstance(v map[string]any, exp map[string]string, roleID, principalID string) {
	if _, ok := exp["roledefinition"]; ok {
		if r, ok := t.st.roles[roleID]; ok {
			v["roleDefinition"] = roleJSON(r)
		} else {
			v["roleDefinition"] = nil
		}
	}
	if _, ok := exp["principal"]; ok {
		v["principal"] = t.principalJSON(principalID)
	}
}

// liveAssignments are the assignments whose instances exist now (provisioned and not expired).
func (t *Tenant) liveAssignments(now time.Time) []*assignment {
	var out []*assignment
	for _, a := range t.st.assign {
		if a.VisibleAt.After(now) || a.Start.After(now) || (a.End != nil && !a.End.After(now)) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func (t *Tenant) listAssignmentInstances(c *gctx) {
	q := c.r.URL.Query()
	conds, err := parseFilter(q.Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	exp := expandSet(q.Get("$expand"))
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []any
	for _, a := range t.liveAssignments(now) {
		ok, err := matchAll(conds, func(f string) (string, bool) {
			switch strings.ToLower(f) {
			case "principalid":
				return a.PrincipalID, true
			case "roledefinitionid":
				return a.RoleID, true
			case "directoryscopeid":
				return "/", true
			case "membertype":
				return a.MemberType, true
			case "assignmenttype":
				return a.AssignmentType, true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		if !ok {
			continue
		}
		v := map[string]any{
			"id": a.ID, "principalId": a.PrincipalID, "roleDefinitionId": a.RoleID,
			"directoryScopeId": "/", "appScopeId": nil, "startDateTime": timeJSON(a.Start),
			"endDateTime": timePtrJSON(a.End), "assignmentType": a.AssignmentType, "memberType": a.MemberType,
			"roleAssignmentOriginId": a.ID, "roleAssignmentScheduleId": a.ScheduleID,
		}
		t.expandInstance(v, exp, a.RoleID, a.PrincipalID)
		out = append(out, v)
	}
	c.page(c.context("roleManagement/directory/roleAssignmentScheduleInstances"), out)
}
