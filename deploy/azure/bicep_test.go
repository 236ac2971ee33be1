package azure

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// documented are the resource types and API versions main.bicep may use: each is in the Azure
// Resource Manager template reference (learn.microsoft.com/azure/templates/<provider>/<version>/<type>),
// and the template cites that page above the resource.
var documented = map[string]string{
	"Microsoft.OperationalInsights/workspaces":                "2022-10-01",
	"Microsoft.ManagedIdentity/userAssignedIdentities":        "2023-01-31",
	"Microsoft.KeyVault/vaults":                               "2023-07-01",
	"Microsoft.KeyVault/vaults/secrets":                       "2023-07-01",
	"Microsoft.Authorization/roleAssignments":                 "2022-04-01",
	"Microsoft.DBforPostgreSQL/flexibleServers":               "2024-08-01",
	"Microsoft.DBforPostgreSQL/flexibleServers/databases":     "2024-08-01",
	"Microsoft.DBforPostgreSQL/flexibleServers/firewallRules": "2024-08-01",
	"Microsoft.App/managedEnvironments":                       "2024-03-01",
	"Microsoft.App/containerApps":                             "2024-03-01",
	"Microsoft.BotService/botServices":                        "2022-09-15",
	"Microsoft.BotService/botServices/channels":               "2022-09-15",
}

