package policy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDocsConfigKeys keeps docs/config.md and the parser in step: every key the parser accepts
// (each p.mapping call's list, read from this package's source) is documented in its section,
// in the section's key table where it has one, and every key a table documents is accepted.
func TestDocsConfigKeys(t *testing.T) {
	parsed := parserKeys(t)
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := docSections(string(doc))

	// Where each mapping's keys are documented: in the key table of a section, or (nested
	// settings) by name in its text. prefix is how the table names them ("digest.cron").
	type place struct {
		section, prefix string
		table           bool
	}
	where := map[string]place{
		`""`:                 {"Top level", "", true},
		`"tenant"`:           {"`tenant`", "", true},
		`"channels"`:         {"`channels`", "", true},
		`"users"`:            {"`users`", "", true},
		`"admins"`:           {"`admins`", "", true},
		`"pilot"`:            {"`pilot`", "", true},
		`"identity"`:         {"`identity`", "", true},
		`"baseline"`:         {"`baseline`", "", true},
		`"schedules"`:        {"`schedules`", "", true},
		`"schedules.digest"`: {"`schedules`", "digest.", true},
		`"schedules.review"`: {"`schedules`", "review.", true},
		`"failure_alert"`:    {"Top level", "", false},
		"roles":              {"`roles`", "", true},
		"groups":             {"`groups`", "", true},
		"users":              {"`users`", "", false},
		"justification":      {"`roles`", "", false},
		"ticket":             {"`roles`", "", false},
		"approval":           {"`roles`", "", false},
		"reminders":          {"`roles`", "", false},
		"onCall":             {"`roles`", "", false},
	}
	tables := map[string][]string{} // section → the keys its table must list
	for _, m := range parsed {
		pl, ok := where[m.section]
		if !ok {
			pl, ok = where[m.fn]
		}
		if !ok {
			t.Errorf("%s: p.mapping(…, %s, …) in %s: this test does not know where its keys are documented", m.pos, m.section, m.fn)
			continue
		}
		sec, ok := sections[pl.section]
		if !ok {
			t.Errorf("docs/config.md has no section %s", pl.section)
			continue
		}
		for _, k := range m.keys {
			if pl.table {
				tables[pl.section] = append(tables[pl.section], pl.prefix+k)
			} else if !strings.Contains(sec.text, "`"+k+"`") && !regexp.MustCompile(`\s`+regexp.QuoteMeta(k)+`:`).MatchString(sec.text) {
				t.Errorf("docs/config.md, section %s, does not mention %s's key `%s` (%s)", pl.section, m.fn, k, m.pos)
			}
		}
	}
	for name, want := range tables {
		sec := sections[name]
		// A key whose settings the table lists one by one ("digest.cron") stands for them.
		var got []string
		for _, k := range want {
			if !slices.ContainsFunc(want, func(w string) bool { return strings.HasPrefix(w, k+".") }) {
				got = append(got, k)
			}
		}
		for _, k := range got {
			if !slices.Contains(sec.keys, k) {
				t.Errorf("docs/config.md, section %s: the parser accepts `%s` but the table does not document it", name, k)
			}
		}
		for _, k := range sec.keys {
			if !slices.Contains(got, k) {
				t.Errorf("docs/config.md, section %s: the table documents `%s` but the parser does not accept it", name, k)
			}
		}
	}
	if len(tables) < 10 {
		t.Errorf("only %d key tables compared; the test lost track of the parser or the docs", len(tables))
	}
}

// mapping is one p.mapping call: the keys it accepts.
type mapping struct {
	fn, section string // the enclosing function; the section argument as written (a literal, or not)
	keys        []string
	pos         string
}

// parserKeys reads every p.mapping(node, section, keys) call in this package's source, resolving
// keys given as a variable to the strings assigned to it.
func parserKeys(t *testing.T) []mapping {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var asts []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		asts = append(asts, f)
	}
	// strings assigned to a name, in scope (a function's body or the package).
	assigned := func(scope ast.Node, name string) []string {
		var out []string
		ast.Inspect(scope, func(n ast.Node) bool {
			var rhs []ast.Expr
			switch x := n.(type) {
			case *ast.AssignStmt:
				for i, l := range x.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == name && i < len(x.Rhs) {
						rhs = append(rhs, x.Rhs[i])
					}
				}
			case *ast.ValueSpec:
				for i, id := range x.Names {
					if id.Name == name && i < len(x.Values) {
						rhs = append(rhs, x.Values[i])
					}
				}
			}
			for _, e := range rhs {
				out = append(out, stringsIn(e)...)
			}
			return true
		})
		return out
	}
	var out []mapping
	for _, f := range asts {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 3 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "mapping" {
					return true
				}
				m := mapping{fn: fd.Name.Name, section: "(" + fd.Name.Name + ")", pos: fset.Position(call.Pos()).String()}
				if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					m.section = lit.Value
				}
				switch k := call.Args[2].(type) {
				case *ast.CompositeLit:
					m.keys = stringsIn(k)
				case *ast.Ident:
					m.keys = assigned(fd.Body, k.Name)
					for _, f := range asts {
						if len(m.keys) == 0 {
							for _, d := range f.Decls {
								if g, ok := d.(*ast.GenDecl); ok {
									m.keys = append(m.keys, assigned(g, k.Name)...)
								}
							}
						}
					}
				}
				if len(m.keys) == 0 {
					t.Errorf("%s: could not read the keys of this p.mapping call", m.pos)
				}
				out = append(out, m)
				return true
			})
		}
	}
	if len(out) < 15 {
		t.Fatalf("found %d p.mapping calls; the parser's shape changed", len(out))
	}
	return out
}

func stringsIn(e ast.Node) []string {
	var out []string
	ast.Inspect(e, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}

type docSection struct {
	text string
	keys []string // first-column keys of its "| key |" tables
}

var backticked = regexp.MustCompile("`([^`]+)`")

// docSections splits docs/config.md at its "## " headings.
func docSections(doc string) map[string]docSection {
	out := map[string]docSection{}
	name, inTable := "", false
	for _, line := range strings.Split(doc, "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			name, inTable = strings.TrimSpace(h), false
			continue
		}
		s := out[name]
		s.text += line + "\n"
		switch {
		case strings.HasPrefix(line, "| key |"):
			inTable = true
		case inTable && strings.HasPrefix(line, "|"):
			cells := strings.Split(line, "|")
			for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
				s.keys = append(s.keys, m[1])
			}
		default:
			inTable = false
		}
		out[name] = s
	}
	return out
}
