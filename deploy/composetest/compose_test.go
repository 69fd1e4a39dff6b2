//go:build composetest

package composetest_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kitshop/kitshop/internal/devenv"
)

// The bases docker-compose.yml pulls (directly or in the Dockerfile).
var ordinaryBases = []string{"postgres:15.13-bookworm", "hashicorp/consul:1.15.4", "nats:2.15.3-alpine", "axllent/mailpit:v1.33.1",
	"golang:1.26.8-bookworm", "prom/prometheus:v2.55.1", "jaegertracing/jaeger:2.12.0", "grafana/grafana:11.6.0"}

// offlineImagePrefix names the images deploy/docker/offline/images.sh
// builds and deploy/compose/offline.yml points the services at. Offline, a
// service with another image is not started: Prometheus and Grafana
// (offline.yml says why), or a service kitgen added that has no offline
// entry yet.
const offlineImagePrefix = "kitshop-offline/"

// stack is one compose project.
type stack struct {
	t       *testing.T
	root    string
	compose []string // the command and the -p/-f arguments
	project string
	env     []string
	gateway string // base URL on 127.0.0.1
	// natsMonitor and mailpit are NATS's monitoring and Mailpit's UI and
	// API base URLs on 127.0.0.1.
	natsMonitor, mailpit string
	// jaeger is Jaeger's UI and query API base URL on 127.0.0.1.
	jaeger   string
	services []string
}

func TestCompose(t *testing.T) {
	began := time.Now()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Fatalf("no Docker engine answers: %v\n%s", err, out)
	}
	offline := offlineMode(t)
	if offline {
		run(t, root, nil, 20*time.Minute, "bash", "deploy/docker/offline/images.sh")
	}
	imagesReady := time.Now()

	s := newStack(t, root, offline)
	s.up()
	up := time.Now()
	t.Logf("images in %s, up and healthy in %s", imagesReady.Sub(began).Round(time.Second), up.Sub(imagesReady).Round(time.Second))

	password := s.adminPassword()
	t.Run("readme flow", func(t *testing.T) {
		out, err := s.cmd(3*time.Minute, "bash", filepath.Join(root, "deploy/smoke/readme-flow.sh"), s.gateway, password)
		t.Logf("readme-flow.sh %s:\n%s", s.gateway, out)
		if err != nil {
			t.Fatalf("readme-flow.sh: %v", err)
		}
	})
	// Not subtests: the stack helpers fail the top-level test.
	testEvents(t, s, password)
	testTrace(t, s, password)
	testFaults(t, s, password)
	t.Logf("compose test took %s", time.Since(began).Round(time.Second))
}

// offlineMode reads KITSHOP_OFFLINE (see the package doc).
func offlineMode(t *testing.T) bool {
	switch v := os.Getenv("KITSHOP_OFFLINE"); v {
	case "1", "true":
		return true
	case "0", "false":
		return false
	case "", "auto":
		have := 0
		for _, img := range ordinaryBases {
			if exec.Command("docker", "image", "inspect", img).Run() == nil {
				have++
			}
		}
		if have == len(ordinaryBases) {
			t.Log("KITSHOP_OFFLINE=auto: the ordinary base images are present; using them")
			return false
		}
		if os.Geteuid() != 0 {
			t.Log("KITSHOP_OFFLINE=auto: not root, cannot debootstrap the offline images; compose pulls the ordinary ones")
			return false
		}
		t.Log("KITSHOP_OFFLINE=auto: ordinary base images missing; building the offline ones (KITSHOP_OFFLINE=0 pulls instead)")
		return true
	default:
		t.Fatalf("KITSHOP_OFFLINE=%q: want auto, 1 or 0", v)
		return false
	}
}

func newStack(t *testing.T, root string, offline bool) *stack {
	s := &stack{t: t, root: root, project: os.Getenv("KITSHOP_COMPOSE_PROJECT")}
	if s.project == "" {
		s.project = "kitshoptest" + randomHex(t, 4)
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		s.compose = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		s.compose = []string{"docker-compose"}
	} else {
		t.Fatal("neither `docker compose` nor docker-compose is installed (make deps installs docker-compose)")
	}
	s.compose = append(s.compose, "-p", s.project, "-f", filepath.Join(root, "docker-compose.yml"))
	if offline {
		s.compose = append(s.compose, "-f", filepath.Join(root, "deploy/compose/offline.yml"))
	}
	gw, consul, prom, natsMon, mail := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	jaeger, grafana := freePort(t), freePort(t)
	s.env = []string{
		"KITSHOP_GATEWAY_PORT=" + strconv.Itoa(gw),
		"KITSHOP_CONSUL_PORT=" + strconv.Itoa(consul),
		"KITSHOP_PROMETHEUS_PORT=" + strconv.Itoa(prom),
		"KITSHOP_NATS_MONITOR_PORT=" + strconv.Itoa(natsMon),
		"KITSHOP_MAILPIT_PORT=" + strconv.Itoa(mail),
		"KITSHOP_JAEGER_PORT=" + strconv.Itoa(jaeger),
		"KITSHOP_GRAFANA_PORT=" + strconv.Itoa(grafana),
	}
	s.gateway = "http://127.0.0.1:" + strconv.Itoa(gw)
	s.natsMonitor = "http://127.0.0.1:" + strconv.Itoa(natsMon)
	s.mailpit = "http://127.0.0.1:" + strconv.Itoa(mail)
	s.jaeger = "http://127.0.0.1:" + strconv.Itoa(jaeger)

	var config struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(s.composeOut(time.Minute, "config")), &config); err != nil {
		t.Fatalf("compose config: %v", err)
	}
	for svc, spec := range config.Services {
		if offline && !strings.HasPrefix(spec.Image, offlineImagePrefix) {
			t.Logf("offline: not starting %s, whose image %s has no offline counterpart in deploy/compose/offline.yml", svc, spec.Image)
			continue
		}
		s.services = append(s.services, svc)
	}
	slices.Sort(s.services)
	t.Logf("compose: %s; services: %s", strings.Join(s.compose, " "), strings.Join(s.services, " "))
	t.Cleanup(s.down)
	return s
}

