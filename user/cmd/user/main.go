// Command user runs the account service: sign-up, login and token refresh
// over HTTP (/api/v1/users, /api/v1/auth), the signing keys at
// /.well-known/jwks.json, and kitshop.user.v1.UserService over gRPC, on a
// Postgres database, registered in Consul for the gateway to find.
//
// The HTTP port also serves /healthz, /readyz and, for Prometheus, /metrics:
// calls per method and outcome with their latency, throttled logins
// (kitshop_ratelimit_rejections_total{limiter="login"}), the database pool
// and the Go runtime.
//
// Every flag can also be set through the environment as USER_<FLAG> (upper
// case, dashes as underscores), e.g. USER_DATABASE_URL; flags win. Prefer
// USER_ADMIN_PASSWORD to -admin-password: command lines are visible to every
// user of the machine. Run with -h for the list.
//
// Behind the gateway, set -trust-forwarded-for (USER_TRUST_FORWARDED_FOR=true)
// so that the login throttle counts per client rather than per gateway; only
// do so when the service's port is reachable solely through the gateway.
//
// Services that call other services as themselves (the order service
// reserving stock) get their tokens at POST /api/v1/auth/token with a
// client id and secret listed in -service-accounts, e.g.
// USER_SERVICE_ACCOUNTS="order:<secret of 16 or more characters>". Keep the
// secrets out of the command line: use the variable, or better
// USER_SERVICE_ACCOUNTS_FILE naming a file that holds the list (a mounted
// Docker or Kubernetes secret).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"golang.org/x/crypto/bcrypt"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/middleware"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/kit/server"
	"github.com/kitshop/kitshop/migrations"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
	"github.com/kitshop/kitshop/user"
	"github.com/kitshop/kitshop/user/userapi"
)

const (
	serviceName = "user"
	envPrefix   = "USER"
)

func main() {
	server.TuneGC() // GOGC and GOMEMLIMIT win when set
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		// -h: the usage is printed; not a failure.
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", serviceName, err)
		os.Exit(1)
	}
}

// options are the settings of one run, from flags and the environment.
type options struct {
	httpAddr        string
	grpcAddr        string
	advertiseAddr   string
	databaseURL     string
	consulAddr      string
	instanceID      string
	logFormat       string
	drainTimeout    time.Duration
	deregisterDelay time.Duration
	rateLimit       float64
	rateBurst       int
	requestTimeout  time.Duration
	debugAddr       string

	signingKeyFile    string
	generateKey       bool
	tokenTTL          time.Duration
	refreshTTL        time.Duration
	issuer            string
	audience          string
	bcryptCost        int
	adminEmail        string
	adminPassword     string
	adminName         string
	trustForwardedFor bool
	accountFailures   int
	clientFailures    int
	throttleWindow    time.Duration
	signUpsPerClient  int
	signUpWindow      time.Duration
	hashWorkers       int
	hashQueue         int
	// serviceAccounts is the parsed -service-accounts: names and secret
	// hashes only, so printing the options shows no secret.
	serviceAccounts *user.ServiceAccounts
}

