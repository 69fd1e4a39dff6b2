package validate_test

import (
	"fmt"
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
