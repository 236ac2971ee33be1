package graphtest

import (
	"crypto/sha256"
	"net/http"
	"strings"
)

// listPolicyAssignments serves GET /policies/roleManagementPolicyAssignments (reference §5.1).
func (t *Tenant) listPolicyAssignments(c *gctx) {
	q := c.r.URL.Query()
	conds, err := parseFilter(q.Get("$filter"))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	var scopeID, scopeType, roleID string
	hasScope, hasType := false, false
	for _, cd := range conds {
		if cd.Op != "eq" {
			c.fail(http.StatusBadRequest, "BadRequest", "Only 'eq' is supported in this filter.")
			return
		}
		switch strings.ToLower(cd.Field) {
		case "scopeid":
			scopeID, hasScope = cd.Values[0], true
		case "scopetype":
			scopeType, hasType = cd.Values[0], true
		case "roledefinitionid":
			roleID = strings.ToLower(cd.Values[0])
		default:
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid filter clause: the property '"+cd.Field+"' is not supported.")
			return
		}
	}
	if !hasScope || !hasType {
		// Graph requires both (reference §5.1).
		c.fail(http.StatusBadRequest, "BadRequest", "The filter on scopeId and scopeType is required.")
		return
	}
	exp := expandSet(q.Get("$expand"))
	nested, withPolicy := exp["policy"]
	withRules := withPolicy && strings.Contains(strings.ToLower(nested), "rules")

	t.mu.Lock()
	defer t.mu.Unlock()
	var out []any
	if scopeID == "/" && (strings.EqualFold(scopeType, "DirectoryRole") || strings.EqualFold(scopeType, "Directory")) {
		for _, id := range t.st.roleOrder {
			if roleID != "" && id != roleID {
				continue
			}
			p := t.st.policyFor(t.seed.TenantID, id)
			v := map[string]any{
				"id": p.id + "_" + id, "policyId": p.id, "scopeId": "/", "scopeType": scopeType,
				"roleDefinitionId": id,
			}
			if withPolicy {
				pol := map[string]any{
					"id": p.id, "displayName": "DirectoryRole", "description": "DirectoryRole",
					"isOrganizationDefault": false, "scopeId": "/", "scopeType": "DirectoryRole",
					"lastModifiedDateTime": nil, "lastModifiedBy": nil,
				}
				if withRules {
					pol["rules"] = t.policyRules(p)
				}
				v["policy"] = pol
			}
			out = append(out, v)
		}
	}
	if g := t.st.groups[strings.ToLower(scopeID)]; g != nil && strings.EqualFold(scopeType, "Group") {
		// PIM for Groups: scopeId is the group, roleDefinitionId member or owner (reference §5.1).
		// The simulated tenant keeps one (member) policy per group and serves it for both.
		for _, access := range []string{"member", "owner"} {
			if roleID != "" && roleID != access {
				continue
			}
			p := t.groupPolicy(g.ID)
			h := sha256.Sum256([]byte(t.seed.TenantID + g.ID + access))
			id := "Group_" + t.seed.TenantID + "_" + guidFrom(h[:16])
			v := map[string]any{"id": id + "_" + access, "policyId": id, "scopeId": g.ID, "scopeType": "Group", "roleDefinitionId": access}
			if withPolicy {
				pol := map[string]any{"id": id, "displayName": "Group", "description": "Group", "isOrganizationDefault": false,
					"scopeId": g.ID, "scopeType": "Group", "lastModifiedDateTime": nil, "lastModifiedBy": nil}
				if withRules {
					pol["rules"] = t.policyRules(p)
				}
				v["policy"] = pol
			}
			out = append(out, v)
		}
	}
	c.page(c.context("policies/roleManagementPolicyAssignments"), out)
}

func ruleTarget(caller, level string) map[string]any {
	return map[string]any{
		"caller": caller, "operations": []string{"all"}, "level": level,
		"inheritableSettings": []string{}, "enforcedSettings": []string{}, "targetObjects": nil,
	}
}

const (
	odataExpiration  = "#microsoft.graph.unifiedRoleManagementPolicyExpirationRule"
	odataEnablement  = "#microsoft.graph.unifiedRoleManagementPolicyEnablementRule"
	odataApproval    = "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule"
	odataAuthContext = "#microsoft.graph.unifiedRoleManagementPolicyAuthenticationContextRule"
	odataNotify      = "#microsoft.graph.unifiedRoleManagementPolicyNotificationRule"
)

