package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/devenv"
)

// kitgenBin is the kitgen binary TestMain builds from this tree; every test
// runs it as a user would, in a directory of its own.
var kitgenBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kitgen-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kitgenBin = filepath.Join(dir, "kitgen")
	if out, err := exec.Command("go", "build", "-o", kitgenBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kitgen: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is what one kitgen run printed and how it ended.
type result struct {
	stdout, stderr string
	err            error // nil for exit status 0
}

// kitgen runs the binary in dir with args and extra environment entries.
func kitgen(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kitgenBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// repoRoot returns the root of the repository the test runs in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// copyRepo copies the repository's working tree into a new temporary
// directory and returns it: the files git knows or would add (tracked, and
// untracked but not ignored, so work not yet committed is included), or,
// without git, everything but .git, bin and .run.
func copyRepo(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dst := t.TempDir()
	files, err := gitFiles(root)
	if err != nil {
		t.Logf("listing files with git failed (%v); copying the tree without .git, bin and .run", err)
		if files, err = walkFiles(root); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range files {
		src := filepath.Join(root, filepath.FromSlash(rel))
		info, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		copyFile(t, src, filepath.Join(dst, filepath.FromSlash(rel)), info.Mode().Perm())
	}
	return dst
}

func gitFiles(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"), nil
}

func walkFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && (rel == ".git" || rel == "bin" || rel == ".run") {
			return fs.SkipDir
		}
		if d.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

func copyFile(t *testing.T, src, dst string, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes every file and directory under dir (mode, and a hash
// of the content for files), to tell whether a run changed anything.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		desc := info.Mode().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		snap[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// checkUnchanged fails t if dir differs from before, naming what differs.
func checkUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := snapshot(t, dir)
	var diffs []string
	for p, was := range before {
		switch now, ok := after[p]; {
		case !ok:
			diffs = append(diffs, "removed "+p)
		case now != was:
			diffs = append(diffs, "changed "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Errorf("the run changed %s:\n  %s", dir, strings.Join(diffs, "\n  "))
	}
}

// checkFailed fails t unless r is a failed run whose error message has
// want.
func checkFailed(t *testing.T, r result, want string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("kitgen succeeded, want a failure mentioning %q; stdout:\n%s", want, r.stdout)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("kitgen failed with %q, want a message mentioning %q", r.stderr, want)
	}
}

func TestNewRejectsInvalidNames(t *testing.T) {
	dir := copyRepo(t)
	before := snapshot(t, dir)
	tests := []struct {
		name, arg, want string
	}{
		{"empty", "", "invalid service name"},
		{"one letter", "x", "invalid service name"},
		{"too long", strings.Repeat("a", 32), "invalid service name"},
		{"upper case", "Inventory", "invalid service name"},
		{"leading digit", "9lives", "invalid service name"},
		{"hyphen", "in-ventory", "invalid service name"},
		{"underscore", "in_ventory", "invalid service name"},
		{"non-ASCII", "invéntory", "invalid service name"},
		{"path", "../inventory", "invalid service name"},
		{"Go keyword", "func", "Go keyword"},
		{"predeclared identifier", "string", "predeclared Go identifier"},
		{"the toolkit", "kit", "reserved"},
		{"the gateway", "gateway", "reserved"},
		{"docs", "docs", "reserved"},
		{"a sample service", "order", "reserved"},
		{"seed data", "seed", "reserved"},
		{"YAML boolean", "yes", "reserved"},
		{"a package the code imports", "errors", "identifier the generated code uses"},
		{"a variable of the code", "pool", "identifier the generated code uses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFailed(t, kitgen(t, dir, nil, "new", tt.arg), tt.want)
		})
	}
	checkUnchanged(t, dir, before)
}

func TestUsageErrors(t *testing.T) {
	dir := copyRepo(t)
	before := snapshot(t, dir)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"add", "stock"}, `unknown command "add"`},
		{"no name", []string{"new"}, "want exactly one service name"},
		{"two names", []string{"new", "stock", "cart"}, "want exactly one service name"},
		{"unknown flag", []string{"new", "-force", "stock"}, "flag provided but not defined"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkFailed(t, kitgen(t, dir, nil, tt.args...), tt.want)
		})
	}
	checkUnchanged(t, dir, before)
}

