// Package local runs the whole kitshop system on one machine, on loopback:
// PostgreSQL, a Consul dev agent, every service (several instances each) and
// the gateway, as real processes built into bin/. `make run` uses it through
// cmd/kitshop-local; the end-to-end test uses it with free ports.
//
// A new service joins the stack by appending one ServiceSpec to
// DefaultServices: its binary, whether it gets a database, its instances,
// its flags and the gateway requests that prove it is reachable. Or, with
// no code to change, by a file deploy/local/services/<name>.json holding
// the same (see FileServices; kit/cmd/kitgen writes one per new service).
//
// The stack includes the user service, which issues the access tokens, with
// an admin account bootstrapped from Config.AdminEmail and
// Config.AdminPassword (development defaults; the password reaches the
// service through its environment, never its command line), and the order
// service, which reserves stock in the product service as the service
// account "order" with Config.ServiceSecret (given to both services through
// their environment as well).
package local

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/kit/config"
)

// Example is a ready-to-paste command printed once the stack is up. In
// Command, {gateway} and {consul} stand for the gateway's and Consul's base
// URLs, and {admin_email} and {admin_password} for the bootstrapped admin's
// credentials, escaped to sit inside a single-quoted JSON string.
type Example struct {
	Title   string
	Command string
}

// Placeholders in ServiceSpec.Args, ServiceSpec.Env and InstanceSpec.Args,
// replaced when the stack starts.
const (
	PlaceholderRunDir        = "{run}"            // Config.RunDir, for files a service keeps between runs
	PlaceholderAdminEmail    = "{admin_email}"    // Config.AdminEmail
	PlaceholderAdminPassword = "{admin_password}" // Config.AdminPassword; put it in Env, not in Args
	PlaceholderServiceSecret = "{service_secret}" // Config.ServiceSecret; put it in Env, not in Args
)

// Development credentials of the admin account the user service creates on
// its first start. They are printed in the banner: the local stack is for
// one developer's machine.
const (
	DefaultAdminEmail    = "admin@kitshop.local"
	DefaultAdminPassword = "kitshop-admin-pw"
)

// RouteCheck is a request through the gateway whose answer proves that a
// service's routes work; Start waits until it gets Status.
type RouteCheck struct {
	Method string // "" means GET
	Path   string
	Body   string // sent as application/json when not empty
	Status int
}

// InstanceSpec is one process of a service.
type InstanceSpec struct {
	// ID is the instance id, registered in Consul and used as the log
	// file name (<ID>.log).
	ID string
	// HTTPPort and GRPCPort are the ports on 127.0.0.1; 0 picks free ones.
	HTTPPort int
	GRPCPort int
	// Args are extra flags for this instance only (e.g. -seed).
	Args []string
}

// ServiceSpec is a service of the stack.
type ServiceSpec struct {
	// Name is the binary (<BinDir>/<Name>) and the Consul service name.
	Name string
	// Database, when set, creates a database of that name and passes its
	// URL as -database-url.
	Database string
	// Routes are checked through the gateway once every instance is
	// passing in Consul: one per path prefix the service announces.
	Routes []RouteCheck
	// Args are extra flags for every instance, after the common ones and
	// before the instance's own.
	Args []string
	// Env is added to every instance's environment ("KEY=value"), for
	// settings that must not show on a command line.
	Env []string
	// Instances are started in order. The first one starts alone and must
	// be ready before the others start, so it alone runs migrations (and
	// seeding) against a fresh database.
	Instances []InstanceSpec
	// Examples are shown once the stack is up.
	Examples []Example
}

