package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile keeps the image's promises (docs/deploy.md): a health check that needs no
// shell, the store's directory owned by the non-root user, and every base image pinned by tag and
// digest (the tag for readers, the digest for the bytes), which Dependabot keeps current.
func TestDockerfile(t *testing.T) {
	pinned := regexp.MustCompile(`^[a-z0-9.\-/]+:[A-Za-z0-9.\-_]+@sha256:[0-9a-f]{64}$`)
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	has := func(re string) bool { return regexp.MustCompile(`(?m)` + re).Match(data) }
	for _, want := range []string{
		`^HEALTHCHECK .*CMD \["/elevate", ?"health"\]$`,
		`^ENTRYPOINT \["/elevate"\]$`,
		`^COPY --from=build --chown=65532:65532 /out/data /data$`,
		`^USER 65532:65532$`,
		`^VOLUME /data$`,
	} {
		if !has(want) {
			t.Errorf("Dockerfile lacks a line matching %s", want)
		}
	}
	var froms int
	for i, l := range lines {
		if !strings.HasPrefix(l, "FROM ") {
			continue
		}
		froms++
		image := strings.Fields(l)[1]
		if !pinned.MatchString(image) {
			t.Errorf("Dockerfile line %d: FROM %s is not pinned as name:tag@sha256:<64 hex>", i+1, image)
		}
	}
	dependabot, err := os.ReadFile(".github/dependabot.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*- package-ecosystem: "?docker"?\s*$`).Match(dependabot) {
		t.Error(".github/dependabot.yml does not watch the Dockerfile's base images (package-ecosystem: docker)")
	}
	if froms != 2 {
		t.Errorf("%d FROM lines, want 2 (build and runtime)", froms)
	}
	if strings.Contains(string(data), "-listen") {
		t.Error("the image's CMD sets -listen: ELEVATE_LISTEN is what `elevate health` reads too")
	}
}
