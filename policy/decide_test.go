package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDecide(t *testing.T) {
	c := example(t)
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	alice := Requester{ObjectID: "a11ce000-0000-4000-8000-000000000001", UPN: "alice@contoso.example"}
	bob := Requester{ObjectID: "b0b00000-0000-4000-8000-000000000002", UPN: "bob@contoso.example"}
	dave := Requester{ObjectID: "da7e0000-0000-4000-8000-000000000004", UPN: "dave@contoso.example"}
	frank := Requester{UPN: "Frank.Ext@contoso.example"}
	breakGlass := Requester{ObjectID: "0B9A0000-0000-4000-8000-000000000001", UPN: "bg1@contoso.example"}
	contractEnds := time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC) // the end of 31 Mar 2027

	tests := []struct {
		name string
		text string
		who  Requester
		now  time.Time
		want Decision
	}{
		{"exchange, no approval", "exchange 4h fixing mail flow", alice, now, Decision{
			Allowed: true, Duration: 4 * time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour)}},
		{"default duration", "exchange fixing mail flow", alice, now, Decision{
			Allowed: true, Duration: time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour)}},
		{"role default duration", "users onboarding", alice, now, Decision{
			Allowed: true, Duration: 30 * time.Minute, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour)}},
		{"global admin: two approvals, fresh sign-in, ticket", "ga 90m INC-1234 restore tenant", alice, now, Decision{
			Allowed: true, Duration: 90 * time.Minute, Ticket: "INC-1234", Approvals: 2, FreshSignIn: true,
			Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour)}},
		{"an approver asking still has two others", "ga 1h INC-1 restore tenant", bob, now, Decision{
			Allowed: true, Duration: time.Hour, Ticket: "INC-1", Approvals: 2, FreshSignIn: true, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour)}},
		{"over the cap: offer", "sharepoint 4h restore site", alice, now, Decision{
			Duration: 4 * time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeTooLong, Message: "SharePoint Administrator allows at most 2h — use 2h?", Offer: 2 * time.Hour}}},
		{"dave's 12h", "ga 12h INC-9 restore tenant", dave, now, Decision{
			Duration: 12 * time.Hour, Ticket: "INC-9", Approvals: 2, FreshSignIn: true, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeTooLong, Message: "Global Administrator allows at most 8h — use 8h?", Offer: 8 * time.Hour}}},
		{"dave's 12h exchange", "exchange 12h mail flow", dave, now, Decision{
			Duration: 12 * time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeTooLong, Message: "Exchange Administrator allows at most 8h — use 8h?", Offer: 8 * time.Hour}}},
		{"no justification", "ga 1h", alice, now, Decision{
			Duration: time.Hour, Approvals: 2, FreshSignIn: true, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeJustificationRequired, Message: `Global Administrator needs a justification: say why, e.g. "/elevate ga 1h INC-1234 restore tenant"`}}},
		{"justification before the duration offer", "sharepoint 4h", alice, now, Decision{
			Duration: 4 * time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeJustificationRequired, Message: `SharePoint Administrator needs a justification: say why, e.g. "/elevate sharepoint 1h INC-1234 restore site"`}}},
		{"justification optional", "billing 1h", alice, now, Decision{
			Allowed: true, Duration: time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour)}},
		{"justification pattern", "intune 1h wipe", alice, now, Decision{
			Duration: time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeJustificationMismatch, Message: `Intune Administrator's justification must follow a few words saying why, e.g. "/elevate intune 1h INC-1234 wipe lost phone"`}}},
		{"ticket missing", "ga 1h restore tenant", alice, now, Decision{
			Duration: time.Hour, Approvals: 2, FreshSignIn: true, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeTicketRequired, Message: `Global Administrator needs a ServiceNow ticket number in the justification, e.g. "/elevate ga 1h INC-1234 restore tenant"`}}},
		{"ticket required (shorthand)", "pra 1h assign auditor", alice, now, Decision{
			Duration: time.Hour, Approvals: 1, FreshSignIn: true, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeTicketRequired, Message: `Privileged Role Administrator needs a ticket number in the justification, e.g. "/elevate pra 1h INC-1234 assign auditor role"`}}},
		{"break-glass refused", "exchange 1h fixing", breakGlass, now, Decision{
			Duration: time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeBreakGlass, Message: "This is a break-glass account. Emergency accounts sign in to Entra directly and never request roles through Elevate — in an emergency follow the break-glass procedure; otherwise use your own account."}}},
		{"consultant within contract", "exchange 4h fixing", frank, now, Decision{
			Allowed: true, Duration: 4 * time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour)}},
		{"consultant capped by contract", "exchange 4h fixing", frank, contractEnds.Add(-2*time.Hour - 15*time.Minute - 30*time.Second), Decision{
			Duration: 4 * time.Hour, Freshness: 15 * time.Minute, ExpiresAt: contractEnds.Add(-75*time.Minute - 30*time.Second),
			Problem: &Error{Code: CodeContractCap, Message: "Your contract ends on 31 Mar 2027, so Exchange Administrator can last at most 2h15m for you — use 2h15m?", Offer: 135 * time.Minute}}},
		{"consultant: role cap below contract", "sharepoint 4h fix", frank, contractEnds.Add(-3 * time.Hour), Decision{
			Duration: 4 * time.Hour, Freshness: 15 * time.Minute, ExpiresAt: contractEnds.Add(-2 * time.Hour),
			Problem: &Error{Code: CodeTooLong, Message: "SharePoint Administrator allows at most 2h — use 2h?", Offer: 2 * time.Hour}}},
		{"consultant: contract ended", "exchange 1h fixing", frank, contractEnds, Decision{
			Duration: time.Hour, Freshness: 15 * time.Minute, ExpiresAt: contractEnds.Add(time.Hour),
			Problem: &Error{Code: CodeContractEnded, Message: "Your contract ended on 31 Mar 2027, so Elevate can't activate roles for you any more. If it has been extended, ask your Elevate admin to update the config."}}},
		{"consultant: minutes left", "exchange 1h fixing", frank, contractEnds.Add(-3 * time.Minute), Decision{
			Duration: time.Hour, Freshness: 15 * time.Minute, ExpiresAt: contractEnds.Add(57 * time.Minute),
			Problem: &Error{Code: CodeContractEnded, Message: "Your contract ends on 31 Mar 2027 — too soon for another activation."}}},
		{"extend needs no justification", "extend exchange 1h", alice, now, Decision{
			Allowed: true, Duration: time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour)}},
		{"extend over the cap", "extend spo 3h", alice, now, Decision{
			Duration: 3 * time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeTooLong, Message: "SharePoint Administrator allows at most 2h — use 2h?", Offer: 2 * time.Hour}}},
		{"extend without a role", "extend 1h", alice, now, Decision{
			Duration: time.Hour, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeMissingRole, Message: `Which role? Say e.g. "exchange 1h fixing mail flow" — "roles" lists them`}}},
		{"not a request", "status", alice, now, Decision{
			Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeNotARequest, Message: `"status" is not a request for a role`}}},
		{"too short", "exchange 3m fixing", alice, now, Decision{
			Duration: 3 * time.Minute, Freshness: 15 * time.Minute, ExpiresAt: now.Add(time.Hour),
			Problem: &Error{Code: CodeTooShort, Message: "3m is too short for PIM to make the role usable — use 5m?", Offer: 5 * time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := c.ParseCommand(tt.text)
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tt.text, err)
			}
			got := c.Decide(cmd, tt.who, tt.now)
			if diff := cmp.Diff(got, tt.want, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide(%q) (-got +want):\n%s", tt.text, diff)
			}
			if got.Allowed != (got.Problem == nil) {
				t.Errorf("Allowed = %v with Problem %v", got.Allowed, got.Problem)
			}
			if got.Problem != nil && got.Problem.Offer > 0 {
				cmd.Duration = got.Problem.Offer
				if d := c.Decide(cmd, tt.who, tt.now); !d.Allowed {
					t.Errorf("accepting the offer %v: %v", got.Problem.Offer, d.Problem)
				}
			}
		})
	}
}

