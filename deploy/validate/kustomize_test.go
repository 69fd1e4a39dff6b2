package validate_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kitshop/kitshop/deploy/validate"
)

const namespace = "kitshop"

// builds caches one kustomize build per directory for the test binary.
var builds sync.Map // dir -> func() (*validate.Objects, error)

// k8s builds deploy/k8s/<dir> with the kustomize API and decodes every
// resource strictly.
func k8s(t *testing.T, dir string) *validate.Objects {
	t.Helper()
	f, _ := builds.LoadOrStore(dir, sync.OnceValues(func() (*validate.Objects, error) {
		k8sDir, err := k8sWithSecrets()
		if err != nil {
			return nil, err
		}
		rm, err := validate.Build(filepath.Join(k8sDir, filepath.FromSlash(dir)))
		if err != nil {
			return nil, err
		}
		return validate.Decode(rm)
	}))
	objs, err := f.(func() (*validate.Objects, error))()
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// k8sWithSecrets copies deploy/k8s into a temporary directory once per test
// binary and puts kitshop-secrets' output where overlays/local reads it, as
// `go run ./deploy/cmd/kitshop-secrets -dir deploy/k8s/overlays/local/secrets
// -signing-key` does in a checkout.
var k8sWithSecrets = sync.OnceValues(func() (string, error) {
	root, err := validate.RepoRoot()
	if err != nil {
		return "", err
	}
	secrets, err := generateSecrets()
	if err != nil {
		return "", err
	}
	dst, err := os.MkdirTemp("", "kitshop-k8s-")
	if err != nil {
		return "", err
	}
	generatedDirs = append(generatedDirs, dst)
	src := filepath.Join(root, "deploy", "k8s")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return "", err
	}
	// A secrets directory of the checkout, if someone generated one, is
	// replaced by the fresh one.
	out := filepath.Join(dst, "overlays", "local", "secrets")
	if err := os.RemoveAll(out); err != nil {
		return "", err
	}
	if err := os.CopyFS(out, os.DirFS(secrets)); err != nil {
		return "", err
	}
	return dst, nil
})

// The services of the system and their ports; the gateway has no gRPC.
var k8sServices = []struct {
	name, prefix string
	http, grpc   int32
	database     bool
}{
	{name: "product", prefix: "PRODUCT", http: 8081, grpc: 9081, database: true},
	{name: "user", prefix: "USER", http: 8083, grpc: 9083, database: true},
	{name: "order", prefix: "ORDER", http: 8084, grpc: 9084, database: true},
	{name: "payment", prefix: "PAYMENT", http: 8085, grpc: 9085, database: true},
	{name: "notification", prefix: "NOTIFICATION", http: 8086, grpc: 9086, database: true},
	{name: "gateway", prefix: "GATEWAY", http: 8080},
}

func TestKustomizeBuilds(t *testing.T) {
	for _, dir := range []string{"base", "overlays/local"} {
		t.Run(dir, func(t *testing.T) {
			objs := k8s(t, dir)
			if len(objs.Deployments) == 0 {
				t.Fatal("no Deployments")
			}
			for _, w := range objs.Workloads() {
				if w.Namespace != namespace {
					t.Errorf("%s %s in namespace %q, want %q", w.Kind, w.Name, w.Namespace, namespace)
				}
			}
			for _, s := range objs.Services {
				if s.Namespace != namespace {
					t.Errorf("Service %s in namespace %q, want %q", s.Name, s.Namespace, namespace)
				}
			}
			for _, s := range objs.Secrets {
				if s.Namespace != namespace {
					t.Errorf("Secret %s in namespace %q, want %q", s.Name, s.Namespace, namespace)
				}
			}
			if len(objs.Namespaces) != 1 || objs.Namespaces[0].Name != namespace {
				t.Errorf("namespaces = %v, want only %s", objs.Namespaces, namespace)
			}
		})
	}
}

// The base holds no secret values: an overlay provides them.
func TestKustomizeBaseHasNoSecrets(t *testing.T) {
	if got := k8s(t, "base").Secrets; len(got) > 0 {
		t.Errorf("base has %d Secrets; generate them in an overlay", len(got))
	}
}

