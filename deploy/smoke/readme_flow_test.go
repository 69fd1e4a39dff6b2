package smoke_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
)

// TestReadmeFlowOnLocalStack runs readme-flow.sh against the system `make
// run` starts (the binaries built from this tree, a throwaway PostgreSQL,
// Consul), on free ports, with the development admin password the README
// shows.
func TestReadmeFlowOnLocalStack(t *testing.T) {
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("readme-flow.sh needs %s: %v", tool, err)
		}
	}

	cfg := local.DefaultConfig().WithFreePorts()
	cfg.Root = root
	cfg.TempPostgres = true
	cfg.RunDir = t.TempDir()
	cfg.BinDir = build(t, root, cfg.Services)
	cfg.Progress = testWriter{t}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	t.Cleanup(func() {
		if err := stack.Stop(); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
	})

	// The README's password, not cfg's: they must be the same.
	if cfg.AdminPassword != "kitshop-admin-pw" {
		t.Fatalf("make run's admin password is %q; README.md shows kitshop-admin-pw", cfg.AdminPassword)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "deploy", "smoke", "readme-flow.sh"), stack.GatewayURL(), "kitshop-admin-pw")
	cmd.Env = append(os.Environ(), "KITSHOP_ADMIN_EMAIL="+cfg.AdminEmail)
	out, err := cmd.CombinedOutput()
	t.Logf("readme-flow.sh %s:\n%s", stack.GatewayURL(), out)
	if err != nil {
		t.Fatalf("readme-flow.sh: %v", err)
	}
	if !strings.Contains(string(out), " passed, 0 failed") {
		t.Fatalf("readme-flow.sh did not report its checks")
	}
}

// build compiles the gateway and the services into a temporary directory.
func build(t *testing.T, root string, services []local.ServiceSpec) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binaries: %v", err)
	}
	pkgs := []string{"./gateway/cmd/gateway"}
	for _, svc := range services {
		pkgs = append(pkgs, "./"+svc.Name+"/cmd/"+svc.Name)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return dir
}

// testWriter turns the stack's progress lines into test log lines.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
