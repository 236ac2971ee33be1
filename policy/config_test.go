package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/examples"
	"github.com/google/go-cmp/cmp"
)

// wellKnown are the 15 directory roles every Elevate knows (reference/graph-pim.md §7).
var wellKnown = map[string]string{
	"Global Administrator":                    "62e90394-69f5-4237-9190-012177145e10",
	"Privileged Role Administrator":           "e8611ab8-c189-46e8-94e1-60213ab1f814",
	"Exchange Administrator":                  "29232cdf-9323-42fd-ade2-1d097af3e4de",
	"SharePoint Administrator":                "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
	"Security Administrator":                  "194ae4cb-b126-40b2-bd5b-6091b380977d",
	"User Administrator":                      "fe930be7-5e62-47db-91af-98c3a49a38b1",
	"Teams Administrator":                     "69091246-20e8-4a56-aa4d-066075b2a7a8",
	"Intune Administrator":                    "3a2c62db-5318-420d-8d74-23affee5d9d5",
	"Helpdesk Administrator":                  "729827e3-9c14-49f7-bb1b-9608f156bbb8",
	"Billing Administrator":                   "b0f54661-2d74-4c50-afa3-1ec803f12efe",
	"Application Administrator":               "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
	"Cloud Application Administrator":         "158c047a-c907-4556-b7ef-446551a6b5f7",
	"Conditional Access Administrator":        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
	"Authentication Administrator":            "c4e39bd9-1100-46d3-8c65-fb160da0071f",
	"Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
}

var tier0 = map[string]bool{
	"Global Administrator": true, "Privileged Role Administrator": true, "Privileged Authentication Administrator": true,
	"Conditional Access Administrator": true, "Security Administrator": true,
}

func TestExample(t *testing.T) {
	c := example(t)
	text := string(examples.Config)
	for name, id := range wellKnown {
		r := c.RoleByID(id)
		if r == nil || r.Name != name {
			t.Errorf("RoleByID(%s) = %v, want %s", id, r, name)
			continue
		}
		if !strings.Contains(text, "- name: "+name) {
			t.Errorf("examples/elevate.yaml does not list %s", name)
		}
		if r.Tier0 != tier0[name] {
			t.Errorf("%s: Tier0 = %v, want %v", name, r.Tier0, tier0[name])
		}
	}
	ga, _ := c.Role("ga")
	want := Approval{Required: 2, Approvers: []string{"bob@contoso.example", "carol@contoso.example", "erin@contoso.example"}}
	if diff := cmp.Diff(ga.Approval, want); diff != "" {
		t.Errorf("GA approval (-got +want):\n%s", diff)
	}
	if ga.MaxDuration != 8*time.Hour || !ga.Tier0 || !ga.TicketRequired || ga.TicketSystem != "ServiceNow" {
		t.Errorf("GA = %+v", ga)
	}
	if !ga.IsApprover("", "Bob@Contoso.example") || ga.IsApprover("", "alice@contoso.example") {
		t.Errorf("GA IsApprover wrong")
	}
	ex, _ := c.Role("exchange")
	if ex.MaxDuration != 8*time.Hour || ex.Approval.Required != 0 {
		t.Errorf("Exchange = %+v", ex)
	}
	spo, _ := c.Role("sharepoint")
	if spo.MaxDuration != 2*time.Hour {
		t.Errorf("SharePoint max = %v, want 2h", spo.MaxDuration)
	}
	if got := (Channels{"#pim-approvals", "#security", "#it-admins"}); c.Channels != got {
		t.Errorf("Channels = %+v", c.Channels)
	}
	if !c.IsBreakGlass("0b9a0000-0000-4000-8000-000000000001") || !c.IsBreakGlass("0B9A0000-0000-4000-8000-000000000002") || c.IsBreakGlass("") {
		t.Errorf("break-glass = %v", c.Users.BreakGlass)
	}
	if len(c.Users.Externals) != 1 || c.Users.Externals[0].ContractEnd.IsZero() {
		t.Errorf("externals = %+v", c.Users.Externals)
	}
	if c.RequestExpiry != time.Hour || c.SignInFreshness != 15*time.Minute {
		t.Errorf("expiry %v freshness %v", c.RequestExpiry, c.SignInFreshness)
	}
	if c.Tenant.GraphURL != "https://graph.microsoft.com" || c.Tenant.AuthorityHost != "https://login.microsoftonline.com/" {
		t.Errorf("Tenant = %+v", c.Tenant)
	}
}

