package metrics

import (
	"runtime"
	"runtime/debug"
)

// Build is what a binary knows about its own build.
type Build struct {
	Version   string // the release ("v1.2.0"), the module version, or "dev"
	GoVersion string // "go1.26.0"
	Commit    string // the VCS revision, "-dirty" appended when built from modified files; "unknown" without VCS stamping
}

// ReadBuild reads the build: version is the release set at link time (-ldflags -X); when it is
// "dev" or empty the main module's version is used if it is a real one (go install …@v1.2.0).
// The commit comes from the Go toolchain's VCS stamping (debug.ReadBuildInfo).
func ReadBuild(version string) Build {
	b := Build{Version: version, GoVersion: runtime.Version(), Commit: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if (b.Version == "" || b.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Commit != "unknown" {
		b.Commit += "-dirty"
	}
	return b
}

// SetBuild exports elevate_build_info{version, goversion, commit} 1, so a dashboard can say
// which build is running (and join it to other series).
func (m *Metrics) SetBuild(b Build) {
	g := newVec("gauge", "elevate_build_info",
		"The running build: always 1, with the version, Go version and commit as labels.")
	g.constNames = []string{"version", "goversion", "commit"}
	g.constValues = []string{b.Version, b.GoVersion, b.Commit}
	g.add(1)
	m.reg.register(g)
}
