package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/examples"
	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
	"github.com/elevate-pim/elevate/oncall/oncalltest"
	"github.com/elevate-pim/elevate/policy"
)

const (
	botAppID  = "b0700000-0000-4000-8000-000000000001"
	botSecret = "bot-secret"
)

// checkSetup is a whole environment for `elevate check`: the simulated tenant, a fake Slack
// workspace with the example config's channels, and a fake Bot Framework.
type checkSetup struct {
	tn    *graphtest.Tenant
	slack *slacktest.Server
	teams *teamstest.Server
	cfg   *policy.Config
	env   map[string]string
	gc    graph.Config
}

func newCheckSetup(t *testing.T, seedFn func(*graphtest.Seed)) *checkSetup {
	t.Helper()
	seed, err := graphtest.ParseSeed(examples.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	seed.Client.RedirectURIs = []string{"https://elevate.test/auth/callback"}
	if seedFn != nil {
		seedFn(&seed)
	}
	tn, err := graphtest.New(seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Close)
	cfg, err := policy.Parse("examples/elevate.yaml", examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	sl := slacktest.New()
	t.Cleanup(sl.Close)
	for i, ch := range configuredChannels(cfg) {
		sl.AddChannel("C0CHECK00"+string(rune('A'+i)), ch)
	}
	tm := teamstest.New(teamstest.Options{AppID: botAppID, AppSecret: botSecret, TenantID: tn.TenantID()})
	t.Cleanup(tm.Close)
	var mapped []string
	for i, ch := range configuredChannels(cfg) {
		mapped = append(mapped, ch+"=19:check"+string(rune('a'+i))+"@thread.tacv2")
	}
	return &checkSetup{tn: tn, slack: sl, teams: tm, cfg: cfg,
		env: map[string]string{
			"SLACK_BOT_TOKEN": slacktest.BotToken, "SLACK_APP_TOKEN": slacktest.AppToken, "SLACK_API_URL": sl.APIURL(),
			"MICROSOFT_APP_ID": botAppID, "MICROSOFT_APP_PASSWORD": botSecret, "MICROSOFT_APP_TENANT_ID": tn.TenantID(),
			"BOTFRAMEWORK_TOKEN_URL": tm.AuthorityHost() + tn.TenantID() + "/oauth2/v2.0/token",
			"TEAMS_CHANNELS":         strings.Join(mapped, ","),
		},
		gc: graph.Config{GraphURL: tn.GraphURL(), AuthorityHost: tn.AuthorityURL(), TenantID: tn.TenantID(),
			ClientID: tn.ClientID(), ClientSecret: tn.ClientSecret(), RedirectURL: "https://elevate.test/auth/callback", HTTPClient: tn.HTTPClient()},
	}
}

func (s *checkSetup) run(t *testing.T) (string, error) {
	t.Helper()
	var out bytes.Buffer
	// The fake Bot Framework is https (its certificate trusted by this client); the fake Slack is http.
	err := checkWith(context.Background(), s.cfg, checkEnv{Graph: s.gc, Getenv: func(k string) string { return s.env[k] }, HTTP: s.teams.Client()}, &out)
	return out.String(), err
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestCheckAllGood(t *testing.T) {
	s := newCheckSetup(t, nil)
	out, err := s.run(t)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLines(t, out, "app token: obtained", "application permissions assigned: AuditLog.Read.All",
		"delegated permissions consented for all users:", graph.ScopeActivate,
		"licence for PIM: Microsoft Entra ID P2 (service plan AAD_PREMIUM_P2",
		"redirect URI https://elevate.test/auth/callback: registered on the app (Web platform)",
		"reached directory audit log", "optional, not granted: RoleEligibilitySchedule.Remove.Directory",
		"auth.test: the bot @elevate in the workspace Contoso", "Socket Mode (apps.connections.open): the app-level token works", "channel #pim-approvals: C0CHECK00A, the bot is in it",
		"Bot Framework token: obtained for the bot "+botAppID, "channel #security: mapped to 19:checkb@thread.tacv2",
		"Everything Elevate needs is in place")
}

// The scenario: a tenant consented as the old docs said (no delegated PIM scopes) and a
// wrong MICROSOFT_APP_PASSWORD. Both are reported, each in one line with its fix, and check fails.
func TestCheckMissingDelegatedConsentAndWrongBotSecret(t *testing.T) {
	s := newCheckSetup(t, func(seed *graphtest.Seed) {
		seed.Client.Scopes = []string{"User.Read", "openid", "profile", "offline_access"}
	})
	s.env["MICROSOFT_APP_PASSWORD"] = "not-the-secret"
	out, err := s.run(t)
	if exitStatus(err) != exitFail {
		t.Fatalf("check: %v (exit status %d, want 1)\n%s", err, exitStatus(err), out)
	}
	wantLines(t, out,
		"Grant admin consent for the delegated permission RoleAssignmentSchedule.ReadWrite.Directory",
		"Grant admin consent for the delegated permission RoleEligibilitySchedule.ReadWrite.Directory",
		"Delegated permissions → RoleAssignmentSchedule.ReadWrite.Directory, then Grant admin consent",
		"=Scope` and then `az ad app permission admin-consent --id "+s.tn.ClientID(),
		"Bot Framework token: refused (AADSTS7000215: Invalid client secret provided.)",
		"The Bot Framework refused the bot's secret (MICROSOFT_APP_PASSWORD): AADSTS7000215: Invalid client secret provided. (the client secret is wrong: use the secret's Value",
		"set MICROSOFT_APP_PASSWORD to its Value")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Trace ID") || strings.Contains(line, "Correlation ID") {
			t.Errorf("the refusal is not one clear line: %q", line)
		}
	}
	if strings.Contains(out, "Everything Elevate needs") {
		t.Errorf("check claims all is well:\n%s", out)
	}
}

// PIM for Groups' delegated scope is needed only when the config has groups.
func TestCheckGroupsScopeOnlyWithGroups(t *testing.T) {
	s := newCheckSetup(t, func(seed *graphtest.Seed) {
		seed.Client.Scopes = []string{graph.ScopeActivate, graph.ScopeEligibility, "User.Read"}
	})
	out, err := s.run(t)
	withGroups := false
	for _, r := range s.cfg.Roles {
		withGroups = withGroups || r.Group
	}
	if !withGroups {
		t.Fatal("the example config has no groups; this test needs one")
	}
	if err == nil || !strings.Contains(out, "Grant admin consent for the delegated permission "+graph.ScopeGroups) {
		t.Errorf("with groups in the config, a missing %s is not reported (err %v):\n%s", graph.ScopeGroups, err, out)
	}
}

func TestCheckLicence(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		s := newCheckSetup(t, nil)
		s.tn.SetSubscribedSkus(graphtest.Sku{PartNumber: "O365_BUSINESS_PREMIUM", Plans: []string{"EXCHANGE_S_STANDARD", "AAD_PREMIUM"}})
		out, err := s.run(t)
		if err == nil {
			t.Fatalf("check passed without a PIM licence:\n%s", out)
		}
		wantLines(t, out, "The tenant has no Microsoft Entra ID P2 or Microsoft Entra ID Governance licence")
	})
	t.Run("suspended P2", func(t *testing.T) {
		s := newCheckSetup(t, nil)
		s.tn.SetSubscribedSkus(graphtest.Sku{PartNumber: "AAD_PREMIUM_P2", Status: "Suspended", Plans: []string{"AAD_PREMIUM_P2"}})
		if out, err := s.run(t); err == nil {
			t.Fatalf("check passed with a suspended licence:\n%s", out)
		}
	})
	t.Run("governance", func(t *testing.T) {
		s := newCheckSetup(t, nil)
		s.tn.SetSubscribedSkus(graphtest.Sku{PartNumber: "Microsoft_Entra_ID_Governance", Plans: []string{"Entra_Identity_Governance"}})
		out, err := s.run(t)
		if err != nil {
			t.Fatalf("check: %v\n%s", err, out)
		}
		wantLines(t, out, "licence for PIM: Microsoft Entra ID Governance (service plan Entra_Identity_Governance")
	})
}