func TestKustomizeDeployments(t *testing.T) {
	objs := k8s(t, "overlays/local")
	for _, svc := range k8sServices {
		t.Run(svc.name, func(t *testing.T) {
			w := workload(t, objs, "Deployment", svc.name)
			wantReplicas := int32(2)
			if w.Replicas < wantReplicas {
				t.Errorf("replicas = %d, want at least %d", w.Replicas, wantReplicas)
			}
			if len(w.Template.Spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(w.Template.Spec.Containers))
			}
			c := w.Template.Spec.Containers[0]
			checkPort(t, c, "http", svc.http)
			if svc.grpc != 0 {
				checkPort(t, c, "grpc", svc.grpc)
			}
			checkHTTPProbe(t, "readinessProbe", c.ReadinessProbe, "/readyz", "http")
			checkHTTPProbe(t, "livenessProbe", c.LivenessProbe, "/healthz", "http")
			if want := "kitshop/" + svc.name + ":dev"; c.Image != want {
				t.Errorf("image = %q, want %q (set by the overlay's images:)", c.Image, want)
			}
			env := envOf(objs, c)
			if got := env[svc.prefix+"_CONSUL_ADDR"]; got != "consul:8500" {
				t.Errorf("%s_CONSUL_ADDR = %q, want consul:8500", svc.prefix, got)
			}
			if got := env[svc.prefix+"_HTTP_ADDR"]; got != fmt.Sprintf(":%d", svc.http) {
				t.Errorf("%s_HTTP_ADDR = %q, want :%d", svc.prefix, got, svc.http)
			}
			if svc.name != "gateway" {
				if got := fieldRef(c, svc.prefix+"_ADVERTISE_ADDR"); got != "status.podIP" {
					t.Errorf("%s_ADVERTISE_ADDR from %q, want the downward API's status.podIP", svc.prefix, got)
				}
				if got := fieldRef(c, svc.prefix+"_INSTANCE_ID"); got != "metadata.name" {
					t.Errorf("%s_INSTANCE_ID from %q, want metadata.name", svc.prefix, got)
				}
			}
			if svc.database {
				ref := secretRef(c, svc.prefix+"_DATABASE_URL")
				if ref == nil {
					t.Errorf("%s_DATABASE_URL does not come from a Secret", svc.prefix)
				}
			}
		})
	}
	base := k8s(t, "base")
	for _, svc := range k8sServices {
		t.Run("base/"+svc.name, func(t *testing.T) {
			c := workload(t, base, "Deployment", svc.name).Template.Spec.Containers[0]
			if want := "kitshop/" + svc.name + ":latest"; c.Image != want {
				t.Errorf("base image = %q, want %q", c.Image, want)
			}
		})
	}
}

// Every workload, database and Consul included, runs non-root, without
// privileges, on a read-only root file system, with resource bounds and
// health probes: what the namespace's "restricted" Pod Security level and
// a scheduler need.
func TestKustomizePodSecurityAndResources(t *testing.T) {
	objs := k8s(t, "overlays/local")
	for _, w := range objs.Workloads() {
		t.Run(w.Kind+"/"+w.Name, func(t *testing.T) {
			pod := w.Template.Spec
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("automountServiceAccountToken is not false (no kitshop pod talks to the API server)")
			}
			psc := pod.SecurityContext
			for _, c := range pod.Containers {
				sc := c.SecurityContext
				if sc == nil {
					t.Errorf("container %s: no securityContext", c.Name)
					continue
				}
				nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
				if !nonRoot {
					t.Errorf("container %s: runAsNonRoot is not true", c.Name)
				}
				uid := sc.RunAsUser
				if uid == nil && psc != nil {
					uid = psc.RunAsUser
				}
				if uid == nil || *uid == 0 {
					t.Errorf("container %s: want a non-zero runAsUser", c.Name)
				}
				if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
				}
				if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
				}
				if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
					t.Errorf("container %s: capabilities %+v, want drop ALL and add none", c.Name, sc.Capabilities)
				}
				seccomp := sc.SeccompProfile
				if seccomp == nil && psc != nil {
					seccomp = psc.SeccompProfile
				}
				if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("container %s: want seccompProfile RuntimeDefault", c.Name)
				}
				for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, hasReq := c.Resources.Requests[name]
					lim, hasLim := c.Resources.Limits[name]
					if !hasReq || !hasLim {
						t.Errorf("container %s: %s request and limit: want both set", c.Name, name)
						continue
					}
					if req.Cmp(lim) > 0 || req.Cmp(resource.Quantity{}) <= 0 {
						t.Errorf("container %s: %s request %s, limit %s: want 0 < request <= limit", c.Name, name, req.String(), lim.String())
					}
				}
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					t.Errorf("container %s: want readiness and liveness probes", c.Name)
				}
				if strings.HasSuffix(c.Image, ":latest") || !validate.ImagePinned(c.Image) && !strings.HasPrefix(c.Image, "kitshop/") {
					t.Errorf("container %s: image %q is not pinned", c.Name, c.Image)
				}
			}
		})
	}
}

