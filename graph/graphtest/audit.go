package graphtest

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Audit data: the sign-in log (interactive sign-ins, as v1.0 lists them) and the directory audit
// log with PIM's activity names (reference §9).

type signInRec struct {
	ID       string
	At       time.Time
	UserID   string
	AppID    string
	AppName  string
	MFA      bool
	Failed   bool
	Interact bool
}

type auditRec struct {
	ID, Activity, Operation string
	Service                 string // PIM, or Core Directory for changes outside PIM
	At                      time.Time
	InitiatorID             string
	InitiatorApp            bool
	RoleID, TargetID        string
	Details                 [][2]string
}

// logSignIn records an interactive sign-in; lock held.
func (t *Tenant) logSignIn(userID, appID, appName string, mfa bool, at time.Time) {
	t.st.signIns = append(t.st.signIns, &signInRec{ID: newID(), At: at, UserID: userID, AppID: appID,
		AppName: appName, MFA: mfa, Interact: true})
}

// audit records a directory audit event; lock held.
func (t *Tenant) audit(at time.Time, activity, op, initiator string, app bool, roleID, target string, details ...[2]string) {
	service := "PIM"
	if strings.Contains(activity, "outside of PIM") {
		service = "Core Directory"
	}
	if app && initiator == "" {
		initiator = msPIMAppID
	}
	t.st.audits = append(t.st.audits, &auditRec{ID: "PIM_" + newID(), Activity: activity, Operation: op, At: at,
		Service: service, InitiatorID: initiator, InitiatorApp: app, RoleID: roleID, TargetID: target, Details: details})
}

// msPIMAppID is the MS-PIM service principal's app id, the initiator of PIM's own events.
const msPIMAppID = "01fc33a7-78ba-4d2f-a4b7-768e336e890e"

// sweepExpired logs the end of activations that ran out (PIM does it when they expire); lock held.
func (t *Tenant) sweepExpired(now time.Time) {
	for _, a := range t.st.assign {
		if a.AssignmentType == "Activated" && a.End != nil && !a.End.After(now) && !a.expiryLogged {
			a.expiryLogged = true
			t.audit(*a.End, "Remove member from role (PIM activation expired)", "Remove", "", true, a.RoleID, a.PrincipalID,
				[2]string{"RequestId", a.RequestID})
		}
	}
}