func TestCheckSaysWhatIsMissing(t *testing.T) {
	s := newCheckSetup(t, func(seed *graphtest.Seed) {
		seed.Client.Roles = []string{"RoleManagement.ReadWrite.Directory", "User.Read.All", "GroupMember.Read.All", "RoleManagementPolicy.Read.Directory"}
	})
	s.env = map[string]string{}
	out, err := s.run(t)
	if err == nil {
		t.Fatalf("check passed:\n%s", out)
	}
	// Without Directory.Read.All the consent records can't be read: the token's roles say
	// what is granted, and check says it could not see the delegated consent.
	wantLines(t, out, "application permissions in the app's token:",
		"Grant the application permission AuditLog.Read.All", "Application permissions → AuditLog.Read.All, then Grant admin consent",
		"Remove the application permission RoleManagement.ReadWrite.Directory",
		"could not read the tenant-wide consent to its delegated permissions",
		"No chat platform is configured")
}

// A wrong client secret is one line with its AADSTS code and meaning, not azidentity's dump.
func TestCheckWrongAppSecret(t *testing.T) {
	s := newCheckSetup(t, nil)
	s.gc.ClientSecret = "wrong"
	out, err := s.run(t)
	if err == nil {
		t.Fatalf("check passed:\n%s", out)
	}
	wantLines(t, out, "Elevate could not get a token as the app "+s.tn.ClientID()+" with its client secret (AZURE_CLIENT_SECRET): AADSTS7000215: Invalid client secret provided.",
		"Certificates & secrets → New client secret, and set AZURE_CLIENT_SECRET to its Value")
	for _, dump := range []string{"RESPONSE", "-----", "aka.ms/azsdk"} {
		if strings.Contains(out, dump) {
			t.Errorf("output carries azidentity's dump (%q):\n%s", dump, out)
		}
	}
}

