package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"go/format"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/internal/devenv"
)

// TestNewService generates the service "inventory" (or, when the
// repository has one already, the first free "inventoryN") in a copy of the
// repository with `make service NAME=inventory`, and checks that the
// result is a working part of the system: the whole repository builds and
// passes go vet, the generated Go is gofmt'd and carries no generator
// marks (protoc's output aside), the new service's own tests pass (on a
// real Postgres), the protobuf code is what `make proto` would generate,
// the deployment files still pass deploy/validate, and the local stack
// started from the copy serves the service through the gateway: reads for
// everyone, writes for an admin's token.
//
// The copy builds with -trimpath, so the build cache is shared between runs
// whatever the temporary directory is called: the first run compiles the
// repository's packages (a few minutes on a busy machine), later ones
// mostly reuse them.
func TestNewService(t *testing.T) {
	began := time.Now()
	dir := copyRepo(t)
	env := childEnv(t)
	name := unusedName(t, dir)

	step(t, "make service", dir, env, "make", "service", "NAME="+name)
	checkGeneratedGo(t, dir, name)

	// Once it exists, the name is taken: the Makefile target passes
	// kitgen's refusal on, and nothing changes.
	before := snapshot(t, dir)
	if out, err := command(dir, env, "make", "service", "NAME="+name); err == nil || !bytes.Contains(out, []byte("already exists")) {
		t.Errorf("make service NAME=%s again: %v, want a failure saying it exists:\n%s", name, err, out)
	}
	checkUnchanged(t, dir, before)

	step(t, "build", dir, env, "go", "build", "./...")
	step(t, "vet", dir, env, "go", "vet", "./...")
	step(t, "tests", dir, env, "go", "test", "-count=1", "./"+name+"/...", "./proto/", "./migrations/")
	// The local stack's own checks of its services (not its end-to-end
	// test, which the stack below stands in for).
	step(t, "deploy/local", dir, env, "go", "test", "-count=1", "-run", "Services|WithFreePorts", "./deploy/local/")
	step(t, "deploy/validate", filepath.Join(dir, "deploy", "validate"), env, "go", "test", "-count=1", "./...")

	bin := t.TempDir()
	step(t, "binaries", dir, env, "go", "build", "-o", bin+string(filepath.Separator),
		"./gateway/cmd/gateway", "./user/cmd/user", "./"+name+"/cmd/"+name)
	checkThroughGateway(t, dir, bin, name)
	t.Logf("TestNewService took %s", time.Since(began).Round(time.Second))
}

// childEnv is the environment of the commands run in the copy.
func childEnv(t *testing.T) []string {
	t.Helper()
	consul, err := devenv.ConsulBinary()
	if err != nil {
		t.Fatal(err) // the message says to run `make deps`
	}
	nats, err := devenv.NATSBinary()
	if err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(),
		"GOFLAGS=-trimpath -buildvcs=false",
		"GOTOOLCHAIN=local",
		"GOWORK=off",
		// The copy has no bin/: the stack and the deploy checks find the
		// servers here.
		devenv.EnvConsul+"="+consul,
		devenv.EnvNATS+"="+nats,
	)
}

// step runs one command in dir, logs how long it took, and fails the test,
// with the command's output, if it fails.
func step(t *testing.T, what, dir string, env []string, name string, args ...string) {
	t.Helper()
	start := time.Now()
	if out, err := command(dir, env, name, args...); err != nil {
		t.Fatalf("%s: %s %s: %v\n%s", what, name, strings.Join(args, " "), err, out)
	}
	t.Logf("%s: %s (%s %s)", what, time.Since(start).Round(100*time.Millisecond), name, strings.Join(args, " "))
}

// command runs name with args in dir and returns its combined output.
func command(dir string, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	return cmd.CombinedOutput()
}

// checkGeneratedGo checks the generated Go files: gofmt'd, and with a
// "Code generated" header exactly when protoc wrote them.
func checkGeneratedGo(t *testing.T, dir, name string) {
	t.Helper()
	var files []string
	for _, sub := range []string{name, "proto/" + name} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 15 {
		t.Fatalf("generated Go files: %q, want the service's layers, tests, command and protobuf code", files)
	}
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		fromProtoc := strings.HasSuffix(p, ".pb.go")
		if marked := bytes.Contains(src, []byte("Code generated")); marked != fromProtoc {
			t.Errorf("%s: has a \"Code generated\" header: %v, want %v", rel, marked, fromProtoc)
		}
		if fromProtoc {
			continue
		}
		if bytes.Contains(bytes.ToLower(src), []byte("kitgen")) {
			t.Errorf("%s mentions kitgen: the generated code is the service's own", rel)
		}
		if formatted, err := format.Source(src); err != nil || !bytes.Equal(formatted, src) {
			t.Errorf("%s is not gofmt'd (%v)", rel, err)
		}
	}
}

