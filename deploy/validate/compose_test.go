package validate_test

import (
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/deploy/validate"
)

// tooling are the services allowed to publish a port besides the gateway,
// with the only container port each may publish: UIs and monitoring. They
// publish on loopback.
var tooling = map[string]int{"consul": 8500, "prometheus": 9090, "nats": 8222, "mailpit": 8025, "jaeger": 16686, "grafana": 3000}

// publicService is the one application service reachable from the host.
const publicService = "gateway"

func TestComposeHealthchecks(t *testing.T) {
	c := compose(t)
	for _, name := range c.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			if c.Services[name].OneShot() {
				return // it exits; TestComposeSecretsGenerated checks who waits for it
			}
			h := c.Services[name].Healthcheck
			if h == nil || h.Disable || len(h.Test) == 0 || h.Test[0] == "NONE" {
				t.Fatalf("no healthcheck")
			}
			if h.Interval == "" || h.Timeout == "" || h.Retries == 0 {
				t.Errorf("healthcheck %+v: want interval, timeout and retries set", h)
			}
		})
	}
}

// The kitshop images have no shell: their healthcheck must be the exec form
// of the healthcheck binary, probing the service's own HTTP port.
func TestComposeAppHealthchecksProbeReadiness(t *testing.T) {
	c := compose(t)
	for _, app := range appServices(t, c) {
		t.Run(app.name, func(t *testing.T) {
			addr, ok := app.spec.Environment[app.prefix+"_HTTP_ADDR"]
			if !ok {
				t.Fatalf("%s_HTTP_ADDR not set: the healthcheck cannot be checked against the port", app.prefix)
			}
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("%s_HTTP_ADDR=%q: %v", app.prefix, addr, err)
			}
			want := []string{"CMD", "/usr/local/bin/healthcheck", "http://127.0.0.1:" + port + "/readyz"}
			if got := app.spec.Healthcheck.Test; !slices.Equal(got, want) {
				t.Errorf("healthcheck test = %q, want %q", got, want)
			}
			if exposed := strings.Fields(app.spec.Build.Args["PORTS"]); !slices.Contains(exposed, port) {
				t.Errorf("build arg PORTS=%q does not expose the HTTP port %s", app.spec.Build.Args["PORTS"], port)
			}
		})
	}
}

func TestComposeDependsOnHealthy(t *testing.T) {
	c := compose(t)
	for _, name := range c.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			for dep, d := range c.Services[name].DependsOn {
				want := "service_healthy"
				if c.Services[dep].OneShot() {
					want = "service_completed_successfully"
				}
				if d.Condition != want {
					t.Errorf("depends_on %s: condition %q, want %s", dep, d.Condition, want)
				}
				if _, ok := c.Services[dep]; !ok {
					t.Errorf("depends_on %s: no such service", dep)
				}
			}
		})
	}
}

func TestComposeRestartPolicies(t *testing.T) {
	c := compose(t)
	for _, name := range c.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			if c.Services[name].OneShot() {
				return // restart "no": a job that has done its work stays done
			}
			if got := c.Services[name].Restart; got != "unless-stopped" && got != "always" && got != "on-failure" {
				t.Errorf("restart = %q, want unless-stopped, always or on-failure", got)
			}
		})
	}
}

// Images from registries are pinned; images built here are never pulled (a
// kitshop/* image on a registry is not ours).
func TestComposeImages(t *testing.T) {
	c := compose(t)
	root := repoRoot(t)
	for _, name := range c.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			s := c.Services[name]
			if s.Build == nil {
				if !validate.ImagePinned(s.Image) {
					t.Errorf("image %q is not pinned to a version", s.Image)
				}
				return
			}
			if want := "kitshop/" + s.BuildService() + ":latest"; s.Image != want {
				t.Errorf("image = %q, want %q", s.Image, want)
			}
			if s.PullPolicy != "build" {
				t.Errorf("pull_policy = %q, want build", s.PullPolicy)
			}
			if got := filepath.Clean(s.Build.Context); got != root {
				t.Errorf("build context = %q, want the repository root %q", got, root)
			}
			if s.Build.Dockerfile != "deploy/docker/Dockerfile" {
				t.Errorf("build dockerfile = %q, want deploy/docker/Dockerfile", s.Build.Dockerfile)
			}
		})
	}
}

