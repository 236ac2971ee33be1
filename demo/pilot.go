package demo

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/schedule"
	"github.com/elevate-pim/elevate/oncall"
	"github.com/elevate-pim/elevate/oncall/oncalltest"
	"github.com/elevate-pim/elevate/store"
)

// The pilot story is the demo's second part: the same tenant and example config with a pilot and
// an on-call waiver added, played in a World of its own. It shows what issue #15 added: the
// pilot and its feedback, on-call auto-approval, PIM's dry run before approvers, the Teams home,
// the burst alert, and the digest's week-over-week trends.

// pilotOverlay is what the pilot story adds to the example config. Exchange Administrator, which
// needs no approval in the example, needs Bob's or Carol's here, unless the requester is on call.
const pilotOverlay = `
pilot:
  users: [alice@contoso.example, bob@contoso.example, carol@contoso.example, dave@contoso.example]
  meanwhile: "Meanwhile, activate roles in the Entra portal or ask in #it-help."
`

const (
	exchangeNoApproval = "  - name: Exchange Administrator      # aliases: exchange, exo\n    max_duration: 8h\n    approval: none\n"
	exchangeOnCall     = `  - name: Exchange Administrator      # aliases: exchange, exo
    max_duration: 8h
    approval:
      approvers: [bob@contoso.example, carol@contoso.example]
      on_call:                        # no approval while the requester is on call with an incident open
        pagerduty: {schedule: P123ABC, incident_service: PSVC1}
`
)

// PilotConfig is config (the example's) with the pilot story's additions; ok is false when the
// example's Exchange Administrator entry is not where the story expects it.
func PilotConfig(config []byte) (_ []byte, ok bool) {
	s := string(config)
	if !strings.Contains(s, exchangeNoApproval) {
		return nil, false
	}
	return []byte(strings.Replace(s, exchangeNoApproval, exchangeOnCall, 1) + pilotOverlay), true
}

// PilotStory plays the pilot story in a World of its own, started from o with PilotConfig and a
// simulated PagerDuty, and verifies that World's audit chain. o.StorePath must not be another
// World's store.
func PilotStory(ctx context.Context, o Options) error {
	cfg, ok := PilotConfig(o.Config)
	if !ok {
		return fmt.Errorf("demo: the pilot story needs the example config's Exchange Administrator entry")
	}
	pd := oncalltest.New() // PagerDuty's REST API, simulated in-process like the tenant
	defer pd.Close()
	o.Config = cfg
	o.OnCall = oncall.New(oncall.Config{PagerDutyToken: oncalltest.PagerDutyToken, PagerDutyURL: pd.PagerDutyURL()})
	w, err := Start(o)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.playPilot(ctx, pd); err != nil {
		return err
	}
	n, err := w.Store.VerifyAudit()
	if err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	w.t.say("\nThe pilot's audit log holds %d records; its hash chain verifies.\n", n)
	return nil
}

// SayOn has user type text to Elevate on platform ("teams": the demo's Teams view) and waits
// until everything it set off has finished.
func (w *World) SayOn(ctx context.Context, platform, user, text string) error {
	if platform == platformDemo {
		return w.Say(ctx, user, text)
	}
	w.t.say("\n%s ▸ %s (in Teams)\n", user, text)
	if err := w.Core.Command(ctx, w.actorOn(platform, user), text); err != nil {
		return err
	}
	w.Core.Wait()
	return nil
}

