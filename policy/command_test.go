package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCommand(t *testing.T) {
	c := example(t)
	type want struct {
		kind          Kind
		role          string
		duration      time.Duration
		justification string
		ticket        string
	}
	tests := []struct {
		in   string
		want want
	}{
		{"", want{kind: KindForm}},
		{"   ", want{kind: KindForm}},
		{"elevate", want{kind: KindForm}},
		{"help", want{kind: KindHelp}},
		{"HELP me please", want{kind: KindHelp}},
		{"roles", want{kind: KindRoles}},
		{"Status", want{kind: KindStatus}},
		{"cancel", want{kind: KindCancel}},
		{"done", want{kind: KindDone}},
		{"done exchange", want{kind: KindDone, role: "Exchange Administrator"}},
		{"done Exchange Administrator", want{kind: KindDone, role: "Exchange Administrator"}},
		{"extend 1h", want{kind: KindExtend, duration: time.Hour}},
		{"extend exchange 30m", want{kind: KindExtend, role: "Exchange Administrator", duration: 30 * time.Minute}},
		{"extend privileged role administrator 1h30m", want{kind: KindExtend, role: "Privileged Role Administrator", duration: 90 * time.Minute}},
		{"exchange 4h fixing mail flow", want{KindRequest, "Exchange Administrator", 4 * time.Hour, "fixing mail flow", ""}},
		{"/elevate exchange 4h fixing mail flow", want{KindRequest, "Exchange Administrator", 4 * time.Hour, "fixing mail flow", ""}},
		{"elevate exchange 4h fixing mail flow", want{KindRequest, "Exchange Administrator", 4 * time.Hour, "fixing mail flow", ""}},
		{"ga 90m INC-1234 restore tenant", want{KindRequest, "Global Administrator", 90 * time.Minute, "INC-1234 restore tenant", "INC-1234"}},
		{"GA 1H30M restore  tenant  CHG-77", want{KindRequest, "Global Administrator", 90 * time.Minute, "restore tenant CHG-77", "CHG-77"}},
		{"global restore tenant", want{KindRequest, "Global Administrator", 0, "restore tenant", ""}},
		{"exchange", want{KindRequest, "Exchange Administrator", 0, "", ""}},
		{"exchange administrator 4h fixing mail flow", want{KindRequest, "Exchange Administrator", 4 * time.Hour, "fixing mail flow", ""}},
		{"Exchange Admin 2h fixing", want{KindRequest, "Exchange Administrator", 2 * time.Hour, "fixing", ""}},
		{"privileged authentication administrator 1h reset MFA", want{KindRequest, "Privileged Authentication Administrator", time.Hour, "reset MFA", ""}},
		{"29232cdf-9323-42fd-ade2-1d097af3e4de 1h x", want{KindRequest, "Exchange Administrator", time.Hour, "x", ""}},
		{"spo 2h restore site", want{KindRequest, "SharePoint Administrator", 2 * time.Hour, "restore site", ""}},
		{"sec 1h review", want{KindRequest, "Security Administrator", time.Hour, "review", ""}},
		{"exchange 365 licences", want{KindRequest, "Exchange Administrator", 0, "365 licences", ""}},
		{"exchange 2fa reset for bob", want{KindRequest, "Exchange Administrator", 0, "2fa reset for bob", ""}},
		{"exchange fixing it for 4h", want{KindRequest, "Exchange Administrator", 0, "fixing it for 4h", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cmd, err := c.ParseCommand(tt.in)
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tt.in, err)
			}
			got := want{cmd.Kind, "", cmd.Duration, cmd.Justification, cmd.Ticket}
			if cmd.Role != nil {
				got.role = cmd.Role.Name
			}
			if diff := cmp.Diff(got, tt.want, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("ParseCommand(%q) (-got +want):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	c := example(t)
	tests := []struct {
		in    string
		code  string
		msg   string
		sugg  []string
		offer time.Duration
	}{
		{in: "exchnage 4h x", code: CodeUnknownRole, msg: `"exchnage" isn't a role or command I know — did you mean "exchange"?`, sugg: []string{"exchange"}},
		{in: "exhcange", code: CodeUnknownRole, sugg: []string{"exchange"}},
		{in: "sharepiont 1h", code: CodeUnknownRole, sugg: []string{"sharepoint"}},
		{in: "stauts", code: CodeUnknownCommand, sugg: []string{"status"}},
		{in: "rolse", code: CodeUnknownCommand, sugg: []string{"roles"}},
		{in: "exch 1h", code: CodeUnknownRole, sugg: []string{"exchange"}},
		{in: "xyzzy", code: CodeUnknownRole, msg: `"xyzzy" isn't a role or command I know — say "roles" to see the roles you can request`},
		{in: "done exchnage", code: CodeUnknownRole, sugg: []string{"exchange"}},
		{in: "done exchange sharepoint", code: CodeUnexpected},
		{in: "status now", code: CodeUnexpected, msg: `"status" takes nothing after it — just say "status"`},
		{in: "cancel exchange", code: CodeUnexpected},
		{in: "extend", code: CodeMissingDuration},
		{in: "extend exchange", code: CodeMissingDuration},
		{in: "extend exchange soon", code: CodeBadDuration},
		{in: "extend 1h exchange", code: CodeUnexpected},
		{in: "extend 2", code: CodeBadDuration},
		{in: "whoami", code: CodeNotYet},
		{in: "discover now", code: CodeUnexpected},
		{in: "review later", code: CodeUnexpected},
		{in: "convert erin", code: CodeMissingRole},
		{in: "convert notauser global", code: CodeUnexpected},
		{in: "convert erin@contoso.example exchnage", code: CodeUnknownRole},
		{in: "rebind <@U123>", code: CodeUnexpected},
		{in: "rebind @mallory mallory@contoso.example", code: CodeUnexpected},
		{in: "rebind <@U123 mallory@contoso.example", code: CodeUnexpected},
		{in: "rebind U123 mallory", code: CodeUnexpected},
		{in: "unbind", code: CodeUnexpected},
		{in: "unbind U1 U2", code: CodeUnexpected},
		{in: "approve", code: CodeUnexpected},
		{in: "approve twelve", code: CodeUnexpected},
		{in: "approve 12 now", code: CodeUnexpected},
		{in: "deny 12", code: CodeUnexpected},
		{in: "deny #0 no", code: CodeUnexpected},
		{in: "whoami", code: CodeNotYet},
		{in: "4h exchange fixing", code: CodeMissingRole},
		{in: "exchange 2h30 fixing", code: CodeBadDuration, sugg: []string{"2h30m"}, offer: 150 * time.Minute},
		{in: "exchange 1.5h fixing", code: CodeBadDuration, sugg: []string{"1h30m"}, offer: 90 * time.Minute},
		{in: "exchange 4hrs fixing", code: CodeBadDuration, msg: `"4hrs" isn't a duration I understand — did you mean 4h?`, sugg: []string{"4h"}, offer: 4 * time.Hour},
		{in: "exchange 30min fixing", code: CodeBadDuration, sugg: []string{"30m"}, offer: 30 * time.Minute},
		{in: "exchange 4 hours fixing", code: CodeBadDuration, sugg: []string{"4h"}, offer: 4 * time.Hour},
		{in: "exchange 1d fixing", code: CodeBadDuration},
		{in: "exchange 2days fixing", code: CodeBadDuration},
		{in: "exchange 30s fixing", code: CodeBadDuration},
		{in: "exchange 0m fixing", code: CodeBadDuration},
		{in: "exchange 1h75m fixing", code: CodeBadDuration, sugg: []string{"2h15m"}, offer: 135 * time.Minute},
		{in: "exchange 4 fixing", code: CodeBadDuration, sugg: []string{"4h", "4m"}},
		{in: "exchange 99999999h", code: CodeBadDuration},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cmd, err := c.ParseCommand(tt.in)
			if err == nil {
				t.Fatalf("ParseCommand(%q) = %+v, want an error", tt.in, cmd)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseCommand(%q) error %T, want *Error", tt.in, err)
			}
			if e.Code != tt.code {
				t.Errorf("Code = %q, want %q (message %q)", e.Code, tt.code, e.Message)
			}
			if tt.msg != "" && e.Message != tt.msg {
				t.Errorf("Message = %q, want %q", e.Message, tt.msg)
			}
			if tt.sugg != nil && !cmp.Equal(e.Suggestions, tt.sugg) {
				t.Errorf("Suggestions = %q, want %q", e.Suggestions, tt.sugg)
			}
			if e.Offer != tt.offer {
				t.Errorf("Offer = %v, want %v", e.Offer, tt.offer)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in    string
		want  time.Duration
		looks bool
		err   bool
	}{
		{"30m", 30 * time.Minute, true, false},
		{"4h", 4 * time.Hour, true, false},
		{"1h30m", 90 * time.Minute, true, false},
		{"90m", 90 * time.Minute, true, false},
		{"4H", 4 * time.Hour, true, false},
		{"0h45m", 45 * time.Minute, true, false},
		{"24h", 24 * time.Hour, true, false},
		{"2h30", 0, true, true},
		{"1d", 0, true, true},
		{"1w", 0, true, true},
		{"5s", 0, true, true},
		{"0m", 0, true, true},
		{"1.5h", 0, true, true},
		{"1,5h", 0, true, true},
		{"7", 0, true, true},
		{"365", 0, false, false},
		{"0", 0, false, false},
		{"2fa", 0, false, false},
		{"fixing", 0, false, false},
		{"h", 0, false, false},
		{"4x", 0, false, false},
		{"INC-1234", 0, false, false},
	}
	for _, tt := range tests {
		got, looks, err := parseDuration(tt.in)
		if got != tt.want || looks != tt.looks || (err != nil) != tt.err {
			t.Errorf("parseDuration(%q) = %v, %v, %v; want %v, %v, error %v", tt.in, got, looks, err, tt.want, tt.looks, tt.err)
		}
		if err != nil && err.Message == "" {
			t.Errorf("parseDuration(%q): error without a message", tt.in)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute: "30m", 4 * time.Hour: "4h", 90 * time.Minute: "1h30m", 0: "0m", 8*time.Hour + 59*time.Second: "8h1m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestRole(t *testing.T) {
	c := example(t)
	found := map[string]string{
		"ga":                                   "Global Administrator",
		"GLOBAL":                               "Global Administrator",
		"Global Administrator":                 "Global Administrator",
		"  global   administrator ":            "Global Administrator",
		"global admin":                         "Global Administrator",
		"62E90394-69F5-4237-9190-012177145E10": "Global Administrator",
		"exchange":                             "Exchange Administrator",
		"exo":                                  "Exchange Administrator",
		"spo":                                  "SharePoint Administrator",
		"security":                             "Security Administrator",
		"secadmin":                             "Security Administrator",
		"sec":                                  "Security Administrator", // added by the example config
		"users":                                "User Administrator",
		"teams":                                "Teams Administrator",
		"intune":                               "Intune Administrator",
		"helpdesk":                             "Helpdesk Administrator",
		"billing":                              "Billing Administrator",
		"apps":                                 "Application Administrator",
		"cloudapp":                             "Cloud Application Administrator",
		"ca":                                   "Conditional Access Administrator",
		"conditionalaccess":                    "Conditional Access Administrator",
		"auth":                                 "Authentication Administrator",
		"pra":                                  "Privileged Role Administrator",
		"privrole":                             "Privileged Role Administrator",
		"paa":                                  "Privileged Authentication Administrator",
		"privauth":                             "Privileged Authentication Administrator",
		"reader":                               "Global Reader",
	}
	for in, want := range found {
		r, err := c.Role(in)
		if err != nil {
			t.Errorf("Role(%q): %v", in, err)
			continue
		}
		if r.Name != want {
			t.Errorf("Role(%q) = %s, want %s", in, r.Name, want)
		}
	}
	missing := map[string][]string{
		"exchnage":  {"exchange"},
		"sharepont": {"sharepoint"},
		"intnue":    {"intune"},
		"gloabl":    {"global"},
		"helpdsk":   {"helpdesk"},
		"cloudap":   {"cloudapp"}, // one suggestion per role
		"exchang":   {"exchange"},
		"apps2":     {"apps"},
		"zzzzzz":    nil,
		"":          nil,
	}
	for in, want := range missing {
		_, err := c.Role(in)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeUnknownRole {
			t.Errorf("Role(%q) error = %v, want unknown_role", in, err)
			continue
		}
		if !cmp.Equal(e.Suggestions, want) {
			t.Errorf("Role(%q) suggestions = %q, want %q", in, e.Suggestions, want)
		}
		if e.Message == "" {
			t.Errorf("Role(%q): empty message", in)
		}
	}
}

func TestDisabledRole(t *testing.T) {
	c := mustParse(t, "roles:\n  - name: Exchange Administrator\n    enabled: false\n  - name: Mailbox Support\n    template_id: 0c0a0000-0000-4000-8000-00000000beef\n    aliases: [exo]\n")
	_, err := c.Role("Exchange Administrator")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeRoleDisabled {
		t.Fatalf("Role(disabled) error = %v, want role_disabled", err)
	}
	if _, err := c.ParseCommand("exchange 1h x"); !errors.As(err, &e) || e.Code != CodeRoleDisabled {
		t.Errorf("ParseCommand(disabled role) error = %v, want role_disabled", err)
	}
	if r, err := c.Role("exo"); err != nil || r.Name != "Mailbox Support" {
		t.Errorf("Role(exo) = %v, %v; want the custom role that took over the alias", r, err)
	}
	if r := c.RoleByID("29232cdf-9323-42fd-ade2-1d097af3e4de"); r != nil {
		t.Errorf("RoleByID(disabled) = %s, want nil", r.Name)
	}
	if r := c.RoleByID("0C0A0000-0000-4000-8000-00000000BEEF"); r == nil || r.Name != "Mailbox Support" {
		t.Errorf("RoleByID(custom) = %v", r)
	}
}

func TestReservedWordsAreCommands(t *testing.T) {
	c := example(t)
	for w := range reservedWords {
		if _, err := c.Role(w); err == nil {
			t.Errorf("reserved word %q resolves to a role", w)
		}
		cmd, err := c.ParseCommand(w)
		if err == nil && cmd.Kind == KindRequest {
			t.Errorf("ParseCommand(%q) is a request", w)
		}
	}
}

func TestExportedParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30m": 30 * time.Minute, " 4h ": 4 * time.Hour, "1h30m": 90 * time.Minute, "90M": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "2h30", "1d", "0m", "4"} {
		_, err := ParseDuration(in)
		var e *Error
		if !errors.As(err, &e) || e.Message == "" || e.Code != CodeBadDuration {
			t.Errorf("ParseDuration(%q) error = %v, want a bad_duration *Error", in, err)
		}
	}
}

func TestParseAdminCommands(t *testing.T) {
	c := Default()
	tests := []struct {
		in     string
		kind   Kind
		target string
		action string
		role   string
	}{
		{"discover", KindDiscover, "", "", ""},
		{"digest", KindDigest, "", "", ""},
		{"DRIFT", KindDrift, "", "", ""},
		{"review start", KindReview, "", "start", ""},
		{"review Status", KindReview, "", "status", ""},
		{"convert erin@contoso.example global", KindConvert, "erin@contoso.example", "", "Global Administrator"},
		{"convert 55555555-5555-4555-8555-555555555555 exchange administrator", KindConvert, "55555555-5555-4555-8555-555555555555", "", "Exchange Administrator"},
		{"rebind <@U0MALLORY|mallory> mallory@contoso.example", KindRebind, "mallory@contoso.example", "", ""},
		{"rebind U0MALLORY 55555555-5555-4555-8555-555555555555", KindRebind, "55555555-5555-4555-8555-555555555555", "", ""},
		{"unbind <@U0MALLORY>", KindUnbind, "", "", ""},
	}
	for _, tt := range tests {
		got, err := c.ParseCommand(tt.in)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tt.in, err)
			continue
		}
		role := ""
		if got.Role != nil {
			role = got.Role.Name
		}
		if (tt.kind == KindRebind || tt.kind == KindUnbind) && got.ChatUser != "U0MALLORY" {
			t.Errorf("ParseCommand(%q): chat user %q, want U0MALLORY", tt.in, got.ChatUser)
		}
		if got.Kind != tt.kind || got.Target != tt.target || got.Action != tt.action || role != tt.role {
			t.Errorf("ParseCommand(%q) = %v %q %q %q, want %v %q %q %q", tt.in, got.Kind, got.Target, got.Action, role, tt.kind, tt.target, tt.action, tt.role)
		}
	}
}
