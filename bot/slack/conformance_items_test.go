package slack_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/elevate-pim/elevate/bot/bottest"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/examples"
)

// TestConformanceItems plays issue #15's items (dry run, pilot, feedback, on-call, home, burst
// alert, digest trends and chart) over signed HTTP requests, and validates every message and
// view the adapter rendered against Block Kit's limits.
func TestConformanceItems(t *testing.T) {
	pd, withOnCall := bottest.WithOnCall(t)
	e := startEnv(t, false, examples.Tenant, bottest.ItemsConfig(t), withOnCall)
	bottest.RunItems(t, e.w, platform{e}, pd)
}

// Home opens user's App Home tab and returns the view Elevate published for it.
func (p platform) Home(t *testing.T, user string) string {
	t.Helper()
	p.e.homeOpened(t, user)
	p.e.settle()
	var last *slacktest.View
	for _, v := range p.e.fake.Views() {
		if v.Method == "views.publish" && v.UserID == uid(user) {
			last = &v
		}
	}
	if last == nil {
		t.Fatalf("no App Home published for %s", user)
	}
	var v struct{ Blocks json.RawMessage }
	if err := json.Unmarshal(last.JSON, &v); err != nil {
		t.Fatal(err)
	}
	return slacktest.PlainBlocks(v.Blocks)
}

// Images counts the image files shared in channel.
func (p platform) Images(_ *testing.T, channel string) int {
	id, n := p.e.fake.ChannelID(channel), 0
	for _, f := range p.e.fake.Files() {
		if f.Channel == id && f.Complete && len(f.Data) > 0 && string(f.Data[:4]) == "\x89PNG" {
			n++
		}
	}
	return n
}

// Check validates every message and view's blocks, as Slack would.
func (p platform) Check(*testing.T) []error {
	var errs []error
	for _, m := range p.e.fake.Messages() {
		if err := slacktest.CheckBlocks(m.Blocks); err != nil {
			errs = append(errs, fmt.Errorf("message %d in %s (%.60q): %w", m.Seq, m.Channel, m.Plain(), err))
		}
	}
	for _, v := range p.e.fake.Views() {
		var blocks struct{ Blocks json.RawMessage }
		if err := json.Unmarshal(v.JSON, &blocks); err != nil {
			errs = append(errs, fmt.Errorf("view %s: %w", v.ID, err))
			continue
		}
		if err := slacktest.CheckViewBlocks(blocks.Blocks); err != nil {
			errs = append(errs, fmt.Errorf("view %s (%s): %w", v.ID, v.Method, err))
		}
	}
	return errs
}