func (w *World) playPilot(ctx context.Context, pd *oncalltest.Server) error {
	w.t.say("\n══ Part two: Contoso pilots Elevate (a World of its own, same tenant)\n")
	w.t.say("The example config, plus:\n%s  and Exchange Administrator now needs Bob's or Carol's approval, except:\n%s",
		indent(pilotOverlay), indent(exchangeOnCall))
	sch, err := schedule.New(schedule.Options{Config: w.Config, Core: w.Core, Graph: w.Graph, Store: w.Store})
	if err != nil {
		return err
	}
	// Last Monday's digest kept its numbers, as the weekly run does; this week's compares with them.
	now := time.Now()
	last, err := sch.BuildDigest(ctx, now.AddDate(0, 0, -14), now.AddDate(0, 0, -7))
	if err != nil {
		return err
	}
	if err := w.Store.PutSnapshot("weekly", last.Snapshot(now.AddDate(0, 0, -7))); err != nil {
		return err
	}
	pd.OnCall("P123ABC", "alice@"+w.domain)
	pd.AddIncident(oncalltest.Incident{Number: 4521, Service: "PSVC1", Status: "triggered"})

	steps := []struct {
		note string
		run  func() error
	}{
		{"Erin is not in the pilot. Teams vouches for who she is, so she is told at once, before any sign-in.", func() error {
			return w.SayOn(ctx, platformTeams, "erin", "teams 1h fix a meeting policy")
		}},
		{"Everything else that is using Elevate for herself (roles, status, extend, the form, her home) answers the same way; approving others' requests, done, cancel and help stay open to everyone.", func() error {
			return w.SayOn(ctx, platformTeams, "erin", "status")
		}},
		{"Anyone may leave a note for the team; during the pilot it goes into the weekly digest, credited to their Entra account.", func() error {
			return w.SayOn(ctx, platformTeams, "erin", "feedback please open it to the service desk soon")
		}},
		{"Incident #4521: mail is stuck. Alice is on call in PagerDuty (simulated), so Exchange Administrator needs no approver.", func() error {
			return w.Say(ctx, "alice", "exchange 2h INC-4521 mail flow outage")
		}},
		{"", func() error { return w.ClickLast(ctx, "alice", bot.ActionOpenURL, "") }},
		{"Dave activated Exchange Administrator in the Entra portal earlier and forgot. PIM's dry run answers before Bob or Carol are asked: no card is posted.", func() error {
			if err := w.Tenant.PortalActivate("dave@"+w.domain, "Exchange Administrator", 2*time.Hour); err != nil {
				return err
			}
			return w.Say(ctx, "dave", "exchange 1h migrate public folders")
		}},
		{"", func() error { return w.ClickLast(ctx, "dave", bot.ActionOpenURL, "") }},
		{"Alice opens her home in Teams: what is active, pending and hers to approve, and her roles.", func() error {
			return w.Home(ctx, "alice")
		}},
		{"Six minutes later she is done, from the home card.", func() error {
			w.Tenant.Advance(6 * time.Minute) // PIM refuses to end an activation in its first 5 minutes
			return w.ClickLastOn(ctx, platformTeams, "alice", bot.ActionDone, "")
		}},
		{"", func() error {
			if _, ok := w.t.lastOn(platformTeams, "alice", bot.ActionOpenURL); ok {
				return w.ClickLastOn(ctx, platformTeams, "alice", bot.ActionOpenURL, "")
			}
			return nil
		}},
		{"Teams refreshes the home card whenever she opens it again: it is current.", func() error { return w.Home(ctx, "alice") }},
		{"Alice likes it.", func() error { return w.Say(ctx, "alice", "feedback the on-call waiver saved me a 3am phone call") }},
		{"Dave, in a hurry, tries roles PIM does not make him eligible for. With the dry run's refusal that is three in an hour: the security channel hears of it once.", func() error {
			if err := w.Say(ctx, "dave", "ga 1h INC-4522 fix the tenant"); err != nil {
				return err
			}
			return w.Say(ctx, "dave", "teams 1h fix a meeting policy")
		}},
		{"A fourth try in the same burst does not alert again.", func() error { return w.Say(ctx, "dave", "intune 1h enrol laptops") }},
		{"The weekly digest (scheduled for Mondays 09:00; posted now), with the guide's numbers as trends since last week and the pilot's feedback.", func() error {
			d, err := sch.PostDigest(ctx, now.AddDate(0, 0, -7), now.Add(time.Minute))
			if err != nil {
				return err
			}
			return w.writeChart(d.Chart, len(d.Weeks))
		}},
	}
	for _, s := range steps {
		if s.note != "" {
			w.t.say("\n── %s\n", s.note)
		}
		if err := s.run(); err != nil {
			return err
		}
	}
	return nil
}