func TestDecideTickets(t *testing.T) {
	c := mustParse(t, `
roles:
  - name: exchange
    ticket: {required: true, pattern: 'CHG\d{7}', system: ServiceNow, hint: CHG0012345}
`)
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	r, _ := c.Role("exchange")
	tests := []struct {
		cmd    Command
		ticket string
		code   string
	}{
		{Command{Kind: KindRequest, Role: r, Justification: "CHG0012345 migrate"}, "CHG0012345", ""},
		{Command{Kind: KindRequest, Role: r, Justification: "migrate", Ticket: "CHG0000001"}, "CHG0000001", ""}, // from the form
		{Command{Kind: KindRequest, Role: r, Justification: "INC-1234 migrate"}, "", CodeTicketMismatch},
		{Command{Kind: KindRequest, Role: r, Justification: "migrate", Ticket: "INC-9"}, "", CodeTicketMismatch},
		{Command{Kind: KindRequest, Role: r, Justification: "migrate"}, "", CodeTicketRequired},
	}
	for _, tt := range tests {
		d := c.Decide(tt.cmd, Requester{ObjectID: "x"}, now)
		code := ""
		if d.Problem != nil {
			code = d.Problem.Code
		}
		if d.Ticket != tt.ticket || code != tt.code {
			t.Errorf("Decide(%q, ticket %q) = ticket %q, problem %v; want %q, %q", tt.cmd.Justification, tt.cmd.Ticket, d.Ticket, d.Problem, tt.ticket, tt.code)
		}
	}
	d := c.Decide(tests[2].cmd, Requester{}, now)
	if want := `Exchange Administrator needs a ServiceNow ticket number like CHG0012345; "INC-1234" isn't one`; d.Problem.Message != want {
		t.Errorf("mismatch message = %q, want %q", d.Problem.Message, want)
	}
}