// Every SERVICE build argument names a command the Dockerfile can build.
func TestComposeBuildsExistingCommands(t *testing.T) {
	c := compose(t)
	root := repoRoot(t)
	for _, app := range appServices(t, c) {
		t.Run(app.name, func(t *testing.T) {
			main := filepath.Join(root, app.service, "cmd", app.service, "main.go")
			if _, err := os.Stat(main); err != nil {
				t.Errorf("SERVICE=%s: %v", app.service, err)
			}
		})
	}
}

func TestComposePublishedPorts(t *testing.T) {
	c := compose(t)
	for _, name := range c.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			s := c.Services[name]
			var published []validate.Port
			for _, p := range s.Ports {
				if p.Published != "" {
					published = append(published, p)
				}
			}
			switch want, isTool := tooling[name]; {
			case name == publicService:
				// Loopback unless KITSHOP_BIND says otherwise: a development
				// stack is not for the network by accident.
				if len(published) != 1 || published[0].Target != 8080 || published[0].HostIP != "127.0.0.1" {
					t.Errorf("ports = %+v, want 8080 published on 127.0.0.1", s.Ports)
				}
			case isTool:
				for _, p := range published {
					if p.Target != want || p.HostIP != "127.0.0.1" {
						t.Errorf("port %+v: want only %d, published on 127.0.0.1", p, want)
					}
				}
			default:
				if len(s.Ports) > 0 {
					t.Errorf("ports = %+v: only %s (and tooling) may publish ports", s.Ports, publicService)
				}
			}
		})
	}
}

var (
	// secretNameRE matches variable names that hold a secret value; their
	// _FILE variants (which hold a path) are what compose must use.
	secretNameRE = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|DATABASE_URL|DSN|SERVICE_ACCOUNTS)$`)
	// credentialsURLRE matches a URL with a password in it.
	credentialsURLRE = regexp.MustCompile(`://[^/@:\s]+:[^/@\s]+@`)
)

func TestComposeNoSecretsInEnvironment(t *testing.T) {
	c := compose(t)
	// A file secret would be a file in the repository: secrets are
	// generated into a volume instead.
	for name, sec := range c.Secrets {
		t.Errorf("top-level secret %s (file %q): generate it with kitshop-secrets instead", name, sec.File)
	}
	// The value of every generated secret must not appear in any environment.
	secrets := map[string]string{}
	entries, err := os.ReadDir(generatedSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(generatedSecrets(t), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		secrets[strings.TrimRight(string(data), "\r\n")] = e.Name()
	}
	g := secretsGenerator(t, c)
	for _, name := range c.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			for k, v := range c.Services[name].Environment {
				if secretNameRE.MatchString(k) {
					t.Errorf("%s is set in the environment; use %s_FILE with a generated secret", k, k)
				}
				if credentialsURLRE.MatchString(v) {
					t.Errorf("%s holds a URL with credentials", k)
				}
				if secret, ok := secrets[strings.TrimSpace(v)]; ok {
					t.Errorf("%s holds the value of secret %s", k, secret)
				}
				if strings.HasSuffix(k, "_FILE") && path.Dir(v) == path.Clean(g.dir) {
					secretValue(t, c, c.Services[name], v) // mounted, and generated
				}
			}
		})
	}
}

// TestComposeSecretsGenerated checks that `docker compose up` stays one
// command: a one-shot service writes the secrets, and everything reading
// one waits until it has succeeded.
func TestComposeSecretsGenerated(t *testing.T) {
	c := compose(t)
	g := secretsGenerator(t, c)
	gen := c.Services[g.name]
	if !gen.OneShot() {
		t.Errorf("%s: restart %q, want \"no\" (it runs once)", g.name, gen.Restart)
	}
	if gen.BuildService() == "" || gen.PullPolicy != "build" {
		t.Errorf("%s: want a kitshop image built here (they ship kitshop-secrets)", g.name)
	}
	if _, ok := c.Volumes[g.volume]; !ok {
		t.Errorf("%s writes into %q, which is not a named volume", g.name, g.volume)
	}
	for _, name := range c.ServiceNames() {
		if name == g.name {
			continue
		}
		s := c.Services[name]
		readsSecret := false
		for k, v := range s.Environment {
			if strings.HasSuffix(k, "_FILE") && path.Dir(v) == path.Clean(g.dir) {
				readsSecret = true
			}
		}
		if src, _, ok := s.Mount(g.dir); ok && src == g.volume {
			readsSecret = true
		}
		if !readsSecret {
			continue
		}
		if d, ok := s.DependsOn[g.name]; !ok || d.Condition != "service_completed_successfully" {
			t.Errorf("%s reads generated secrets but does not depend on %s completing successfully", name, g.name)
		}
	}
	if len(c.Services["user-db"].DependsOn) == 0 {
		t.Error("user-db does not wait for its password")
	}
}

