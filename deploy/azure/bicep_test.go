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
	"Microsoft.OperationalInsights/workspaces":                 "2022-10-01",
	"Microsoft.ManagedIdentity/userAssignedIdentities":         "2023-01-31",
	"Microsoft.KeyVault/vaults":                                "2023-07-01",
	"Microsoft.KeyVault/vaults/secrets":                        "2023-07-01",
	"Microsoft.Authorization/roleAssignments":                  "2022-04-01",
	"Microsoft.DBforPostgreSQL/flexibleServers":                "2024-08-01",
	"Microsoft.DBforPostgreSQL/flexibleServers/databases":      "2024-08-01",
	"Microsoft.DBforPostgreSQL/flexibleServers/administrators": "2024-08-01",
	"Microsoft.Network/virtualNetworks":                        "2024-05-01",
	"Microsoft.Network/privateDnsZones":                        "2020-06-01",
	"Microsoft.Network/privateDnsZones/virtualNetworkLinks":    "2020-06-01",
	"Microsoft.App/managedEnvironments":                        "2024-03-01",
	"Microsoft.App/containerApps":                              "2024-03-01",
	"Microsoft.BotService/botServices":                         "2022-09-15",
	"Microsoft.BotService/botServices/channels":                "2022-09-15",
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
		if uses(src, sym) < 2 && typ != "Microsoft.BotService/botServices/channels" {
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
		"{ name: 'ELEVATE_DATABASE_URL', value: databaseURL }",
		"{ name: 'ELEVATE_DATABASE_AUTH', value: 'entra' }",
		"{ name: 'ELEVATE_DATABASE_CLIENT_ID', value: identity.properties.clientId }",
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
	if len(kv) != 3 {
		t.Errorf("%d Key Vault secret references read with the identity, want 3: %q", len(kv), kv)
	}
	// A secret reaches the app only by reference: no env entry holds a parameter that is @secure.
	for _, p := range []string{"graphClientSecret", "slackBotToken", "slackSigningSecret"} {
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

// resourceBody returns the body of the resource declared as sym, up to its closing brace at
// column 0, or fails.
func resourceBody(t *testing.T, src, sym string) string {
	t.Helper()
	m := regexp.MustCompile(`(?ms)^resource ` + sym + ` '[^']+' = [^{]*\{\n(.*?)^\}`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("no resource %s", sym)
	}
	return m[1]
}

// TestBicepDatabasePrivateAndPasswordless: the database has no password and no internet
// endpoint (docs/deploy.md and docs/security.md say so): Entra authentication only, the operators'
// group its Entra administrator and not the app, private access through delegated subnets and a
// private DNS zone linked to the VNet, no firewall rule, and no password anywhere the app sees.
func TestBicepDatabasePrivateAndPasswordless(t *testing.T) {
	src, _ := read(t)
	if strings.Contains(src, "firewallRules") || strings.Contains(src, "0.0.0.0") {
		t.Error("main.bicep has a firewall rule; the server must have none (publicNetworkAccess Disabled)")
	}
	pg := resourceBody(t, src, "postgres")
	for _, want := range []string{
		"activeDirectoryAuth: 'Enabled'",
		"passwordAuth: 'Disabled'",
		"publicNetworkAccess: 'Disabled'",
		"delegatedSubnetResourceId: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'postgres')",
		"privateDnsZoneArmResourceId: postgresDns.id",
	} {
		if !strings.Contains(pg, want) {
			t.Errorf("the PostgreSQL server lacks %q", want)
		}
	}
	for _, banned := range []string{"administratorLogin", "Password"} {
		if strings.Contains(pg, banned) {
			t.Errorf("the PostgreSQL server sets %s: no password role may exist", banned)
		}
	}
	admin := resourceBody(t, src, "postgresAdmin")
	if !strings.Contains(admin, "name: postgresAdminObjectId") || !strings.Contains(admin, "principalName: postgresAdminName") ||
		strings.Contains(admin, "identity") {
		t.Errorf("the Entra administrator must be the operators' principal (parameters), never the app's identity:\n%s", admin)
	}

	vnet := resourceBody(t, src, "vnet")
	subnets := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)name: '(\w+)'\n\s+properties: \{\n\s+addressPrefix: (\w+)(.*?)\n      \}`).FindAllStringSubmatch(vnet, -1) {
		subnets[m[1]] = m[2] + m[3]
	}
	for name, service := range map[string]string{"apps": "Microsoft.App/environments", "postgres": "Microsoft.DBforPostgreSQL/flexibleServers"} {
		if !strings.Contains(subnets[name], "serviceName: '"+service+"'") {
			t.Errorf("subnet %s is not delegated to %s: %q", name, service, subnets[name])
		}
	}
	if strings.Contains(subnets["admin"], "delegations") {
		t.Errorf("the admin subnet (a jump host's) must not be delegated: %q", subnets["admin"])
	}
	if !strings.Contains(src, "param appsSubnetPrefix string = '10.40.0.0/26'") {
		t.Error("the apps subnet's default must stay /27 or larger (a workload profiles environment needs it)")
	}

	zone := resourceBody(t, src, "postgresDns")
	if !strings.Contains(zone, "name: '${name}.private.postgres.database.azure.com'") {
		t.Errorf("the private DNS zone's name must end in .postgres.database.azure.com:\n%s", zone)
	}
	link := resourceBody(t, src, "postgresDnsLink")
	if !strings.Contains(link, "parent: postgresDns") || !strings.Contains(link, "id: vnet.id") || !strings.Contains(link, "registrationEnabled: false") {
		t.Errorf("the DNS zone is not linked to the VNet:\n%s", link)
	}
	env := resourceBody(t, src, "environment")
	if !strings.Contains(env, "infrastructureSubnetId: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'apps')") ||
		!strings.Contains(env, "workloadProfileType: 'Consumption'") {
		t.Errorf("the Container Apps environment is not a workload profiles environment in the apps subnet:\n%s", env)
	}

	// No password anywhere the app sees: the URL has a user and no password, and no env entry
	// and no app secret names one.
	url := regexp.MustCompile(`(?m)^var databaseURL = '([^']*)'$`).FindStringSubmatch(src)
	if url == nil || !regexp.MustCompile(`^postgres://\$\{identity\.name\}@[^:@/]+:5432/`).MatchString(url[1]) || !strings.Contains(url[1], "sslmode=verify-full") {
		t.Errorf("the database URL must name the identity's role with no password and verify TLS: %v", url)
	}
	app := resourceBody(t, src, "app")
	for _, l := range strings.Split(app, "\n") {
		if strings.Contains(l, "{ name: ") && regexp.MustCompile(`(?i)password|pgpass`).MatchString(l) {
			t.Errorf("the app's env or secrets hold a password: %s", strings.TrimSpace(l))
		}
	}
	if strings.Contains(src, "database-url") {
		t.Error("a database-url secret remains; the URL holds no password and is a plain env value")
	}
}
