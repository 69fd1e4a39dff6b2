package validate_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/kitshop/kitshop/deploy/validate"
)

// The event broker: NATS with JetStream, in compose and on Kubernetes.

// composeNATS is the broker's address in compose.
const composeNATS = "nats://nats:4222"

// specEvents matches kit/app's Spec.Events set in a service's command.
var specEvents = regexp.MustCompile(`(?m)^\s*Events:\s*true,`)

// eventServices returns the services whose command sets kit/app's
// Spec.Events (<svc>/cmd/<svc>/*.go): those that have -nats-url and
// -stream-replicas, and so must be given the broker. A service without
// events ignores the variables, so the deployment files may give them to
// every service; they must give them to these.
func eventServices(t *testing.T) map[string]bool {
	t.Helper()
	root := repoRoot(t)
	mains, err := filepath.Glob(filepath.Join(root, "*", "cmd", "*", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]bool{}
	for _, f := range mains {
		rel, _ := filepath.Rel(root, f)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if parts[0] != parts[2] || strings.HasSuffix(f, "_test.go") {
			continue // not a service's command (kit/cmd/kitgen, deploy/cmd/...)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if specEvents.Match(data) {
			services[parts[0]] = true
		}
	}
	if len(services) == 0 {
		t.Fatal("no service sets Spec.Events in its command: the detection is broken")
	}
	return services
}

// TestComposeNATS checks the broker of the compose file: JetStream on, its
// storage on a named volume, a health check on its monitoring port, and
// every service with events (see eventServices) pointed at it through its
// environment and started once it is healthy. Any other service given the
// broker gets this very address.
func TestComposeNATS(t *testing.T) {
	c := compose(t)
	n, ok := c.Services["nats"]
	if !ok {
		t.Fatal("no nats service")
	}
	cmd := []string(n.Command)
	if !slices.Contains(cmd, "-js") {
		t.Errorf("nats command %q: want -js (JetStream)", cmd)
	}
	store := flagValue(cmd, "-sd")
	if store == "" {
		t.Errorf("nats command %q: want -sd <dir>, JetStream's file storage", cmd)
	} else if src, ro, ok := n.Mount(store); !ok || ro {
		t.Errorf("nothing writable mounted at the store %s", store)
	} else if _, named := c.Volumes[src]; !named {
		t.Errorf("the store %s is on %q, not a named volume: streams would be lost with the container", store, src)
	}
	monitor := flagValue(cmd, "-m")
	if monitor == "" {
		t.Errorf("nats command %q: want -m <port>, the monitoring port the health check uses", cmd)
	}
	if h := strings.Join(n.Healthcheck.Test, " "); !strings.Contains(h, "127.0.0.1:"+monitor+"/healthz") {
		t.Errorf("nats healthcheck %q: want a GET of /healthz on the monitoring port %s", h, monitor)
	}
	events := eventServices(t)
	for _, app := range appServices(t, c) {
		t.Run(app.name, func(t *testing.T) {
			got, set := app.spec.Environment[app.prefix+"_NATS_URL"]
			if !events[app.service] && !set {
				return
			}
			if got != composeNATS {
				t.Errorf("%s_NATS_URL = %q, want %s", app.prefix, got, composeNATS)
			}
			if d, ok := app.spec.DependsOn["nats"]; !ok || d.Condition != "service_healthy" {
				t.Error("does not depend on nats being healthy")
			}
		})
	}
}

// TestComposeMailCatcher checks that the notification service's mail goes
// to a Mailpit of the compose file, on its SMTP port, once it is healthy.
func TestComposeMailCatcher(t *testing.T) {
	c := compose(t)
	n, ok := c.Services["notification"]
	if !ok {
		t.Fatal("no notification service")
	}
	addr := n.Environment["NOTIFICATION_SMTP_ADDR"]
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("NOTIFICATION_SMTP_ADDR=%q: %v", addr, err)
	}
	m, ok := c.Services[host]
	if !ok {
		t.Fatalf("NOTIFICATION_SMTP_ADDR=%q: no service %s", addr, host)
	}
	if !strings.HasPrefix(m.Image, "axllent/mailpit:") || port != "1025" {
		t.Errorf("mail goes to %s (image %s) on port %s, want Mailpit's SMTP port 1025", host, m.Image, port)
	}
	if d, ok := n.DependsOn[host]; !ok || d.Condition != "service_healthy" {
		t.Errorf("notification does not depend on %s being healthy", host)
	}
}