func TestDefaults(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "{}", "---\n"} {
		c, err := Parse("empty.yaml", []byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if len(c.Roles) != len(catalogue) {
			t.Errorf("Parse(%q): %d roles, want the %d built in", in, len(c.Roles), len(catalogue))
		}
		for _, r := range c.Roles {
			if r.MaxDuration != 8*time.Hour || r.DefaultDuration != time.Hour || !r.JustificationRequired || r.TicketRequired || r.Approval.Required != 0 || r.TicketPattern == nil || !r.BuiltIn {
				t.Errorf("%s defaults = %+v", r.Name, r)
			}
			if r.Tier0 != tier0[r.Name] {
				t.Errorf("%s: Tier0 = %v", r.Name, r.Tier0)
			}
		}
		if c.RequestExpiry != time.Hour || c.SignInFreshness != 15*time.Minute || c.DefaultTicketPattern.String() != DefaultTicketPattern {
			t.Errorf("defaults: %+v", c)
		}
		if c.Identity.EmailMatch != EmailMatchRequire {
			t.Errorf("identity.email_match defaults to %q, want require", c.Identity.EmailMatch)
		}
		if c.Tenant != (Tenant{GraphURL: DefaultGraphURL, AuthorityHost: DefaultAuthorityHost}) {
			t.Errorf("tenant defaults: %+v", c.Tenant)
		}
	}
	if Default() == nil {
		t.Fatal("Default() = nil")
	}
}

