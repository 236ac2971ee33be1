// Command validate checks manifests rendered from the Helm chart (deploy/helm/elevate) against
// what docs/deploy.md promises, without Kubernetes' own modules: known kinds and apiVersions;
// probes on /healthz and /readyz; a non-root, read-only, capability-free container under the
// RuntimeDefault seccomp profile; resources; no secret value inlined; the PersistentVolumeClaim
// in bbolt mode only; a PodDisruptionBudget exactly when there are several replicas.
//
//	helm template elevate deploy/helm/elevate -f values.yaml | go run ./deploy/helm/validate -mode bbolt -replicas 1
//
// It exits 1 listing every problem. .ci/run runs it on each rendering.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

func main() {
	mode := flag.String("mode", "bbolt", "the chart's database.type: bbolt or postgres")
	replicas := flag.Int("replicas", 1, "the replicaCount the manifests were rendered with")
	flag.Parse()
	var in io.Reader = os.Stdin
	if flag.NArg() == 1 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	problems := Check(data, Want{Mode: *mode, Replicas: *replicas})
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "  - "+p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "%d problem(s) in the rendered chart\n", len(problems))
		os.Exit(1)
	}
	fmt.Printf("rendered chart OK (%s, %d replica(s))\n", *mode, *replicas)
}

// Want is what the manifests were rendered for.
type Want struct {
	Mode     string // "bbolt" or "postgres"
	Replicas int
}

// allowed are the kinds the chart may render, each with its apiVersion.
var allowed = map[string]string{
	"ConfigMap": "v1", "ServiceAccount": "v1", "Service": "v1", "PersistentVolumeClaim": "v1",
	"Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1", "Ingress": "networking.k8s.io/v1",
}

// obj is a generic manifest.
type obj = map[string]any

// Check returns every problem found in the multi-document YAML data.
func Check(data []byte, want Want) []string {
	var c checker
	docs, err := parse(data)
	if err != nil {
		return []string{err.Error()}
	}
	byKind := map[string][]obj{}
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		api, _ := d["apiVersion"].(string)
		name := str(d, "metadata", "name")
		switch want, ok := allowed[kind]; {
		case !ok:
			c.add("%s %q: a kind the chart must not render (allowed: %v)", kind, name, keys(allowed))
		case api != want:
			c.add("%s %q: apiVersion %q, want %q", kind, name, api, want)
		}
		if name == "" {
			c.add("a %s without metadata.name", kind)
		}
		byKind[kind] = append(byKind[kind], d)
		c.noInlinedSecrets(kind+" "+name, d)
	}
	deps := byKind["Deployment"]
	if len(deps) != 1 {
		c.add("%d Deployments, want 1", len(deps))
		return c.problems
	}
	dep := deps[0]
	c.deployment(dep, want)
	podLabels := mapOf(get(dep, "spec", "template", "metadata", "labels"))

	pvcs := byKind["PersistentVolumeClaim"]
	claim := ""
	for _, v := range list(get(dep, "spec", "template", "spec", "volumes")) {
		if n := str(v, "persistentVolumeClaim", "claimName"); n != "" {
			claim = n
		}
	}
	switch want.Mode {
	case "bbolt":
		if len(pvcs) != 1 {
			c.add("bbolt: %d PersistentVolumeClaims, want 1 (the store's disk)", len(pvcs))
		}
		for _, p := range pvcs {
			if modes := list(get(p, "spec", "accessModes")); len(modes) != 1 || modes[0] != "ReadWriteOnce" {
				c.add("bbolt: the claim's accessModes are %v, want [ReadWriteOnce] (block storage, one writer)", modes)
			}
			if claim != str(p, "metadata", "name") {
				c.add("bbolt: the Deployment mounts claim %q, not the chart's %q", claim, str(p, "metadata", "name"))
			}
		}
		if !mountsAt(dep, "/data") {
			c.add("bbolt: nothing is mounted at /data, where the store lives")
		}
	case "postgres":
		if len(pvcs) != 0 || claim != "" {
			c.add("postgres: a PersistentVolumeClaim is rendered or mounted; the store is the database")
		}
		if !envFromSecret(dep, "ELEVATE_DATABASE_URL") {
			c.add("postgres: ELEVATE_DATABASE_URL must come from a Secret (valueFrom.secretKeyRef)")
		}
	default:
		c.add("unknown mode %q", want.Mode)
	}

	pdbs := byKind["PodDisruptionBudget"]
	switch {
	case want.Replicas > 1 && len(pdbs) != 1:
		c.add("%d replicas and %d PodDisruptionBudgets, want 1", want.Replicas, len(pdbs))
	case want.Replicas <= 1 && len(pdbs) != 0:
		c.add("one replica and a PodDisruptionBudget, which would block every voluntary eviction")
	}
	for _, p := range pdbs {
		if !subset(mapOf(get(p, "spec", "selector", "matchLabels")), podLabels) {
			c.add("the PodDisruptionBudget's selector does not select the Deployment's pods")
		}
	}
	svcs := byKind["Service"]
	if len(svcs) != 1 {
		c.add("%d Services, want 1", len(svcs))
	}
	for _, s := range svcs {
		if !subset(mapOf(get(s, "spec", "selector")), podLabels) || len(mapOf(get(s, "spec", "selector"))) == 0 {
			c.add("the Service's selector does not select the Deployment's pods")
		}
		for _, p := range list(get(s, "spec", "ports")) {
			if tp, ok := mapOf(p)["targetPort"].(string); ok && !containerPort(dep, tp) {
				c.add("the Service targets port %q, which the container does not name", tp)
			}
		}
	}
	for _, in := range byKind["Ingress"] {
		for _, r := range list(get(in, "spec", "rules")) {
			for _, p := range list(get(r, "http", "paths")) {
				if path := str(p, "path"); path == "/" || strings.HasPrefix(path, "/metrics") || strings.HasPrefix(path, "/debug") {
					c.add("the Ingress exposes %q: only the chat, sign-in and legal paths belong there", path)
				}
			}
		}
	}
	// Workload identity: the pod asks for it, so its service account must name the identity.
	if str(dep, "spec", "template", "metadata", "labels", "azure.workload.identity/use") == "true" {
		sa := str(dep, "spec", "template", "spec", "serviceAccountName")
		found := false
		for _, s := range byKind["ServiceAccount"] {
			if str(s, "metadata", "name") == sa && str(s, "metadata", "annotations", "azure.workload.identity/client-id") != "" {
				found = true
			}
		}
		if !found {
			c.add("the pod uses workload identity but its ServiceAccount %q has no azure.workload.identity/client-id", sa)
		}
	}
	// Entra authentication to PostgreSQL: the tokens come through workload identity, so the pod
	// must use it, and the database identity must be one the pod can get tokens for. The URL then
	// holds no password (it still comes from a Secret, checked above).
	if auth, _ := envValue(dep, "ELEVATE_DATABASE_AUTH"); auth != "" {
		switch {
		case auth != "entra":
			c.add("ELEVATE_DATABASE_AUTH is %q; the chart renders only entra (password is the default, not rendered)", auth)
		case want.Mode != "postgres":
			c.add("ELEVATE_DATABASE_AUTH=entra on a %s store: it is for PostgreSQL", want.Mode)
		case str(dep, "spec", "template", "metadata", "labels", "azure.workload.identity/use") != "true":
			c.add("ELEVATE_DATABASE_AUTH=entra without the pod label azure.workload.identity/use: the pod gets no token to log in with")
		}
		id, _ := envValue(dep, "ELEVATE_DATABASE_CLIENT_ID")
		sa := str(dep, "spec", "template", "spec", "serviceAccountName")
		federated := ""
		for _, s := range byKind["ServiceAccount"] {
			if str(s, "metadata", "name") == sa {
				federated = str(s, "metadata", "annotations", "azure.workload.identity/client-id")
			}
		}
		if id == "" || id != federated {
			c.add("ELEVATE_DATABASE_CLIENT_ID %q is not the identity the ServiceAccount %q is federated with (%q)", id, sa, federated)
		}
	}
	return c.problems
}

