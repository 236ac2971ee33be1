package main

import (
	"fmt"
	"strings"
)

// A small reader for the part of Bicep that typecheck needs: each `resource sym 'Type@version'`
// declaration and the literal object that is its body. Values that are literals (objects,
// arrays, strings without interpolation, booleans, integers) are kept; anything else (a
// parameter, a function call, a conditional, an interpolated string) is an expression, whose
// type is not checked. Nested resource declarations are not supported (main.bicep uses parent:).

type tokKind int

const (
	tEOF tokKind = iota
	tNewline
	tIdent
	tString // a string literal; interp says whether it had ${…}
	tNumber
	tPunct
)

type token struct {
	kind   tokKind
	text   string // the identifier, the string's value, the number, or the punctuation
	interp bool
	line   int
}

func lex(src string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			toks = append(toks, token{kind: tNewline, line: line})
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated comment", line)
			}
			line += strings.Count(src[i:i+2+end], "\n")
			i += end + 4
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated multi-line string", line)
			}
			toks = append(toks, token{kind: tString, text: src[i+3 : i+3+end], line: line})
			line += strings.Count(src[i:i+3+end], "\n")
			i += end + 6
		case c == '\'':
			var b strings.Builder
			interp := false
			j := i + 1
			for {
				if j >= len(src) || src[j] == '\n' {
					return nil, fmt.Errorf("line %d: unterminated string", line)
				}
				if src[j] == '\\' && j+1 < len(src) {
					b.WriteByte(src[j+1])
					j += 2
					continue
				}
				if src[j] == '$' && j+1 < len(src) && src[j+1] == '{' {
					// An interpolation: skip to its matching brace, minding nested strings.
					interp = true
					depth := 0
					for j < len(src) {
						if src[j] == '{' {
							depth++
						} else if src[j] == '}' {
							depth--
							if depth == 0 {
								break
							}
						} else if src[j] == '\'' {
							j++
							for j < len(src) && src[j] != '\'' {
								j++
							}
						}
						j++
					}
					j++
					continue
				}
				if src[j] == '\'' {
					break
				}
				b.WriteByte(src[j])
				j++
			}
			toks = append(toks, token{kind: tString, text: b.String(), interp: interp, line: line})
			i = j + 1
		case c == '_' || c == '@' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], line: line})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			toks = append(toks, token{kind: tNumber, text: src[i:j], line: line})
			i = j
		default:
			toks = append(toks, token{kind: tPunct, text: string(c), line: line})
			i++
		}
	}
	return append(toks, token{kind: tEOF, line: line}), nil
}

// value is a parsed Bicep value: an object, an array, a literal, or an expression.
type value struct {
	kind   string // object, array, string, bool, int, expr
	obj    []field
	arr    []value
	str    string // a string literal's value, "true"/"false", an int's digits
	line   int
	interp bool
}

type field struct {
	key  string
	val  value
	line int
}

// resource is one `resource` declaration.
type resource struct {
	symbol, typ, version string
	line                 int
	body                 value
	existing             bool // a reference to a resource made elsewhere: only its name is given
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

// next consumes a token; at the end it stays there, returning tEOF again.
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}
func (p *parser) skipNewlines() {
	for p.peek().kind == tNewline {
		p.pos++
	}
}
func (p *parser) is(text string) bool {
	t := p.peek()
	return (t.kind == tPunct || t.kind == tIdent) && t.text == text
}

// parseResources reads every top-level resource declaration of src.
func parseResources(src string) ([]resource, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	var out []resource
	atLineStart := true
	for p.peek().kind != tEOF {
		t := p.next()
		if t.kind == tNewline {
			atLineStart = true
			continue
		}
		if !atLineStart || t.kind != tIdent || t.text != "resource" {
			atLineStart = false
			if t.kind == tPunct && (t.text == "{" || t.text == "[" || t.text == "(") {
				p.pos--
				if _, err := p.value(); err != nil {
					return nil, err
				}
			}
			continue
		}
		atLineStart = false
		sym := p.next()
		ty := p.next()
		if sym.kind != tIdent || ty.kind != tString || ty.interp {
			return nil, fmt.Errorf("line %d: a resource declaration without a symbol and a literal type", t.line)
		}
		typ, ver, ok := strings.Cut(ty.text, "@")
		if !ok {
			return nil, fmt.Errorf("line %d: resource type %q has no @api-version", t.line, ty.text)
		}
		existing := p.is("existing")
		if existing {
			p.next()
		}
		if !p.is("=") {
			return nil, fmt.Errorf("line %d: expected = after the resource type", t.line)
		}
		p.next()
		// A condition (`if (…)`) or a loop (`[for … : {…}]`) may precede the body.
		if p.is("if") {
			p.next()
			if err := p.skipParens(); err != nil {
				return nil, err
			}
		}
		var body value
		if p.is("[") {
			arr, err := p.value()
			if err != nil {
				return nil, err
			}
			if len(arr.arr) != 1 || arr.arr[0].kind != "object" {
				return nil, fmt.Errorf("line %d: resource loop without an object body", t.line)
			}
			body = arr.arr[0]
		} else {
			if body, err = p.value(); err != nil {
				return nil, err
			}
		}
		if body.kind != "object" {
			return nil, fmt.Errorf("line %d: resource %s's body is not an object literal", t.line, sym.text)
		}
		out = append(out, resource{symbol: sym.text, typ: typ, version: ver, line: t.line, body: body, existing: existing})
	}
	return out, nil
}

