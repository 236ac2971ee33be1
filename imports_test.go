package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/elevate-pim/elevate"

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func goList(t *testing.T, args ...string) map[string]listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]listed{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// TestImportGraph keeps the layering of DESIGN §5: main → demo, bot → policy, graph, store; only
// graph speaks to the msgraph SDK (and never its root package); policy does no I/O.
func TestImportGraph(t *testing.T) {
	pkgs := goList(t, "./...")
	if len(pkgs) < 6 {
		t.Fatalf("go list found %d packages, want the whole module", len(pkgs))
	}
	// allowed lists, per package, the module's own packages it may import.
	allowed := map[string][]string{
		module:                   {"bot", "demo", "examples", "forward", "graph", "lead", "metrics", "oncall", "policy", "store", "bot/slack", "bot/teams", "bot/schedule", "manifest", "internal/pgconn"},
		module + "/metrics":      {"store"},
		module + "/demo":         {"bot", "bot/schedule", "graph", "graph/graphtest", "oncall", "oncall/oncalltest", "policy", "store"},
		module + "/bot/schedule": {"bot", "graph", "policy", "store"},
		// Adapters translate; the core decides: no policy, no Graph in an adapter (STYLE 3).
		// store only for the MessageRef and conversation types the core's interfaces use.
		module + "/bot/slack":       {"bot", "store"},
		module + "/bot/teams":       {"bot", "store"},
		module + "/bot/bottest":     {"bot", "bot/schedule", "demo", "examples", "oncall", "oncall/oncalltest", "store"},
		module + "/manifest":        {},
		module + "/bot":             {"graph", "oncall", "policy", "store"},
		module + "/oncall":          {},
		module + "/graph":           {},
		module + "/graph/graphtest": {},
		module + "/policy":          {},
		module + "/store":           {"internal/pgconn"},
		module + "/lead":            {"internal/pgconn"}, // pgx only: the store calls its Fence, it never calls the store
		module + "/forward":         {"internal/pgconn"}, // pgx only: it forwards HTTP requests, whatever serves them
		// How every PostgreSQL connection authenticates, and nothing of Elevate's own.
		module + "/internal/pgconn": {},
		module + "/examples":        {},
	}
	for path, p := range pkgs {
		own, ok := allowed[path]
		if !ok {
			continue // new packages (adapters) get their own rules when they land
		}
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok && !slices.Contains(own, rel) {
				t.Errorf("%s imports %s; the layering allows only %v", path, imp, own)
			}
			isGraphSDK := strings.HasPrefix(imp, "github.com/microsoftgraph/") || strings.HasPrefix(imp, "github.com/microsoft/kiota")
			if isGraphSDK && path != module+"/graph" {
				t.Errorf("%s imports %s; only %s/graph may use the Graph SDK", path, imp, module)
			}
			if imp == "github.com/microsoftgraph/msgraph-sdk-go" {
				t.Errorf("%s imports the msgraph-sdk-go root package (3 min builds, 45 MB binaries); use its sub-packages", path)
			}
			if strings.HasPrefix(imp, "github.com/slack-go/") || strings.HasPrefix(imp, "github.com/infracloudio/") {
				if path == module+"/bot" || path == module+"/policy" || path == module+"/store" || path == module+"/graph" {
					t.Errorf("%s imports chat SDK %s; chat code lives in the adapters", path, imp)
				}
			}
		}
		if slices.Contains(p.Deps, "github.com/microsoftgraph/msgraph-sdk-go") {
			t.Errorf("%s depends on the msgraph-sdk-go root package", path)
		}
		// The Prometheus client (with client_model, common, procfs and protobuf) was 2+ MB of the
		// shipped binary for a dozen metrics: metrics writes the text format itself (issue 13).
		// Its parser may be used by tests only.
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "github.com/prometheus/") || strings.HasPrefix(d, "google.golang.org/protobuf/") {
				t.Errorf("%s depends on %s; metrics writes the exposition format itself, the Prometheus client is for tests only", path, d)
			}
		}
		// msgraph-sdk-go's models package is 47% of the code and a 4.4 GB cold compile; its request
		// builders (users, rolemanagement, policies, ...) all import it. Only the error types
		// (models/odataerrors, which import no models) may be linked: Graph responses are read
		// into graph's own types through the raw JSON path (graph/raw.go).
		for _, d := range p.Deps {
			if rest, ok := strings.CutPrefix(d, "github.com/microsoftgraph/msgraph-sdk-go/"); ok && rest != "models/odataerrors" {
				t.Errorf("%s depends on %s; read Graph through graph's raw JSON path, not msgraph-sdk-go's models or request builders", path, d)
			}
		}
	}
	// policy decides; it must not do I/O, directly or through a non-standard dependency.
	io := []string{"os", "os/exec", "net", "net/http", "io/ioutil", "syscall", "database/sql", "go.etcd.io/bbolt"}
	pol := pkgs[module+"/policy"]
	deps := goList(t, append([]string{module + "/policy"}, pol.Deps...)...)
	for path, p := range deps {
		if p.Standard && path != module+"/policy" {
			continue
		}
		for _, imp := range p.Imports {
			if slices.Contains(io, imp) {
				t.Errorf("policy (through %s) imports %s; policy must not do I/O", path, imp)
			}
		}
	}
}