func TestParseSettings(t *testing.T) {
	c := mustParse(t, `
tenant:
  tenant_id: contoso.onmicrosoft.com
  graph_url: http://127.0.0.1:8080/
  authority_host: https://127.0.0.1:8443
ticket_pattern: 'CHG\d{7}'
request_expiry: 2h
sign_in_freshness: 5m
identity:
  email_match: Warn
roles:
  - name: sharepoint            # an alias names the built-in too
    max_duration: 30m           # the default 1h is capped to it
  - template_id: 29232cdf-9323-42fd-ade2-1d097af3e4de
    ticket: {required: true, pattern: 'INC(\d+)', system: Jira, hint: INC42}
  - name: Mailbox Support
    template_id: 0C0A0000-0000-4000-8000-00000000BEEF
    aliases: [Mailbox, mbx]
    max_duration: 2h
    default_duration: 90m
    tier0: true
    approval_channel: "#mail-approvals"
    approval:
      required: 1
      group: 5e6c0000-0000-4000-8000-0000000000a1
`)
	if c.Tenant.TenantID != "contoso.onmicrosoft.com" || c.Tenant.GraphURL != "http://127.0.0.1:8080" || c.Tenant.AuthorityHost != "https://127.0.0.1:8443/" {
		t.Errorf("Tenant = %+v", c.Tenant)
	}
	if c.Identity.EmailMatch != EmailMatchWarn {
		t.Errorf("identity.email_match = %q, want warn", c.Identity.EmailMatch)
	}
	if c.RequestExpiry != 2*time.Hour || c.SignInFreshness != 5*time.Minute {
		t.Errorf("expiry %v freshness %v", c.RequestExpiry, c.SignInFreshness)
	}
	spo, _ := c.Role("spo")
	if spo.MaxDuration != 30*time.Minute || spo.DefaultDuration != 30*time.Minute {
		t.Errorf("spo = %v/%v, want 30m/30m", spo.MaxDuration, spo.DefaultDuration)
	}
	if spo.TicketPattern.String() != `CHG\d{7}` {
		t.Errorf("spo ticket pattern = %s, want the config default", spo.TicketPattern)
	}
	cmd, err := c.ParseCommand("exchange 1h INC77 and CHG0001234")
	if err != nil || cmd.Ticket != "77" {
		t.Errorf("ticket from a pattern with a group = %q, %v; want 77", cmd.Ticket, err)
	}
	mbx, err := c.Role("MBX")
	if err != nil {
		t.Fatal(err)
	}
	if mbx.BuiltIn || mbx.TemplateID != "0c0a0000-0000-4000-8000-00000000beef" || !mbx.Tier0 || mbx.DefaultDuration != 90*time.Minute ||
		c.ApprovalChannel(mbx) != "#mail-approvals" || mbx.Approval.Required != 1 || !cmp.Equal(mbx.Aliases, []string{"mailbox", "mbx"}) {
		t.Errorf("custom role = %+v", mbx)
	}
	if c.Roles[len(c.Roles)-1] != mbx {
		t.Errorf("custom roles come after the built-ins")
	}
	if r, _ := c.Role("mailbox support 1h"); r != nil {
		t.Errorf("Role() must not take a duration")
	}
	if cmd, err := c.ParseCommand("mailbox support 1h restore"); err != nil || cmd.Role != mbx || cmd.Duration != time.Hour {
		t.Errorf("multi-word custom role: %+v, %v", cmd, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each error, "line: substring"
	}{
		{"syntax", "a: 1\nb: 2\nc 2\nd: 3\n", []string{"3: this is not valid YAML: could not find expected ':'"}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{"2: a second YAML document"}},
		{"not a mapping", "- a\n- b\n", []string{"1: the config should be a set of `key: value` settings"}},
		{"unknown top key", "chanels:\n  approvals: x\n", []string{`1: the config: unknown setting "chanels" — did you mean "channels"?`}},
		{"unknown key far", "tenant:\n  zzz: 1\n", []string{`2: tenant: unknown setting "zzz" (known here: tenant_id,`}},
		{"upper-case key", "Request_Expiry: 1h\n", []string{`1: the config: unknown setting "Request_Expiry" — did you mean "request_expiry"?`}},
		{"duplicate key", "request_expiry: 1h\nrequest_expiry: 2h\n", []string{"2: request_expiry appears twice (first on line 1)"}},
		{"version", "version: 2\n", []string{"1: version: 2 is not a config version"}},
		{"email match", "identity:\n  email_match: strict\n", []string{`2: identity.email_match: "strict" should be require, warn or off`}},
		{"client secret", "tenant:\n  client_id: e1e70000-0000-4000-8000-0000000000a9\n  client_secret: hunter2\n", []string{"3: tenant.client_secret: secrets never go in the config file — set AZURE_CLIENT_SECRET in the environment instead"}},
		{"slack token", "slack:\n  bot_token: xoxb-1\n", []string{`1: the config: unknown setting "slack"`}},
		{"secret anywhere", "roles:\n  - name: ga\n    api_key: x\n", []string{"3: roles[0].api_key: this looks like a secret"}},
		{"bad guids", "tenant:\n  tenant_id: not a tenant\n  client_id: 1234\n", []string{
			`2: tenant.tenant_id: "not a tenant" is neither a tenant id`,
			`3: tenant.client_id: "1234" is not an application (client) id (a GUID`}},
		{"urls", "tenant:\n  graph_url: graph.microsoft.com\n  authority_host: http://login.microsoftonline.com/\n  redirect_url: https://\n", []string{
			`2: tenant.graph_url: "graph.microsoft.com" should be a URL starting with https://`,
			`3: tenant.authority_host: "http://login.microsoftonline.com/" must use https://`,
			`4: tenant.redirect_url: "https://" is not a valid URL`}},
		{"graph version", "tenant:\n  graph_url: https://graph.microsoft.com/v1.0\n", []string{"2: tenant.graph_url: leave out the version"}},
		{"http redirect", "tenant:\n  redirect_url: http://elevate.intranet.contoso.com/auth/callback\n", []string{
			`2: tenant.redirect_url: "http://elevate.intranet.contoso.com/auth/callback" uses http:// for elevate.intranet.contoso.com, which is not this machine: use https://`}},
		{"channel comment", "channels:\n  approvals: #pim-approvals\n", []string{`2: channels.approvals is empty: YAML reads # as the start of a comment, so quote it: "#pim-approvals"`}},
		{"channel list", "channels:\n  security: [a, b]\n", []string{`2: channels.security should be a single value, not a list`}},
		{"durations", "request_expiry: 4x\nsign_in_freshness: 90\n", []string{
			`1: request_expiry: "4x" is not a duration (use 30m, 4h, 1h30m)`,
			`2: sign_in_freshness: "90" is not a duration (use 30m, 4h, 1h30m)`}},
		{"duration hint", "request_expiry: 2h30\n", []string{`1: request_expiry: "2h30" is not a duration — write 2h30m`}},
		{"duration range", "request_expiry: 48h\nsign_in_freshness: 13h\n", []string{"1: request_expiry: 48h is out of range", "2: sign_in_freshness: 13h is out of range"}},
		{"ticket pattern", "ticket_pattern: '[A-Z'\n", []string{`1: ticket_pattern: "[A-Z" is not a valid regular expression: missing closing ]`}},
		{"empty ticket pattern", "ticket_pattern: 'X*'\n", []string{`1: ticket_pattern: "X*" matches empty text`}},
		{"empty name", "roles:\n  - name: ' '\n", []string{"2: roles[0].name is empty"}},
		{"roles not a list", "roles:\n  name: ga\n", []string{"2: roles should be a list of roles"}},
		{"role errors", `roles:
  - name: Exchange Admin
    max_duration: 4x
    default_duration: 9h
  - name: Exchange Administrator
  - name: Exchnage Administrator
  - name: Teams Administrator
    max_duration: 25h
    default_duration: 2m
    tier0: yes
    enabled: 1
  - template_id: 62e90394-69f5-4237-9190-012177145e10
    name: Exchange Administrator
  - name: Global Administrator
    template_id: 29232cdf-9323-42fd-ade2-1d097af3e4de
  - max_duration: 1h
`, []string{
			`3: roles[0].max_duration: "4x" is not a duration (use 30m, 4h, 1h30m)`,
			`4: roles[0].default_duration: 9h is longer than max_duration (8h)`,
			`5: roles[1]: Exchange Administrator is already configured on line 2`,
			`6: roles[2].name: "Exchnage Administrator" is not a built-in role — did you mean "Exchange Administrator"? A custom role also needs its template_id.`,
			`8: roles[3].max_duration: 25h is longer than PIM allows`,
			`9: roles[3].default_duration: 2m is too short`,
			`10: roles[3].tier0: "yes" should be true or false`,
			`11: roles[3].enabled: "1" should be true or false`,
			`12: roles[4].template_id: Exchange Administrator is built in with template id 29232cdf-9323-42fd-ade2-1d097af3e4de; leave template_id out`,
			`15: roles[5].template_id: Global Administrator is built in with template id 62e90394-69f5-4237-9190-012177145e10`,
			`16: roles[6]: name is missing`,
		}},
		{"aliases", `roles:
  - name: Exchange Administrator
    aliases: [status, 4h, "two words", ga, exo, mail, mail]
  - name: Teams Administrator
    aliases: [mail]
`, []string{
			`3: roles[0].aliases[0]: "status" is a command word, so it can't be an alias (reserved: approve, cancel,`,
			`3: roles[0].aliases[1]: "4h" looks like a duration`,
			`3: roles[0].aliases[2]: "two words" should be one word`,
			`3: roles[0].aliases[4]: "exo" is already a built-in alias of Exchange Administrator`,
			`3: roles[0].aliases[6]: "mail" is listed twice (first on line 3)`,
			`3: "ga" would mean both Global Administrator and Exchange Administrator`,
			`5: "mail" would mean both Exchange Administrator and Teams Administrator`,
		}},
		{"reserved future word", "roles:\n  - name: ga\n    aliases:\n      - drift\n      - Review\n", []string{
			`4: roles[0].aliases[0]: "drift" is a command word`,
			`5: roles[0].aliases[1]: "review" is a command word`}},
		{"custom role", `roles:
  - name: Mailbox Support
    template_id: nope
  - name: Status Page Admin
    template_id: 0c0a0000-0000-4000-8000-00000000beef
  - name: Mailbox Helper
    template_id: 0c0a0000-0000-4000-8000-00000000bee1
  - name: Other
    template_id: 0c0a0000-0000-4000-8000-00000000bee1
  - template_id: 0c0a0000-0000-4000-8000-00000000bee2
`, []string{
			`3: roles[0].template_id: "nope" is not a role template id`,
			`4: roles[1].name: "Status Page Admin" can't be a role name: its first word would read as a command word`,
			`9: roles[3].template_id: 0c0a0000-0000-4000-8000-00000000bee1 is already used by Mailbox Helper on line 6`,
			`10: roles[4]: a custom role needs a name`,
		}},
		{"approvals", `channels:
  approvals: "#pim"
roles:
  - name: ga
    approval:
      required: 3
      approvers: [bob@contoso.example, carol@contoso.example]
  - name: pra
    approval:
      required: 2
  - name: paa
    approval:
      approvers: [bob, bob@contoso.example, BOB@contoso.example]
      group: not-a-group
  - name: exchange
    approval: sometimes
  - name: spo
    approval: {required: two}
`, []string{
			`6: roles[0].approval.required: 3 approvals needed but only 2 approvers are listed`,
			`10: roles[1].approval.required: 2 approvals needed but nobody can approve`,
			`13: roles[2].approval.approvers[0]: "bob" is neither an object id (GUID) nor a UPN`,
			`13: roles[2].approval.approvers[2]: BOB@contoso.example is listed twice (first on line 13)`,
			`14: roles[2].approval.group: "not-a-group" is not a group object id`,
			`16: roles[3].approval: "sometimes" should be none, or settings`,
			`18: roles[4].approval.required: "two" should be a whole number`,
		}},
		{"approval channel", "roles:\n  - name: ga\n    approval:\n      approvers: [bob@contoso.example]\n", []string{
			"3: roles[0].approval: approvals need a channel for the approval cards"}},
		{"justification and ticket", `roles:
  - name: ga
    justification: {required: false, pattern: 'x'}
  - name: exchange
    justification: {pattern: '(', hint: [a]}
    ticket: {pattern: '\w*', system: 3, hint: nope, extra: 1}
  - name: spo
    ticket: {pattern: 'CHG\d+', hint: INC-1}
`, []string{
			`3: roles[0].justification.pattern: a pattern needs required: true`,
			`5: roles[1].justification.pattern: "(" is not a valid regular expression`,
			`5: roles[1].justification.hint should be a single value, not a list`,
			`6: roles[1].ticket: unknown setting "extra"`,
			`6: roles[1].ticket.pattern: "\\w*" matches empty text`,
			`8: roles[2].ticket.hint: the example "INC-1" doesn't match the pattern "CHG\\d+"`,
		}},
		{"users", `users:
  break_glass:
    - alice@contoso.example
    - 0b9a0000-0000-4000-8000-000000000001
    - 0B9A0000-0000-4000-8000-000000000001
    - bg1
  externals:
    - user: frank
      contract_end: 31/03/2027
    - user: erin@fabrikam.example
    - contract_end: 2027-03-31
    - user: ERIN@fabrikam.example
      contract_end: 2027-03-31
`, []string{
			`3: users.break_glass[0]: "alice@contoso.example" is a UPN; list break-glass accounts by object id`,
			`5: users.break_glass[2]: 0b9a0000-0000-4000-8000-000000000001 is listed twice (first on line 4)`,
			`6: users.break_glass[3]: "bg1" is not an object id`,
			`8: users.externals[0].user: "frank" is neither an object id (GUID) nor a UPN`,
			`9: users.externals[0].contract_end: "31/03/2027" is not a date`,
			`10: users.externals[1]: contract_end is missing`,
			`11: users.externals[2]: user is missing`,
			`12: users.externals[3].user: ERIN@fabrikam.example is listed twice (first on line 10)`,
		}},
		{"merge keys", "x: &d {max_duration: 1h}\nroles:\n  - <<: *d\n    name: ga\n", []string{
			`1: the config: unknown setting "x"`,
			`3: roles[0]: merge keys (<<) aren't supported`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("elevate.yaml", []byte(tt.yaml))
			var errs ConfigErrors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v (%T), want ConfigErrors", err, err)
			}
			var got []string
			for _, e := range errs {
				if e.File != "elevate.yaml" || e.Msg == "" {
					t.Errorf("bad error %+v", e)
				}
				got = append(got, strings.TrimPrefix(e.Error(), "elevate.yaml:"))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d:\n got %s\nwant %s...", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestConfigErrorFormat(t *testing.T) {
	_, err := Parse("elevate.yaml", []byte("roles:\n  - name: ga\n  - name: exchange\n  - name: spo\n  - name: teams\n    max_duration: 4x\n"))
	if got, want := err.Error(), `elevate.yaml:6: roles[3].max_duration: "4x" is not a duration (use 30m, 4h, 1h30m)`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (&ConfigError{File: "f.yaml", Msg: "empty"}).Error(); got != "f.yaml: empty" {
		t.Errorf("no-line Error() = %q", got)
	}
}

func TestAnchors(t *testing.T) {
	c := mustParse(t, `
channels: {approvals: "#a"}
roles:
  - name: ga
    approval: &two
      required: 2
      approvers: &admins [bob@contoso.example, carol@contoso.example, erin@contoso.example]
  - name: pra
    approval: *two
  - name: paa
    approval:
      approvers: *admins
`)
	pra, _ := c.Role("pra")
	paa, _ := c.Role("paa")
	if pra.Approval.Required != 2 || len(paa.Approval.Approvers) != 3 || paa.Approval.Required != 1 {
		t.Errorf("anchors: pra %+v paa %+v", pra.Approval, paa.Approval)
	}
}

func TestCheckRedirectURL(t *testing.T) {
	for _, ok := range []string{"https://elevate.contoso.com/auth/callback", "http://localhost:8080/auth/callback",
		"http://127.0.0.1/auth/callback", "http://[::1]:8080/auth/callback", "http://localhost/auth/callback"} {
		if err := CheckRedirectURL(ok); err != nil {
			t.Errorf("CheckRedirectURL(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"http://elevate.contoso.com/auth/callback", "http://10.0.0.5:8080/auth/callback",
		"http://localhost.contoso.com/auth/callback", "http://[fe80::1]/auth/callback"} {
		if err := CheckRedirectURL(bad); err == nil {
			t.Errorf("CheckRedirectURL(%q) accepted a plain-http redirect to another machine", bad)
		}
	}
}
