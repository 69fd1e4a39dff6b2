package version

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at link time with -ldflags -X (see the package documentation). They
// are variables only because -X can set nothing else; read them through Get.
var (
	// Version is the release, as `git describe --tags --always --dirty`
	// prints it: v0.2.0, v0.2.0-3-gabc1234, abc1234-dirty.
	Version string
	// Commit is the full hash of the commit built.
	Commit string
	// BuildTime is when the binary was built, in RFC 3339 and UTC.
	BuildTime string
)

// Unknown stands for a commit or time that neither the linker nor the go
// command recorded (a build outside a Git checkout, or with -buildvcs=false).
const Unknown = "unknown"

// Devel is the version of a build that was not given one: a plain go build
// or go run in a checkout.
const Devel = "devel"

// Info describes one build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildTime string `json:"build_time"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

// Get returns what the linker set, and for what it left empty what the go
// command recorded about the build: the module's version when it is a real
// one (go install module@version), the commit and its time from version
// control, "+dirty" for a work tree with changes.
func Get() Info {
	return resolve(Version, Commit, BuildTime, readBuildInfo())
}

// readBuildInfo is debug.ReadBuildInfo without the ok: nil when the binary
// has no build information.
func readBuildInfo() *debug.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return bi
}

// resolve fills in version, commit and build time from bi where the linker
// left them empty.
func resolve(version, commit, buildTime string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, BuildTime: buildTime, GoVersion: runtime.Version()}
	var modified bool
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.BuildTime == "" {
					info.BuildTime = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		// go install module@v1.2.3 records v1.2.3; a build in a checkout
		// records "(devel)" or, since Go 1.24, a pseudo-version derived
		// from the commit, which says no more than Commit does.
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
	}
	if info.Version == "" {
		info.Version = Devel
		if modified {
			info.Version += "+dirty"
		}
	}
	if info.Commit == "" {
		info.Commit = Unknown
	}
	if info.BuildTime == "" {
		info.BuildTime = Unknown
	}
	return info
}

// String is the one line -version prints after the program's name:
// "v0.2.0 (commit 1f2e3d4…, built 2026-12-06T22:40:00Z, go1.26.8)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s)", i.Version, i.Commit, i.BuildTime, i.GoVersion)
}

// Flag defines -version on fs. After fs is parsed, the bool it points to
// says whether the caller should Print and exit 0 instead of running.
func Flag(fs *flag.FlagSet) *bool {
	return fs.Bool("version", false, "print the version, commit and build time, and exit")
}

// Print writes "<name> <Get().String()>" and a newline to w.
func Print(w io.Writer, name string) {
	fmt.Fprintf(w, "%s %s\n", name, Get())
}
