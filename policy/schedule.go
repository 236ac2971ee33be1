package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Schedules configure Elevate's scheduled work (DESIGN §4): the weekly digest, the quarterly
// self-review, expiry reminders, the break-glass watch and the drift watch.
type Schedules struct {
	// Location is the time zone cron expressions and shown times use; default UTC.
	Location *time.Location
	// AdminsChannel gets review escalations and contract warnings; default Channels.Security.
	AdminsChannel string
	// Admins may run digest, review and drift from chat (object ids or UPNs). Empty: the
	// approvers of tier-0 roles.
	Admins []string

	Digest         DigestSchedule
	Review         ReviewSchedule
	ExpiryReminder time.Duration // before an activation ends; 0 turns reminders off. Default 10m
	BreakGlassPoll time.Duration // default 5m
	DriftEvery     time.Duration // default 1h
	Baseline       Baseline
}

// DigestSchedule is when the weekly digest is posted.
type DigestSchedule struct {
	Enabled bool
	Cron    string // five fields, in Schedules.Location; default "0 9 * * MON"
}

// NonResponders says what happens at a review's deadline to a role nobody answered for.
type NonResponders string

const (
	NonRespondersKeepAndFlag NonResponders = "keep-and-flag" // kept, listed for the admins
	NonRespondersRemove      NonResponders = "remove"        // removed like a Remove answer
)

// ReviewSchedule is the quarterly self-review: it starts on the first Weekday of each of Months
// at At, and runs for Window.
type ReviewSchedule struct {
	Enabled       bool
	Months        []time.Month // default Jan, Apr, Jul, Oct
	Weekday       time.Weekday // default Monday
	At            time.Duration
	Window        time.Duration // default 14 days
	ReminderDays  []int         // days after the start; default 3, 7, 12
	NonResponders NonResponders // default keep-and-flag
	ContractWarn  time.Duration // warn this long before an external's contract ends; default 14 days
}

// Baseline is the desired state the drift watch compares the tenant with.
type Baseline struct {
	MaxActivation    time.Duration // PIM's maximum activation per role; default 8h
	MFA              bool          // MFA on activation; default on
	Justification    bool          // justification on activation; default on
	ApprovalRequired []string      // template ids of roles whose PIM setting must require approval; default Global Administrator
	NoPermanent      bool          // no permanent active assignments but break-glass; default on
	MaxGlobalAdmins  int           // default 4 (fewer than 5)
	MinBreakGlass    int           // default 2
}

// Template id of Global Administrator, for defaults.
const globalAdminID = "62e90394-69f5-4237-9190-012177145e10"

func defaultSchedules() Schedules {
	return Schedules{
		Location:       time.UTC,
		Digest:         DigestSchedule{Enabled: true, Cron: "0 9 * * MON"},
		Review:         ReviewSchedule{Enabled: true, Months: []time.Month{time.January, time.April, time.July, time.October}, Weekday: time.Monday, At: 9 * time.Hour, Window: 14 * 24 * time.Hour, ReminderDays: []int{3, 7, 12}, NonResponders: NonRespondersKeepAndFlag, ContractWarn: 14 * 24 * time.Hour},
		ExpiryReminder: 10 * time.Minute,
		BreakGlassPoll: 5 * time.Minute,
		DriftEvery:     time.Hour,
		Baseline:       Baseline{MaxActivation: 8 * time.Hour, MFA: true, Justification: true, ApprovalRequired: []string{globalAdminID}, NoPermanent: true, MaxGlobalAdmins: 4, MinBreakGlass: 2},
	}
}

// NextStart is the first review start strictly after t.
func (r ReviewSchedule) NextStart(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	for y := t.Year(); y <= t.Year()+1; y++ {
		for m := time.January; m <= time.December; m++ {
			if !slices.Contains(r.Months, m) {
				continue
			}
			d := time.Date(y, m, 1, 0, 0, 0, 0, loc)
			for d.Weekday() != r.Weekday {
				d = d.AddDate(0, 0, 1)
			}
			s := d.Add(r.At)
			if s.After(t) {
				return s
			}
		}
	}
	return time.Time{}
}