// A TLS failure is shown as the x509 error it is.
func TestCheckUntrustedCertificate(t *testing.T) {
	s := newCheckSetup(t, nil)
	s.gc.HTTPClient = &http.Client{} // does not trust the simulated sign-in server's certificate
	out, err := s.run(t)
	if err == nil {
		t.Fatalf("check passed:\n%s", out)
	}
	wantLines(t, out, "x509: certificate signed by unknown authority", "add its root CA to this machine's trust store")
	if strings.Contains(out, "check the client id, the secret") {
		t.Errorf("the TLS failure is blamed on the credentials:\n%s", out)
	}
}

func TestCheckSlack(t *testing.T) {
	t.Run("wrong token", func(t *testing.T) {
		s := newCheckSetup(t, nil)
		s.env["SLACK_BOT_TOKEN"] = "xoxb-wrong"
		out, err := s.run(t)
		if err == nil {
			t.Fatalf("check passed:\n%s", out)
		}
		wantLines(t, out, "Slack refused SLACK_BOT_TOKEN (invalid_auth)")
	})
	t.Run("wrong app token", func(t *testing.T) {
		s := newCheckSetup(t, nil)
		s.env["SLACK_APP_TOKEN"] = "xapp-wrong"
		out, err := s.run(t)
		if err == nil {
			t.Fatalf("check passed:\n%s", out)
		}
		wantLines(t, out, "Slack refused SLACK_APP_TOKEN for Socket Mode (invalid_auth)")
	})
	t.Run("missing scopes", func(t *testing.T) {
		s := newCheckSetup(t, nil)
		s.slack.SetScopes("commands", "chat:write", "im:write", "users:read", "users:read.email", "files:write")
		out, err := s.run(t)
		if err == nil {
			t.Fatalf("check passed:\n%s", out)
		}
		wantLines(t, out, "The Slack app lacks the bot scopes channels:read, groups:read, channels:history, groups:history, im:history", "Reinstall to Workspace",
			"channel #pim-approvals: not checked", "cannot look for a post whose answer Slack lost, and posts it again: people may see it twice")
	})
	t.Run("channels", func(t *testing.T) {
		s := newCheckSetup(t, nil)
		s.cfg.Channels.Approvals = "#no-such-channel"
		s.cfg.Channels.Digest = "C0OUTSIDE1"
		s.slack.AddOtherChannel("C0OUTSIDE1", "#outside")
		out, err := s.run(t)
		if err == nil {
			t.Fatalf("check passed:\n%s", out)
		}
		wantLines(t, out, "Slack has no channel #no-such-channel that the bot can see",
			"Invite Elevate to the Slack channel C0OUTSIDE1: type /invite @elevate in it")
	})
}

