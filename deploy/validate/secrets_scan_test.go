package validate_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// knownCredentials are values that worked as credentials somewhere: the
// development admin password (allowed only where the local development
// stack and its documentation live) and the values once committed for
// compose and Kubernetes, which nothing may use again.
var knownCredentials = []string{
	"kitshop-admin-pw",
	"dev-admin-d1636f181e10b765", "local-admin-8e2f5a9c",
	"dev-order-5909c5a9e17f054cb8d73ea16cfeede9", "local-order-account-6d1f0b3a9e7c4d25",
	"dev-product-4ef85c0b89dd1ae22516c715", "dev-user-24ab73edf096721dc8df958b", "dev-order-7639e67ebe865e79cad018a8",
	"local-product-5b0e9c1d7a", "local-user-3f6a2e8b41", "local-order-9c4d1b7e20",
}

// credentialAllowed reports whether a known value may appear on line of
// file: the local development stack and its documentation, tests, and the
// refusal lists that name the values to reject them.
func credentialAllowed(file, line string) bool {
	switch {
	case strings.HasPrefix(file, "deploy/local/"), strings.HasPrefix(file, "docs/"),
		file == "internal/devsecrets/devsecrets.go", // the refusal list
		path.Base(file) == "README.md", strings.HasSuffix(file, "_test.go"),
		strings.Contains(line, "RefuseDevSecret("):
		return true
	}
	return false
}

// TestNoCommittedCredentials scans every file git tracks for private keys,
// files in a secrets directory, and the known credentials outside the
// places allowed to name them.
func TestNoCommittedCredentials(t *testing.T) {
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var files []string
	if _, err := os.Stat(filepath.Join(root, ".git")); err == nil {
		cmd := exec.CommandContext(ctx, "git", "ls-files", "-z")
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git ls-files: %v", err)
		}
		files = strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	} else {
		files = untrackedTree(t, root) // a copy of the sources (kitgen's test makes one)
	}
	if len(files) < 100 {
		t.Fatalf("git ls-files listed %d files; expected the whole repository", len(files))
	}
	for _, f := range files {
		if problems := scanFile(t, root, f); len(problems) > 0 {
			for _, p := range problems {
				t.Errorf("%s: %s", f, p)
			}
		}
	}
}

// scanFile returns what is wrong with the tracked file f.
func scanFile(t *testing.T, root, f string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
	if err != nil {
		if os.IsNotExist(err) {
			return nil // deleted in the work tree, not yet committed
		}
		t.Fatal(err)
	}
	var problems []string
	for _, dir := range strings.Split(path.Dir(f), "/") {
		if dir == "secrets" {
			problems = append(problems, "a file in a secrets directory is committed; generate it (deploy/cmd/kitshop-secrets) instead")
		}
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) && !strings.HasSuffix(f, "_test.go") {
		problems = append(problems, "contains a PEM private key")
	}
	for i, line := range strings.Split(string(data), "\n") {
		for _, v := range knownCredentials {
			if strings.Contains(line, v) && !credentialAllowed(f, line) {
				problems = append(problems, "line "+strconv.Itoa(i+1)+" holds a known credential; use a generated secret")
			}
		}
	}
	return problems
}

// untrackedTree lists the files under root as a commit of it would hold
// them: without version control, build and run state, and the gitignored
// output of kitshop-secrets.
func untrackedTree(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch rel {
			case ".git", ".run", "bin", "deploy/k8s/overlays/local/secrets":
				return filepath.SkipDir
			}
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