// LastStart is the latest review start at or before t (zero if none in the past year).
func (r ReviewSchedule) LastStart(t time.Time, loc *time.Location) time.Time {
	var last time.Time
	for s := r.NextStart(t.AddDate(-1, 0, -1), loc); !s.IsZero() && !s.After(t); s = r.NextStart(s, loc) {
		last = s
	}
	return last
}

// IsAdmin reports whether the user may run the administrators' scheduled-work commands.
func (c *Config) IsAdmin(objectID, upn string) bool {
	list := c.Schedules.Admins
	if len(list) == 0 {
		for _, r := range c.Roles {
			if r.Tier0 {
				list = append(list, r.Approval.Approvers...)
			}
		}
	}
	for _, a := range list {
		if (objectID != "" && strings.EqualFold(a, objectID)) || (upn != "" && strings.EqualFold(a, upn)) {
			return true
		}
	}
	return false
}

// schedules reads the schedules and baseline sections; roles must be parsed first.
func (p *parser) schedules(n, base *yaml.Node, c *Config) {
	s := defaultSchedules()
	s.AdminsChannel = c.Channels.Security
	f := p.mapping(n, "schedules", []string{"time_zone", "admins_channel", "admins", "digest", "review", "expiry_reminder", "break_glass_poll", "drift_every"})
	if v := f.get("time_zone"); v != nil {
		if name, ok := p.str(v, "schedules.time_zone"); ok {
			if loc, err := time.LoadLocation(name); err != nil || strings.EqualFold(name, "local") {
				p.errorf(v.Line, "schedules.time_zone: %q is not a time zone: use an IANA name like Europe/Amsterdam or America/New_York", name)
			} else {
				s.Location = loc
			}
		}
	}
	if v := f.get("admins_channel"); v != nil {
		if ch, ok := p.str(v, "schedules.admins_channel"); ok {
			s.AdminsChannel = ch
		}
	}
	ids, nodes := p.list(f.get("admins"), "schedules.admins")
	for i, id := range ids {
		if !isGUID(id) && !isUPN(id) {
			p.errorf(nodes[i].Line, "schedules.admins[%d]: %q is neither an object id (GUID) nor a UPN (name@domain)", i, id)
			continue
		}
		s.Admins = append(s.Admins, id)
	}

	df := p.mapping(f.get("digest"), "schedules.digest", []string{"enabled", "cron"})
	if v := df.get("enabled"); v != nil {
		if b, ok := p.boolean(v, "schedules.digest.enabled"); ok {
			s.Digest.Enabled = b
		}
	}
	if v := df.get("cron"); v != nil {
		if spec, ok := p.str(v, "schedules.digest.cron"); ok {
			if err := CheckCron(spec); err != nil {
				p.errorf(v.Line, "schedules.digest.cron: %q: %v (five fields: minute hour day-of-month month day-of-week, e.g. \"0 9 * * MON\")", spec, err)
			} else {
				s.Digest.Cron = spec
			}
		}
	}
	p.review(f.get("review"), &s.Review)

	for _, d := range []struct {
		key      string
		dst      *time.Duration
		min, max time.Duration
		zeroOK   bool
	}{
		{"expiry_reminder", &s.ExpiryReminder, time.Minute, 2 * time.Hour, true},
		{"break_glass_poll", &s.BreakGlassPoll, time.Minute, time.Hour, false},
		{"drift_every", &s.DriftEvery, 5 * time.Minute, 24 * time.Hour, false},
	} {
		v := f.get(d.key)
		if v == nil {
			continue
		}
		path := "schedules." + d.key
		if d.zeroOK && strings.TrimSpace(resolve(v).Value) == "0" {
			*d.dst = 0
			continue
		}
		if dur, ok := p.duration(v, path); ok {
			if dur < d.min || dur > d.max {
				p.errorf(v.Line, "%s: %s is out of range: use between %s and %s", path, formatDuration(dur), formatDuration(d.min), formatDuration(d.max))
			} else {
				*d.dst = dur
			}
		}
	}
	p.baseline(base, &s.Baseline, c)
	c.Schedules = s
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

func (p *parser) review(n *yaml.Node, r *ReviewSchedule) {
	f := p.mapping(n, "schedules.review", []string{"enabled", "months", "weekday", "at", "window_days", "reminder_days", "non_responders", "contract_warning_days"})
	if v := f.get("enabled"); v != nil {
		if b, ok := p.boolean(v, "schedules.review.enabled"); ok {
			r.Enabled = b
		}
	}
	if v := f.get("months"); v != nil {
		vals, nodes := p.list(v, "schedules.review.months")
		var ms []time.Month
		for i, s := range vals {
			m, ok := parseMonth(s)
			if !ok {
				p.errorf(nodes[i].Line, "schedules.review.months[%d]: %q is not a month (1–12 or jan, feb, …)", i, s)
				continue
			}
			ms = append(ms, m)
		}
		if len(ms) > 0 {
			slices.Sort(ms)
			r.Months = slices.Compact(ms)
		}
	}
	if v := f.get("weekday"); v != nil {
		if s, ok := p.str(v, "schedules.review.weekday"); ok {
			if d, ok := weekdays[strings.ToLower(s)]; ok {
				r.Weekday = d
			} else {
				p.errorf(v.Line, "schedules.review.weekday: %q is not a day of the week (monday, tuesday, …)", s)
			}
		}
	}
	if v := f.get("at"); v != nil {
		if s, ok := p.str(v, "schedules.review.at"); ok {
			if t, err := time.Parse("15:04", s); err != nil {
				p.errorf(v.Line, "schedules.review.at: %q is not a time of day: write 09:00", s)
			} else {
				r.At = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
			}
		}
	}
	days := func(key string, lo, hi int) (int, bool) {
		v := f.get(key)
		if v == nil {
			return 0, false
		}
		d, ok := p.integer(v, "schedules.review."+key)
		if ok && (d < lo || d > hi) {
			p.errorf(v.Line, "schedules.review.%s: %d is out of range: use %d to %d days", key, d, lo, hi)
			return 0, false
		}
		return d, ok
	}
	if d, ok := days("window_days", 1, 60); ok {
		r.Window = time.Duration(d) * 24 * time.Hour
	}
	if d, ok := days("contract_warning_days", 1, 90); ok {
		r.ContractWarn = time.Duration(d) * 24 * time.Hour
	}
	if v := f.get("reminder_days"); v != nil {
		vals, nodes := p.list(v, "schedules.review.reminder_days")
		var ds []int
		for i, s := range vals {
			d, err := strconv.Atoi(s)
			if err != nil || d < 1 || time.Duration(d)*24*time.Hour >= r.Window {
				p.errorf(nodes[i].Line, "schedules.review.reminder_days[%d]: %q should be a day inside the review window (1 to %d)", i, s, int(r.Window/(24*time.Hour))-1)
				continue
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		r.ReminderDays = slices.Compact(ds)
	}
	if v := f.get("non_responders"); v != nil {
		if s, ok := p.str(v, "schedules.review.non_responders"); ok {
			switch NonResponders(strings.ToLower(s)) {
			case NonRespondersRemove, NonRespondersKeepAndFlag:
				r.NonResponders = NonResponders(strings.ToLower(s))
			default:
				p.errorf(v.Line, "schedules.review.non_responders: %q should be remove or keep-and-flag", s)
			}
		}
	}
}

func parseMonth(s string) (time.Month, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Month(n), n >= 1 && n <= 12
	}
	s = strings.ToLower(s)
	for m := time.January; m <= time.December; m++ {
		name := strings.ToLower(m.String())
		if s == name || (len(s) >= 3 && strings.HasPrefix(name, s)) {
			return m, true
		}
	}
	return 0, false
}

func (p *parser) baseline(n *yaml.Node, b *Baseline, c *Config) {
	f := p.mapping(n, "baseline", []string{"max_activation", "mfa", "justification", "approval_required", "no_permanent", "max_global_admins", "min_break_glass"})
	if v := f.get("max_activation"); v != nil {
		if d, ok := p.duration(v, "baseline.max_activation"); ok {
			b.MaxActivation = d
		}
	}
	for _, x := range []struct {
		key string
		dst *bool
	}{{"mfa", &b.MFA}, {"justification", &b.Justification}, {"no_permanent", &b.NoPermanent}} {
		if v := f.get(x.key); v != nil {
			if on, ok := p.boolean(v, "baseline."+x.key); ok {
				*x.dst = on
			}
		}
	}
	if v := f.get("approval_required"); v != nil {
		names, nodes := p.list(v, "baseline.approval_required")
		b.ApprovalRequired = nil
		for i, name := range names {
			r, err := c.Role(name)
			if err != nil {
				p.errorf(nodes[i].Line, "baseline.approval_required[%d]: %s", i, err.(*Error).Message)
				continue
			}
			b.ApprovalRequired = append(b.ApprovalRequired, r.TemplateID)
		}
	}
	if v := f.get("max_global_admins"); v != nil {
		if k, ok := p.integer(v, "baseline.max_global_admins"); ok {
			b.MaxGlobalAdmins = k
		}
	}
	if v := f.get("min_break_glass"); v != nil {
		if k, ok := p.integer(v, "baseline.min_break_glass"); ok {
			b.MinBreakGlass = k
		}
	}
}

// CheckCron checks a five-field cron expression (minute hour day-of-month month day-of-week;
// names like MON and JAN, ranges, lists and steps) or a descriptor (@daily, @weekly, @monthly).
// The scheduler parses it again with its cron library; this check gives the config's line.
func CheckCron(spec string) error {
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "@") {
		switch spec {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
			return nil
		}
		return fmt.Errorf("unknown descriptor")
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return fmt.Errorf("has %d fields, want 5", len(fields))
	}
	limits := []struct {
		name     string
		lo, hi   int
		names    []string
		nameBase int
	}{
		{"minute", 0, 59, nil, 0},
		{"hour", 0, 23, nil, 0},
		{"day of month", 1, 31, nil, 0},
		{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}, 1},
		{"day of week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, 0},
	}
	for i, fld := range fields {
		l := limits[i]
		val := func(s string) (int, error) {
			for j, n := range l.names {
				if strings.EqualFold(s, n) {
					return j + l.nameBase, nil
				}
			}
			v, err := strconv.Atoi(s)
			if err != nil || v < l.lo || v > l.hi {
				return 0, fmt.Errorf("%s %q is not between %d and %d", l.name, s, l.lo, l.hi)
			}
			return v, nil
		}
		for _, part := range strings.Split(fld, ",") {
			rng, step, hasStep := strings.Cut(part, "/")
			if hasStep {
				if n, err := strconv.Atoi(step); err != nil || n < 1 {
					return fmt.Errorf("%s step %q is not a positive number", l.name, step)
				}
			}
			if rng == "*" || rng == "?" {
				continue
			}
			a, b, isRange := strings.Cut(rng, "-")
			lo, err := val(a)
			if err != nil {
				return err
			}
			if isRange {
				hi, err := val(b)
				if err != nil {
					return err
				}
				if hi < lo {
					return fmt.Errorf("%s range %q runs backwards", l.name, rng)
				}
			}
		}
	}
	return nil
}