// DefaultServices returns the services `make run` starts: the user service
// first, since it issues the tokens the others check (they fetch its keys
// when they first need them, so the order is a convenience, not a must),
// then two product instances, then the order service, which reserves stock
// in the product service as the service account "order": the user service
// learns the account from USER_SERVICE_ACCOUNTS, the order service its
// secret from ORDER_SERVICE_SECRET, both PlaceholderServiceSecret. After
// them come the services added by file (FileServices), in file name order.
func DefaultServices() []ServiceSpec {
	// loginAs logs in and keeps the access token in the shell variable
	// name; sed -n prints nothing when the login fails, so the variable is
	// empty rather than an error document.
	loginAs := func(name, email, password string) string {
		return name + `=$(curl -s -X POST -H 'Content-Type: application/json' ` +
			`-d '{"email":"` + email + `","password":"` + password + `"}' {gateway}/api/v1/auth/login ` +
			`| sed -nE 's/.*"access_token":"([^"]+)".*/\1/p'); echo "` + name + `=$` + name + `"`
	}
	// keepTokens runs a token request and keeps both tokens.
	keepTokens := func(request string) string {
		return `TOKENS=$(` + request + `); echo "$TOKENS"; ` +
			`TOKEN=$(echo "$TOKENS" | sed -nE 's/.*"access_token":"([^"]+)".*/\1/p'); ` +
			`REFRESH=$(echo "$TOKENS" | sed -nE 's/.*"refresh_token":"([^"]+)".*/\1/p')`
	}
	const (
		asJSON   = `-H 'Content-Type: application/json'`
		asAdmin  = `-H "Authorization: Bearer $ADMIN"`
		asUser   = `-H "Authorization: Bearer $TOKEN"`
		customer = `{"email":"ada@example.com","password":"correct-horse-42"}`
	)
	return append([]ServiceSpec{
		{
			Name:     "user",
			Database: "user",
			Routes: []RouteCheck{
				{Path: "/api/v1/auth/jwks.json", Status: http.StatusOK},
				// A sign-up without fields: the user service's 400, where an
				// unrouted path would get the gateway's 404.
				{Method: http.MethodPost, Path: "/api/v1/users", Body: "{}", Status: http.StatusBadRequest},
			},
			Args: []string{
				// Kept between runs, so tokens survive a restart.
				"-signing-key-file", PlaceholderRunDir + "/keys/user-signing.pem", "-generate-key",
				"-admin-email", PlaceholderAdminEmail,
				// Logins arrive through the gateway, which names the client
				// in X-Forwarded-For; the login throttle counts per client.
				"-trust-forwarded-for=true",
			},
			Env: []string{
				"USER_ADMIN_PASSWORD=" + PlaceholderAdminPassword,
				// The order service's account, for its client-credentials
				// tokens (it reserves stock in the catalog as itself).
				"USER_SERVICE_ACCOUNTS=" + OrderServiceAccount + ":" + PlaceholderServiceSecret,
			},
			Instances: []InstanceSpec{
				{ID: "user-1", HTTPPort: 8083, GRPCPort: 9083},
			},
			Examples: []Example{
				{"sign up (a customer account; 409 when it exists already)", `curl -s -X POST ` + asJSON +
					` -d '{"email":"ada@example.com","password":"correct-horse-42","name":"Ada"}' {gateway}/api/v1/users`},
				{"log in: keep the access token in $TOKEN and the refresh token in $REFRESH",
					keepTokens(`curl -s -X POST ` + asJSON + ` -d '` + customer + `' {gateway}/api/v1/auth/login`)},
				{"who am I", `curl -s ` + asUser + ` {gateway}/api/v1/users/me`},
				{"refresh: a new pair; the old refresh token is used up (reusing it ends the session)",
					keepTokens(`curl -s -X POST ` + asJSON + ` -d "{\"refresh_token\":\"$REFRESH\"}" {gateway}/api/v1/auth/refresh`)},
				{"log out: revokes the refresh token (204); the access token runs out within 15 minutes",
					`curl -s -i -X POST ` + asJSON + ` -d "{\"refresh_token\":\"$REFRESH\"}" {gateway}/api/v1/auth/logout`},
				{"log in as the bootstrapped admin: keep the access token in $ADMIN",
					loginAs("ADMIN", PlaceholderAdminEmail, PlaceholderAdminPassword)},
			},
		},
		{
			Name:     "product",
			Database: "product",
			Routes:   []RouteCheck{{Path: "/api/v1/products", Status: http.StatusOK}},
			Instances: []InstanceSpec{
				{ID: "product-1", HTTPPort: 8081, GRPCPort: 9081, Args: []string{"-seed"}},
				{ID: "product-2", HTTPPort: 8082, GRPCPort: 9082},
			},
			Examples: []Example{
				{"list products: open to everyone (first page; ?limit=5&q=coffee filters)", `curl -s '{gateway}/api/v1/products?limit=5'`},
				{"a customer may not change the catalog (403)", `curl -s -X POST ` + asUser + ` ` + asJSON +
					` -d '{"sku":"DEMO-1","name":"Demo mug","price_minor":1500,"currency":"EUR"}' {gateway}/api/v1/products`},
				{"create a product as the admin (prints it; keep its id)", `ID=$(curl -s -X POST ` + asAdmin + ` ` + asJSON + ` ` +
					`-d '{"sku":"DEMO-1","name":"Demo mug","description":"Made by make run","price_minor":1500,"currency":"EUR","stock":10}' ` +
					`{gateway}/api/v1/products | tee /dev/stderr | sed -E 's/.*"id":"([^"]+)".*/\1/'); echo; echo "ID=$ID"`},
				{"get one", `curl -s {gateway}/api/v1/products/$ID`},
				{"update (only the fields sent change)", `curl -s -X PATCH ` + asAdmin + ` ` + asJSON + ` -d '{"price_minor":1299,"stock":7}' {gateway}/api/v1/products/$ID`},
				{"delete", `curl -s -i -X DELETE ` + asAdmin + ` {gateway}/api/v1/products/$ID`},
				{"a validation error (problem+json)", `curl -s -X POST ` + asAdmin + ` ` + asJSON + ` -d '{"name":""}' {gateway}/api/v1/products`},
				{"no token, no write (401)", `curl -s -i -X DELETE {gateway}/api/v1/products/$ID`},
				{"healthy instances in Consul", `curl -s '{consul}/v1/health/service/product?passing' | grep -o '"ID": *"product-[^"]*"'`},
			},
		},
		{
			Name:     "order",
			Database: "order",
			// Every order route needs a token: the gateway's 401 for an
			// anonymous list proves the prefix is routed (an unrouted path
			// gets its 404) and protected.
			Routes: []RouteCheck{{Path: "/api/v1/orders", Status: http.StatusUnauthorized}},
			Env:    []string{"ORDER_SERVICE_SECRET=" + PlaceholderServiceSecret},
			Instances: []InstanceSpec{
				{ID: "order-1", HTTPPort: 8084, GRPCPort: 9084},
			},
			Examples: []Example{
				{"orders: find a seeded product (the stoneware mug) and keep its id in $PID",
					`PID=$(curl -s '{gateway}/api/v1/products?q=HOM-MUG-350&limit=1' | sed -nE 's/.*"id":"([^"]+)".*/\1/p'); echo "PID=$PID"`},
				{"place an order as the customer ($TOKEN): 201, confirmed, the stock reserved; keep its id in $ORDER",
					`KEY=demo-$(date +%s); ORDER=$(curl -s -X POST ` + asUser + ` ` + asJSON + ` -H "Idempotency-Key: $KEY" ` +
						`-d "{\"items\":[{\"product_id\":\"$PID\",\"quantity\":2}]}" {gateway}/api/v1/orders ` +
						`| tee /dev/stderr | sed -nE 's/.*"id":"([^"]+)".*/\1/p'); echo; echo "ORDER=$ORDER"`},
				{"the same request again (same Idempotency-Key): 200, the same order, Idempotent-Replayed: true",
					`curl -s -i -X POST ` + asUser + ` ` + asJSON + ` -H "Idempotency-Key: $KEY" ` +
						`-d "{\"items\":[{\"product_id\":\"$PID\",\"quantity\":2}]}" {gateway}/api/v1/orders`},
				{"your orders, newest first; then the one", `curl -s ` + asUser + ` {gateway}/api/v1/orders; echo; curl -s ` + asUser + ` {gateway}/api/v1/orders/$ORDER`},
				{"cancel it: 200, cancelled, the stock is back in the catalog", `curl -s -X POST ` + asUser + ` {gateway}/api/v1/orders/$ORDER/cancel`},
				{"more than there is in stock: 409, the short line named, nothing reserved",
					`curl -s -X POST ` + asUser + ` ` + asJSON + ` -d "{\"items\":[{\"product_id\":\"$PID\",\"quantity\":1000}]}" {gateway}/api/v1/orders`},
			},
		},
	}, FileServices()...)
}