// envValue is the plain value of the container's env var name, and whether it is set so.
func envValue(dep obj, name string) (string, bool) {
	for _, ct := range list(get(dep, "spec", "template", "spec", "containers")) {
		for _, e := range list(get(ct, "env")) {
			if str(e, "name") == name {
				v, ok := get(e, "value").(string)
				return v, ok
			}
		}
	}
	return "", false
}

type checker struct{ problems []string }

func (c *checker) add(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) deployment(dep obj, want Want) {
	if r, _ := get(dep, "spec", "replicas").(int); r != want.Replicas {
		c.add("Deployment replicas %v, want %d", get(dep, "spec", "replicas"), want.Replicas)
	}
	switch s := str(dep, "spec", "strategy", "type"); {
	case want.Mode == "bbolt" && s != "Recreate":
		c.add("Deployment strategy %q, want Recreate (bbolt is one writer: the old pod must let go of the volume first)", s)
	case want.Mode == "postgres" && s != "RollingUpdate":
		c.add("Deployment strategy %q, want RollingUpdate (standbys forward and are ready: an upgrade needs no outage)", s)
	case want.Mode == "postgres":
		if u := fmt.Sprint(get(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable")); u != "0" {
			c.add("rollingUpdate.maxUnavailable %s, want 0 (a new pod is ready before an old one goes)", u)
		}
		if u := fmt.Sprint(get(dep, "spec", "strategy", "rollingUpdate", "maxSurge")); u != "1" {
			c.add("rollingUpdate.maxSurge %s, want 1", u)
		}
	}
	pod := mapOf(get(dep, "spec", "template", "spec"))
	psc := mapOf(pod["securityContext"])
	if psc["runAsNonRoot"] != true {
		c.add("pod securityContext.runAsNonRoot is not true")
	}
	if str(psc, "seccompProfile", "type") != "RuntimeDefault" {
		c.add("pod seccompProfile is not RuntimeDefault")
	}
	if uid, ok := psc["runAsUser"].(int); ok && uid == 0 {
		c.add("pod runs as root (runAsUser 0)")
	}
	if pod["automountServiceAccountToken"] != false {
		c.add("the pod mounts a Kubernetes API token it does not need (automountServiceAccountToken)")
	}
	containers := list(pod["containers"])
	if len(containers) != 1 {
		c.add("%d containers, want 1", len(containers))
		return
	}
	ct := mapOf(containers[0])
	sc := mapOf(ct["securityContext"])
	if sc["readOnlyRootFilesystem"] != true {
		c.add("container securityContext.readOnlyRootFilesystem is not true")
	}
	if sc["allowPrivilegeEscalation"] != false {
		c.add("container securityContext.allowPrivilegeEscalation is not false")
	}
	if sc["privileged"] == true {
		c.add("container is privileged")
	}
	if drop := list(get(sc, "capabilities", "drop")); !slices.Contains(drop, any("ALL")) {
		c.add("container does not drop ALL capabilities")
	}
	if add := list(get(sc, "capabilities", "add")); len(add) > 0 {
		c.add("container adds capabilities %v", add)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		p := mapOf(ct[probe])
		if got := str(p, "httpGet", "path"); got != path {
			c.add("%s path %q, want %s", probe, got, path)
		}
		if port, _ := get(p, "httpGet", "port").(string); port == "" || !containerPort(dep, port) {
			c.add("%s port %v is not a named container port", probe, get(p, "httpGet", "port"))
		}
	}
	res := mapOf(ct["resources"])
	if len(mapOf(res["requests"])) == 0 || mapOf(res["limits"])["memory"] == nil {
		c.add("container resources lack requests or a memory limit")
	}
	if !strings.Contains(str(ct, "image"), "@sha256:") && !regexp.MustCompile(`:[^/]+$`).MatchString(str(ct, "image")) {
		c.add("image %q has neither a tag nor a digest", str(ct, "image"))
	}
	if !mountsAt(dep, "/tmp") {
		c.add("nothing writable at /tmp with a read-only root filesystem")
	}
}

// secretName is an env var whose value must never be written in a manifest.
var secretName = regexp.MustCompile(`(?i)(SECRET|PASSWORD|TOKEN|_KEY$|CREDENTIAL|DATABASE_URL)`)

// secretValue is text that is a secret whatever field it is in.
var secretValue = regexp.MustCompile(`(xox[abpr]-[0-9A-Za-z-]+|xapp-[0-9A-Za-z-]+|-----BEGIN [A-Z ]*PRIVATE KEY-----|postgres(ql)?://[^:/\s]+:[^@\s]+@|eyJ[A-Za-z0-9_-]{10,}\.)`)

// noInlinedSecrets finds a Secret object, a secret-named env var with a value, and any string
// that looks like a token, key or URL with a password.
func (c *checker) noInlinedSecrets(where string, d obj) {
	if d["kind"] == "Secret" {
		c.add("%s: the chart must not render a Secret (secrets come from existing Secrets)", where)
	}
	walk(d, func(path string, v any) {
		if s, ok := v.(string); ok && secretValue.MatchString(s) {
			c.add("%s: %s holds a secret value", where, path)
		}
		m, ok := v.(obj)
		if !ok {
			return
		}
		name, _ := m["name"].(string)
		if _, hasValue := m["value"]; hasValue && strings.HasSuffix(path, ".env[]") && secretName.MatchString(name) {
			c.add("%s: env %s has an inline value; it must come from a Secret", where, name)
		}
	})
}

func walk(v any, fn func(path string, v any)) { walkAt("", v, fn) }

func walkAt(path string, v any, fn func(string, any)) {
	fn(path, v)
	switch x := v.(type) {
	case obj:
		for k, e := range x {
			walkAt(path+"."+k, e, fn)
		}
	case []any:
		for _, e := range x {
			walkAt(path+"[]", e, fn)
		}
	}
}

func parse(data []byte) ([]obj, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []obj
	for {
		var d obj
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the rendered manifests do not parse as YAML: %w", err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, errors.New("no manifests rendered")
	}
	return docs, nil
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(obj)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }
func list(v any) []any                 { l, _ := v.([]any); return l }
func mapOf(v any) obj {
	m, _ := v.(obj)
	return m
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func subset(sel, labels obj) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func containerPort(dep obj, name string) bool {
	for _, ct := range list(get(dep, "spec", "template", "spec", "containers")) {
		for _, p := range list(get(ct, "ports")) {
			if str(p, "name") == name {
				return true
			}
		}
	}
	return false
}

func mountsAt(dep obj, path string) bool {
	for _, ct := range list(get(dep, "spec", "template", "spec", "containers")) {
		for _, m := range list(get(ct, "volumeMounts")) {
			if str(m, "mountPath") == path {
				return true
			}
		}
	}
	return false
}

func envFromSecret(dep obj, name string) bool {
	for _, ct := range list(get(dep, "spec", "template", "spec", "containers")) {
		for _, e := range list(get(ct, "env")) {
			if str(e, "name") == name && str(e, "valueFrom", "secretKeyRef", "name") != "" {
				return true
			}
		}
	}
	return false
}