// TestComposeOffline checks deploy/compose/offline.yml against the compose
// file: with both, every service but those it leaves out runs an image that
// deploy/docker/offline/images.sh builds, or is built by compose from
// binaries made on the host, so that nothing is pulled. Infrastructure
// added to docker-compose.yml without its offline counterpart fails here
// rather than in `make compose-test` on a machine without a registry. A
// kitshop service or its PostgreSQL missing there (kitgen does not write
// offline.yml) is named in the log: add it by hand for offline runs.
// Offline, a service runs with the real file's environment (its spans go
// where they would go) and its health check probes the same URL.
func TestComposeOffline(t *testing.T) {
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	off, err := validate.LoadCompose(ctx, filepath.Join(root, "docker-compose.yml"), filepath.Join(root, "deploy/compose/offline.yml"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(readFile(t, "deploy/docker/offline/images.sh"))
	notOffline := []string{"prometheus", "grafana"} // offline.yml says why
	real := compose(t)
	for _, name := range off.ServiceNames() {
		if slices.Contains(notOffline, name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			s := off.Services[name]
			if r := real.Services[name]; !maps.Equal(s.Environment, r.Environment) {
				t.Errorf("environment %v, want the real file's %v", s.Environment, r.Environment)
			}
			if got, want := probedURL(s.Healthcheck), probedURL(real.Services[name].Healthcheck); got != want {
				t.Errorf("health check probes %q, want the real file's %q", got, want)
			}
			if !strings.HasPrefix(s.Image, "kitshop-offline/") {
				if s.BuildService() != "" || strings.HasPrefix(s.Image, "postgres:") {
					t.Logf("NOTE: %s (image %q) is not in deploy/compose/offline.yml; offline compose runs cannot start it", name, s.Image)
					return
				}
				t.Fatalf("image %q: want a kitshop-offline/ image (deploy/compose/offline.yml)", s.Image)
			}
			if s.Build == nil {
				// An image images.sh tags (the version may be a variable).
				repo, tag, _ := strings.Cut(s.Image, ":")
				if !strings.Contains(script, repo+":"+tag) && !strings.Contains(script, repo+":$") {
					t.Errorf("image %s: deploy/docker/offline/images.sh does not build it", s.Image)
				}
				return
			}
			if s.Build.Args["BINARIES"] != "prebuilt" || s.Build.Args["GO_IMAGE"] != "kitshop-offline/prebuilt:latest" {
				t.Errorf("build args %v: want BINARIES=prebuilt and GO_IMAGE=kitshop-offline/prebuilt:latest", s.Build.Args)
			}
		})
	}
}

// probedURL returns the URL a health check's command probes, or its whole
// command when it names none.
func probedURL(h *validate.Healthcheck) string {
	if h == nil {
		return ""
	}
	for _, arg := range h.Test {
		if strings.HasPrefix(arg, "http://") {
			return arg
		}
	}
	return strings.Join(h.Test, " ")
}

// flagValue returns the argument after flag in args, or "".
func flagValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// natsConfig is what the checks read from the cluster's nats.conf.
type natsConfig struct {
	serverName, clusterName string
	storeDir                string
	clusterPort             int
	routes                  []string
}

var (
	confComment     = regexp.MustCompile(`(?m)^\s*#.*$`)
	confServerName  = regexp.MustCompile(`(?m)^server_name:\s*(\S+)`)
	confJetStream   = regexp.MustCompile(`(?s)jetstream\s*\{([^}]*)\}`)
	confStoreDir    = regexp.MustCompile(`(?m)store_dir:\s*"?([^"\s]+)`)
	confCluster     = regexp.MustCompile(`(?s)cluster\s*\{(.*)\}`)
	confClusterName = regexp.MustCompile(`(?m)^\s*name:\s*(\S+)`)
	confPort        = regexp.MustCompile(`(?m)^\s*port:\s*(\d+)`)
	confRoutes      = regexp.MustCompile(`(?s)routes:\s*\[([^\]]*)\]`)
)

func parseNATSConfig(conf string) (natsConfig, error) {
	conf = confComment.ReplaceAllString(conf, "")
	var c natsConfig
	if m := confServerName.FindStringSubmatch(conf); m != nil {
		c.serverName = m[1]
	}
	js := confJetStream.FindStringSubmatch(conf)
	if js == nil {
		return c, fmt.Errorf("no jetstream block")
	}
	if m := confStoreDir.FindStringSubmatch(js[1]); m != nil {
		c.storeDir = m[1]
	}
	cl := confCluster.FindStringSubmatch(conf)
	if cl == nil {
		return c, fmt.Errorf("no cluster block")
	}
	if m := confClusterName.FindStringSubmatch(cl[1]); m != nil {
		c.clusterName = m[1]
	}
	if m := confPort.FindStringSubmatch(cl[1]); m != nil {
		c.clusterPort, _ = strconv.Atoi(m[1])
	}
	if m := confRoutes.FindStringSubmatch(cl[1]); m != nil {
		c.routes = strings.Fields(strings.ReplaceAll(m[1], ",", " "))
	}
	return c, nil
}

// TestKustomizeNATSCluster checks the broker on Kubernetes: a StatefulSet
// of three NATS servers started together, each with a volume for JetStream
// and a name of its own, routed to each other by their stable names through
// a headless Service that publishes them before they are ready; a client
// Service; a disruption budget that keeps the quorum; and a configuration
// that nats-server itself accepts.
func TestKustomizeNATSCluster(t *testing.T) {
	for _, dir := range []string{"base", "overlays/local"} {
		t.Run(dir, func(t *testing.T) {
			objs := k8s(t, dir)
			w := workload(t, objs, "StatefulSet", "nats")
			if w.Replicas != 3 {
				t.Errorf("replicas = %d, want 3", w.Replicas)
			}
			ss := objs.StatefulSets[slices.IndexFunc(objs.StatefulSets, func(s appsv1.StatefulSet) bool { return s.Name == "nats" })]
			if ss.Spec.PodManagementPolicy != "Parallel" {
				t.Errorf("podManagementPolicy = %q, want Parallel: JetStream is ready only with a majority up", ss.Spec.PodManagementPolicy)
			}
			pod := w.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Containers))
			}
			c := pod.Containers[0]

			// The configuration file, from a mounted ConfigMap.
			confPath := flagValue(c.Args, "--config")
			conf, ok := mountedConfigFile(objs, pod, c, confPath)
			if !ok {
				t.Fatalf("--config %q is not a key of a ConfigMap mounted in the pod", confPath)
			}
			cfg, err := parseNATSConfig(conf)
			if err != nil {
				t.Fatalf("%s: %v", confPath, err)
			}
			checkNATSConfigAccepted(t, conf)

			// A name per server, from the pod's name.
			if v, ok := strings.CutPrefix(cfg.serverName, "$"); !ok || fieldRef(c, v) != "metadata.name" {
				t.Errorf("server_name %q: want $VAR with VAR the pod's name (downward API metadata.name)", cfg.serverName)
			}
			if cfg.clusterName == "" {
				t.Error("the cluster has no name (JetStream clustering needs one)")
			}

			// JetStream on a volume of each pod's own.
			if cfg.storeDir == "" {
				t.Error("jetstream has no store_dir")
			} else if !slices.ContainsFunc(ss.Spec.VolumeClaimTemplates, func(pvc corev1.PersistentVolumeClaim) bool {
				return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
					return m.Name == pvc.Name && filepath.Clean(m.MountPath) == filepath.Clean(cfg.storeDir)
				})
			}) {
				t.Errorf("store_dir %s is not on a volume claim template: each server needs its own persistent volume", cfg.storeDir)
			}

			// Routes: every server by its stable name, through the headless
			// Service that is the StatefulSet's serviceName.
			headless := serviceNamed(t, objs, ss.Spec.ServiceName)
			if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want a headless Service that publishes servers before they are ready",
					headless.Name, headless.Spec.ClusterIP, headless.Spec.PublishNotReadyAddresses)
			}
			checkPort(t, c, "cluster", int32(cfg.clusterPort))
			var want []string
			for i := range int(w.Replicas) {
				want = append(want, fmt.Sprintf("nats://%s-%d.%s:%d", w.Name, i, headless.Name, cfg.clusterPort))
			}
			if !slices.Equal(cfg.routes, want) {
				t.Errorf("routes %q, want %q", cfg.routes, want)
			}

			// Health on the monitoring port; the client Service.
			checkHTTPProbe(t, "readinessProbe", c.ReadinessProbe, "/healthz?js-enabled-only=true", "monitor")
			client := serviceNamed(t, objs, "nats")
			if !hasPort(client, 4222) || client.Spec.ClusterIP == corev1.ClusterIPNone {
				t.Errorf("Service nats: want a ClusterIP Service on the client port 4222")
			}
			i := slices.IndexFunc(objs.PodDisruptionBudgets, func(p policyv1.PodDisruptionBudget) bool { return p.Name == "nats" })
			if i < 0 {
				t.Fatal("no PodDisruptionBudget nats")
			}
			pdb := objs.PodDisruptionBudgets[i].Spec
			if pdb.MaxUnavailable == nil || pdb.MaxUnavailable.IntValue() != 1 {
				t.Errorf("PodDisruptionBudget nats: maxUnavailable %v, want 1 (two of three keep the quorum)", pdb.MaxUnavailable)
			}
		})
	}
}