// OrderServiceAccount is the client id of the order service's account at
// the user service.
const OrderServiceAccount = "order"

// Config describes a stack. Zero ports are replaced by free ones, which is
// what tests want; DefaultConfig has the fixed, documented ports.
type Config struct {
	// Root is the repository root; "" means devenv.RepoRoot().
	Root string
	// BinDir holds the service and gateway binaries; "" means <Root>/bin.
	BinDir string
	// RunDir holds the logs (<RunDir>/logs/<name>.log); "" means <Root>/.run.
	RunDir string
	// PostgresDataDir is the cluster directory, kept between runs; "" means
	// DefaultPostgresDataDir(Root).
	PostgresDataDir string
	// TempPostgres runs a throwaway cluster instead (temporary directory,
	// no fsync, deleted by Stop), so a test never meets a `make run`
	// cluster's data or lock. PostgresDataDir is then ignored.
	TempPostgres bool

	// PostgresPort, ConsulPort (HTTP API and UI), GatewayPort and
	// GatewayMetricsPort (the gateway's internal /metrics listener) are
	// ports on 127.0.0.1; 0 picks a free one.
	PostgresPort       int
	ConsulPort         int
	GatewayPort        int
	GatewayMetricsPort int

	// Services are started in order and stopped in reverse order.
	Services []ServiceSpec

	// AdminEmail and AdminPassword are the admin account the user service
	// creates at its first start (an existing account keeps its password);
	// "" means DefaultAdminEmail and DefaultAdminPassword.
	AdminEmail    string
	AdminPassword string

	// ServiceSecret is the secret of the order service's account at the
	// user service (OrderServiceAccount); "" generates a random one at each
	// Start. The user service keeps service accounts in memory only, so a
	// new secret per run costs nothing.
	ServiceSecret string

	// GatewayEnv is added to the gateway's environment ("KEY=value"), e.g.
	// GATEWAY_RATE_LIMIT=1000 for a test that sends more than a client
	// normally may.
	GatewayEnv []string

	// ReadyTimeout bounds the wait for services and gateway; 0 means 60 s.
	ReadyTimeout time.Duration
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// DefaultConfig is the stack of `make run`: gateway on 8080 (its metrics on
// 9180), Consul on 8500, PostgreSQL on 55432 (not 5432, to stay clear of a
// system cluster).
func DefaultConfig() Config {
	return Config{
		PostgresPort:       55432,
		ConsulPort:         8500,
		GatewayPort:        8080,
		GatewayMetricsPort: 9180,
		Services:           DefaultServices(),
		AdminEmail:         DefaultAdminEmail,
		AdminPassword:      DefaultAdminPassword,
	}
}

// WithFreePorts returns a copy of c with every port zeroed, so Start picks
// free ones: what a test needs to run beside `make run` or another test.
func (c Config) WithFreePorts() Config {
	c.PostgresPort, c.ConsulPort, c.GatewayPort, c.GatewayMetricsPort = 0, 0, 0, 0
	services := make([]ServiceSpec, len(c.Services))
	for i, svc := range c.Services {
		svc.Instances = slices.Clone(svc.Instances)
		for j := range svc.Instances {
			svc.Instances[j].HTTPPort, svc.Instances[j].GRPCPort = 0, 0
		}
		services[i] = svc
	}
	c.Services = services
	return c
}

// DefaultPostgresDataDir returns where the stack keeps its cluster: under
// <root>/.run normally, but under /tmp when we are root, because the server
// then runs as the `postgres` user, which cannot enter /root. The directory
// name carries a hash of the repository path so two clones keep apart.
func DefaultPostgresDataDir(root string) string {
	if os.Geteuid() != 0 {
		return filepath.Join(root, ".run", "pgdata")
	}
	sum := sha256.Sum256([]byte(root))
	return filepath.Join("/tmp", "kitshop-"+hex.EncodeToString(sum[:])[:8], "pgdata")
}

// Instance is a running service instance.
type Instance struct {
	Service  string
	ID       string
	HTTPAddr string // 127.0.0.1:port
	GRPCAddr string // 127.0.0.1:port
	Process  *devenv.Process
}

// Stack is a running local system. Stop it with Stop.
type Stack struct {
	cfg         Config
	logDir      string
	pg          *devenv.Postgres
	consul      *devenv.Consul
	gateway     *devenv.Process
	gatewayAddr string

	// mu guards instances and starts, which Restart changes while tests
	// read them.
	mu        sync.Mutex
	instances [][]*Instance                   // per service, in Config.Services order
	starts    map[string]devenv.ProcessConfig // by instance id, for Restart

	stopOnce sync.Once
	stopErr  error
	stopping atomic.Bool // set by Stop: what exits now is not restarted
}

// Grace periods for Stop. Services drain in-flight requests (15 s by
// default) after deregistering (2 s), so they get a little more.
const (
	serviceGrace = 25 * time.Second
	gatewayGrace = 20 * time.Second
)

// Start brings the stack up in dependency order — PostgreSQL, Consul,
// databases, service instances, gateway — and returns once every instance
// answers /readyz, is passing in Consul, and the gateway answers each
// service's Routes as expected.
// On any failure it stops what it started and returns an error that names
// the failing process and shows the end of its log.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	cfg, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	s := &Stack{cfg: cfg, logDir: filepath.Join(cfg.RunDir, "logs")}
	if err := s.preflight(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	if err := s.start(ctx); err != nil {
		if stopErr := s.Stop(); stopErr != nil {
			err = fmt.Errorf("%w\n(while stopping after the failure: %v)", err, stopErr)
		}
		return nil, err
	}
	return s, nil
}

// resolve fills in defaults and free ports.
func resolve(cfg Config) (Config, error) {
	if cfg.Root == "" {
		root, err := devenv.RepoRoot()
		if err != nil {
			// Started from elsewhere: bin/kitshop-local sits in the repo.
			exe, exeErr := os.Executable()
			if exeErr != nil {
				return cfg, err
			}
			if root, exeErr = devenv.RepoRootFrom(filepath.Dir(exe)); exeErr != nil {
				return cfg, err
			}
		}
		cfg.Root = root
	}
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.Root, "bin")
	}
	if cfg.RunDir == "" {
		cfg.RunDir = filepath.Join(cfg.Root, ".run")
	}
	if cfg.TempPostgres {
		cfg.PostgresDataDir = "" // devenv makes and removes a temporary one
	} else if cfg.PostgresDataDir == "" {
		cfg.PostgresDataDir = DefaultPostgresDataDir(cfg.Root)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.AdminEmail == "" {
		cfg.AdminEmail = DefaultAdminEmail
	}
	if cfg.AdminPassword == "" {
		cfg.AdminPassword = DefaultAdminPassword
	}
	if cfg.ServiceSecret == "" {
		b := make([]byte, 24)
		rand.Read(b) // never fails (crypto/rand panics rather than return an error)
		cfg.ServiceSecret = hex.EncodeToString(b)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	for _, port := range []*int{&cfg.GatewayPort, &cfg.GatewayMetricsPort} {
		if *port == 0 {
			p, err := devenv.FreePort()
			if err != nil {
				return cfg, err
			}
			*port = p
		}
	}
	// Copy the specs: filling in ports must not write into the caller's
	// slices.
	services := make([]ServiceSpec, len(cfg.Services))
	for i, svc := range cfg.Services {
		if svc.Name == "" || len(svc.Instances) == 0 {
			return cfg, fmt.Errorf("service %d: needs a name and at least one instance", i)
		}
		svc.Instances = slices.Clone(svc.Instances)
		for j := range svc.Instances {
			inst := &svc.Instances[j]
			if inst.ID == "" {
				inst.ID = svc.Name + "-" + strconv.Itoa(j+1)
			}
			for _, port := range []*int{&inst.HTTPPort, &inst.GRPCPort} {
				if *port == 0 {
					p, err := devenv.FreePort()
					if err != nil {
						return cfg, err
					}
					*port = p
				}
			}
		}
		services[i] = svc
	}
	cfg.Services = services
	return cfg, nil
}

// preflight checks binaries and fixed ports before anything starts, so the
// common mistakes (not built yet, a stack already running) fail in a second
// with a plain message.
func (s *Stack) preflight() error {
	var errs []error
	for _, name := range s.binaries() {
		path := filepath.Join(s.cfg.BinDir, name)
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			errs = append(errs, fmt.Errorf("%s not found: run `make build`", path))
		}
	}
	type portUse struct {
		port int
		user string
	}
	ports := []portUse{
		{s.cfg.PostgresPort, "postgres"},
		{s.cfg.ConsulPort, "consul"},
		{s.cfg.GatewayPort, "gateway"},
		{s.cfg.GatewayMetricsPort, "gateway metrics"},
	}
	for _, svc := range s.cfg.Services {
		for _, inst := range svc.Instances {
			ports = append(ports, portUse{inst.HTTPPort, inst.ID + " http"}, portUse{inst.GRPCPort, inst.ID + " grpc"})
		}
	}
	for _, p := range ports {
		if p.port == 0 {
			continue // picked by devenv when the server starts
		}
		if err := devenv.CheckPortFree(p.port, p.user); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cannot start the local stack:\n%w", err)
	}
	return nil
}