// parseOptions reads args and USER_* environment variables (kit/config).
// Usage and errors go to stderr.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet(serviceName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.httpAddr, "http-addr", ":8083", "HTTP listen address (port 0 picks a free port)")
	fs.StringVar(&o.grpcAddr, "grpc-addr", ":9083", "gRPC listen address (port 0 picks a free port)")
	fs.StringVar(&o.advertiseAddr, "advertise-addr", "127.0.0.1", "address registered in Consul, where other services reach this instance")
	fs.StringVar(&o.databaseURL, "database-url", "", "Postgres URL, e.g. postgres://user:pass@127.0.0.1:5432/user (required)")
	fs.StringVar(&o.consulAddr, "consul-addr", "127.0.0.1:8500", `Consul agent address; "" disables registration`)
	fs.StringVar(&o.instanceID, "instance-id", "", `Consul instance ID; "" means user-<random>`)
	fs.StringVar(&o.logFormat, "log-format", "logfmt", "log format: logfmt or json")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "how long in-flight requests may finish at shutdown")
	fs.DurationVar(&o.deregisterDelay, "deregister-delay", 2*time.Second, "pause after deregistering, before draining, so watchers drop this instance")
	fs.Float64Var(&o.rateLimit, "rate-limit", 1000, "requests per second this instance accepts over both transports")
	fs.IntVar(&o.rateBurst, "rate-burst", 2000, "requests accepted in a burst above -rate-limit")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 10*time.Second, "time limit per request; 0 disables")
	fs.StringVar(&o.debugAddr, "debug-addr", "", `address of a separate listener for the net/http/pprof profiles, e.g. 127.0.0.1:6060 (keep it private); "" disables it`)

	fs.StringVar(&o.signingKeyFile, "signing-key-file", "", "PEM (PKCS #8) Ed25519 private key signing the access tokens; every instance needs the same one (required)")
	fs.BoolVar(&o.generateKey, "generate-key", false, "create -signing-key-file with a new key (mode 0600) if it does not exist")
	fs.DurationVar(&o.tokenTTL, "token-ttl", user.DefaultAccessTTL, "lifetime of access tokens")
	fs.DurationVar(&o.refreshTTL, "refresh-ttl", user.DefaultRefreshTTL, "lifetime of refresh tokens (each refresh issues a new one)")
	fs.StringVar(&o.issuer, "issuer", userapi.Issuer, `"iss" claim of the access tokens`)
	fs.StringVar(&o.audience, "audience", userapi.Audience, `"aud" claim of the access tokens`)
	fs.IntVar(&o.bcryptCost, "bcrypt-cost", user.DefaultBcryptCost, "bcrypt cost of new password hashes (lower only for tests)")
	fs.StringVar(&o.adminEmail, "admin-email", "", "create this admin account at start if it does not exist (an existing account must already be an admin: it is never promoted)")
	fs.StringVar(&o.adminPassword, "admin-password", "", "password of a created -admin-email account (prefer USER_ADMIN_PASSWORD); an existing admin keeps its own")
	fs.StringVar(&o.adminName, "admin-name", "Administrator", "name of a created -admin-email account")
	fs.BoolVar(&o.trustForwardedFor, "trust-forwarded-for", false, "take the client address of logins from X-Forwarded-For (only behind the gateway)")
	fs.IntVar(&o.accountFailures, "login-account-failures", user.DefaultAccountFailures, "failed logins per account per -login-window before 429; 0 disables")
	fs.IntVar(&o.clientFailures, "login-client-failures", user.DefaultClientFailures, "failed logins per client address per -login-window before 429; 0 disables")
	fs.DurationVar(&o.throttleWindow, "login-window", user.DefaultThrottleWindow, "period over which the login failure budgets refill")
	fs.IntVar(&o.signUpsPerClient, "signup-client-limit", user.DefaultSignUpsPerClient, "sign-ups per client address (IPv6: per /64) per -signup-window before 429; 0 disables")
	fs.DurationVar(&o.signUpWindow, "signup-window", user.DefaultSignUpWindow, "period over which the sign-up budget refills")
	fs.IntVar(&o.hashWorkers, "hash-workers", 0, "password hashes (bcrypt) computed at once; 0 means one per CPU")
	fs.IntVar(&o.hashQueue, "hash-queue", -1, "password hashes that may wait for a worker before 503; -1 means 4 per worker")
	// A plain string, parsed below: a flag.Value rejecting it would have
	// the flag package repeat the value, secrets included, in its error.
	var serviceAccounts string
	fs.StringVar(&serviceAccounts, "service-accounts", "",
		`service accounts that may get tokens at POST /api/v1/auth/token, as "name:secret,name2:secret2" (secrets of 16+ characters; prefer USER_SERVICE_ACCOUNTS_FILE)`)

	if err := config.Parse(fs, envPrefix, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := config.Require(fs, envPrefix, "database-url", "signing-key-file"); err != nil {
		return o, err
	}
	var problems []error
	// Values once published (README, committed files) are refused outside a
	// development stack (KITSHOP_DEV=1, set by deploy/local).
	problems = append(problems, config.RefuseDevSecret("database-url", o.databaseURL, config.DevMode(), "dev-product-4ef85c0b89dd1ae22516c715", "dev-user-24ab73edf096721dc8df958b", "dev-order-7639e67ebe865e79cad018a8", "local-product-5b0e9c1d7a", "local-user-3f6a2e8b41", "local-order-9c4d1b7e20"))
	problems = append(problems, config.RefuseDevSecret("admin-password", o.adminPassword, config.DevMode(), "kitshop-admin-pw", "dev-admin-d1636f181e10b765", "local-admin-8e2f5a9c"))
	problems = append(problems, config.RefuseDevSecret("service-accounts", serviceAccounts, config.DevMode(), "dev-order-5909c5a9e17f054cb8d73ea16cfeede9", "local-order-account-6d1f0b3a9e7c4d25"))
	if !logging.ValidFormat(o.logFormat) {
		problems = append(problems, fmt.Errorf("-log-format %q: want logfmt or json", o.logFormat))
	}
	if o.rateLimit <= 0 || o.rateBurst < 1 {
		problems = append(problems, errors.New("-rate-limit must be > 0 and -rate-burst >= 1"))
	}
	if o.drainTimeout < 0 || o.deregisterDelay < 0 || o.requestTimeout < 0 {
		problems = append(problems, errors.New("-drain-timeout, -deregister-delay and -request-timeout must not be negative"))
	}
	if o.tokenTTL <= 0 || o.refreshTTL <= 0 || o.throttleWindow <= 0 || o.signUpWindow <= 0 {
		problems = append(problems, errors.New("-token-ttl, -refresh-ttl, -login-window and -signup-window must be positive"))
	}
	if o.signUpsPerClient < 0 || o.hashWorkers < 0 || o.hashQueue < -1 {
		problems = append(problems, errors.New("-signup-client-limit and -hash-workers must not be negative, -hash-queue not below -1"))
	}
	if o.bcryptCost < bcrypt.MinCost || o.bcryptCost > bcrypt.MaxCost {
		problems = append(problems, fmt.Errorf("-bcrypt-cost %d: want %d to %d", o.bcryptCost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	if o.accountFailures < 0 || o.clientFailures < 0 {
		problems = append(problems, errors.New("-login-account-failures and -login-client-failures must not be negative"))
	}
	if (o.adminEmail == "") != (o.adminPassword == "") {
		problems = append(problems, errors.New("-admin-email and -admin-password go together"))
	}
	accounts, err := user.ParseServiceAccounts(serviceAccounts)
	if err != nil {
		problems = append(problems, fmt.Errorf("-service-accounts: %w", err))
	}
	o.serviceAccounts = accounts
	if o.consulAddr != "" && o.advertiseAddr == "" {
		problems = append(problems, errors.New("-advertise-addr is required to register in Consul"))
	}
	if o.instanceID == "" {
		o.instanceID = consul.NewInstanceID(serviceName)
	}
	return o, errors.Join(problems...)
}

// run is the whole program: it serves until ctx ends and returns nil after a
// clean shutdown. Logs go to stderr.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	logger := logging.New(stderr, o.logFormat)
	// Debug lines (the transports' "request rejected") repeat what the
	// endpoint log already says; they are for local debugging only.
	logger = level.NewFilter(logger, level.AllowInfo())
	logger = log.With(logger, "service", serviceName, "instance", o.instanceID)

	// The signing key first: without it there is nothing to serve.
	key, created, err := user.LoadSigningKey(o.signingKeyFile, o.generateKey)
	if err != nil {
		return err
	}
	signer, err := user.NewSigner(key, o.issuer, o.audience, o.tokenTTL)
	if err != nil {
		return err
	}
	level.Info(logger).Log("msg", "signing key ready", "path", o.signingKeyFile, "kid", signer.KeyID(), "generated", created)

	// Database: wait for it and bring the schema up to date.
	pool, err := postgres.Open(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	closePool := true
	defer func() {
		if closePool {
			pool.Close()
		}
	}()
	schema, err := migrations.For(serviceName)
	if err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, pool, schema); err != nil {
		return err
	}

	// Metrics, served at /metrics on the HTTP port: the endpoints (below),
	// the database pool, and the Go runtime.
	m := metrics.New(serviceName)
	m.Pool(serviceName, pool)

	// Domain, inside out: repository, service, service middleware.
	base, err := user.NewService(user.NewPostgres(pool), signer,
		user.WithBcryptCost(o.bcryptCost),
		user.WithRefreshTTL(o.refreshTTL),
		user.WithLoginThrottle(user.NewLoginThrottle(o.accountFailures, o.clientFailures, o.throttleWindow)),
		user.WithServiceAccounts(o.serviceAccounts),
		user.WithSignUpThrottle(o.signUpsPerClient, o.signUpWindow),
		user.WithHashPool(hashPool(o.hashWorkers, o.hashQueue)),
	)
	if err != nil {
		return err
	}
	level.Info(logger).Log("msg", "service accounts", "names", strings.Join(o.serviceAccounts.Names(), ","))
	svc := user.LoggingMiddleware(log.With(logger, "component", "service"))(base)

	if o.adminEmail != "" {
		// Idempotent, so every start (and every instance) may run it.
		_, _, err := svc.EnsureAdmin(ctx, user.NewUser{Email: o.adminEmail, Password: o.adminPassword, Name: o.adminName})
		if err != nil {
			return fmt.Errorf("bootstrapping admin: %w", err)
		}
	}

	// Endpoint middleware, outermost first, as in the product service:
	// every call is counted, timed and logged, the limiter protects the
	// database and the bcrypt CPU from overload, the login throttle's
	// refusals are counted, and the timeout bounds each call. The service
	// verifies its own tokens with its own key; no network needed.
	bucket := ratelimit.NewTokenBucket(o.rateLimit, o.rateBurst)
	endpointLogger := log.With(logger, "component", "endpoint")
	eps := user.NewEndpoints(svc, signer.Verifier()).Wrap(func(method string) endpoint.Middleware {
		return endpoint.Chain(
			m.EndpointMiddleware(method),
			logging.EndpointMiddleware(endpointLogger, method),
			ratelimit.Middleware(bucket),
			countThrottled(m, method),
			middleware.Timeout(o.requestTimeout),
		)
	})

	httpLogger := log.With(logger, "component", "http")
	handler := requestid.HTTPMiddleware(user.NewHTTPHandler(eps, httpLogger, user.TrustForwardedFor(o.trustForwardedFor)))

	grpcLogger := log.With(logger, "component", "grpc")
	grpcServer := grpcx.NewServer(grpcLogger)
	userv1.RegisterUserServiceServer(grpcServer, user.NewGRPCServer(eps, grpcLogger))

	httpLn, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	grpcLn, err := net.Listen("tcp", o.grpcAddr)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("grpc listener: %w", err)
	}
	debugLn, err := server.ListenDebug(o.debugAddr)
	if err != nil {
		httpLn.Close()
		grpcLn.Close()
		return fmt.Errorf("debug listener: %w", err)
	}

	// Register the ports actually bound, which differ from the flags when
	// they ask for port 0.
	var registrar server.Registrar
	if o.consulAddr != "" {
		client, err := consul.NewClient(o.consulAddr)
		if err != nil {
			httpLn.Close()
			grpcLn.Close()
			if debugLn != nil {
				debugLn.Close()
			}
			return err
		}
		registrar = consul.NewRegistrar(client, consul.Registration{
			Name:      serviceName,
			ID:        o.instanceID,
			Address:   o.advertiseAddr,
			HTTPPort:  server.Port(httpLn),
			GRPCPort:  server.Port(grpcLn),
			APIPrefix: user.APIPrefixes,
			Meta:      map[string]string{"public_routes": user.PublicRoutes},
		}, log.With(logger, "component", "consul"))
	} else {
		level.Info(logger).Log("msg", "consul registration disabled")
	}

	closePool = false // server.Run closes it after draining
	return server.Run(ctx, server.Config{
		Name:            serviceName,
		Logger:          logger,
		HTTPListener:    httpLn,
		Handler:         handler,
		Metrics:         m.Handler(),
		GRPCListener:    grpcLn,
		GRPCServer:      grpcServer,
		DebugListener:   debugLn,
		Health:          health.New(postgres.HealthCheck(pool)),
		Registrar:       registrar,
		DrainTimeout:    o.drainTimeout,
		DeregisterDelay: o.deregisterDelay,
		Closers:         []func(){pool.Close},
	})
}

// hashPool returns the password hashing pool of the flags: workers 0 is one
// per CPU, queue -1 four per worker.
func hashPool(workers, queue int) *user.HashPool {
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if queue < 0 {
		queue = 4 * workers
	}
	return user.NewHashPool(workers, queue)
}

// countThrottled counts the login throttle's refusals (Login and
// ServiceToken answering RateLimited) as rejections of the "login" limiter,
// and the sign-up throttle's as the "signup" limiter's, so that password
// guessing and sign-up floods show up apart from overload. It sits inside
// the instance's rate limit, whose own refusals never reach it; the endpoint
// metrics count both as outcome "rate_limited".
func countThrottled(m *metrics.Metrics, method string) endpoint.Middleware {
	limiter := "login"
	switch method {
	case user.MethodLogin, user.MethodServiceToken:
	case user.MethodSignUp:
		limiter = "signup"
	default:
		return func(next endpoint.Endpoint) endpoint.Endpoint { return next }
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			response, err := next(ctx, request)
			if errs.Is(err, errs.RateLimited) {
				m.RateLimited(limiter)
			}
			return response, err
		}
	}
}