func TestCheckTeamsChannels(t *testing.T) {
	s := newCheckSetup(t, nil)
	s.env["TEAMS_CHANNELS"] = "#security=19:sec@thread.tacv2"
	out, err := s.run(t)
	if err != nil {
		t.Fatalf("an unmapped Teams channel is not a failure (Elevate may know it from Teams): %v\n%s", err, out)
	}
	wantLines(t, out, "channel #security: mapped to 19:sec@thread.tacv2", "channel #pim-approvals: not in TEAMS_CHANNELS")
	s.env["TEAMS_CHANNELS"] = "#security=C0123"
	if out, err := s.run(t); err == nil || !strings.Contains(out, "TEAMS_CHANNELS does not parse") {
		t.Errorf("a malformed TEAMS_CHANNELS passes (err %v):\n%s", err, out)
	}
}

// A wrong tenant id is named by Entra's own code before any credential is tried.
func TestCheckUnknownTenant(t *testing.T) {
	s := newCheckSetup(t, nil)
	s.gc.TenantID = "0bad0000-0000-4000-8000-000000000000"
	out, err := s.run(t)
	if err == nil {
		t.Fatalf("check passed:\n%s", out)
	}
	wantLines(t, out, "Elevate cannot reach Microsoft Entra at "+s.tn.AuthorityURL()+" for tenant 0bad0000-0000-4000-8000-000000000000: AADSTS90002: Tenant '0bad0000-0000-4000-8000-000000000000' not found. (the tenant was not found: check the tenant id)")
}

// A redirect URL the app registration does not list would end every sign-in with AADSTS50011.
func TestCheckRedirectNotRegistered(t *testing.T) {
	s := newCheckSetup(t, func(seed *graphtest.Seed) {
		seed.Client.RedirectURIs = []string{"https://elevate.test/callback"}
	})
	out, err := s.run(t)
	if err == nil {
		t.Fatalf("check passed:\n%s", out)
	}
	wantLines(t, out, "redirect URIs registered on the app (Web platform): https://elevate.test/callback",
		"Register the sign-in redirect https://elevate.test/auth/callback on the app, exactly (without it every sign-in ends with AADSTS50011)")
}

// A role with an on-call waiver: check proves the key and that the schedule and service exist.
func TestCheckOnCall(t *testing.T) {
	fake := oncalltest.New()
	defer fake.Close()
	fake.OnCall("P123ABC")
	fake.AddService("PSVC1", "Exchange Online")
	s := newCheckSetup(t, nil)
	cfg, err := policy.Parse("test.yaml", []byte(strings.Replace(string(examples.Config), "    max_duration: 8h\n    approval: none\n",
		"    max_duration: 8h\n    approval:\n      approvers: [bob@contoso.example]\n      on_call:\n        pagerduty: {schedule: P123ABC, incident_service: PSVC1}\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if ex, _ := cfg.Role("exchange"); ex.Approval.OnCall == nil {
		t.Fatal("the test config has no on_call for Exchange Administrator")
	}
	s.cfg = cfg
	s.env["PAGERDUTY_API_URL"] = fake.PagerDutyURL()

	out, err := s.run(t)
	if err == nil {
		t.Fatalf("check passed without PAGERDUTY_TOKEN:\n%s", out)
	}
	wantLines(t, out, "Exchange Administrator: pagerduty is not configured", "on-call waiver needs PAGERDUTY_TOKEN")

	s.env["PAGERDUTY_TOKEN"] = "wrong"
	out, _ = s.run(t)
	wantLines(t, out, "PagerDuty refused Elevate's key (401)")

	s.env["PAGERDUTY_TOKEN"] = oncalltest.PagerDutyToken
	out, err = s.run(t)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	wantLines(t, out, "Exchange Administrator: PagerDuty schedule P123ABC (Schedule P123ABC), service PSVC1 (Exchange Online)")

	fake.OnCall("P123ABC") // still there; the service goes
	s.cfg.Roles[0].Approval.OnCall = &policy.OnCall{Provider: "pagerduty", Schedule: "PGONE"}
	s.cfg.Roles[0].Tier0 = false
	out, _ = s.run(t)
	wantLines(t, out, "does not know the schedule, escalation policy or service")
}
