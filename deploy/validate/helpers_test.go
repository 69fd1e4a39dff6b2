package validate_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/deploy/validate"
)

// repoRoot returns the kitshop repository root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := validate.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadCompose runs `docker-compose config` once per test binary: it is the
// slow part (a Python start) and its result does not change.
var loadCompose = sync.OnceValues(func() (*validate.Compose, error) {
	root, err := validate.RepoRoot()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return validate.LoadCompose(ctx, filepath.Join(root, "docker-compose.yml"))
})

// compose returns the normalized docker-compose.yml. A missing
// docker-compose fails the test (`make deps` installs it); it is never a
// reason to skip.
func compose(t *testing.T) *validate.Compose {
	t.Helper()
	c, err := loadCompose()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// appService is a compose service built from the kitshop Dockerfile.
type appService struct {
	name    string // compose service name: product-1
	service string // the SERVICE build argument: product
	prefix  string // its environment prefix: PRODUCT
	spec    validate.ComposeService
}

// appServices returns the services compose builds from the kitshop
// Dockerfile, in name order.
func appServices(t *testing.T, c *validate.Compose) []appService {
	t.Helper()
	var apps []appService
	for _, name := range c.ServiceNames() {
		s := c.Services[name]
		if s.OneShot() {
			continue // the secrets generator: built here, but not a service
		}
		if svc := s.BuildService(); svc != "" {
			apps = append(apps, appService{name: name, service: svc, prefix: strings.ToUpper(svc), spec: s})
		}
	}
	if len(apps) == 0 {
		t.Fatal("docker-compose.yml builds no kitshop service")
	}
	return apps
}

// secretsGeneratorPath is kitshop-secrets (deploy/cmd/kitshop-secrets) in the images.
const secretsGeneratorPath = "/usr/local/bin/kitshop-secrets"

// generator is compose's one-shot service that writes the secrets.
type generator struct {
	name   string // compose service name
	dir    string // -dir, where it writes them in its container
	volume string // the volume mounted there
}

// secretsGenerator returns the compose service that runs kitshop-secrets.
func secretsGenerator(t *testing.T, c *validate.Compose) generator {
	t.Helper()
	for _, name := range c.ServiceNames() {
		s := c.Services[name]
		if len(s.Entrypoint) == 0 || s.Entrypoint[0] != secretsGeneratorPath {
			continue
		}
		g := generator{name: name}
		if i := slices.Index(s.Entrypoint, "-dir"); i >= 0 && i+1 < len(s.Entrypoint) {
			g.dir = s.Entrypoint[i+1]
		}
		src, ro, ok := s.Mount(g.dir)
		if !ok || ro {
			t.Fatalf("%s writes into %q, where no writable volume is mounted", name, g.dir)
		}
		g.volume = src
		return g
	}
	t.Fatalf("no compose service runs %s", secretsGeneratorPath)
	return generator{}
}

// generateSecrets runs kitshop-secrets once per test binary into a
// temporary directory: what the compose volume and the Kubernetes overlay's
// secrets directory hold after a first start.
var generateSecrets = sync.OnceValues(func() (string, error) {
	root, err := validate.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "kitshop-secrets-")
	if err != nil {
		return "", err
	}
	generatedDirs = append(generatedDirs, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The databases compose's generator is told about: the same list
	// serves the Kubernetes overlay.
	c, err := loadCompose()
	if err != nil {
		return "", err
	}
	var databases []string
	for _, name := range c.ServiceNames() {
		if s := c.Services[name]; len(s.Entrypoint) > 0 && s.Entrypoint[0] == secretsGeneratorPath {
			databases = s.Command
		}
	}
	args := append([]string{"run", "./deploy/cmd/kitshop-secrets", "-dir", dir, "-signing-key"}, databases...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go run ./deploy/cmd/kitshop-secrets: %v\n%s", err, out)
	}
	return dir, nil
})

// generatedDirs are removed by TestMain.
var generatedDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range generatedDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// generatedSecrets returns the directory generateSecrets filled.
func generatedSecrets(t *testing.T) string {
	t.Helper()
	dir, err := generateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// secretValue reads the generated secret a service sees at containerPath,
// with the trailing newline trimmed as kit/config does. The service must
// mount the generator's volume read-only where the generator writes.
func secretValue(t *testing.T, c *validate.Compose, s validate.ComposeService, containerPath string) string {
	t.Helper()
	g := secretsGenerator(t, c)
	if path.Dir(containerPath) != path.Clean(g.dir) {
		t.Fatalf("%s is not in %s, where %s writes the secrets", containerPath, g.dir, g.name)
	}
	src, ro, ok := s.Mount(g.dir)
	if !ok || src != g.volume || !ro {
		t.Fatalf("%s: the volume %s is not mounted read-only at %s", containerPath, g.volume, g.dir)
	}
	data, err := os.ReadFile(filepath.Join(generatedSecrets(t), path.Base(containerPath)))
	if err != nil {
		t.Fatalf("%s: kitshop-secrets writes no such file: %v", containerPath, err)
	}
	return strings.TrimRight(string(data), "\r\n")
}

// readFile returns the content of a file relative to the repository root.
func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