func TestDecideApprovers(t *testing.T) {
	c := mustParse(t, `
channels: {approvals: "#a"}
roles:
  - name: ga
    ticket: false
    approval: {required: 2, approvers: [bob@contoso.example, 0c0c0000-0000-4000-8000-000000000003]}
  - name: pra
    approval: {required: 2, approvers: [bob@contoso.example], group: 5e6c0000-0000-4000-8000-0000000000a1}
`)
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		text string
		who  Requester
		ok   bool
	}{
		{"ga 1h restore", Requester{UPN: "alice@contoso.example"}, true},
		{"ga 1h restore", Requester{UPN: "bob@contoso.example"}, false},
		{"ga 1h restore", Requester{ObjectID: "0C0C0000-0000-4000-8000-000000000003"}, false},
		{"pra 1h assign", Requester{UPN: "bob@contoso.example"}, true}, // the group may supply approvers
	} {
		cmd, err := c.ParseCommand(tt.text)
		if err != nil {
			t.Fatal(err)
		}
		d := c.Decide(cmd, tt.who, now)
		if d.Allowed != tt.ok {
			t.Errorf("Decide(%q, %+v) = %v %v, want allowed %v", tt.text, tt.who, d.Allowed, d.Problem, tt.ok)
		}
		if !tt.ok && (d.Problem == nil || d.Problem.Code != CodeNoApprovers) {
			t.Errorf("problem = %v, want no_approvers", d.Problem)
		}
	}
}

func TestDecideLiteralConfig(t *testing.T) {
	// The bot's tests may build a Config by hand; zero values fall back to the defaults.
	r := &Role{Name: "Exchange Administrator", TemplateID: "29232cdf-9323-42fd-ade2-1d097af3e4de", Aliases: []string{"exchange"}, MaxDuration: 2 * time.Hour}
	c := &Config{Roles: []*Role{r}}
	cmd, err := c.ParseCommand("exchange INC-7 fix")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := c.Decide(cmd, Requester{}, now)
	want := Decision{Allowed: true, Duration: time.Hour, Ticket: "INC-7", Freshness: DefaultSignInFreshness, ExpiresAt: now.Add(DefaultRequestExpiry)}
	if diff := cmp.Diff(d, want); diff != "" {
		t.Errorf("Decide (-got +want):\n%s", diff)
	}
}