// value reads one value; an expression runs to the end of the line (or to the closing
// punctuation of the enclosing object or array) at depth zero.
func (p *parser) value() (value, error) {
	t := p.peek()
	start := p.pos
	switch {
	case t.kind == tPunct && t.text == "{":
		v, err := p.object()
		if err != nil {
			return v, err
		}
		if p.endOfValue() {
			return v, nil
		}
	case t.kind == tPunct && t.text == "[":
		v, err := p.array()
		if err != nil {
			return v, err
		}
		if p.endOfValue() {
			return v, nil
		}
	case t.kind == tString:
		p.next()
		if p.endOfValue() {
			return value{kind: "string", str: t.text, interp: t.interp, line: t.line}, nil
		}
	case t.kind == tIdent && (t.text == "true" || t.text == "false"):
		p.next()
		if p.endOfValue() {
			return value{kind: "bool", str: t.text, line: t.line}, nil
		}
	case t.kind == tNumber:
		p.next()
		if p.endOfValue() {
			return value{kind: "int", str: t.text, line: t.line}, nil
		}
	}
	// An expression: back to its start and skip it, balancing brackets.
	p.pos = start
	depth := 0
	for {
		t := p.peek()
		switch {
		case t.kind == tEOF:
			if depth != 0 {
				return value{}, fmt.Errorf("line %d: unbalanced brackets in an expression", t.line)
			}
			return value{kind: "expr", line: t.line}, nil
		case t.kind == tNewline && depth == 0:
			return value{kind: "expr", line: t.line}, nil
		case t.kind == tPunct && (t.text == "{" || t.text == "[" || t.text == "("):
			depth++
		case t.kind == tPunct && (t.text == "}" || t.text == "]" || t.text == ")"):
			if depth == 0 {
				return value{kind: "expr", line: t.line}, nil
			}
			depth--
		case t.kind == tPunct && t.text == "," && depth == 0:
			return value{kind: "expr", line: t.line}, nil
		}
		p.next()
	}
}

// endOfValue says whether a value ends here (so what was read is the whole value, not the start
// of an expression such as `{…}.x` or `'a' == b`).
func (p *parser) endOfValue() bool {
	t := p.peek()
	return t.kind == tNewline || t.kind == tEOF ||
		t.kind == tPunct && (t.text == "}" || t.text == "]" || t.text == ")" || t.text == ",")
}

// skipParens skips a parenthesised expression, brackets balanced.
func (p *parser) skipParens() error {
	if !p.is("(") {
		return fmt.Errorf("line %d: expected (", p.peek().line)
	}
	depth := 0
	for {
		t := p.next()
		switch {
		case t.kind == tEOF:
			return fmt.Errorf("line %d: unbalanced parentheses", t.line)
		case t.kind == tPunct && t.text == "(":
			depth++
		case t.kind == tPunct && t.text == ")":
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
}

func (p *parser) object() (value, error) {
	open := p.next()
	v := value{kind: "object", line: open.line}
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == tPunct && t.text == "}" {
			p.next()
			return v, nil
		}
		if t.kind == tPunct && t.text == "," {
			p.next()
			continue
		}
		if t.kind == tIdent && t.text == "resource" {
			return v, fmt.Errorf("line %d: nested resource declarations are not supported", t.line)
		}
		if t.kind != tIdent && t.kind != tString {
			return v, fmt.Errorf("line %d: expected a property name, found %q", t.line, t.text)
		}
		p.next()
		key := t.text
		if t.kind == tString && t.interp {
			key = "" // a computed key (e.g. an identity's resource id): its name is not checked
		}
		if !p.is(":") {
			return v, fmt.Errorf("line %d: expected : after property %q", t.line, t.text)
		}
		p.next()
		before := p.pos
		val, err := p.value()
		if err != nil {
			return v, err
		}
		if p.pos == before {
			return v, fmt.Errorf("line %d: property %q has no value", t.line, t.text)
		}
		v.obj = append(v.obj, field{key: key, val: val, line: t.line})
	}
}

func (p *parser) array() (value, error) {
	open := p.next()
	v := value{kind: "array", line: open.line}
	if p.is("for") { // [for x in xs: body]
		for !p.is(":") {
			if p.peek().kind == tEOF {
				return v, fmt.Errorf("line %d: unterminated for", open.line)
			}
			p.next()
		}
		p.next()
		p.skipNewlines()
		before := p.pos
		body, err := p.value()
		if err != nil {
			return v, err
		}
		if p.pos == before {
			return v, fmt.Errorf("line %d: a for without a body", open.line)
		}
		p.skipNewlines()
		if !p.is("]") {
			return v, fmt.Errorf("line %d: expected ] after a for body", open.line)
		}
		p.next()
		v.arr = []value{body}
		return v, nil
	}
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == tPunct && t.text == "]" {
			p.next()
			return v, nil
		}
		if t.kind == tPunct && t.text == "," {
			p.next()
			continue
		}
		if t.kind == tEOF {
			return v, fmt.Errorf("line %d: unterminated array", open.line)
		}
		before := p.pos
		el, err := p.value()
		if err != nil {
			return v, err
		}
		if p.pos == before {
			return v, fmt.Errorf("line %d: unexpected %q in an array", t.line, t.text)
		}
		v.arr = append(v.arr, el)
	}
}