// Home shows user's Teams home card, as `home` in the personal chat posts it and as Teams'
// refresh brings it up to date when the card is opened again (updated in place).
func (w *World) Home(ctx context.Context, user string) error {
	a := w.actorOn(platformTeams, user)
	h, err := w.Core.Home(ctx, a)
	if err != nil {
		return err
	}
	m := homeMessage(w.Core, h)
	if ref, ok := w.home[user]; ok {
		w.t.say("\n%s ▸ opens the home card again in Teams (refreshed)\n", user)
		return w.t.view(platformTeams).Update(ctx, ref, m)
	}
	w.t.say("\n%s ▸ home (in Teams)\n", user)
	ref, err := w.t.view(platformTeams).Send(ctx, bot.DM(a.ChatUser), m)
	if err != nil {
		return err
	}
	if w.home == nil {
		w.home = map[string]store.MessageRef{}
	}
	w.home[user] = ref
	return nil
}

// homeMessage is the Teams home card as the transcript shows it.
func homeMessage(c *bot.Core, h bot.Home) bot.Message {
	m := bot.Message{Kind: bot.KindText, Title: "Elevate: your admin roles"}
	var lines []string
	lines = append(lines, "Active now:")
	if len(h.Active) == 0 {
		lines = append(lines, "  nothing: no admin role is active for you through Elevate")
	}
	for _, r := range h.Active {
		id := fmt.Sprint(r.ID)
		lines = append(lines, fmt.Sprintf("  %s until %s (#%d)", r.RoleName, c.Clock(r.EndsAt), r.ID))
		m.Buttons = append(m.Buttons, bot.Button{Action: bot.ActionExtend, Label: "Extend 1h", Value: id},
			bot.Button{Action: bot.ActionDone, Label: "I'm done", Value: id})
	}
	if len(h.Pending) > 0 {
		lines = append(lines, "Pending:")
		for _, r := range h.Pending {
			lines = append(lines, fmt.Sprintf("  %s for %s: %s (#%d)", r.RoleName, bot.FormatDuration(r.Duration), strings.ReplaceAll(string(r.State), "_", " "), r.ID))
			m.Buttons = append(m.Buttons, bot.Button{Action: bot.ActionCancel, Label: "Cancel", Value: fmt.Sprint(r.ID)})
		}
	}
	if len(h.ToApprove) > 0 {
		lines = append(lines, "Waiting for your approval:")
		for _, r := range h.ToApprove {
			lines = append(lines, fmt.Sprintf("  #%d %s asks for %s for %s", r.ID, r.UPN, r.RoleName, bot.FormatDuration(r.Duration)))
		}
	}
	var roles []string
	for _, r := range h.Eligible {
		roles = append(roles, fmt.Sprintf("%s (`%s`)", r.Name, r.Alias))
	}
	// In Teams each is a button that opens the request form with the role picked.
	lines = append(lines, "Request a role (each opens the form): "+strings.Join(roles, ", "))
	m.Text = strings.Join(lines, "\n")
	m.Footer = "Teams refreshes this card whenever it is opened (Universal Actions)."
	return m
}

// writeChart writes the digest's chart next to the store and says where.
func (w *World) writeChart(chart []byte, weeks int) error {
	if len(chart) == 0 {
		return nil
	}
	// Not in the World's own directory: that goes with the demo, and the chart is for afterwards.
	f, err := os.CreateTemp(w.chartDir, "elevate-digest-*.png")
	if err != nil {
		return err
	}
	_, err = f.Write(chart)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	what := "activations by role"
	if weeks > 1 { // the trends are drawn from two weeks on
		what += fmt.Sprintf(" and %d weeks of trends", weeks)
	}
	w.t.say("    [chart: %d bytes PNG, %s, written to %s]\n", len(chart), what, f.Name())
	return nil
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.Trim(s, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}