// SimulateSignIn records an interactive sign-in of user to an application (e.g. "Azure Portal"),
// as a break-glass account signing in outside Elevate would leave in the sign-in log.
func (t *Tenant) SimulateSignIn(user, appDisplayName string, opts ...BrowseOption) error {
	var o browseOptions
	for _, f := range opts {
		f(&o)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.st.user(user)
	if u == nil {
		return fmt.Errorf("graphtest: no user %q", user)
	}
	sum := sha256.Sum256([]byte("app:" + appDisplayName))
	t.logSignIn(u.ID, guidFrom(sum[:16]), appDisplayName, !o.noMFA, t.now().UTC())
	return nil
}

func (t *Tenant) listSignIns(c *gctx) {
	conds, err := parseFilter(c.r.URL.Query().Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []any
	for _, s := range slices.Backward(t.st.signIns) { // newest first, as Graph lists them
		u := t.st.users[s.UserID]
		ok, err := matchAll(conds, func(f string) (string, bool) {
			switch strings.ToLower(f) {
			case "userid":
				return s.UserID, true
			case "userprincipalname":
				return u.UPN, true
			case "appid":
				return s.AppID, true
			case "createddatetime":
				return timeJSON(s.At), true
			case "status/errorcode":
				return "0", true
			case "isinteractive":
				return "true", true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		if ok {
			out = append(out, signInJSON(s, u))
		}
	}
	c.page(c.context("auditLogs/signIns"), out)
}

func signInJSON(s *signInRec, u *User) map[string]any {
	req := "singleFactorAuthentication"
	if s.MFA {
		req = "multiFactorAuthentication"
	}
	return map[string]any{
		"id": s.ID, "createdDateTime": timeJSON(s.At), "userDisplayName": u.DisplayName,
		"userPrincipalName": u.UPN, "userId": u.ID, "appId": s.AppID, "appDisplayName": s.AppName,
		"ipAddress": "127.0.0.1", "clientAppUsed": "Browser", "correlationId": newID(),
		"conditionalAccessStatus": "notApplied", "isInteractive": s.Interact,
		"authenticationRequirement": req,
		"riskDetail":                "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none", "riskState": "none",
		"resourceDisplayName": "Microsoft Graph", "resourceId": graphAppID,
		"status":                           map[string]any{"errorCode": 0, "failureReason": nil, "additionalDetails": nil},
		"deviceDetail":                     map[string]any{"deviceId": "", "displayName": "", "operatingSystem": "Linux", "browser": "Chrome 130", "isCompliant": false, "isManaged": false, "trustType": ""},
		"location":                         map[string]any{"city": "Amsterdam", "state": "Noord-Holland", "countryOrRegion": "NL"},
		"appliedConditionalAccessPolicies": []any{},
	}
}

func (t *Tenant) listDirectoryAudits(c *gctx) {
	conds, err := parseFilter(c.r.URL.Query().Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepExpired(now)
	recs := slices.Clone(t.st.audits)
	slices.SortStableFunc(recs, func(a, b *auditRec) int { return b.At.Compare(a.At) }) // newest first
	var out []any
	for _, a := range recs {
		ok, err := matchAll(conds, func(f string) (string, bool) {
			switch strings.ToLower(f) {
			case "activitydisplayname":
				return a.Activity, true
			case "activitydatetime":
				return timeJSON(a.At), true
			case "loggedbyservice":
				return a.Service, true
			case "category":
				return "RoleManagement", true
			case "operationtype":
				return a.Operation, true
			case "result":
				return "success", true
			case "initiatedby/user/id":
				if a.InitiatorApp {
					return "", true
				}
				return a.InitiatorID, true
			case "initiatedby/app/appid":
				if !a.InitiatorApp {
					return "", true
				}
				return a.InitiatorID, true
			}
			return "", false
		})
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		if ok {
			out = append(out, t.auditJSON(a))
		}
	}
	c.page(c.context("auditLogs/directoryAudits"), out)
}

func (t *Tenant) auditJSON(a *auditRec) map[string]any {
	initiated := map[string]any{"app": nil, "user": nil}
	if a.InitiatorApp {
		name := "MS-PIM"
		id := a.InitiatorID
		if id == t.seed.Client.ClientID {
			name = t.seed.Client.DisplayName
		}
		initiated["app"] = map[string]any{"appId": id, "displayName": name, "servicePrincipalId": nil, "servicePrincipalName": nil}
	} else if u := t.st.users[a.InitiatorID]; u != nil {
		initiated["user"] = map[string]any{"id": u.ID, "displayName": u.DisplayName, "userPrincipalName": u.UPN, "ipAddress": "127.0.0.1"}
	}
	targets := []any{}
	if r, ok := t.st.roles[a.RoleID]; ok {
		targets = append(targets, map[string]any{"id": r.ID, "displayName": r.DisplayName, "type": "Role",
			"userPrincipalName": nil, "groupType": nil, "modifiedProperties": []any{}})
	}
	if u := t.st.users[a.TargetID]; u != nil {
		targets = append(targets, map[string]any{"id": u.ID, "displayName": u.DisplayName, "type": "User",
			"userPrincipalName": u.UPN, "groupType": nil, "modifiedProperties": []any{}})
	} else if g := t.st.groups[a.TargetID]; g != nil {
		targets = append(targets, map[string]any{"id": g.ID, "displayName": g.DisplayName, "type": "Group",
			"userPrincipalName": nil, "groupType": "azureAD", "modifiedProperties": []any{}})
	}
	category := "RoleManagement"
	if _, group := t.st.groups[a.TargetID]; group && a.RoleID == "" {
		category = "GroupManagement"
	}
	details := []any{}
	for _, d := range a.Details {
		details = append(details, map[string]any{"key": d[0], "value": d[1]})
	}
	return map[string]any{
		"id": a.ID, "category": category, "correlationId": newID(), "result": "success", "resultReason": "",
		"activityDisplayName": a.Activity, "activityDateTime": timeJSON(a.At), "loggedByService": a.Service,
		"operationType": a.Operation, "initiatedBy": initiated, "targetResources": targets, "additionalDetails": details,
	}
}

// requestDetails are the additionalDetails PIM attaches to request events.
func requestDetails(r *scheduleRequest) [][2]string {
	d := [][2]string{{"RequestId", r.ID}}
	if r.Justification != "" {
		d = append(d, [2]string{"Justification", r.Justification})
	}
	if r.TicketNumber != "" {
		d = append(d, [2]string{"TicketNumber", r.TicketNumber}, [2]string{"TicketSystem", r.TicketSystem})
	}
	if r.Duration > 0 {
		d = append(d, [2]string{"Duration", isoDuration(r.Duration)})
	}
	return d
}
