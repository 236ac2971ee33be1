package graph

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// Audit sources (reference §9): the directory audit log (PIM's events) and the sign-in log.

// PIM activity names in the directory audit log.
const (
	ActivityActivationCompleted = "Add member to role completed (PIM activation)"
	ActivityApprovalRequested   = "Add member to role approval requested (PIM activation)"
)

// AuditEvent is one directory audit record.
type AuditEvent struct {
	ID, Activity               string
	At                         time.Time
	InitiatorID, InitiatorName string // a user, or an app (InitiatorApp)
	InitiatorApp               bool
	RoleID, RoleName           string
	TargetID, TargetName, Upn  string // the user (or group) the event is about
	// Group is true for a PIM for Groups event: RoleID and RoleName are then the group's id and
	// name (Elevate treats a group like a role), TargetID the member (from PrincipalId).
	Group                    bool
	RequestID, Justification string // from additionalDetails
	Duration                 string // ISO 8601, from additionalDetails
	Details                  map[string]string
}

// DirectoryAudits lists the audit events of one activity since a time, oldest first. App-only
// (AuditLog.Read.All).
func (c *Client) DirectoryAudits(ctx context.Context, activity string, since time.Time) ([]AuditEvent, error) {
	if activity == "" {
		return nil, errors.New("graph: DirectoryAudits: empty activity")
	}
	filter := "activityDisplayName eq " + odataQuote(activity) + " and activityDateTime ge " + since.UTC().Format(time.RFC3339)
	var out []AuditEvent
	err := c.list(ctx, c.app, "GET auditLogs/directoryAudits", c.v1("/auditLogs/directoryAudits"+query("$filter", filter)),
		func(m json.RawMessage) error {
			var v struct {
				ID, ActivityDisplayName string
				ActivityDateTime        time.Time
				InitiatedBy             struct {
					User *struct{ ID, DisplayName, UserPrincipalName string }
					App  *struct{ AppID, DisplayName string }
				}
				TargetResources []struct {
					ID, DisplayName, Type, UserPrincipalName string
				}
				AdditionalDetails []struct{ Key, Value string }
			}
			if err := json.Unmarshal(m, &v); err != nil {
				return err
			}
			e := AuditEvent{ID: v.ID, Activity: v.ActivityDisplayName, At: v.ActivityDateTime, Details: map[string]string{}}
			switch {
			case v.InitiatedBy.User != nil:
				e.InitiatorID, e.InitiatorName = v.InitiatedBy.User.ID, v.InitiatedBy.User.UserPrincipalName
			case v.InitiatedBy.App != nil:
				e.InitiatorID, e.InitiatorName, e.InitiatorApp = v.InitiatedBy.App.AppID, v.InitiatedBy.App.DisplayName, true
			}
			var groupID, groupName string
			user := false
			for _, t := range v.TargetResources {
				switch t.Type {
				case "Role":
					e.RoleID, e.RoleName = t.ID, t.DisplayName
				case "User":
					e.TargetID, e.TargetName, e.Upn, user = t.ID, t.DisplayName, t.UserPrincipalName, true
				case "Group":
					groupID, groupName = t.ID, t.DisplayName
				}
			}
			for _, d := range v.AdditionalDetails {
				e.Details[d.Key] = d.Value
			}
			switch {
			case e.RoleID == "" && groupID != "":
				// PIM for Groups: the group is what was activated; the member is the principal.
				e.RoleID, e.RoleName, e.Group = groupID, groupName, true
				if !user {
					e.TargetID, e.TargetName = e.Details["PrincipalId"], ""
				}
			case !user && groupID != "":
				e.TargetID, e.TargetName = groupID, groupName // a role activated by a role-assignable group
			}
			e.RequestID, e.Justification, e.Duration = e.Details["RequestId"], e.Details["Justification"], e.Details["Duration"]
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b AuditEvent) int { return a.At.Compare(b.At) })
	return out, nil
}

// SignIn is one interactive sign-in from the sign-in log.
type SignIn struct {
	ID          string
	At          time.Time
	UserID, UPN string
	App         string
	IP          string
	Location    string
	MFA         bool
	ErrorCode   int // 0: success
}

// BreakGlassSignIns lists the interactive sign-ins of the given accounts since a time, newest
// first (AuditLog.Read.All and Directory.Read.All). The log lags by minutes: callers should poll
// with an overlapping window and de-duplicate by ID. v1.0 lists interactive sign-ins only.
func (c *Client) BreakGlassSignIns(ctx context.Context, ids []string, since time.Time) ([]SignIn, error) {
	var out []SignIn
	for _, id := range ids {
		filter := "userId eq " + odataQuote(id) + " and createdDateTime ge " + since.UTC().Format(time.RFC3339)
		err := c.list(ctx, c.app, "GET auditLogs/signIns", c.v1("/auditLogs/signIns"+query("$filter", filter)),
			func(m json.RawMessage) error {
				var v struct {
					ID                        string
					CreatedDateTime           time.Time
					UserID, UserPrincipalName string
					AppDisplayName, IPAddress string
					AuthenticationRequirement string
					Status                    struct{ ErrorCode int }
					Location                  struct{ City, CountryOrRegion string }
				}
				if err := json.Unmarshal(m, &v); err != nil {
					return err
				}
				loc := v.Location.City
				if v.Location.CountryOrRegion != "" {
					loc += ", " + v.Location.CountryOrRegion
				}
				out = append(out, SignIn{ID: v.ID, At: v.CreatedDateTime, UserID: v.UserID, UPN: v.UserPrincipalName,
					App: v.AppDisplayName, IP: v.IPAddress, Location: loc, ErrorCode: v.Status.ErrorCode,
					MFA: v.AuthenticationRequirement == "multiFactorAuthentication"})
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b SignIn) int { return b.At.Compare(a.At) })
	return out, nil
}
