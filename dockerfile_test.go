package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile keeps the image's promises (docs/deploy.md): a health check that needs no
// shell, the store's directory owned by the non-root user, and every base image pinned by
// digest or marked, on the line above, as a digest still to fill.
func TestDockerfile(t *testing.T) {
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
		if strings.Contains(image, "@sha256:") {
			continue
		}
		name := image
		if i == 0 || !strings.HasPrefix(lines[i-1], "# digest: "+name+" ") {
			t.Errorf("FROM %s is pinned by neither digest nor a '# digest: %s' line above it", image, name)
		}
	}
	if froms != 2 {
		t.Errorf("%d FROM lines, want 2 (build and runtime)", froms)
	}
	if strings.Contains(string(data), "-listen") {
		t.Error("the image's CMD sets -listen: ELEVATE_LISTEN is what `elevate health` reads too")
	}
}