var (
	paramRe    = regexp.MustCompile(`(?m)^param (\w+) (\w+)( = .*)?$`)
	varRe      = regexp.MustCompile(`(?m)^var (\w+) = `)
	resourceRe = regexp.MustCompile(`(?m)^resource (\w+) '([^'@]+)@([^']+)' = `)
	apiRe      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-preview)?$`)
)

func read(t *testing.T) (string, []string) {
	t.Helper()
	b, err := os.ReadFile("main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	return string(b), strings.Split(string(b), "\n")
}

// uses counts the references to name outside comments, its declaration included.
func uses(src, name string) int {
	var code []string
	for _, l := range strings.Split(src, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "//") {
			code = append(code, l)
		}
	}
	return len(regexp.MustCompile(`\b`+name+`\b`).FindAllString(strings.Join(code, "\n"), -1))
}

func TestBicepParams(t *testing.T) {
	src, lines := read(t)
	params := paramRe.FindAllStringSubmatch(src, -1)
	if len(params) < 10 {
		t.Fatalf("%d params found; the parser or the template is off", len(params))
	}
	for _, p := range params {
		name := p[1]
		if uses(src, name) < 2 {
			t.Errorf("param %s is never used", name)
		}
		// Its decorators sit on the lines right above it; one is its @description.
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "param "+name+" ") })
		var decorators []string
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "@"); j-- {
			decorators = append(decorators, lines[j])
		}
		if !slices.ContainsFunc(decorators, func(d string) bool { return strings.HasPrefix(d, "@description('") }) {
			t.Errorf("param %s has no @description", name)
		}
		secretish := regexp.MustCompile(`(?i)(secret|password|token)`).MatchString(name)
		if secretish != slices.Contains(decorators, "@secure()") {
			t.Errorf("param %s: @secure() %v, want %v (a secret and only a secret is @secure)", name, !secretish, secretish)
		}
	}
	for _, v := range varRe.FindAllStringSubmatch(src, -1) {
		if uses(src, v[1]) < 2 {
			t.Errorf("var %s is never used", v[1])
		}
	}
}

func TestBicepResources(t *testing.T) {
	src, _ := read(t)
	resources := resourceRe.FindAllStringSubmatch(src, -1)
	seen := map[string]bool{}
	for _, r := range resources {
		sym, typ, api := r[1], r[2], r[3]
		seen[typ] = true
		if !apiRe.MatchString(api) {
			t.Errorf("resource %s: API version %q is not a date", sym, api)
		}
		if want, ok := documented[typ]; !ok || want != api {
			t.Errorf("resource %s: %s@%s is not one of the documented type@version pairs this template was checked against", sym, typ, api)
		}
		provider, rest, _ := strings.Cut(typ, "/")
		cite := "// learn.microsoft.com/azure/templates/" + strings.ToLower(provider) + "/" + api + "/" + strings.ToLower(rest)
		if !strings.Contains(src, cite) {
			t.Errorf("resource %s: no citation %q", sym, cite)
		}
		if uses(src, sym) < 2 && typ != "Microsoft.BotService/botServices/channels" && typ != "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules" {
			t.Errorf("resource %s is never referenced", sym)
		}
	}
	for typ := range documented {
		if !seen[typ] {
			t.Errorf("no %s resource: the template must create it", typ)
		}
	}
}

// TestBicepBalanced: brackets, braces and parentheses close in order outside strings and
// comments, and strings close on their line (a truncated or mangled file fails here).
func TestBicepBalanced(t *testing.T) {
	_, lines := read(t)
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for n, l := range lines {
		inString := false
		rs := []rune(l)
		for i := 0; i < len(rs); i++ {
			c := rs[i]
			switch {
			case inString && c == '\\':
				i++
			case c == '\'':
				inString = !inString
			case inString:
			case c == '/' && i+1 < len(rs) && rs[i+1] == '/':
				i = len(rs)
			case c == '(' || c == '[' || c == '{':
				stack = append(stack, c)
			case c == ')' || c == ']' || c == '}':
				if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
					t.Fatalf("line %d: unbalanced %q: %s", n+1, c, l)
				}
				stack = stack[:len(stack)-1]
			}
		}
		if inString {
			t.Errorf("line %d: a string does not close: %s", n+1, l)
		}
	}
	if len(stack) != 0 {
		t.Errorf("%d brackets never closed", len(stack))
	}
}

// TestBicepPromises: what docs/deploy.md says the template does.
func TestBicepPromises(t *testing.T) {
	src, _ := read(t)
	for _, want := range []string{
		"type: 'Liveness'\n              httpGet: {\n                path: '/healthz'",
		"type: 'Readiness'\n              httpGet: {\n                path: '/readyz'",
		"@minValue(2)\n@maxValue(5)\nparam minReplicas int = 2",
		"minReplicas: minReplicas",
		"msaAppType: 'UserAssignedMSI'",
		"msaAppMSIResourceId: identity.id",
		"msaAppId: identity.properties.clientId",
		"{ name: 'MICROSOFT_APP_TYPE', value: 'UserAssignedMSI' }",
		"{ name: 'MICROSOFT_APP_ID', value: identity.properties.clientId }",
		"{ name: 'ELEVATE_DATABASE_URL', secretRef: 'database-url' }",
		"{ name: 'AZURE_CLIENT_SECRET', secretRef: 'azure-client-secret' }",
		"enableRbacAuthorization: true",
		"mode: postgresHighAvailability",
		"sslmode=verify-full",
		"destination: 'log-analytics'",
		"channelName: 'MsTeamsChannel'",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("main.bicep lacks %q", want)
		}
	}
	// Least privilege: each role assignment is scoped to the one resource it is for, never the
	// resource group or the subscription (AcrPull on the group would reach every registry in it).
	for _, m := range regexp.MustCompile(`(?m)^resource (\w+) 'Microsoft\.Authorization/roleAssignments@[^']+' = [^{]*\{\n((?:  .*\n)+?)\}`).FindAllStringSubmatch(src, -1) {
		scope := regexp.MustCompile(`(?m)^  scope: (\w+)$`).FindStringSubmatch(m[2])
		if scope == nil || scope[1] == "resourceGroup" || scope[1] == "subscription" {
			t.Errorf("role assignment %s is not scoped to a resource (scope %v)", m[1], scope)
		}
	}
	// Every Key Vault reference is read with the identity.
	kv := regexp.MustCompile(`\{ name: '[^']+', keyVaultUrl: [^,]+, identity: identity\.id \}`).FindAllString(src, -1)
	if len(kv) != 4 {
		t.Errorf("%d Key Vault secret references read with the identity, want 4: %q", len(kv), kv)
	}
	// A secret reaches the app only by reference: no env entry holds a parameter that is @secure.
	for _, p := range []string{"graphClientSecret", "slackBotToken", "slackSigningSecret", "postgresAdminPassword"} {
		if regexp.MustCompile(`value: `+p+`\b`).MatchString(src) && !strings.Contains(src, "properties: {\n    value: "+p) {
			t.Errorf("%s is given to something other than a Key Vault secret", p)
		}
	}
}

func TestBicepParametersFile(t *testing.T) {
	src, _ := read(t)
	b, err := os.ReadFile("main.parameters.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, p := range paramRe.FindAllStringSubmatch(src, -1) {
		declared[p[1]] = true
		required := p[3] == ""
		secure := strings.Contains(src, "@secure()\nparam "+p[1]+" ")
		// A required param not in the file is given on the command line the header shows.
		if _, given := f.Parameters[p[1]]; required && !given && !strings.Contains(src, p[1]+"=") {
			t.Errorf("required param %s is neither in main.parameters.json nor in the header's az deployment command", p[1])
		}
		if _, given := f.Parameters[p[1]]; given && secure {
			t.Errorf("secure param %s is written in main.parameters.json; give it at deployment", p[1])
		}
	}
	for name := range f.Parameters {
		if !declared[name] {
			t.Errorf("main.parameters.json sets %s, which main.bicep does not declare", name)
		}
	}
}
