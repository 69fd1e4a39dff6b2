package validate_test

import (
	"context"
	"os"
	"path/filepath"
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
		if svc := s.BuildService(); svc != "" {
			apps = append(apps, appService{name: name, service: svc, prefix: strings.ToUpper(svc), spec: s})
		}
	}
	if len(apps) == 0 {
		t.Fatal("docker-compose.yml builds no kitshop service")
	}
	return apps
}

// secretValue reads the secret file a service sees at containerPath, with
// the trailing newline trimmed as kit/config does.
func secretValue(t *testing.T, c *validate.Compose, s validate.ComposeService, containerPath string) string {
	t.Helper()
	file, ok := c.SecretFile(s, containerPath)
	if !ok {
		t.Fatalf("no compose secret mounted at %s", containerPath)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
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