// Everything a pod reads from a Secret or ConfigMap exists in the build,
// key included; otherwise the pod would never start
// (CreateContainerConfigError).
func TestKustomizeReferencesResolve(t *testing.T) {
	objs := k8s(t, "overlays/local")
	for _, w := range objs.Workloads() {
		t.Run(w.Kind+"/"+w.Name, func(t *testing.T) {
			pod := w.Template.Spec
			for _, c := range pod.Containers {
				for _, e := range c.EnvFrom {
					switch {
					case e.ConfigMapRef != nil:
						if _, ok := objs.ConfigMap(w.Namespace, e.ConfigMapRef.Name); !ok {
							t.Errorf("envFrom ConfigMap %s does not exist", e.ConfigMapRef.Name)
						}
					case e.SecretRef != nil:
						if _, ok := objs.Secret(w.Namespace, e.SecretRef.Name); !ok {
							t.Errorf("envFrom Secret %s does not exist", e.SecretRef.Name)
						}
					}
				}
				for _, e := range c.Env {
					if e.ValueFrom == nil {
						continue
					}
					if r := e.ValueFrom.SecretKeyRef; r != nil {
						s, ok := objs.Secret(w.Namespace, r.Name)
						if !ok {
							t.Errorf("env %s: Secret %s does not exist", e.Name, r.Name)
						} else if _, ok := validate.SecretValue(s, r.Key); !ok {
							t.Errorf("env %s: Secret %s has no key %s", e.Name, r.Name, r.Key)
						}
					}
					if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
						cm, ok := objs.ConfigMap(w.Namespace, r.Name)
						if !ok {
							t.Errorf("env %s: ConfigMap %s does not exist", e.Name, r.Name)
						} else if _, ok := cm.Data[r.Key]; !ok {
							t.Errorf("env %s: ConfigMap %s has no key %s", e.Name, r.Name, r.Key)
						}
					}
				}
			}
			for _, v := range pod.Volumes {
				if v.Secret != nil {
					s, ok := objs.Secret(w.Namespace, v.Secret.SecretName)
					if !ok {
						t.Errorf("volume %s: Secret %s does not exist", v.Name, v.Secret.SecretName)
					}
					for _, item := range v.Secret.Items {
						if _, ok := validate.SecretValue(s, item.Key); !ok {
							t.Errorf("volume %s: Secret %s has no key %s", v.Name, v.Secret.SecretName, item.Key)
						}
					}
				}
				if v.ConfigMap != nil {
					if _, ok := objs.ConfigMap(w.Namespace, v.ConfigMap.Name); !ok {
						t.Errorf("volume %s: ConfigMap %s does not exist", v.Name, v.ConfigMap.Name)
					}
				}
			}
		})
	}
}

// The user service finds its signing key where its configuration says: a
// file of the mounted user-signing-key Secret.
func TestKustomizeSigningKey(t *testing.T) {
	objs := k8s(t, "overlays/local")
	w := workload(t, objs, "Deployment", "user")
	c := w.Template.Spec.Containers[0]
	path := envOf(objs, c)["USER_SIGNING_KEY_FILE"]
	if path == "" {
		t.Fatal("USER_SIGNING_KEY_FILE is not set")
	}
	if envOf(objs, c)["USER_GENERATE_KEY"] == "true" {
		t.Error("USER_GENERATE_KEY=true: replicas would each generate their own key")
	}
	for _, m := range c.VolumeMounts {
		key, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range w.Template.Spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			s, ok := objs.Secret(w.Namespace, v.Secret.SecretName)
			if !ok {
				t.Fatalf("Secret %s does not exist", v.Secret.SecretName)
			}
			pem, ok := validate.SecretValue(s, key)
			if !ok {
				t.Fatalf("Secret %s has no key %s", v.Secret.SecretName, key)
			}
			if !strings.Contains(pem, "-----BEGIN PRIVATE KEY-----") {
				t.Errorf("Secret %s key %s is not a PKCS #8 PEM private key", v.Secret.SecretName, key)
			}
			return
		}
	}
	t.Errorf("USER_SIGNING_KEY_FILE=%s is not in a mounted Secret volume", path)
}

