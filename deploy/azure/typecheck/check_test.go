package main

import (
	"strings"
	"testing"
)

const good = `// a comment with resource 'x' in it
param location string = 'westeurope'
@description('the size, {not an object}')
param size int = 3

resource w 'Contoso.Widgets/widgets@2024-01-01' = {
  name: 'w-${uniqueString(resourceGroup().id)}'
  location: location
  tags: {
    owner: 'it'
    '${location}-x': 'computed keys go to additionalProperties'
  }
  properties: {
    mode: 'Enabled'
    size: size
    enabled: true
    rules: [
      {
        port: 443
        action: 'Allow'
      }
      {
        port: size > 2 ? 80 : 8080
      }
    ]
  }
}

resource old 'Contoso.Widgets/widgets@2024-01-01' existing = {
  name: 'old'
}

resource many 'Contoso.Widgets/widgets@2024-01-01' = [for i in range(0, 2): {
  name: 'w${i}'
  location: location
}]

resource maybe 'Contoso.Widgets/widgets@2024-01-01' = if (size > 1) {
  name: 'maybe'
  location: location
  dependsOn: [
    w
  ]
}
`

func TestGoodTemplate(t *testing.T) {
	res, err := parseResources(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d resources read, want 4", len(res))
	}
	for _, r := range res {
		if p := checkResource("testdata/generated", r); len(p) != 0 {
			t.Errorf("%s: unexpected problems: %v", r.symbol, p)
		}
	}
	if !res[1].existing || res[0].existing {
		t.Error("existing was not read from the declaration")
	}
}

// TestProblemsFound: each mistake the checker exists for, one at a time, is reported with its
// line and the property's path.
func TestProblemsFound(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"mode: 'Enabled'", "mode: 'Enabld'", `properties.mode: "Enabld" is not one of the values the type names: "Enabled", "Disabled"`},
		{"size: size", "sise: size", `"sise" is not a property of WidgetProperties`},
		{"enabled: true", "enabled: 'true'", `properties.enabled: a string where the type wants a boolean`},
		{"        port: 443\n", "        port: '443'\n", `properties.rules[0].port: a string where the type wants an integer`},
		{"        action: 'Allow'", "        action: 'Permit'", `properties.rules[0].action: "Permit", the type allows only "Allow", "Deny"`},
		{"        port: 443\n", "", `properties.rules[0]: required property "port" missing`},
		{"    enabled: true\n", "    enabled: true\n    fqdn: 'x.example'\n", `properties.fqdn is read-only`},
		{"  name: 'maybe'\n  location: location\n", "  name: 'maybe'\n", `maybe: required property "location" missing`},
		{"resource w 'Contoso.Widgets/widgets@2024-01-01'", "resource w 'Contoso.Widgets/widgets@2023-01-01'", `no types for Contoso.Widgets/widgets@2023-01-01`},
	} {
		src := strings.Replace(good, tc.from, tc.to, 1)
		if src == good {
			t.Fatalf("the mutation %q → %q changed nothing", tc.from, tc.to)
		}
		res, err := parseResources(src)
		if err != nil {
			t.Fatalf("%q: %v", tc.to, err)
		}
		var all []string
		for _, r := range res {
			all = append(all, checkResource("testdata/generated", r)...)
		}
		if len(all) != 1 || !strings.Contains(all[0], tc.want) || !strings.HasPrefix(all[0], "line ") {
			t.Errorf("mutation %q: problems %q, want exactly one containing %q", tc.to, all, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{
		"resource x 'Contoso.Widgets/widgets' = {\n name: 'a'\n}\n",
		"resource x 'Contoso.Widgets/widgets@2024-01-01' = {\n name: 'a\n}\n",
		"resource x 'Contoso.Widgets/widgets@2024-01-01' = {\n resource y 'a/b@1' = {}\n}\n",
	} {
		if _, err := parseResources(src); err == nil {
			t.Errorf("%q: no error", src)
		}
	}
}

// FuzzParse: no input makes the reader panic or loop.
func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add("resource a 'T/x@1' = [for x in y: {\n}]\n")
	f.Add("var x = '${'a'}' \n/* c */ '''m\n'''")
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = parseResources(src)
	})
}
