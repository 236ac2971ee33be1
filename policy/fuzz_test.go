package policy

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/elevate-pim/elevate/examples"
)

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"", "help", "roles", "status", "cancel", "done", "done exchange", "extend 1h", "extend exchange 30m",
		"exchange 4h fixing mail flow", "ga 90m INC-1234 restore tenant", "exchange administrator 4h fixing",
		"Privileged Authentication Administrator 1h30m reset MFA", "spo 2h30 restore site", "exchange 1.5h x",
		"exchange 4 hours x", "exchange 1d", "exchnage 4h", "stauts", "/elevate ga 12h INC-9 restore",
		"elevate", "approve 42", "exchange 0m", "exchange 99999999999h", "ga 1h CHG-0001234 fix\u00a0it",
		"exchange\t4h\nfixing", "29232cdf-9323-42fd-ade2-1d097af3e4de 1h", "extend exchange administrator",
		"exchange 1h75m", "ga 4H INC-1 ÄÖÜ ünïcode", "global admin 30min",
		"exchange,sharepoint 4h fixing mail flow", "exchange, sharepoint administrator 1h x", "exchange,,spo 1h",
		"exchange,sharpoint 4h", "exchange, 4h x", "done exchange,spo", "done all", "extend all 1h",
		"extend exchange,teams 30m", "exchange,spo,teams,intune,user,helpdesk 1h", "exchange sharepoint 4h x",
		"exchange 4h a, b", ",", "exchange,tier1 1h x",
	} {
		f.Add(s)
	}
	c, err := Parse("elevate.yaml", examples.Config)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := c.ParseCommand(text)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseCommand(%q): error %T, want *Error", text, err)
			}
			if strings.TrimSpace(e.Message) == "" || e.Code == "" {
				t.Fatalf("ParseCommand(%q): error without a message or code: %+v", text, e)
			}
			if e.Offer < 0 {
				t.Fatalf("ParseCommand(%q): negative offer %v", text, e.Offer)
			}
			if !reflect.DeepEqual(cmd, Command{}) {
				t.Fatalf("ParseCommand(%q): error %v with a command %+v", text, err, cmd)
			}
			return
		}
		if cmd.Duration < 0 {
			t.Fatalf("ParseCommand(%q): negative duration %v", text, cmd.Duration)
		}
		if cmd.Ticket != "" && !strings.Contains(cmd.Justification, cmd.Ticket) {
			t.Fatalf("ParseCommand(%q): ticket %q not in justification %q", text, cmd.Ticket, cmd.Justification)
		}
		if cmd.Justification != strings.TrimSpace(cmd.Justification) {
			t.Fatalf("ParseCommand(%q): untrimmed justification %q", text, cmd.Justification)
		}
		if utf8.ValidString(text) && !utf8.ValidString(cmd.Justification) {
			t.Fatalf("ParseCommand(%q): justification is not UTF-8", text)
		}
		// A role list: at most MaxRoles distinct configured roles, led by Role; never with All.
		if len(cmd.Roles) == 1 || len(cmd.Roles) > MaxRoles || (len(cmd.Roles) > 0 && cmd.Role != cmd.Roles[0]) || (cmd.All && cmd.Role != nil) {
			t.Fatalf("ParseCommand(%q): role list %d roles, role %v, all %v", text, len(cmd.Roles), cmd.Role, cmd.All)
		}
		for i, r := range cmd.Roles {
			if c.RoleByID(r.TemplateID) != r || slices.Contains(cmd.Roles[:i], r) {
				t.Fatalf("ParseCommand(%q): role %s unknown or named twice", text, r.Name)
			}
		}
		switch cmd.Kind {
		case KindForm, KindHelp, KindRoles, KindStatus, KindCancel:
			if cmd.Role != nil || cmd.Duration != 0 || cmd.Justification != "" || cmd.Ticket != "" {
				t.Fatalf("ParseCommand(%q): %v with arguments: %+v", text, cmd.Kind, cmd)
			}
		case KindDone:
			if cmd.Duration != 0 || cmd.Justification != "" || cmd.Ticket != "" {
				t.Fatalf("ParseCommand(%q): done with arguments: %+v", text, cmd)
			}
		case KindExtend:
			if cmd.Duration <= 0 || cmd.Justification != "" || cmd.Ticket != "" {
				t.Fatalf("ParseCommand(%q): extend without a duration: %+v", text, cmd)
			}
		case KindFeedback:
			if strings.TrimSpace(cmd.Reason) == "" {
				t.Fatalf("ParseCommand(%q): feedback without a note", text)
			}
			return
		case KindApprove, KindDeny:
			if cmd.RequestID == 0 || cmd.Role != nil || (cmd.Kind == KindDeny) == (strings.TrimSpace(cmd.Reason) == "") {
				t.Fatalf("ParseCommand(%q): %v without a request number or with a wrong reason: %+v", text, cmd.Kind, cmd)
			}
			return
		case KindRequest:
			if cmd.Role == nil {
				t.Fatalf("ParseCommand(%q): request without a role", text)
			}
			if cmd.All {
				t.Fatalf("ParseCommand(%q): a request for all roles", text)
			}
			if c.RoleByID(cmd.Role.TemplateID) != cmd.Role {
				t.Fatalf("ParseCommand(%q): role %s is not in the config", text, cmd.Role.Name)
			}
		default:
			t.Fatalf("ParseCommand(%q): unknown kind %v", text, cmd.Kind)
		}
		// Whatever parsed must be decidable without a panic, with a consistent answer.
		d := c.Decide(cmd, Requester{ObjectID: "a11ce000-0000-4000-8000-000000000001"}, fuzzNow)
		if d.Allowed == (d.Problem != nil) {
			t.Fatalf("Decide(%q): Allowed %v with problem %v", text, d.Allowed, d.Problem)
		}
		if d.Problem != nil && strings.TrimSpace(d.Problem.Message) == "" {
			t.Fatalf("Decide(%q): problem without a message", text)
		}
		if d.Allowed && (d.Duration <= 0 || d.Duration > cmd.Role.MaxDuration) {
			t.Fatalf("Decide(%q): allowed with duration %v", text, d.Duration)
		}
		// The bot proceeds with an offered duration without asking again: it must be allowed.
		if d.Problem != nil && d.Problem.Offer > 0 {
			cmd.Duration = d.Problem.Offer
			if again := c.Decide(cmd, Requester{ObjectID: "a11ce000-0000-4000-8000-000000000001"}, fuzzNow); !again.Allowed {
				t.Fatalf("Decide(%q): offer %v is refused: %v", text, d.Problem.Offer, again.Problem)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add(string(examples.Config))
	for _, s := range []string{
		"", "{}", "roles:\n  - name: ga\n", "x: &a [*a]\n", "a: &a\n  b: *a\nroles: *a\n",
		"roles:\n  - name: ga\n    approval: {required: 2, approvers: [a@b.c]}\n",
		"users:\n  externals:\n    - {user: a@b.c, contract_end: 2027-01-01}\n",
		"tenant:\n  client_secret: x\n", "channels:\n  approvals: #x\n", "---\n---\n",
		"roles:\n  - <<: {name: ga}\n", "roles: [[], {}, 1, ~]\n", "ticket_pattern: '(a|)'\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := Parse("fuzz.yaml", []byte(data))
		if err != nil {
			var errs ConfigErrors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse error %T %v, want ConfigErrors", err, err)
			}
			for _, e := range errs {
				if e.Msg == "" || e.Line < 0 {
					t.Fatalf("bad ConfigError %+v", e)
				}
			}
			if c != nil {
				t.Fatalf("Parse returned a config with errors")
			}
			return
		}
		for _, r := range c.Roles {
			if r.Name == "" || r.TicketPattern == nil || r.DefaultDuration <= 0 || r.DefaultDuration > r.MaxDuration || r.MaxDuration > PIMMaxDuration {
				t.Fatalf("inconsistent role %+v", r)
			}
			if got, err := c.Role(r.Name); err != nil || got != r {
				t.Fatalf("Role(%q) = %v, %v", r.Name, got, err)
			}
			for _, a := range r.Aliases {
				if got, err := c.Role(a); err != nil || got != r {
					t.Fatalf("alias %q of %s resolves to %v, %v", a, r.Name, got, err)
				}
			}
		}
	})
}

var fuzzNow = mustTime("2026-11-26T10:00:00Z")

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
