package version_test

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/version"
)

func TestResolve(t *testing.T) {
	vcs := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/kitshop/kitshop", Version: "(devel)"}}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	tests := []struct {
		name                       string
		version, commit, buildTime string
		bi                         *debug.BuildInfo
		want                       version.Info
	}{
		{
			name:    "linker values win over build information",
			version: "v0.2.0", commit: "abc123", buildTime: "2026-12-06T22:00:00Z",
			bi:   vcs("vcs.revision", "def456", "vcs.time", "2026-01-01T00:00:00Z", "vcs.modified", "true"),
			want: version.Info{Version: "v0.2.0", Commit: "abc123", BuildTime: "2026-12-06T22:00:00Z"},
		},
		{
			name: "plain go build in a clean checkout",
			bi:   vcs("vcs.revision", "def456", "vcs.time", "2026-01-01T00:00:00Z", "vcs.modified", "false"),
			want: version.Info{Version: "devel", Commit: "def456", BuildTime: "2026-01-01T00:00:00Z"},
		},
		{
			name: "plain go build with uncommitted changes",
			bi:   vcs("vcs.revision", "def456", "vcs.time", "2026-01-01T00:00:00Z", "vcs.modified", "true"),
			want: version.Info{Version: "devel+dirty", Commit: "def456", BuildTime: "2026-01-01T00:00:00Z"},
		},
		{
			name: "go install module@version",
			bi:   &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}},
			want: version.Info{Version: "v0.1.0", Commit: "unknown", BuildTime: "unknown"},
		},
		{
			name:    "only the version from the linker",
			version: "v0.2.0-dirty",
			bi:      vcs("vcs.revision", "def456"),
			want:    version.Info{Version: "v0.2.0-dirty", Commit: "def456", BuildTime: "unknown"},
		},
		{
			name: "no build information at all",
			want: version.Info{Version: "devel", Commit: "unknown", BuildTime: "unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.GoVersion = runtime.Version()
			got := version.Resolve(tt.version, tt.commit, tt.buildTime, tt.bi)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	i := version.Info{Version: "v0.2.0", Commit: "abc123", BuildTime: "2026-12-06T22:00:00Z", GoVersion: "go1.26.8"}
	want := "v0.2.0 (commit abc123, built 2026-12-06T22:00:00Z, go1.26.8)"
	if got := i.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"-version"}, true}, {[]string{"--version"}, true}, {[]string{"-version=false"}, false}} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		show := version.Flag(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("Parse(%q): %v", tt.args, err)
		}
		if *show != tt.want {
			t.Errorf("Parse(%q): -version = %v, want %v", tt.args, *show, tt.want)
		}
	}
}

// TestLinkerFlags builds a program with the -X flags the Makefile passes and
// checks that it prints them: the variables' import path is the one the
// Makefile and the Dockerfile name.
func TestLinkerFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "printversion")
	const pkg = "github.com/kitshop/kitshop/kit/version"
	ldflags := "-X " + pkg + ".Version=v9.8.7-test -X " + pkg + ".Commit=0123456789abcdef -X " + pkg + ".BuildTime=2026-12-06T22:40:00Z"
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./testdata/printversion")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	run := exec.Command(bin)
	run.Stdout, run.Stderr = &out, os.Stderr
	if err := run.Run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "printversion v9.8.7-test (commit 0123456789abcdef, built 2026-12-06T22:40:00Z, " + runtime.Version() + ")\n"
	if got := out.String(); got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("want one line, got %q", out.String())
	}
}