// postgresService is a PostgreSQL container of the compose file.
type postgresService struct {
	name, db, user, password string
}

// TestComposeDatabases checks one database per service: every application
// service reads its database URL from a secret file, the URL points at a
// PostgreSQL service of the file with that service's credentials, and no
// two services (as opposed to two instances of one) share a PostgreSQL or
// its credentials.
func TestComposeDatabases(t *testing.T) {
	c := compose(t)
	dbs := map[string]postgresService{}
	for _, name := range c.ServiceNames() {
		s := c.Services[name]
		if !strings.HasPrefix(s.Image, "postgres:") {
			continue
		}
		if _, ok := s.Environment["POSTGRES_PASSWORD"]; ok {
			t.Errorf("%s: POSTGRES_PASSWORD set; use POSTGRES_PASSWORD_FILE", name)
		}
		pg := postgresService{name: name, db: s.Environment["POSTGRES_DB"], user: s.Environment["POSTGRES_USER"]}
		if pg.db == "" || pg.user == "" || pg.user == "postgres" {
			t.Errorf("%s: POSTGRES_DB=%q POSTGRES_USER=%q: want a named database and its own role", name, pg.db, pg.user)
		}
		file, ok := s.Environment["POSTGRES_PASSWORD_FILE"]
		if !ok {
			t.Errorf("%s: no POSTGRES_PASSWORD_FILE", name)
			continue
		}
		pg.password = secretValue(t, c, s, file)
		dbs[name] = pg
	}
	if len(dbs) == 0 {
		t.Fatal("no postgres service")
	}
	for a, pa := range dbs {
		for b, pb := range dbs {
			if a < b && (pa.password == pb.password || pa.user == pb.user) {
				t.Errorf("%s and %s share a role or a password", a, b)
			}
		}
	}

	usedBy := map[string]string{} // postgres service -> the SERVICE using it
	for _, app := range appServices(t, c) {
		if app.service == publicService {
			continue
		}
		t.Run(app.name, func(t *testing.T) {
			fileVar := app.prefix + "_DATABASE_URL_FILE"
			path, ok := app.spec.Environment[fileVar]
			if !ok {
				t.Fatalf("%s not set", fileVar)
			}
			raw := secretValue(t, c, app.spec, path)
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("database URL in %s does not parse", path) // the error would show the password
			}
			pg, ok := dbs[u.Hostname()]
			if !ok {
				t.Fatalf("database URL host %q is not a postgres service of the compose file", u.Hostname())
			}
			if u.Port() != "5432" {
				t.Errorf("database URL port = %q, want 5432", u.Port())
			}
			password, _ := u.User.Password()
			if u.User.Username() != pg.user || password != pg.password || strings.TrimPrefix(u.Path, "/") != pg.db {
				t.Errorf("database URL user/password/database do not match %s's POSTGRES_USER/POSTGRES_PASSWORD_FILE/POSTGRES_DB", pg.name)
			}
			if other, ok := usedBy[pg.name]; ok && other != app.service {
				t.Errorf("%s shares %s with %s", app.service, pg.name, other)
			}
			usedBy[pg.name] = app.service
			if d, ok := app.spec.DependsOn[pg.name]; !ok || d.Condition != "service_healthy" {
				t.Errorf("does not depend on %s being healthy", pg.name)
			}
		})
	}
}

