package schedule

import (
	"context"
	"fmt"
	"strings"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/policy"
)

// driftCommand is `/elevate drift`: the baseline check, now, answered to the admin who asked.
// Alerts to the security channel stay with the scheduled watch (each said once).
func (s *Scheduler) driftCommand(ctx context.Context, a bot.Actor, _ policy.Command) error {
	if !s.isAdmin(ctx, a) {
		return nil
	}
	found, err := s.checkDrift(ctx, s.now(), false)
	m := bot.Message{Kind: bot.KindText, Title: "Drift from the baseline"}
	if len(found) == 0 {
		m.Text = "None: the tenant matches the baseline."
	} else {
		var lines []string
		for _, f := range found {
			lines = append(lines, "⚠ "+f.text)
		}
		m.Text = strings.Join(lines, "\n")
	}
	if err != nil {
		m.Footer = fmt.Sprintf("Incomplete: part of the tenant could not be read from Microsoft Graph.")
		s.log.Warn("drift command", "err", err)
	}
	s.core.Reply(ctx, a, m)
	return nil
}
