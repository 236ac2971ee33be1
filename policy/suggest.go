package policy

import (
	"sort"
	"strings"
)

// editDistance is the optimal-string-alignment distance between a and b (Levenshtein plus
// transposition of neighbours, which is the commonest typo: "exhcange"). It works on runes so
// that a non-ASCII typo counts once.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows are enough: the transposition looks back two rows.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// maxTypos is how many edits still count as a near miss for a word of n runes: one for short
// words (where two edits turn "ca" into anything), growing to three for long ones.
func maxTypos(n int) int {
	switch {
	case n <= 4:
		return 1
	case n <= 8:
		return 2
	default:
		return 3
	}
}

// candidate is a word the user might have meant; key groups words that mean the same thing
// (a role's aliases and name) so a suggestion list names each role once.
type candidate struct {
	word string
	key  string
}

// suggest returns up to three candidates near input, best first. A candidate that input is a
// prefix of (at least three letters: "exch") counts as a near miss too.
func suggest(input string, cands []candidate) []string {
	input = strings.ToLower(input)
	if input == "" || len([]rune(input)) > 64 {
		return nil
	}
	type scored struct {
		word, key string
		dist      int
	}
	best := map[string]scored{}
	limit := maxTypos(len([]rune(input)))
	for _, c := range cands {
		d := editDistance(input, c.word)
		if d > limit {
			if len(input) >= 3 && strings.HasPrefix(c.word, input) {
				d = limit // a prefix ranks after real typos of the same size
			} else {
				continue
			}
		}
		if d == 0 {
			continue
		}
		if b, ok := best[c.key]; !ok || d < b.dist || (d == b.dist && len(c.word) < len(b.word)) {
			best[c.key] = scored{c.word, c.key, d}
		}
	}
	list := make([]scored, 0, len(best))
	for _, s := range best {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].dist != list[j].dist {
			return list[i].dist < list[j].dist
		}
		return list[i].word < list[j].word
	})
	out := make([]string, 0, 3)
	for _, s := range list {
		if len(out) == 3 {
			break
		}
		out = append(out, s.word)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// didYouMean renders suggestions for a message: ` — did you mean "a" or "b"?`.
func didYouMean(words []string) string {
	if len(words) == 0 {
		return ""
	}
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = `"` + w + `"`
	}
	switch len(q) {
	case 1:
		return " — did you mean " + q[0] + "?"
	default:
		return " — did you mean " + strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1] + "?"
	}
}
