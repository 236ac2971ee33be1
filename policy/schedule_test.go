package policy

import (
	"strings"
	"testing"
	"time"
)

func TestSchedulesDefaults(t *testing.T) {
	c := Default()
	s := c.Schedules
	if s.Location != time.UTC || s.Digest.Cron != "0 9 * * MON" || !s.Digest.Enabled {
		t.Errorf("digest defaults = %v %q %v", s.Location, s.Digest.Cron, s.Digest.Enabled)
	}
	if s.ExpiryReminder != 10*time.Minute || s.BreakGlassPoll != 5*time.Minute || s.DriftEvery != time.Hour {
		t.Errorf("intervals = %v %v %v", s.ExpiryReminder, s.BreakGlassPoll, s.DriftEvery)
	}
	r := s.Review
	if r.Window != 14*24*time.Hour || len(r.ReminderDays) != 3 || r.NonResponders != NonRespondersKeepAndFlag || r.Weekday != time.Monday {
		t.Errorf("review defaults = %+v", r)
	}
	b := s.Baseline
	if b.MaxActivation != 8*time.Hour || !b.MFA || !b.Justification || !b.NoPermanent || b.MaxGlobalAdmins != 4 || b.MinBreakGlass != 2 || len(b.ApprovalRequired) != 1 {
		t.Errorf("baseline defaults = %+v", b)
	}
}

func TestSchedulesParse(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
channels: {security: "#sec"}
schedules:
  time_zone: Europe/Amsterdam
  admins: [bob@contoso.example]
  digest: {cron: "30 8 * * FRI"}
  review:
    months: [feb, 8]
    weekday: tuesday
    at: "10:30"
    window_days: 10
    reminder_days: [2, 5]
    non_responders: remove
  expiry_reminder: 15m
  break_glass_poll: 2m
baseline:
  max_activation: 4h
  approval_required: [ga, exchange]
  max_global_admins: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Schedules
	if s.Location.String() != "Europe/Amsterdam" || s.Digest.Cron != "30 8 * * FRI" || s.AdminsChannel != "#sec" {
		t.Errorf("got %v %q %q", s.Location, s.Digest.Cron, s.AdminsChannel)
	}
	r := s.Review
	if len(r.Months) != 2 || r.Months[0] != time.February || r.Weekday != time.Tuesday || r.At != 10*time.Hour+30*time.Minute ||
		r.Window != 240*time.Hour || r.NonResponders != NonRespondersRemove || len(r.ReminderDays) != 2 {
		t.Errorf("review = %+v", r)
	}
	if s.ExpiryReminder != 15*time.Minute || s.BreakGlassPoll != 2*time.Minute {
		t.Errorf("intervals = %v %v", s.ExpiryReminder, s.BreakGlassPoll)
	}
	if s.Baseline.MaxActivation != 4*time.Hour || len(s.Baseline.ApprovalRequired) != 2 || s.Baseline.MaxGlobalAdmins != 3 {
		t.Errorf("baseline = %+v", s.Baseline)
	}
	if !c.IsAdmin("", "BOB@contoso.example") || c.IsAdmin("", "alice@contoso.example") {
		t.Error("IsAdmin wrong")
	}
}

func TestSchedulesErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"schedules: {time_zone: Mars/Olympus}", "is not a time zone"},
		{"schedules: {digest: {cron: \"0 25 * * *\"}}", "hour \"25\""},
		{"schedules: {digest: {cron: \"0 9 * *\"}}", "has 4 fields"},
		{"schedules: {review: {non_responders: ignore}}", "remove or keep-and-flag"},
		{"schedules: {review: {reminder_days: [20]}}", "inside the review window"},
		{"schedules: {review: {months: [13]}}", "is not a month"},
		{"schedules: {digets: {}}", "did you mean"},
		{"baseline: {approval_required: [nosuchrole]}", "baseline.approval_required[0]"},
		{"schedules: {break_glass_poll: 5s}", "break_glass_poll"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestReviewNextStart(t *testing.T) {
	r := Default().Schedules.Review
	for _, tc := range []struct{ after, want string }{
		{"2026-01-01T00:00:00Z", "2026-01-05T09:00:00Z"},
		{"2026-01-05T09:00:00Z", "2026-04-06T09:00:00Z"},
		{"2026-10-06T00:00:00Z", "2027-01-04T09:00:00Z"},
	} {
		after, _ := time.Parse(time.RFC3339, tc.after)
		if got := r.NextStart(after, time.UTC).Format(time.RFC3339); got != tc.want {
			t.Errorf("NextStart(%s) = %s, want %s", tc.after, got, tc.want)
		}
	}
	now, _ := time.Parse(time.RFC3339, "2026-05-01T00:00:00Z")
	if got := r.LastStart(now, time.UTC).Format(time.RFC3339); got != "2026-04-06T09:00:00Z" {
		t.Errorf("LastStart = %s", got)
	}
}
