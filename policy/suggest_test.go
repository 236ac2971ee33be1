package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"exchange", "exchange", 0},
		{"exchnage", "exchange", 1}, // transposition counts once
		{"exhcange", "exchange", 1},
		{"echange", "exchange", 1},
		{"exchangee", "exchange", 1},
		{"exchenge", "exchange", 1},
		{"ca", "abc", 3},
		{"kitten", "sitting", 3},
		{"", "abc", 3},
		{"äb", "ba", 2},
		{"ba", "äb", 2},
		{"ñu", "un", 2},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetry)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	cands := []candidate{
		{"ga", "GA"}, {"global", "GA"}, {"global administrator", "GA"},
		{"exchange", "EX"}, {"exo", "EX"},
		{"teams", "T"}, {"team", "T2"},
		{"status", "status"}, {"help", "help"},
		{"ca", "CA"}, {"pra", "PRA"}, {"paa", "PAA"},
	}
	tests := []struct {
		in   string
		want []string
	}{
		{"exchnage", []string{"exchange"}},
		{"EXCHNAGE", []string{"exchange"}},
		{"globl", []string{"global"}},
		{"teamz", []string{"team", "teams"}}, // ties by name
		{"hepl", []string{"help"}},
		{"exch", []string{"exchange"}},      // a prefix
		{"pa", []string{"ca", "ga", "paa"}}, // the best three
		{"exchange", nil},                   // exact: nothing to suggest
		{"zzzzzz", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := suggest(tt.in, cands)
		if !cmp.Equal(got, tt.want) {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