// Each service has its own database: the URL in its Secret points at its
// own PostgreSQL, with the role and password that PostgreSQL is set up
// with.
func TestKustomizeDatabases(t *testing.T) {
	objs := k8s(t, "overlays/local")
	passwords := map[string]string{}
	for _, svc := range k8sServices {
		if !svc.database {
			continue
		}
		t.Run(svc.name, func(t *testing.T) {
			app := workload(t, objs, "Deployment", svc.name).Template.Spec.Containers[0]
			ref := secretRef(app, svc.prefix+"_DATABASE_URL")
			if ref == nil {
				t.Fatalf("%s_DATABASE_URL does not come from a Secret", svc.prefix)
			}
			raw := secretString(t, objs, ref)
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("%s_DATABASE_URL does not parse", svc.prefix)
			}
			dbName := svc.name + "-db"
			if u.Hostname() != dbName {
				t.Errorf("database host = %q, want %q", u.Hostname(), dbName)
			}
			db := workload(t, objs, "StatefulSet", dbName).Template.Spec.Containers[0]
			env := envOf(objs, db)
			password := secretString(t, objs, secretRef(db, "POSTGRES_PASSWORD"))
			got, _ := u.User.Password()
			if u.User.Username() != env["POSTGRES_USER"] || got != password || strings.TrimPrefix(u.Path, "/") != env["POSTGRES_DB"] {
				t.Errorf("database URL user/password/database do not match %s's POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB", dbName)
			}
			if other, ok := passwords[password]; ok {
				t.Errorf("%s shares its database password with %s", svc.name, other)
			}
			passwords[password] = svc.name
			service := serviceNamed(t, objs, dbName)
			if !hasPort(service, 5432) {
				t.Errorf("Service %s does not serve port 5432", dbName)
			}
		})
	}
}

// The order service's account secret is the one the user service lists.
func TestKustomizeServiceAccounts(t *testing.T) {
	objs := k8s(t, "overlays/local")
	user := workload(t, objs, "Deployment", "user").Template.Spec.Containers[0]
	accounts := serviceAccounts(secretString(t, objs, secretRef(user, "USER_SERVICE_ACCOUNTS")))
	order := workload(t, objs, "Deployment", "order").Template.Spec.Containers[0]
	secret := secretString(t, objs, secretRef(order, "ORDER_SERVICE_SECRET"))
	id := envOf(objs, order)["ORDER_SERVICE_ID"]
	if id == "" {
		id = "order"
	}
	if got, ok := accounts[id]; !ok || got != secret {
		t.Errorf("USER_SERVICE_ACCOUNTS does not list the account %q with ORDER_SERVICE_SECRET", id)
	}
}

// Every Service selects the pods of a workload and targets ports those pods
// declare.
func TestKustomizeServicesSelectPods(t *testing.T) {
	objs := k8s(t, "overlays/local")
	for _, s := range objs.Services {
		t.Run(s.Name, func(t *testing.T) {
			if len(s.Spec.Selector) == 0 {
				t.Fatal("no selector")
			}
			var matched []validate.Workload
			for _, w := range objs.Workloads() {
				if w.Namespace == s.Namespace && subset(s.Spec.Selector, w.Template.Labels) {
					matched = append(matched, w)
				}
			}
			if len(matched) == 0 {
				t.Fatalf("selector %v matches no pod template", s.Spec.Selector)
			}
			for _, w := range matched {
				if !subset(w.Selector, w.Template.Labels) {
					t.Errorf("%s %s: its selector %v does not match its own pod labels", w.Kind, w.Name, w.Selector)
				}
				for _, p := range s.Spec.Ports {
					if !podHasPort(w.Template.Spec, p.TargetPort.String(), p.TargetPort.IntVal) {
						t.Errorf("port %s: targetPort %s is not a container port of %s", p.Name, p.TargetPort.String(), w.Name)
					}
				}
			}
		})
	}
	for _, pdb := range objs.PodDisruptionBudgets {
		t.Run("PodDisruptionBudget/"+pdb.Name, func(t *testing.T) {
			for _, w := range objs.Workloads() {
				if pdb.Spec.Selector != nil && subset(pdb.Spec.Selector.MatchLabels, w.Template.Labels) {
					return
				}
			}
			t.Errorf("selects no pods")
		})
	}
}

