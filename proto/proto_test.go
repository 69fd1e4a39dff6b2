package proto_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates every .proto file under proto/ with the
// same command as `make proto` and compares the result with the committed
// files, so a .proto edit without regeneration (or a hand edit of generated
// code) fails CI instead of surprising the next person to run protoc.
func TestGeneratedCodeIsFresh(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Fatalf("protoc not found in PATH (%v): run `make deps` to install it", err)
	}
	root := repoRoot(t)
	protoDir := filepath.Join(root, "proto")

	// The plugins come from go.mod's tool directives, so their versions are
	// the ones the committed code was generated with.
	pluginDir := t.TempDir()
	goBuild := exec.Command("go", "build", "-o", pluginDir+string(filepath.Separator),
		"google.golang.org/protobuf/cmd/protoc-gen-go",
		"google.golang.org/grpc/cmd/protoc-gen-go-grpc")
	goBuild.Dir = root
	if out, err := goBuild.CombinedOutput(); err != nil {
		t.Fatalf("building protoc plugins: %v\n%s", err, out)
	}

	sources := findFiles(t, protoDir, func(p string) bool { return strings.HasSuffix(p, ".proto") })
	if len(sources) == 0 {
		t.Fatal("no .proto files found under proto/")
	}

	outDir := t.TempDir()
	args := []string{
		"-I", "proto",
		"--plugin=protoc-gen-go=" + filepath.Join(pluginDir, "protoc-gen-go"),
		"--plugin=protoc-gen-go-grpc=" + filepath.Join(pluginDir, "protoc-gen-go-grpc"),
		"--go_out=paths=source_relative:" + outDir,
		"--go-grpc_out=paths=source_relative:" + outDir,
	}
	args = append(args, sources...)
	gen := exec.Command(protoc, args...)
	gen.Dir = root
	if out, err := gen.CombinedOutput(); err != nil {
		hint := ""
		if bytes.Contains(out, []byte("google/protobuf/")) {
			// Debian's protobuf-compiler only recommends the package with the
			// well-known types; `make deps` installs it.
			hint = "\nprotoc's standard includes are missing: run `make deps` (it installs libprotobuf-dev)"
		}
		t.Fatalf("protoc: %v\n%s%s", err, out, hint)
	}

	isGenerated := func(p string) bool { return strings.HasSuffix(p, ".pb.go") }
	want := findFiles(t, outDir, isGenerated)
	got := findFiles(t, protoDir, isGenerated)
	if len(want) == 0 {
		t.Fatal("protoc generated no files")
	}

	for _, name := range want {
		fresh, err := os.ReadFile(filepath.Join(outDir, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join(protoDir, name))
		switch {
		case os.IsNotExist(err):
			t.Errorf("proto/%s is missing: run `make proto` and commit the result", name)
		case err != nil:
			t.Fatal(err)
		case !bytes.Equal(committed, fresh):
			t.Errorf("proto/%s is stale: run `make proto` and commit the result "+
				"(the generated header names the protoc and plugin versions; this test used %s)", name, protocVersion(protoc))
		}
	}
	wanted := make(map[string]bool, len(want))
	for _, name := range want {
		wanted[name] = true
	}
	for _, name := range got {
		if !wanted[name] {
			t.Errorf("proto/%s has no .proto source any more: delete it", name)
		}
	}
}

func protocVersion(protoc string) string {
	out, err := exec.Command(protoc, "--version").Output()
	if err != nil {
		return "protoc of unknown version"
	}
	return strings.TrimSpace(string(out))
}

// findFiles returns the slash-separated paths, relative to dir, of the files
// under dir that match.
func findFiles(t *testing.T, dir string, match func(string) bool) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !match(p) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	sort.Strings(names)
	return names
}

// repoRoot returns the directory holding go.mod; tests run in the package
// directory, one level below it.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}
