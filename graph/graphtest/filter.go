package graphtest

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// cond is one OData comparison: field eq 'v', field ne 'v', field in ('a','b').
type cond struct {
	Field  string
	Op     string // eq, ne, in
	Values []string
}

// parseFilter parses the small OData subset the tenant serves: comparisons joined by "and".
func parseFilter(s string) ([]cond, error) {
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	var out []cond
	i := 0
	bad := func(why string) error {
		return fmt.Errorf("Invalid filter clause: %s in %q", why, s)
	}
	for i < len(toks) {
		if len(out) > 0 {
			if !strings.EqualFold(toks[i].v, "and") || toks[i].str {
				return nil, bad("only 'and' may join conditions")
			}
			i++
		}
		if i+2 >= len(toks) {
			return nil, bad("incomplete condition")
		}
		f, op := toks[i], strings.ToLower(toks[i+1].v)
		if f.str || !isIdent(f.v) {
			return nil, bad("expected a property name")
		}
		c := cond{Field: f.v, Op: op}
		i += 2
		switch op {
		case "eq", "ne", "ge", "gt", "le", "lt":
			// Strings are quoted; numbers, booleans and datetimes (2025-01-01T00:00:00Z) are not.
			if v := toks[i].v; !toks[i].str && (v == "(" || v == ")" || v == ",") {
				return nil, bad("expected a value after " + op)
			}
			c.Values = []string{toks[i].v}
			i++
		case "in":
			if toks[i].v != "(" || toks[i].str {
				return nil, bad("expected ( after in")
			}
			i++
			for {
				if i >= len(toks) || !toks[i].str {
					return nil, bad("expected a quoted value in the in list")
				}
				c.Values = append(c.Values, toks[i].v)
				i++
				if i < len(toks) && toks[i].v == "," && !toks[i].str {
					i++
					continue
				}
				if i < len(toks) && toks[i].v == ")" && !toks[i].str {
					i++
					break
				}
				return nil, bad("unterminated in list")
			}
		default:
			return nil, bad(fmt.Sprintf("operator %q is not supported", op))
		}
		out = append(out, c)
	}
	return out, nil
}

type ftok struct {
	v   string
	str bool // a quoted literal
}

func lexFilter(s string) ([]ftok, error) {
	var out []ftok
	r := []rune(s)
	for i := 0; i < len(r); {
		switch ch := r[i]; {
		case unicode.IsSpace(ch):
			i++
		case ch == '(' || ch == ')' || ch == ',':
			out = append(out, ftok{v: string(ch)})
			i++
		case ch == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(r) {
					return nil, fmt.Errorf("Invalid filter clause: unterminated string in %q", s)
				}
				if r[i] == '\'' {
					if i+1 < len(r) && r[i+1] == '\'' { // '' is an escaped quote
						b.WriteRune('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteRune(r[i])
				i++
			}
			out = append(out, ftok{v: b.String(), str: true})
		default:
			j := i
			for j < len(r) && !unicode.IsSpace(r[j]) && !strings.ContainsRune("(),'", r[j]) {
				j++
			}
			out = append(out, ftok{v: string(r[i:j])})
			i = j
		}
	}
	return out, nil
}

func isIdent(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '/' && r != '_' {
			return false
		}
	}
	return s != ""
}

// matchAll evaluates conditions against a resource; get returns a property's value and whether
// the property may be filtered on. Comparisons ignore case, as Graph's do for ids and names.
func matchAll(conds []cond, get func(field string) (string, bool)) (bool, error) {
	for _, c := range conds {
		v, ok := get(c.Field)
		if !ok {
			return false, fmt.Errorf("Invalid filter clause: the property '%s' is not supported in a filter here", c.Field)
		}
		hit := false
		for _, want := range c.Values {
			switch d := compareValues(v, want); c.Op {
			case "eq", "in":
				hit = hit || d == 0
			case "ne":
				hit = d != 0
			case "ge":
				hit = d >= 0
			case "gt":
				hit = d > 0
			case "le":
				hit = d <= 0
			case "lt":
				hit = d < 0
			}
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}

// compareValues orders two filter operands as datetimes, numbers or case-insensitive strings.
func compareValues(a, b string) int {
	if ta, err := time.Parse(time.RFC3339Nano, a); err == nil {
		if tb, err := time.Parse(time.RFC3339Nano, b); err == nil {
			return ta.Compare(tb)
		}
	}
	if fa, err := strconv.ParseFloat(a, 64); err == nil {
		if fb, err := strconv.ParseFloat(b, 64); err == nil {
			return cmp.Compare(fa, fb)
		}
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}
