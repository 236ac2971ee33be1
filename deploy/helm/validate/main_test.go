package main

import (
	"os"
	"strings"
	"testing"
)

// The renderings in deploy/helm/testdata are what `helm template` gives for the chart's
// ci/*.yaml values; .ci/run renders them again and fails when they differ from these.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderedChartsPass(t *testing.T) {
	for _, c := range []struct {
		file string
		want Want
	}{
		{"bbolt.yaml", Want{Mode: "bbolt", Replicas: 1}},
		{"postgres.yaml", Want{Mode: "postgres", Replicas: 3}},
	} {
		if p := Check([]byte(golden(t, c.file)), c.want); len(p) > 0 {
			t.Errorf("%s: %q", c.file, p)
		}
	}
	// Each rendering is refused for the other shape.
	if p := Check([]byte(golden(t, "bbolt.yaml")), Want{Mode: "postgres", Replicas: 3}); len(p) < 3 {
		t.Errorf("the bbolt rendering passed as a postgres one: %q", p)
	}
	if p := Check([]byte(golden(t, "postgres.yaml")), Want{Mode: "bbolt", Replicas: 1}); len(p) < 3 {
		t.Errorf("the postgres rendering passed as a bbolt one: %q", p)
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		name, file, old, new string
		want                 Want
		problem              string
	}{
		{"inline secret env", "bbolt.yaml", "            - name: AZURE_CLIENT_SECRET\n              valueFrom:\n                secretKeyRef:\n                  name: elevate-secrets\n                  key: azure-client-secret\n",
			"            - name: AZURE_CLIENT_SECRET\n              value: \"abc~def\"\n", Want{"bbolt", 1}, "env AZURE_CLIENT_SECRET has an inline value"},
		{"a database URL with its password", "bbolt.yaml", "    tenant:\n", "    store: postgres://elevate:hunter2@db.example:5432/elevate\n    tenant:\n", Want{"bbolt", 1}, "holds a secret value"},
		{"a Slack token", "postgres.yaml", "value: \"https://elevate.contoso.example\"", "value: \"xoxb-1234-5678-abcdef\"", Want{"postgres", 3}, "holds a secret value"},
		{"a rendered Secret", "bbolt.yaml", "---\n# Source: elevate/templates/serviceaccount.yaml\n", "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n---\n# Source: elevate/templates/serviceaccount.yaml\n", Want{"bbolt", 1}, "must not render a Secret"},
		{"writable root filesystem", "bbolt.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", Want{"bbolt", 1}, "readOnlyRootFilesystem is not true"},
		{"capabilities kept", "postgres.yaml", "              drop:\n                - ALL\n", "              drop:\n                - NET_RAW\n", Want{"postgres", 3}, "does not drop ALL"},
		{"root", "bbolt.yaml", "runAsNonRoot: true\n        runAsUser: 65532", "runAsNonRoot: false\n        runAsUser: 0", Want{"bbolt", 1}, "runAsNonRoot is not true"},
		{"no seccomp", "bbolt.yaml", "type: RuntimeDefault", "type: Unconfined", Want{"bbolt", 1}, "seccompProfile is not RuntimeDefault"},
		{"readiness on /healthz", "postgres.yaml", "path: /readyz", "path: /healthz", Want{"postgres", 3}, "readinessProbe path \"/healthz\""},
		{"a rolling update on bbolt", "bbolt.yaml", "type: Recreate", "type: RollingUpdate", Want{"bbolt", 1}, "strategy \"RollingUpdate\""},
		{"an outage on every upgrade on PostgreSQL", "postgres.yaml", "type: RollingUpdate", "type: Recreate", Want{"postgres", 3}, "strategy \"Recreate\""},
		{"a pod down before its successor is ready", "postgres.yaml", "maxUnavailable: 0", "maxUnavailable: 1", Want{"postgres", 3}, "maxUnavailable 1"},
		{"no PDB with 3 replicas", "postgres.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgetX", Want{"postgres", 3}, "0 PodDisruptionBudgets"},
		{"entra without workload identity", "postgres.yaml", "        azure.workload.identity/use: \"true\"\n", "", Want{"postgres", 3}, "without the pod label azure.workload.identity/use"},
		{"entra as another identity", "postgres.yaml", "name: ELEVATE_DATABASE_CLIENT_ID\n              value: \"5e1f0000-0000-4000-8000-0000000000e1\"",
			"name: ELEVATE_DATABASE_CLIENT_ID\n              value: \"0a1b0000-0000-4000-8000-000000000a99\"", Want{"postgres", 3}, "is not the identity the ServiceAccount"},
		{"entra on bbolt", "bbolt.yaml", "            - name: ELEVATE_LISTEN\n", "            - name: ELEVATE_DATABASE_AUTH\n              value: entra\n            - name: ELEVATE_LISTEN\n", Want{"bbolt", 1}, "it is for PostgreSQL"},
		{"database URL as a value", "postgres.yaml", "            - name: ELEVATE_DATABASE_URL\n              valueFrom:\n                secretKeyRef:\n                  name: elevate-db\n                  key: url\n",
			"            - name: ELEVATE_DATABASE_URL\n              value: \"postgres://db.example/elevate\"\n", Want{"postgres", 3}, "ELEVATE_DATABASE_URL must come from a Secret"},
		{"metrics on the ingress", "bbolt.yaml", "- path: /privacy", "- path: /metrics", Want{"bbolt", 1}, "the Ingress exposes \"/metrics\""},
		{"workload identity without its client id", "postgres.yaml", "azure.workload.identity/client-id:", "azure.workload.identity/other:", Want{"postgres", 3}, "has no azure.workload.identity/client-id"},
		{"shared storage", "bbolt.yaml", "    - ReadWriteOnce", "    - ReadWriteMany", Want{"bbolt", 1}, "want [ReadWriteOnce]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := golden(t, c.file)
			if strings.Count(src, c.old) != 1 {
				t.Fatalf("%q occurs %d times in %s; the mutation needs exactly one", c.old, strings.Count(src, c.old), c.file)
			}
			p := Check([]byte(strings.Replace(src, c.old, c.new, 1)), c.want)
			if !strings.Contains(strings.Join(p, "\n"), c.problem) {
				t.Errorf("problems %q, want one saying %q", p, c.problem)
			}
		})
	}
}