// policyRules renders the 17 rules of a directory role policy (reference §5.1, §5.2).
func (t *Tenant) policyRules(p *policy) []any {
	notify := func(id, caller, level, recipient string) map[string]any {
		return map[string]any{
			"@odata.type": odataNotify, "id": id, "notificationType": "Email", "recipientType": recipient,
			"notificationLevel": "All", "isDefaultRecipientsEnabled": true, "notificationRecipients": []string{},
			"target": ruleTarget(caller, level),
		}
	}
	enabled := []string{}
	if p.MFA {
		enabled = append(enabled, "MultiFactorAuthentication")
	}
	if p.Justification {
		enabled = append(enabled, "Justification")
	}
	if p.Ticket {
		enabled = append(enabled, "Ticketing")
	}
	approvers := []any{}
	for _, a := range p.Approvers {
		if a.UserID != "" {
			approvers = append(approvers, map[string]any{"@odata.type": "#microsoft.graph.singleUser",
				"isBackup": false, "userId": a.UserID, "description": a.Description})
		} else {
			approvers = append(approvers, map[string]any{"@odata.type": "#microsoft.graph.groupMembers",
				"isBackup": false, "groupId": a.GroupID, "description": a.Description})
		}
	}
	var claim any
	if p.AuthContext != "" {
		claim = p.AuthContext
	}
	rules := []any{
		map[string]any{"@odata.type": odataExpiration, "id": "Expiration_Admin_Eligibility",
			"isExpirationRequired": false, "maximumDuration": "P365D", "target": ruleTarget("Admin", "Eligibility")},
		map[string]any{"@odata.type": odataEnablement, "id": "Enablement_Admin_Eligibility",
			"enabledRules": []string{}, "target": ruleTarget("Admin", "Eligibility")},
		notify("Notification_Admin_Admin_Eligibility", "Admin", "Eligibility", "Admin"),
		notify("Notification_Requestor_Admin_Eligibility", "Admin", "Eligibility", "Requestor"),
		notify("Notification_Approver_Admin_Eligibility", "Admin", "Eligibility", "Approver"),
		map[string]any{"@odata.type": odataExpiration, "id": "Expiration_Admin_Assignment",
			"isExpirationRequired": false, "maximumDuration": "P180D", "target": ruleTarget("Admin", "Assignment")},
		map[string]any{"@odata.type": odataEnablement, "id": "Enablement_Admin_Assignment",
			"enabledRules": []string{"Justification"}, "target": ruleTarget("Admin", "Assignment")},
		notify("Notification_Admin_Admin_Assignment", "Admin", "Assignment", "Admin"),
		notify("Notification_Requestor_Admin_Assignment", "Admin", "Assignment", "Requestor"),
		notify("Notification_Approver_Admin_Assignment", "Admin", "Assignment", "Approver"),
		map[string]any{"@odata.type": odataExpiration, "id": "Expiration_EndUser_Assignment",
			"isExpirationRequired": true, "maximumDuration": isoDuration(p.MaxDuration),
			"target": ruleTarget("EndUser", "Assignment")},
		map[string]any{"@odata.type": odataEnablement, "id": "Enablement_EndUser_Assignment",
			"enabledRules": enabled, "target": ruleTarget("EndUser", "Assignment")},
		map[string]any{"@odata.type": odataApproval, "id": "Approval_EndUser_Assignment",
			"setting": map[string]any{
				"isApprovalRequired": p.ApprovalOn, "isApprovalRequiredForExtension": false,
				"isRequestorJustificationRequired": true, "approvalMode": "SingleStage",
				"approvalStages": []any{map[string]any{
					"approvalStageTimeOutInDays": 1, "isApproverJustificationRequired": true,
					"escalationTimeInMinutes": 0, "isEscalationEnabled": false,
					"primaryApprovers": approvers, "escalationApprovers": []any{},
				}},
			},
			"target": ruleTarget("EndUser", "Assignment")},
		map[string]any{"@odata.type": odataAuthContext, "id": "AuthenticationContext_EndUser_Assignment",
			"isEnabled": p.AuthContext != "", "claimValue": claim, "target": ruleTarget("EndUser", "Assignment")},
		notify("Notification_Admin_EndUser_Assignment", "EndUser", "Assignment", "Admin"),
		notify("Notification_Requestor_EndUser_Assignment", "EndUser", "Assignment", "Requestor"),
		notify("Notification_Approver_EndUser_Assignment", "EndUser", "Assignment", "Approver"),
	}
	return rules
}