// TestKustomizeEventServices checks that every service with events (see
// eventServices), and any other Deployment given the broker, gets the NATS
// cluster, every server of it, as <PREFIX>_NATS_URL, and creates its
// streams with as many replicas as the cluster has servers.
func TestKustomizeEventServices(t *testing.T) {
	objs := k8s(t, "overlays/local")
	nats := workload(t, objs, "StatefulSet", "nats")
	ss := objs.StatefulSets[slices.IndexFunc(objs.StatefulSets, func(s appsv1.StatefulSet) bool { return s.Name == "nats" })]
	events := eventServices(t)
	for svc := range events {
		if !slices.ContainsFunc(objs.Deployments, func(d appsv1.Deployment) bool { return d.Name == svc }) {
			t.Errorf("%s has events but no Deployment", svc)
		}
	}
	for _, d := range objs.Deployments {
		c := d.Spec.Template.Spec.Containers[0]
		if !strings.HasPrefix(c.Image, "kitshop/") {
			continue // infrastructure (mailpit)
		}
		prefix := strings.ToUpper(strings.ReplaceAll(d.Name, "-", "_"))
		env := envOf(objs, c)
		if _, set := env[prefix+"_NATS_URL"]; !set && !events[d.Name] {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			raw := env[prefix+"_NATS_URL"]
			servers := map[int]bool{}
			for _, s := range strings.Split(raw, ",") {
				u, err := url.Parse(strings.TrimSpace(s))
				if err != nil || u.Scheme != "nats" || u.Port() != "4222" {
					t.Errorf("%s_NATS_URL=%q: %q is not nats://<host>:4222", prefix, raw, s)
					continue
				}
				name, ok := strings.CutSuffix(u.Hostname(), "."+ss.Spec.ServiceName)
				idx, err := strconv.Atoi(strings.TrimPrefix(name, nats.Name+"-"))
				if !ok || err != nil || idx < 0 || idx >= int(nats.Replicas) {
					t.Errorf("%s_NATS_URL=%q: %s is not a server of the StatefulSet %s", prefix, raw, u.Host, nats.Name)
					continue
				}
				servers[idx] = true
			}
			if len(servers) != int(nats.Replicas) {
				t.Errorf("%s_NATS_URL=%q names %d of the %d servers", prefix, raw, len(servers), nats.Replicas)
			}
			if got, want := env[prefix+"_STREAM_REPLICAS"], strconv.Itoa(int(nats.Replicas)); got != want {
				t.Errorf("%s_STREAM_REPLICAS = %q, want %s: one replica per server", prefix, got, want)
			}
		})
	}
}