// up builds the kitshop images and starts the services; compose waits for
// the health checks of what each one depends on, and we wait for the rest.
func (s *stack) up() {
	s.composeOut(20*time.Minute, "build")
	s.composeOut(5*time.Minute, append([]string{"up", "-d", "--no-build"}, s.services...)...)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		unhealthy := s.unhealthy()
		if len(unhealthy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("not healthy after 3 minutes: %s", strings.Join(unhealthy, ", "))
		}
		time.Sleep(2 * time.Second)
	}
}

// unhealthy lists the services whose container is not running and healthy
// (or, for a one-shot without a health check such as secrets, has not exited
// with status 0).
func (s *stack) unhealthy() []string {
	var bad []string
	for _, svc := range s.services {
		state, _ := s.inspect(svc, "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.ExitCode}}{{end}}")
		if state != "running healthy" && state != "exited 0" {
			bad = append(bad, svc+" ("+state+")")
		}
	}
	return bad
}

// container returns the id of the service's container.
func (s *stack) container(svc string) string {
	s.t.Helper()
	id := strings.TrimSpace(s.composeOut(time.Minute, "ps", "-q", svc))
	if id == "" {
		s.t.Fatalf("no container for %s", svc)
	}
	return id
}

func (s *stack) inspect(svc, format string) (string, error) {
	out, err := exec.Command("docker", "inspect", "--format", format, s.container(svc)).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// down removes everything the project made, also when the test failed (and
// then shows the end of every log first).
func (s *stack) down() {
	if s.t.Failed() {
		out, _ := s.cmd(time.Minute, append(s.compose, "logs", "--no-color", "--tail", "25")...)
		s.t.Logf("compose logs:\n%s", out)
	}
	out, err := s.cmd(3*time.Minute, append(s.compose, "down", "-v", "--remove-orphans", "--timeout", "10")...)
	if err != nil {
		s.t.Errorf("compose down: %v\n%s", err, out)
	}
	for _, kind := range []string{"container", "network", "volume"} {
		args := []string{kind, "ls", "-q", "--filter", "label=com.docker.compose.project=" + s.project}
		if kind == "container" {
			args = []string{"ps", "-aq", "--filter", "label=com.docker.compose.project=" + s.project}
		}
		left, _ := exec.Command("docker", args...).Output()
		if len(bytes.TrimSpace(left)) > 0 {
			s.t.Errorf("compose down left %ss behind: %s", kind, bytes.Fields(left))
		}
	}
}

// adminPassword reads the admin password the user container was given
// (/run/secrets/user_admin_password), wherever compose took it from.
func (s *stack) adminPassword() string {
	s.t.Helper()
	out, err := exec.Command("docker", "cp", s.container("user")+":/run/secrets/user_admin_password", "-").Output()
	if err != nil {
		s.t.Fatalf("docker cp the admin password out of the user container: %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	if _, err := tr.Next(); err != nil {
		s.t.Fatalf("docker cp: %v", err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		s.t.Fatalf("docker cp: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// composeOut runs compose with args and fails the test if it fails.
func (s *stack) composeOut(timeout time.Duration, args ...string) string {
	s.t.Helper()
	out, err := s.cmd(timeout, append(slices.Clone(s.compose), args...)...)
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s", strings.Join(s.compose, " "), strings.Join(args, " "), err, out)
	}
	return out
}

func (s *stack) cmd(timeout time.Duration, name ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, name[0], name[1:]...)
	c.Dir = s.root
	c.Env = append(os.Environ(), s.env...)
	out, err := c.CombinedOutput()
	return string(out), err
}

// docker runs a docker command and fails the test if it fails.
func (s *stack) docker(args ...string) string {
	s.t.Helper()
	out, err := s.cmd(2*time.Minute, append([]string{"docker"}, args...)...)
	if err != nil {
		s.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func run(t *testing.T, dir string, env []string, timeout time.Duration, name ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, name[0], name[1:]...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	t.Logf("%s:\n%s", strings.Join(name, " "), out)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(name, " "), err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