// Two product instances, one image, and only one loads the seed data.
func TestComposeProductInstances(t *testing.T) {
	c := compose(t)
	var instances, seeders []string
	for _, app := range appServices(t, c) {
		if app.service != "product" {
			continue
		}
		instances = append(instances, app.name)
		if v := app.spec.Environment["PRODUCT_SEED"]; v != "" {
			seed, err := strconv.ParseBool(v)
			if err != nil {
				t.Errorf("%s: PRODUCT_SEED=%q: %v", app.name, v, err)
			}
			if seed {
				seeders = append(seeders, app.name)
			}
		}
	}
	if len(instances) != 2 {
		t.Errorf("product instances = %q, want 2", instances)
	}
	if len(seeders) != 1 {
		t.Errorf("instances with PRODUCT_SEED=true: %q, want exactly one", seeders)
	}
}

// Every service registers in Consul under an address the other containers
// can reach (its compose name) and a unique instance ID.
func TestComposeConsulRegistration(t *testing.T) {
	c := compose(t)
	if _, ok := c.Services["consul"]; !ok {
		t.Fatal("no consul service")
	}
	ids := map[string]string{}
	for _, app := range appServices(t, c) {
		t.Run(app.name, func(t *testing.T) {
			env := app.spec.Environment
			if got := env[app.prefix+"_CONSUL_ADDR"]; got != "consul:8500" {
				t.Errorf("%s_CONSUL_ADDR = %q, want consul:8500", app.prefix, got)
			}
			if d, ok := app.spec.DependsOn["consul"]; !ok || d.Condition != "service_healthy" {
				t.Errorf("does not depend on consul being healthy")
			}
			if app.service == publicService {
				return // the gateway only watches Consul
			}
			if got := env[app.prefix+"_ADVERTISE_ADDR"]; got != app.name {
				t.Errorf("%s_ADVERTISE_ADDR = %q, want the compose service name %q", app.prefix, got, app.name)
			}
			id := env[app.prefix+"_INSTANCE_ID"]
			if id == "" {
				t.Errorf("%s_INSTANCE_ID not set: a restart would register a second instance", app.prefix)
			} else if other, ok := ids[id]; ok {
				t.Errorf("instance ID %q also used by %s", id, other)
			}
			ids[id] = app.name
		})
	}
}

// The application containers run hardened: read-only root file system and
// no capabilities (they need none: ports above 1024, no file ownership
// changes).
func TestComposeAppHardening(t *testing.T) {
	c := compose(t)
	for _, app := range appServices(t, c) {
		t.Run(app.name, func(t *testing.T) {
			if !app.spec.ReadOnly {
				t.Error("read_only is not set")
			}
			if !slices.Contains(app.spec.CapDrop, "ALL") {
				t.Errorf("cap_drop = %q, want ALL", app.spec.CapDrop)
			}
		})
	}
}

// Services that call others with their own tokens (order reserving stock)
// log in with a service account the user service knows: the secret a
// service reads must be the one user's -service-accounts lists for it.
func TestComposeServiceAccounts(t *testing.T) {
	c := compose(t)
	var users []appService
	for _, app := range appServices(t, c) {
		if app.service == "user" {
			users = append(users, app)
		}
	}
	if len(users) == 0 {
		t.Fatal("no user service")
	}
	for _, app := range appServices(t, c) {
		path, ok := app.spec.Environment[app.prefix+"_SERVICE_SECRET_FILE"]
		if !ok {
			continue
		}
		t.Run(app.name, func(t *testing.T) {
			secret := secretValue(t, c, app.spec, path)
			id := app.spec.Environment[app.prefix+"_SERVICE_ID"]
			if id == "" {
				id = app.service // the services' default
			}
			for _, u := range users {
				accountsPath, ok := u.spec.Environment["USER_SERVICE_ACCOUNTS_FILE"]
				if !ok {
					t.Fatalf("%s: USER_SERVICE_ACCOUNTS_FILE not set", u.name)
				}
				accounts := serviceAccounts(secretValue(t, c, u.spec, accountsPath))
				if got, ok := accounts[id]; !ok || got != secret {
					t.Errorf("%s does not list the account %q with the secret %s reads", u.name, id, app.name)
				}
			}
		})
	}
}

// serviceAccounts parses the user service's "name:secret,name2:secret2".
func serviceAccounts(spec string) map[string]string {
	m := map[string]string{}
	for _, entry := range strings.Split(spec, ",") {
		if name, secret, ok := strings.Cut(strings.TrimSpace(entry), ":"); ok {
			m[name] = secret
		}
	}
	return m
}