// The gateway is the way in: a LoadBalancer in the base, a NodePort in the
// local overlay, on its HTTP port.
func TestKustomizeGatewayExposed(t *testing.T) {
	tests := []struct {
		dir      string
		wantType corev1.ServiceType
	}{
		{dir: "base", wantType: corev1.ServiceTypeLoadBalancer},
		{dir: "overlays/local", wantType: corev1.ServiceTypeNodePort},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			objs := k8s(t, tt.dir)
			s := serviceNamed(t, objs, "gateway")
			if s.Spec.Type != tt.wantType {
				t.Errorf("type = %q, want %q", s.Spec.Type, tt.wantType)
			}
			if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("ports = %+v, want one port to the http container port", s.Spec.Ports)
			}
			if tt.wantType == corev1.ServiceTypeNodePort && s.Spec.Ports[0].NodePort == 0 {
				t.Error("no fixed nodePort: the README could not name it")
			}
			for _, other := range objs.Services {
				if other.Name != "gateway" && other.Spec.Type != "" && other.Spec.Type != corev1.ServiceTypeClusterIP {
					t.Errorf("Service %s is %s: only the gateway is exposed", other.Name, other.Spec.Type)
				}
			}
		})
	}
}

func workload(t *testing.T, objs *validate.Objects, kind, name string) validate.Workload {
	t.Helper()
	for _, w := range objs.Workloads() {
		if w.Kind == kind && w.Name == name {
			return w
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return validate.Workload{}
}

func serviceNamed(t *testing.T, objs *validate.Objects, name string) corev1.Service {
	t.Helper()
	for _, s := range objs.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Service %s", name)
	return corev1.Service{}
}

func checkPort(t *testing.T, c corev1.Container, name string, want int32) {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			if p.ContainerPort != want {
				t.Errorf("port %s = %d, want %d", name, p.ContainerPort, want)
			}
			return
		}
	}
	t.Errorf("no container port named %s", name)
}

func checkHTTPProbe(t *testing.T, what string, p *corev1.Probe, path, port string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: want an HTTP GET probe", what)
		return
	}
	if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != port {
		t.Errorf("%s: GET %s on port %s, want %s on port %s", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, port)
	}
}

// envOf returns the plain environment of a container as Kubernetes sets
// it: the data of its envFrom ConfigMaps, overridden by its env values.
// Values from Secrets and the downward API are left out.
func envOf(objs *validate.Objects, c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef == nil {
			continue
		}
		if cm, ok := objs.ConfigMap(namespace, e.ConfigMapRef.Name); ok {
			for k, v := range cm.Data {
				env[e.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		} else {
			delete(env, e.Name)
		}
	}
	return env
}

func fieldRef(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

func secretRef(c corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

func secretString(t *testing.T, objs *validate.Objects, ref *corev1.SecretKeySelector) string {
	t.Helper()
	if ref == nil {
		t.Fatal("not from a Secret")
	}
	s, ok := objs.Secret(namespace, ref.Name)
	if !ok {
		t.Fatalf("Secret %s does not exist", ref.Name)
	}
	v, ok := validate.SecretValue(s, ref.Key)
	if !ok {
		t.Fatalf("Secret %s has no key %s", ref.Name, ref.Key)
	}
	return v
}

func subset(sub, labels map[string]string) bool {
	for k, v := range sub {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasPort(s corev1.Service, port int32) bool {
	for _, p := range s.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

func podHasPort(pod corev1.PodSpec, name string, number int32) bool {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if p.Name == name || (number != 0 && p.ContainerPort == number) {
				return true
			}
		}
	}
	return false
}
