package validate_test

import (
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kitshop/kitshop/deploy/validate"
)

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
