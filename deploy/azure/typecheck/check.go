package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Property flags of the bicep-types format (Azure/bicep-types: TypePropertyFlags).
const (
	flagRequired = 1
	flagReadOnly = 2
)

// typ is one entry of a types.json file: only the fields typecheck reads.
type typ struct {
	Kind                 string              `json:"$type"`
	Name                 string              `json:"name"`
	Body                 *ref                `json:"body"`
	Properties           map[string]property `json:"properties"`
	AdditionalProperties *ref                `json:"additionalProperties"`
	ItemType             *ref                `json:"itemType"`
	Elements             json.RawMessage     `json:"elements"` // UnionType: []ref; DiscriminatedObjectType: map[string]ref
	Value                string              `json:"value"`    // StringLiteralType
	Discriminator        string              `json:"discriminator"`
	BaseProperties       map[string]property `json:"baseProperties"`
	unionElems           []ref
	discElems            map[string]ref
}

type ref struct {
	Ref string `json:"$ref"`
}

type property struct {
	Type  ref `json:"type"`
	Flags int `json:"flags"`
}

// typeFile is one loaded types.json.
type typeFile struct {
	path  string
	types []typ
}

func loadTypeFile(path string) (*typeFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ts []typ
	if err := json.Unmarshal(data, &ts); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range ts {
		switch ts[i].Kind {
		case "UnionType":
			if err := json.Unmarshal(ts[i].Elements, &ts[i].unionElems); err != nil {
				return nil, fmt.Errorf("%s: union #%d: %w", path, i, err)
			}
		case "DiscriminatedObjectType":
			if err := json.Unmarshal(ts[i].Elements, &ts[i].discElems); err != nil {
				return nil, fmt.Errorf("%s: discriminated object #%d: %w", path, i, err)
			}
		}
	}
	return &typeFile{path: path, types: ts}, nil
}

func (f *typeFile) get(r ref) (*typ, error) {
	var n int
	if !strings.HasPrefix(r.Ref, "#/") {
		return nil, fmt.Errorf("%s: reference %q to another file is not supported", f.path, r.Ref)
	}
	if _, err := fmt.Sscanf(r.Ref, "#/%d", &n); err != nil || n < 0 || n >= len(f.types) {
		return nil, fmt.Errorf("%s: bad reference %q", f.path, r.Ref)
	}
	return &f.types[n], nil
}

// findResource loads the types of typ@version from root (bicep-types-az's generated/ folder):
// root/<provider>/<namespace, lower case>/<version>/types.json.
func findResource(root, typeName, version string) (*typeFile, *typ, error) {
	ns, _, _ := strings.Cut(typeName, "/")
	files, err := filepath.Glob(filepath.Join(root, "*", strings.ToLower(ns), version, "types.json"))
	if err != nil {
		return nil, nil, err
	}
	want := typeName + "@" + version
	for _, path := range files {
		f, err := loadTypeFile(path)
		if err != nil {
			return nil, nil, err
		}
		for i := range f.types {
			if t := &f.types[i]; t.Kind == "ResourceType" && strings.EqualFold(t.Name, want) && t.Body != nil {
				body, err := f.get(*t.Body)
				return f, body, err
			}
		}
	}
	return nil, nil, fmt.Errorf("no types for %s under %s (looked in %d files)", want, root, len(files))
}

// bicepKeywords are a resource body's keys that Bicep itself defines, not the resource type.
var bicepKeywords = map[string]bool{"parent": true, "dependsOn": true, "scope": true}

// checkResource returns what is wrong with r's body against its type, each problem with its line.
func checkResource(root string, r resource) []string {
	f, body, err := findResource(root, r.typ, r.version)
	if err != nil {
		return []string{fmt.Sprintf("line %d: resource %s: %v", r.line, r.symbol, err)}
	}
	c := checker{f: f, existing: r.existing}
	c.object(r.symbol, r.body, body, true)
	return c.problems
}

type checker struct {
	f        *typeFile
	existing bool // the top-level object is an existing resource's reference: nothing is required
	problems []string
}

func (c *checker) addf(line int, format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
}

// check checks v against t at path.
func (c *checker) check(path string, v value, t *typ) {
	if v.kind == "expr" || (v.kind == "string" && v.interp) {
		return // not a literal: its type is not known here
	}
	switch t.Kind {
	case "AnyType", "ResourceFunctionType":
	case "StringType":
		if v.kind != "string" {
			c.addf(v.line, "%s: a %s where the type wants a string", path, v.kind)
		}
	case "IntegerType":
		if v.kind != "int" {
			c.addf(v.line, "%s: a %s where the type wants an integer", path, v.kind)
		}
	case "BooleanType":
		if v.kind != "bool" {
			c.addf(v.line, "%s: a %s where the type wants a boolean", path, v.kind)
		}
	case "StringLiteralType":
		if v.kind != "string" || v.str != t.Value {
			c.addf(v.line, "%s: %s, the type allows only %q", path, show(v), t.Value)
		}
	case "UnionType":
		c.union(path, v, t)
	case "ArrayType":
		if v.kind != "array" {
			c.addf(v.line, "%s: a %s where the type wants an array", path, v.kind)
			return
		}
		it, err := c.f.get(*t.ItemType)
		if err != nil {
			c.addf(v.line, "%s: %v", path, err)
			return
		}
		for i, el := range v.arr {
			c.check(fmt.Sprintf("%s[%d]", path, i), el, it)
		}
	case "ObjectType", "DiscriminatedObjectType":
		if v.kind != "object" {
			c.addf(v.line, "%s: a %s where the type wants an object", path, v.kind)
			return
		}
		c.object(path, v, t, false)
	default:
		c.addf(v.line, "%s: type kind %s is not supported by typecheck", path, t.Kind)
	}
}