// TestNewRejectsTakenNames puts something of the service "stock" where
// kitgen would write, each time in a fresh copy, and checks that kitgen
// names it and writes nothing.
func TestNewRejectsTakenNames(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"directory", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "stock", "README.md"), "taken")
		}, "stock already exists"},
		{"local stack file", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "deploy", "local", "services", "stock.json"), "{}")
		}, "deploy/local/services/stock.json already exists"},
		{"proto package", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "proto", "stock", "v1", "stock.proto"), `syntax = "proto3";`)
		}, "proto/stock/v1/stock.proto already exists"},
		{"migrations", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "migrations", "stock", "00001_items.sql"), "-- +goose Up")
		}, "migrations/stock/00001_items.sql already exists"},
		{"compose service", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "docker-compose.yml"), "\nservices:\n", "\nservices:\n  stock-db:\n    image: postgres:15.13-bookworm\n")
		}, "services already has stock-db"},
		{"kustomization resource", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "deploy", "k8s", "base", "kustomization.yaml"), "\nresources:\n", "\nresources:\n  - stock.yaml\n")
		}, `already has "- stock.yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyRepo(t)
			tt.setup(t, dir)
			before := snapshot(t, dir)
			checkFailed(t, kitgen(t, dir, nil, "new", "stock"), tt.want)
			checkUnchanged(t, dir, before)
		})
	}
}

func TestNewOutsideTheRepository(t *testing.T) {
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "go.mod"), "module example.com/other\n\ngo 1.26\n")
	writeFile(t, filepath.Join(other, "sub", "doc.go"), "package sub\n")
	for name, dir := range map[string]string{
		"no module":           t.TempDir(),
		"another module":      other,
		"inside other module": filepath.Join(other, "sub"),
	} {
		t.Run(name, func(t *testing.T) {
			before := snapshot(t, dir)
			checkFailed(t, kitgen(t, dir, nil, "new", "stock"), "not inside the kitshop repository")
			checkUnchanged(t, dir, before)
		})
	}
}

// TestNewWithoutProtoc runs kitgen with only the go command on PATH: it
// must say what to install, and write nothing.
func TestNewWithoutProtoc(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir()
	if err := os.Symlink(goTool, filepath.Join(path, "go")); err != nil {
		t.Fatal(err)
	}
	dir := copyRepo(t)
	before := snapshot(t, dir)
	checkFailed(t, kitgen(t, dir, []string{"PATH=" + path}, "new", "stock"), "protoc not found in PATH")
	checkUnchanged(t, dir, before)
}

// TestNewRollsBack makes writing fail after some of the files, and checks
// that the repository is exactly as before: files written removed, with the
// directories made for them, and files changed restored.
func TestNewRollsBack(t *testing.T) {
	dir := copyRepo(t)
	before := snapshot(t, dir)
	dry := kitgen(t, dir, nil, "new", "-dry-run", "stock")
	if dry.err != nil {
		t.Fatalf("kitgen new -dry-run: %v\n%s", dry.err, dry.stderr)
	}
	checkUnchanged(t, dir, before)
	var planned int
	for _, l := range strings.Split(dry.stdout, "\n") {
		if strings.HasPrefix(l, "  create ") || strings.HasPrefix(l, "  change ") {
			planned++
		}
	}
	if planned < 20 || !strings.Contains(dry.stdout, "change docker-compose.yml") {
		t.Fatalf("dry run planned %d files, want the service's files and the changed deployment files:\n%s", planned, dry.stdout)
	}
	// The first write, one in the middle, and the last (after every new
	// file and all but one change).
	for _, n := range []int{0, planned / 2, planned - 1} {
		t.Run(strconv.Itoa(n)+" written", func(t *testing.T) {
			r := kitgen(t, dir, []string{"KITGEN_TEST_FAIL_AFTER=" + strconv.Itoa(n)}, "new", "stock")
			checkFailed(t, r, "nothing was left behind")
			checkUnchanged(t, dir, before)
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editFile replaces the first old in the file at path with new.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}

// TestVersion checks that kitgen version (and -version) prints the build and
// exits 0, outside a repository too.
func TestVersion(t *testing.T) {
	want := regexp.MustCompile(`^kitgen \S+ \(commit \S+, built \S+, go\S+\)\n$`)
	for _, arg := range []string{"version", "-version", "--version"} {
		r := kitgen(t, t.TempDir(), nil, arg)
		if r.err != nil || !want.MatchString(r.stdout) {
			t.Errorf("kitgen %s = %v, stdout %q (stderr %q), want %v", arg, r.err, r.stdout, r.stderr, want)
		}
	}
}
