package graphtest

import (
	"testing"
	"time"
)

func TestParseFilter(t *testing.T) {
	cases := []struct {
		in   string
		want []cond
		bad  bool
	}{
		{in: "", want: nil},
		{in: "principalId eq 'a'", want: []cond{{"principalId", "eq", []string{"a"}}}},
		{in: "mail eq 'o''brien@x'", want: []cond{{"mail", "eq", []string{"o'brien@x"}}}},
		{in: "principalId in ('a', 'b') and roleDefinitionId eq 'r'",
			want: []cond{{"principalId", "in", []string{"a", "b"}}, {"roleDefinitionId", "eq", []string{"r"}}}},
		{in: "createdDateTime ge 2025-01-01T00:00:00Z", want: []cond{{"createdDateTime", "ge", []string{"2025-01-01T00:00:00Z"}}}},
		{in: "a eq 'x' or b eq 'y'", bad: true},
		{in: "a eq", bad: true},
		{in: "a in ('x'", bad: true},
		{in: "startswith(mail,'a')", bad: true},
		{in: "a eq 'unterminated", bad: true},
	}
	for _, c := range cases {
		got, err := parseFilter(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("parseFilter(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseFilter(%q): %v", c.in, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("parseFilter(%q) = %v, want %v", c.in, got, c.want)
			continue
		}
		for i := range got {
			if got[i].Field != c.want[i].Field || got[i].Op != c.want[i].Op || len(got[i].Values) != len(c.want[i].Values) {
				t.Errorf("parseFilter(%q)[%d] = %v, want %v", c.in, i, got[i], c.want[i])
			}
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"principalId eq 'a'", "x in ('a','b') and y ne 'c'", "t ge 2025-01-01T00:00:00Z", "a eq ''''"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		conds, err := parseFilter(s)
		if err != nil {
			return
		}
		_, _ = matchAll(conds, func(string) (string, bool) { return "v", true })
	})
}

func TestISODuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{{"PT8H", 8 * time.Hour}, {"PT1H30M", 90 * time.Minute}, {"P1D", 24 * time.Hour}, {"PT30S", 30 * time.Second}, {"P365D", 365 * 24 * time.Hour}} {
		got, err := parseISODuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if back := isoDuration(got); back != c.in {
			t.Errorf("isoDuration(%v) = %q, want %q", got, back, c.in)
		}
	}
	for _, bad := range []string{"P", "PT", "P1W", "P1Y", "8h", "PT-1H"} {
		if _, err := parseISODuration(bad); err == nil {
			t.Errorf("parseISODuration(%q) accepted", bad)
		}
	}
}