// union accepts v when one of t's members accepts it. A string literal that only the union's
// open string member accepts, next to named values (an Azure "extensible enum"), is reported:
// the service takes only the values it documents, and such a string is almost always a typo.
// The Bicep compiler accepts it; typecheck is stricter on purpose.
func (c *checker) union(path string, v value, t *typ) {
	var literals []string
	openString := false
	for _, e := range t.unionElems {
		et, err := c.f.get(e)
		if err != nil {
			c.addf(v.line, "%s: %v", path, err)
			return
		}
		if et.Kind == "StringType" && v.kind == "string" {
			openString = true
			continue
		}
		try := checker{f: c.f}
		try.check(path, v, et)
		if len(try.problems) == 0 {
			return
		}
		if et.Kind == "StringLiteralType" {
			literals = append(literals, fmt.Sprintf("%q", et.Value))
		}
	}
	if openString && len(literals) == 0 {
		return // a plain string
	}
	if openString {
		c.addf(v.line, "%s: %s is not one of the values the type names: %s", path, show(v), strings.Join(literals, ", "))
		return
	}
	if len(literals) == len(t.unionElems) {
		c.addf(v.line, "%s: %s, the type allows only %s", path, show(v), strings.Join(literals, ", "))
		return
	}
	c.addf(v.line, "%s: %s matches none of the %d types the property allows", path, show(v), len(t.unionElems))
}

// object checks an object literal against an object type: every key known and writable, every
// required key present.
func (c *checker) object(path string, v value, t *typ, top bool) {
	props := map[string]property{}
	for k, p := range t.Properties {
		props[k] = p
	}
	if t.Kind == "DiscriminatedObjectType" {
		for k, p := range t.BaseProperties {
			props[k] = p
		}
		var disc *value
		for i := range v.obj {
			if v.obj[i].key == t.Discriminator {
				disc = &v.obj[i].val
			}
		}
		if disc == nil || disc.kind != "string" || disc.interp {
			c.addf(v.line, "%s: %s must be a literal string to check this object", path, t.Discriminator)
			return
		}
		er, ok := t.discElems[disc.str]
		if !ok {
			keys := make([]string, 0, len(t.discElems))
			for k := range t.discElems {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			c.addf(disc.line, "%s.%s: %q is not one of %s", path, t.Discriminator, disc.str, strings.Join(keys, ", "))
			return
		}
		et, err := c.f.get(er)
		if err != nil {
			c.addf(v.line, "%s: %v", path, err)
			return
		}
		for k, p := range et.Properties {
			props[k] = p
		}
	}
	seen := map[string]bool{}
	for _, fl := range v.obj {
		if fl.key == "" { // a computed key: only additionalProperties can take it
			if t.AdditionalProperties == nil && len(props) > 0 {
				c.addf(fl.line, "%s: a computed key where the type has fixed properties", path)
			} else if t.AdditionalProperties != nil {
				if at, err := c.f.get(*t.AdditionalProperties); err == nil {
					c.check(path+"[…]", fl.val, at)
				}
			}
			continue
		}
		seen[fl.key] = true
		if top && bicepKeywords[fl.key] {
			continue
		}
		p, ok := props[fl.key]
		if !ok {
			if t.AdditionalProperties != nil {
				if at, err := c.f.get(*t.AdditionalProperties); err == nil {
					c.check(path+"."+fl.key, fl.val, at)
				}
				continue
			}
			c.addf(fl.line, "%s: %q is not a property of %s (it has: %s)", path, fl.key, t.Name, keys(props))
			continue
		}
		if p.Flags&flagReadOnly != 0 && p.Flags&flagRequired == 0 {
			c.addf(fl.line, "%s.%s is read-only", path, fl.key)
			continue
		}
		pt, err := c.f.get(p.Type)
		if err != nil {
			c.addf(fl.line, "%s.%s: %v", path, fl.key, err)
			continue
		}
		c.check(path+"."+fl.key, fl.val, pt)
	}
	for k, p := range props {
		if top && c.existing {
			break
		}
		if p.Flags&flagRequired != 0 && p.Flags&flagReadOnly == 0 && !seen[k] {
			c.addf(v.line, "%s: required property %q missing", path, k)
		}
	}
}

func keys(m map[string]property) string {
	out := make([]string, 0, len(m))
	for k, p := range m {
		if p.Flags&flagReadOnly == 0 || p.Flags&flagRequired != 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func show(v value) string {
	if v.kind == "string" {
		return fmt.Sprintf("%q", v.str)
	}
	if v.kind == "bool" || v.kind == "int" {
		return v.str
	}
	return "a " + v.kind
}