// checkThroughGateway starts the local stack from the copy — PostgreSQL,
// Consul, the user service (for the admin's token), the new service as
// deploy/local/services/inventory.json describes it, and the gateway — on
// free ports, and uses the new service through the gateway.
func checkThroughGateway(t *testing.T, dir, bin, name string) {
	t.Helper()
	fileServices, err := local.LoadServices(os.DirFS(filepath.Join(dir, "deploy", "local", "services")))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fileServices, func(s local.ServiceSpec) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("deploy/local/services describes %+v, want the %s service among them", fileServices, name)
	}
	services := []local.ServiceSpec{builtInService(t, "user"), fileServices[i]}
	cfg := local.Config{
		Root:          dir,
		BinDir:        bin,
		RunDir:        t.TempDir(),
		TempPostgres:  true,
		Services:      services,
		AdminEmail:    local.DefaultAdminEmail,
		AdminPassword: "kitgen-Admin-" + randomHex(t, 6),
		Progress:      testWriter{t},
	}.WithFreePorts()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	stack, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range stack.Processes() {
				t.Logf("last lines of %s:\n%s", p.Name(), p.LogTail(15))
			}
		}
		if err := stack.Stop(); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	t.Logf("stack up in %s", time.Since(start).Round(100*time.Millisecond))
	gw := stack.GatewayURL()

	var login struct {
		AccessToken string `json:"access_token"`
	}
	call(t, http.MethodPost, gw+"/api/v1/auth/login", "",
		`{"email":"`+cfg.AdminEmail+`","password":"`+cfg.AdminPassword+`"}`, http.StatusOK, &login)
	if login.AccessToken == "" {
		t.Fatal("no access token from the admin's login")
	}

	items := gw + "/api/v1/" + name + "/items"
	var page struct {
		Items []struct {
			ID, Name string
			Quantity int64
		} `json:"items"`
	}
	call(t, http.MethodGet, items, "", "", http.StatusOK, &page)
	if len(page.Items) != 0 {
		t.Errorf("a new service lists %d items, want none", len(page.Items))
	}
	call(t, http.MethodPost, items, "", `{"name":"Blue widget","quantity":3}`, http.StatusUnauthorized, nil)
	var created struct {
		ID, Name string
		Quantity int64
	}
	call(t, http.MethodPost, items, login.AccessToken, `{"name":"Blue widget","quantity":3}`, http.StatusCreated, &created)
	if created.ID == "" || created.Name != "Blue widget" || created.Quantity != 3 {
		t.Errorf("created %+v", created)
	}
	var got struct{ ID, Name string }
	call(t, http.MethodGet, items+"/"+created.ID, "", "", http.StatusOK, &got)
	if got.ID != created.ID || got.Name != created.Name {
		t.Errorf("GET the item = %+v, want %+v", got, created)
	}
	call(t, http.MethodGet, items, "", "", http.StatusOK, &page)
	if len(page.Items) != 1 || page.Items[0].ID != created.ID {
		t.Errorf("listed %+v, want the item created", page.Items)
	}
}

// builtInService returns the named service of the default local stack.
func builtInService(t *testing.T, name string) local.ServiceSpec {
	t.Helper()
	defaults := local.DefaultServices()
	i := slices.IndexFunc(defaults, func(s local.ServiceSpec) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("the local stack has no service %q", name)
	}
	return defaults[i]
}

// call makes one request (with a bearer token unless token is "", a JSON
// body unless body is ""), checks the status and decodes the JSON answer
// into out unless it is nil.
func call(t *testing.T, method, url, token, body string, want int, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, url, b, err)
		}
	}
}

// testWriter turns the stack's progress lines into test log lines.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// unusedName returns "inventory", the name the README and the guide use,
// or when the repository already has such a service (a user generated it),
// the first of inventory2, inventory3, … that is free.
func unusedName(t *testing.T, dir string) string {
	t.Helper()
	for i := 1; i < 100; i++ {
		name := "inventory"
		if i > 1 {
			name += strconv.Itoa(i)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); os.IsNotExist(err) {
			return name
		}
	}
	t.Fatal("no free inventoryN name")
	return ""
}
