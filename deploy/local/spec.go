package local

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Example is a ready-to-paste command printed once the stack is up. In
// Command, {gateway}, {consul} and {nats_monitor} stand for the gateway's,
// Consul's and the NATS monitoring base URLs, and {admin_email} and
// {admin_password} for the bootstrapped admin's credentials, escaped to sit
// inside a single-quoted JSON string.
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
	// HTTPPort, GRPCPort and MetricsPort (the internal /metrics listener)
	// are the ports on 127.0.0.1; 0 picks free ones.
	HTTPPort    int
	GRPCPort    int
	MetricsPort int
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
// them come the services added by file (FileServices), in file name order:
// payment and notification. Every service, and the gateway, also gets the
// stack's NATS server as <PREFIX>_NATS_URL in its environment.
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
				{ID: "user-1", HTTPPort: 8083, GRPCPort: 9083, MetricsPort: 9283},
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
				{ID: "product-1", HTTPPort: 8081, GRPCPort: 9081, MetricsPort: 9281, Args: []string{"-seed"}},
				{ID: "product-2", HTTPPort: 8082, GRPCPort: 9082, MetricsPort: 9282},
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
				{ID: "order-1", HTTPPort: 8084, GRPCPort: 9084, MetricsPort: 9284},
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

	// NATSPort (clients) and NATSMonitorPort (HTTP monitoring: /healthz,
	// /jsz, /connz) are the NATS server's ports on 127.0.0.1; 0 picks free
	// ones.
	NATSPort        int
	NATSMonitorPort int
	// NATSStoreDir holds JetStream's file storage (streams, their messages
	// and consumers), kept between runs; "" means <RunDir>/nats.
	NATSStoreDir string

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
	// TraceRatio is the share of new traces every process records
	// (kit/tracing), written as JSON lines under <RunDir>/traces for
	// "kitctl trace"; negative turns tracing off. DefaultConfig records
	// every trace: a developer wants to see the request just made.
	TraceRatio float64
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// DefaultConfig is the stack of `make run`: gateway on 8080 (its metrics on
// 9180), Consul on 8500, PostgreSQL on 55432 (not 5432, to stay clear of a
// system cluster), NATS on its usual 4222 (monitoring on 8222).
func DefaultConfig() Config {
	return Config{
		PostgresPort:       55432,
		ConsulPort:         8500,
		GatewayPort:        8080,
		GatewayMetricsPort: 9180,
		NATSPort:           4222,
		NATSMonitorPort:    8222,
		Services:           DefaultServices(),
		AdminEmail:         DefaultAdminEmail,
		AdminPassword:      DefaultAdminPassword,
		TraceRatio:         1,
	}
}

// WithFreePorts returns a copy of c with every port zeroed, so Start picks
// free ones: what a test needs to run beside `make run` or another test.
func (c Config) WithFreePorts() Config {
	c.PostgresPort, c.ConsulPort, c.GatewayPort, c.GatewayMetricsPort = 0, 0, 0, 0
	c.NATSPort, c.NATSMonitorPort = 0, 0
	services := make([]ServiceSpec, len(c.Services))
	for i, svc := range c.Services {
		svc.Instances = slices.Clone(svc.Instances)
		for j := range svc.Instances {
			svc.Instances[j].HTTPPort, svc.Instances[j].GRPCPort, svc.Instances[j].MetricsPort = 0, 0, 0
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