func (s *Stack) binaries() []string {
	names := []string{"gateway"}
	for _, svc := range s.cfg.Services {
		names = append(names, svc.Name)
	}
	return names
}

func (s *Stack) progress(format string, args ...any) {
	fmt.Fprintf(s.cfg.Progress, format+"\n", args...)
}

func (s *Stack) logPath(name string) string { return filepath.Join(s.logDir, name+".log") }

// expand returns a copy of args with the placeholders replaced.
func (s *Stack) expand(args []string) []string {
	r := strings.NewReplacer(
		PlaceholderRunDir, s.cfg.RunDir,
		PlaceholderAdminEmail, s.cfg.AdminEmail,
		PlaceholderAdminPassword, s.cfg.AdminPassword,
		PlaceholderServiceSecret, s.cfg.ServiceSecret,
	)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

func (s *Stack) start(ctx context.Context) error {
	var err error
	s.pg, err = devenv.StartPostgres(ctx, devenv.PostgresConfig{
		DataDir: s.cfg.PostgresDataDir,
		Port:    s.cfg.PostgresPort,
		LogPath: s.logPath("postgres"),
		NoFsync: s.cfg.TempPostgres,
	})
	if err != nil {
		return err
	}
	s.progress("postgres   ready on 127.0.0.1:%d (data %s)", s.pg.Port(), s.pg.DataDir())

	s.consul, err = devenv.StartConsul(ctx, devenv.ConsulConfig{
		HTTPPort: s.cfg.ConsulPort,
		LogPath:  s.logPath("consul"),
	})
	if err != nil {
		return err
	}
	s.progress("consul     ready on %s", s.consul.Addr())

	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()

	for _, svc := range s.cfg.Services {
		if err := s.startService(ctx, svc); err != nil {
			return err
		}
	}

	s.gatewayAddr = "127.0.0.1:" + strconv.Itoa(s.cfg.GatewayPort)
	s.gateway, err = devenv.StartProcess(ctx, devenv.ProcessConfig{
		Name: "gateway",
		Path: filepath.Join(s.cfg.BinDir, "gateway"),
		Args: []string{"-http-addr", s.gatewayAddr, "-consul-addr", s.consul.Addr(),
			"-metrics-addr", "127.0.0.1:" + strconv.Itoa(s.cfg.GatewayMetricsPort)},
		Env:     s.cfg.GatewayEnv,
		LogPath: s.logPath("gateway"),
		Dir:     s.cfg.Root,
	})
	if err != nil {
		return err
	}

	for i, svc := range s.cfg.Services {
		if err := s.awaitPassing(ctx, svc.Name, s.instances[i], s.exited); err != nil {
			return err
		}
	}
	for _, svc := range s.cfg.Services {
		for _, rc := range svc.Routes {
			method := cmp.Or(rc.Method, http.MethodGet)
			url := s.GatewayURL() + rc.Path
			what := fmt.Sprintf("gateway to answer %s %s with %d", method, url, rc.Status)
			err := s.await(ctx, what, s.gateway, func(ctx context.Context) error {
				return statusIs(ctx, method, url, rc.Body, rc.Status)
			})
			if err != nil {
				return err
			}
		}
	}
	s.progress("gateway    ready on %s", s.gatewayAddr)
	return nil
}

// startService creates the service's database and starts its instances: the
// first alone until ready (it migrates and seeds), then the rest together.
func (s *Stack) startService(ctx context.Context, svc ServiceSpec) error {
	var dbURL string
	if svc.Database != "" {
		var err error
		if dbURL, err = s.pg.CreateDatabase(ctx, svc.Database); err != nil {
			return err
		}
	}
	// Registered before anything starts, so Stop and the exit watch see
	// every instance even if a later one fails.
	s.mu.Lock()
	s.instances = append(s.instances, make([]*Instance, 0, len(svc.Instances)))
	idx := len(s.instances) - 1
	s.mu.Unlock()

	startOne := func(spec InstanceSpec) (*Instance, error) {
		inst := &Instance{
			Service:  svc.Name,
			ID:       spec.ID,
			HTTPAddr: "127.0.0.1:" + strconv.Itoa(spec.HTTPPort),
			GRPCAddr: "127.0.0.1:" + strconv.Itoa(spec.GRPCPort),
		}
		args := []string{
			"-http-addr", inst.HTTPAddr,
			"-grpc-addr", inst.GRPCAddr,
			"-advertise-addr", "127.0.0.1",
			"-consul-addr", s.consul.Addr(),
			"-instance-id", inst.ID,
		}
		if dbURL != "" {
			args = append(args, "-database-url", dbURL)
		}
		args = append(args, svc.Args...)
		args = append(args, spec.Args...)
		// A development stack (KITSHOP_DEV=1): the services accept the
		// well-known development secrets (kit/config.RefuseDevSecret).
		pc := devenv.ProcessConfig{
			Name:    inst.ID,
			Path:    filepath.Join(s.cfg.BinDir, svc.Name),
			Args:    s.expand(args),
			Env:     append(s.expand(svc.Env), config.DevEnv+"=1"),
			LogPath: s.logPath(inst.ID),
			Dir:     s.cfg.Root,
		}
		proc, err := devenv.StartProcess(ctx, pc)
		if err != nil {
			return nil, err
		}
		inst.Process = proc
		s.mu.Lock()
		s.instances[idx] = append(s.instances[idx], inst)
		if s.starts == nil {
			s.starts = make(map[string]devenv.ProcessConfig)
		}
		s.starts[inst.ID] = pc
		s.mu.Unlock()
		return inst, nil
	}
	ready := func(inst *Instance) error { return s.awaitReady(ctx, inst, s.exited) }

	first, err := startOne(svc.Instances[0])
	if err != nil {
		return err
	}
	if err := ready(first); err != nil {
		return err
	}
	rest := make([]*Instance, 0, len(svc.Instances)-1)
	for _, spec := range svc.Instances[1:] {
		inst, err := startOne(spec)
		if err != nil {
			return err
		}
		rest = append(rest, inst)
	}
	for _, inst := range rest {
		if err := ready(inst); err != nil {
			return err
		}
	}
	for _, inst := range s.instances[idx] {
		s.progress("%-10s ready on http %s, grpc %s", inst.ID, inst.HTTPAddr, inst.GRPCAddr)
	}
	return nil
}

// awaitReady waits until inst answers GET /readyz with 200. exited names a
// process whose exit ends the wait (see awaitWatching).
func (s *Stack) awaitReady(ctx context.Context, inst *Instance, exited func() *devenv.Process) error {
	url := "http://" + inst.HTTPAddr + "/readyz"
	return s.awaitWatching(ctx, inst.ID+" to answer GET "+url+" with 200", inst.Process, exited, func(ctx context.Context) error {
		return statusIs(ctx, http.MethodGet, url, "", http.StatusOK)
	})
}

// awaitPassing waits until Consul reports every one of instances of the
// named service as passing, which is what the gateway routes by.
func (s *Stack) awaitPassing(ctx context.Context, service string, instances []*Instance, exited func() *devenv.Process) error {
	url := s.consul.URL() + "/v1/health/service/" + service + "?passing"
	missing := instances
	err := s.awaitWatching(ctx, "Consul to report every "+service+" instance passing", nil, exited, func(ctx context.Context) error {
		ids, err := passingIDs(ctx, url)
		if err != nil {
			return err
		}
		missing = missing[:0:0]
		for _, inst := range instances {
			if !slices.Contains(ids, inst.ID) {
				missing = append(missing, inst)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s not passing (passing: %v)", missing[0].ID, ids)
		}
		return nil
	})
	if err != nil && len(missing) > 0 {
		err = fmt.Errorf("%w\nlog of %s (%s):\n%s", err, missing[0].ID, missing[0].Process.LogPath(), missing[0].Process.LogTail(20))
	}
	return err
}

// passingIDs returns the ids of the passing instances in a Consul
// /v1/health/service answer.
func passingIDs(ctx context.Context, url string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("consul answered %s", resp.Status)
	}
	var entries []struct {
		Service struct{ ID string }
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&entries); err != nil {
		return nil, fmt.Errorf("consul health answer: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.Service.ID)
	}
	return ids, nil
}

// statusIs makes one request and reports how the answer's status differs
// from want. A body is sent as JSON.
func statusIs(ctx context.Context, method, url, body string, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// await polls cond until it succeeds, ctx ends or one of the stack's
// processes exits. culprit is the process whose log explains a timeout (nil
// when the caller adds its own).
func (s *Stack) await(ctx context.Context, what string, culprit *devenv.Process, cond func(context.Context) error) error {
	return s.awaitWatching(ctx, what, culprit, s.exited, cond)
}

// awaitWatching is await with the exit watch given: exited returns a
// process whose exit makes waiting pointless, or nil. Restart watches only
// the restarted process, since others may be down on purpose.
func (s *Stack) awaitWatching(ctx context.Context, what string, culprit *devenv.Process, exited func() *devenv.Process, cond func(context.Context) error) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := cond(attempt)
		cancel()
		if err == nil {
			return nil
		}
		// An attempt cut short by the overall deadline says less than the
		// one before it.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		if p := exited(); p != nil {
			return exitError(p)
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("timed out waiting for %s (last: %v)", what, last)
			if culprit != nil {
				err = fmt.Errorf("%w\nlog of %s (%s):\n%s", err, culprit.Name(), culprit.LogPath(), culprit.LogTail(20))
			}
			return err
		case <-tick.C:
		}
	}
}