// TestKustomizeMailCatcher checks the local overlay's Mailpit: the
// notification service's NOTIFICATION_SMTP_ADDR is a Service of it, on its
// SMTP port. The base has none: a real environment names its relay.
func TestKustomizeMailCatcher(t *testing.T) {
	objs := k8s(t, "overlays/local")
	c := workload(t, objs, "Deployment", "notification").Template.Spec.Containers[0]
	addr := envOf(objs, c)["NOTIFICATION_SMTP_ADDR"]
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("NOTIFICATION_SMTP_ADDR=%q: %v", addr, err)
	}
	s := serviceNamed(t, objs, host)
	p, _ := strconv.Atoi(port)
	if !hasPort(s, int32(p)) || p != 1025 {
		t.Errorf("Service %s does not serve the SMTP port %s (want 1025)", host, port)
	}
	m := workload(t, objs, "Deployment", "mailpit").Template.Spec.Containers[0]
	if !strings.HasPrefix(m.Image, "axllent/mailpit:") {
		t.Errorf("mailpit image %q, want axllent/mailpit", m.Image)
	}
	base := k8s(t, "base")
	for _, d := range base.Deployments {
		if d.Name == "mailpit" {
			t.Error("the base has a mailpit Deployment; it belongs to a development overlay")
		}
	}
}

// mountedConfigFile returns the content of the file at path in container c
// when it is a key of a ConfigMap volume mounted in the pod.
func mountedConfigFile(objs *validate.Objects, pod corev1.PodSpec, c corev1.Container, path string) (string, bool) {
	for _, m := range c.VolumeMounts {
		key, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			if cm, ok := objs.ConfigMap(namespace, v.ConfigMap.Name); ok {
				data, ok := cm.Data[key]
				return data, ok
			}
		}
	}
	return "", false
}

// checkNATSConfigAccepted runs `nats-server -t` on the configuration, the
// server's own check. The binary is the one `make deps` builds
// (<repo>/bin/nats-server), $KITSHOP_NATS, or nats-server on PATH.
func checkNATSConfigAccepted(t *testing.T, conf string) {
	t.Helper()
	bin := os.Getenv("KITSHOP_NATS")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", "nats-server")
		if _, err := os.Stat(bin); err != nil {
			if bin, err = exec.LookPath("nats-server"); err != nil {
				t.Fatal("nats-server not found in $KITSHOP_NATS, <repo>/bin or PATH: run `make deps`")
			}
		}
	}
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-t", "-c", file)
	cmd.Env = append(os.Environ(), "POD_NAME=nats-0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nats-server -t rejects the configuration: %v\n%s", err, out)
	}
}
