package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func roleNames(cmd Command) string {
	if len(cmd.Roles) == 0 {
		if cmd.Role == nil {
			return ""
		}
		return cmd.Role.Name
	}
	var ns []string
	for _, r := range cmd.Roles {
		ns = append(ns, r.Name)
	}
	return strings.Join(ns, "|")
}

func TestParseCommandRoleLists(t *testing.T) {
	c := example(t)
	tests := []struct {
		in            string
		kind          Kind
		roles         string
		all           bool
		duration      time.Duration
		justification string
	}{
		{"exchange,sharepoint 4h fixing mail flow", KindRequest, "Exchange Administrator|SharePoint Administrator", false, 4 * time.Hour, "fixing mail flow"},
		{"exchange, sharepoint 4h fixing mail flow", KindRequest, "Exchange Administrator|SharePoint Administrator", false, 4 * time.Hour, "fixing mail flow"},
		{"exchange ,sharepoint 4h x", KindRequest, "Exchange Administrator|SharePoint Administrator", false, 4 * time.Hour, "x"},
		{"exchange , sharepoint 4h x", KindRequest, "Exchange Administrator|SharePoint Administrator", false, 4 * time.Hour, "x"},
		{"exchange administrator, sharepoint administrator 1h x", KindRequest, "Exchange Administrator|SharePoint Administrator", false, time.Hour, "x"},
		{"exchange,spo,teams 2h INC-1 x", KindRequest, "Exchange Administrator|SharePoint Administrator|Teams Administrator", false, 2 * time.Hour, "INC-1 x"},
		{"exchange,tier1 1h x", KindRequest, "Exchange Administrator|Tier1 Admins", false, time.Hour, "x"},
		{"exchange fixing mail, urgent", KindRequest, "Exchange Administrator", false, 0, "fixing mail, urgent"},
		{"exchange 4h fixing mail, urgent", KindRequest, "Exchange Administrator", false, 4 * time.Hour, "fixing mail, urgent"},
		{"done exchange,sharepoint", KindDone, "Exchange Administrator|SharePoint Administrator", false, 0, ""},
		{"done all", KindDone, "", true, 0, ""},
		{"done ALL", KindDone, "", true, 0, ""},
		{"extend all 1h", KindExtend, "", true, time.Hour, ""},
		{"extend exchange,sharepoint 30m", KindExtend, "Exchange Administrator|SharePoint Administrator", false, 30 * time.Minute, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cmd, err := c.ParseCommand(tt.in)
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tt.in, err)
			}
			if cmd.Kind != tt.kind || roleNames(cmd) != tt.roles || cmd.All != tt.all || cmd.Duration != tt.duration || cmd.Justification != tt.justification {
				t.Fatalf("ParseCommand(%q) = kind %v roles %q all %v %v %q, want %v %q %v %v %q", tt.in, cmd.Kind, roleNames(cmd), cmd.All, cmd.Duration, cmd.Justification,
					tt.kind, tt.roles, tt.all, tt.duration, tt.justification)
			}
			if len(cmd.Roles) > 0 && cmd.Role != cmd.Roles[0] {
				t.Fatalf("Role %v is not Roles[0]", cmd.Role)
			}
		})
	}
}

func TestParseCommandRoleListErrors(t *testing.T) {
	c := example(t)
	tests := []struct {
		in, code, says string
	}{
		{"exchange,sharpoint 4h x", CodeUnknownRole, `"sharpoint" isn't a role I know — did you mean`},
		{"exchnge,sharepoint 4h x", CodeUnknownRole, `"exchnge" isn't a role I know — did you mean`},
		{"exchnge, sharepoint 4h x", CodeUnknownRole, `"exchnge"`},
		{"exchange,sharepoint,exchange 4h x", CodeRoleList, "Exchange Administrator is named twice"},
		{"exchange,exchange administrator 4h x", CodeRoleList, "named twice"},
		{"exchange, 4h x", CodeRoleList, "After the comma, name another role"},
		{"exchange,", CodeRoleList, "After the comma, name another role"},
		{"exchange,,sharepoint 4h", CodeRoleList, "nothing between two commas"},
		{",exchange 4h x", CodeRoleList, "Start with a role"},
		{"exchange,sharepoint,teams,intune,user,helpdesk 1h x", CodeTooManyRoles, "At most 5 roles"},
		{"exchange sharepoint 4h fixing mail flow", CodeRoleList, `did you mean "exchange,sharepoint 4h fixing mail flow"?`},
		{"done exchange,sharepint", CodeUnknownRole, `"sharepint"`},
		{"done all now", CodeUnexpected, "done all"},
		{"extend all", CodeMissingDuration, "extend all 1h"},
		{"extend exchange,sharepoint", CodeMissingDuration, "extend exchange 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cmd, err := c.ParseCommand(tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseCommand(%q) = %+v, %v; want an *Error", tt.in, cmd, err)
			}
			if e.Code != tt.code || !strings.Contains(e.Message, tt.says) {
				t.Fatalf("ParseCommand(%q): %s %q, want %s containing %q", tt.in, e.Code, e.Message, tt.code, tt.says)
			}
		})
	}
}