// processes returns every running process of the stack in start order.
func (s *Stack) processes() []*devenv.Process {
	var procs []*devenv.Process
	if s.pg != nil {
		procs = append(procs, s.pg.Process())
	}
	if s.consul != nil {
		procs = append(procs, s.consul.Process())
	}
	s.mu.Lock()
	for _, insts := range s.instances {
		for _, inst := range insts {
			procs = append(procs, inst.Process)
		}
	}
	s.mu.Unlock()
	if s.gateway != nil {
		procs = append(procs, s.gateway)
	}
	return procs
}

// exited returns a process of the stack that has exited, or nil.
func (s *Stack) exited() *devenv.Process {
	for _, p := range s.processes() {
		select {
		case <-p.Done():
			return p
		default:
		}
	}
	return nil
}

func exitError(p *devenv.Process) error {
	return fmt.Errorf("%s exited unexpectedly (%v); log %s:\n%s", p.Name(), p.Err(), p.LogPath(), p.LogTail(20))
}

// Wait blocks until ctx is done (nil) or a process of the stack exits on its
// own (an error naming it, with the end of its log).
func (s *Stack) Wait(ctx context.Context) error {
	if p := s.waitExited(ctx); p != nil {
		return exitError(p)
	}
	return nil
}

// waitExited blocks until ctx is done (nil) or a process of the stack exits
// on its own, and returns that process.
func (s *Stack) waitExited(ctx context.Context) *devenv.Process {
	procs := s.processes()
	exited := make(chan *devenv.Process, len(procs))
	stop := make(chan struct{})
	defer close(stop)
	for _, p := range procs {
		go func() {
			select {
			case <-p.Done():
				exited <- p
			case <-stop:
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case p := <-exited:
		return p
	}
}

// Stop stops everything in reverse dependency order: gateway first (no new
// requests), then the services (they deregister from Consul and drain), then
// Consul and PostgreSQL. Instances of one service stop in parallel. It is
// safe to call more than once.
func (s *Stack) Stop() error {
	s.stopping.Store(true)
	s.stopOnce.Do(func() {
		var errs []error
		if s.gateway != nil {
			errs = append(errs, s.gateway.Stop(gatewayGrace))
		}
		s.mu.Lock()
		services := make([][]*Instance, len(s.instances))
		for i, insts := range s.instances {
			services[i] = slices.Clone(insts)
		}
		s.mu.Unlock()
		for i := len(services) - 1; i >= 0; i-- {
			var wg sync.WaitGroup
			instErrs := make([]error, len(services[i]))
			for j, inst := range services[i] {
				wg.Go(func() { instErrs[j] = inst.Process.Stop(serviceGrace) })
			}
			wg.Wait()
			errs = append(errs, instErrs...)
		}
		if s.consul != nil {
			errs = append(errs, s.consul.Stop())
		}
		if s.pg != nil {
			errs = append(errs, s.pg.Stop())
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// GatewayURL returns the gateway's base URL, e.g. http://127.0.0.1:8080.
func (s *Stack) GatewayURL() string { return "http://" + s.gatewayAddr }

// GatewayMetricsURL returns the gateway's /metrics, on its internal
// listener (the public port has none).
func (s *Stack) GatewayMetricsURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.cfg.GatewayMetricsPort) + "/metrics"
}

// ConsulURL returns the Consul HTTP API base URL (UI at /ui/).
func (s *Stack) ConsulURL() string { return s.consul.URL() }

// ConsulAddr returns Consul's HTTP address, 127.0.0.1:port.
func (s *Stack) ConsulAddr() string { return s.consul.Addr() }

// Postgres returns the stack's PostgreSQL server.
func (s *Stack) Postgres() *devenv.Postgres { return s.pg }

// LogDir returns the directory holding one <name>.log per process.
func (s *Stack) LogDir() string { return s.logDir }

// Processes returns every process of the stack in start order: PostgreSQL,
// Consul, the service instances and the gateway. Callers use it to check
// that Stop left nothing running; stopping them is Stop's job.
func (s *Stack) Processes() []*devenv.Process { return s.processes() }

// Instances returns the instances of the named service, as last started:
// after a Restart, the new process replaces the old one here (an *Instance
// got earlier keeps the old, exited process).
func (s *Stack) Instances(service string) []*Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, svc := range s.cfg.Services {
		if svc.Name == service && i < len(s.instances) {
			return slices.Clone(s.instances[i])
		}
	}
	return nil
}

// Restart starts the instance with the given id again, with the same
// command line, environment and ports, and returns it once it answers
// /readyz with 200 and Consul reports it passing. An instance still running
// is stopped first (gracefully, as Stop does). It is for tests that take
// instances down on purpose (a crash, an outage) and need them back; other
// instances may be down meanwhile, and only the restarted process's exit
// ends the wait early. The log continues in the same file.
func (s *Stack) Restart(ctx context.Context, id string) (*Instance, error) {
	s.mu.Lock()
	pc, ok := s.starts[id]
	var (
		old             *Instance
		svcIdx, instIdx int
	)
	for i, insts := range s.instances {
		for j, inst := range insts {
			if inst.ID == id {
				old, svcIdx, instIdx = inst, i, j
			}
		}
	}
	s.mu.Unlock()
	if !ok || old == nil {
		return nil, fmt.Errorf("restart: no instance %q in the stack", id)
	}
	if err := old.Process.Stop(serviceGrace); err != nil {
		return nil, fmt.Errorf("restart %s: stopping it: %w", id, err)
	}
	proc, err := devenv.StartProcess(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("restart %s: %w", id, err)
	}
	inst := *old
	inst.Process = proc
	s.mu.Lock()
	s.instances[svcIdx][instIdx] = &inst
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	exited := func() *devenv.Process {
		select {
		case <-proc.Done():
			return proc
		default:
			return nil
		}
	}
	if err := s.awaitReady(ctx, &inst, exited); err != nil {
		return nil, fmt.Errorf("restart %s: %w", id, err)
	}
	if err := s.awaitPassing(ctx, inst.Service, []*Instance{&inst}, exited); err != nil {
		return nil, fmt.Errorf("restart %s: %w", id, err)
	}
	s.progress("%-10s restarted on http %s, grpc %s", inst.ID, inst.HTTPAddr, inst.GRPCAddr)
	return &inst, nil
}

// WriteSummary prints where everything is and commands to try it.
func (s *Stack) WriteSummary(w io.Writer) {
	pgURL := strings.Replace(s.pg.URL("postgres"), ":"+devenv.PostgresPassword+"@", "@", 1)
	fmt.Fprintf(w, "\nkitshop is running.\n\n")
	fmt.Fprintf(w, "  gateway    %s (metrics: %s)\n", s.GatewayURL(), s.GatewayMetricsURL())
	fmt.Fprintf(w, "  consul UI  %s/ui/\n", s.ConsulURL())
	fmt.Fprintf(w, "  postgres   %s (user %s, password %s: development only)\n", pgURL, devenv.PostgresUser, devenv.PostgresPassword)
	fmt.Fprintf(w, "  logs       %s\n", s.logDir)
	s.mu.Lock()
	for _, insts := range s.instances {
		for _, inst := range insts {
			fmt.Fprintf(w, "  %-10s http://%s (grpc %s)\n", inst.ID, inst.HTTPAddr, inst.GRPCAddr)
		}
	}
	s.mu.Unlock()
	fmt.Fprintf(w, "  admin      %s / %s (development only; created at the first run, keeps its password afterwards)\n",
		s.cfg.AdminEmail, s.cfg.AdminPassword)
	fmt.Fprintf(w, "\nTry it (paste in order):\n")
	replacer := strings.NewReplacer(
		"{gateway}", s.GatewayURL(),
		"{consul}", s.ConsulURL(),
		PlaceholderAdminEmail, inSingleQuotedJSON(s.cfg.AdminEmail),
		PlaceholderAdminPassword, inSingleQuotedJSON(s.cfg.AdminPassword),
	)
	for _, svc := range s.cfg.Services {
		for _, ex := range svc.Examples {
			fmt.Fprintf(w, "\n  # %s\n  %s\n", ex.Title, replacer.Replace(ex.Command))
		}
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop everything.\n")
}

// inSingleQuotedJSON escapes v for the inside of a JSON string that is
// itself inside single quotes in a shell command, so that any password
// pastes correctly.
func inSingleQuotedJSON(v string) string {
	b, _ := json.Marshal(v) // a string always marshals
	return strings.ReplaceAll(string(b[1:len(b)-1]), "'", `'\''`)
}
