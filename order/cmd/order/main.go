// Command order runs the order service: orders over HTTP (/api/v1/orders)
// and gRPC (kitshop.order.v1.OrderService) on a Postgres database,
// registered in Consul for the gateway to find.
//
// Every route needs a customer's (or admin's) access token, which the
// service checks with the public keys of the user service (-auth-service),
// found in Consul, or at -jwks-url without Consul.
//
// Stock is reserved in the product service (-product-service in Consul, or
// -product-addr without it) over gRPC, as the service account "order": the
// service obtains its own tokens from the user service's token endpoint with
// -service-id and -service-secret (prefer ORDER_SERVICE_SECRET or
// ORDER_SERVICE_SECRET_FILE to the flag: command lines are visible to every
// user of the machine). The user service must know the account
// (USER_SERVICE_ACCOUNTS="order:<secret>").
//
// A recovery loop runs in every instance, at start and every
// -recovery-interval: it finishes orders left pending by a crash and
// releases stock owed by failed or cancelled orders (see package order).
//
// The HTTP port also serves /healthz, /readyz and, for Prometheus, /metrics:
// calls per method and outcome with their latency, the state and rejections
// of the circuit breaker around the catalog (breaker "order->product"), the
// database pool and the Go runtime.
//
// While the database does not answer (kit/postgres.Guard), every call that
// needs it fails at once with 503 and Retry-After, and /readyz says
// "degraded" (200): the instance stays in rotation, answering fast.
//
// Every flag can also be set through the environment as ORDER_<FLAG>
// (upper case, dashes as underscores), e.g. ORDER_DATABASE_URL; flags win.
// Run with -h for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/consul"
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
	"github.com/kitshop/kitshop/order"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

const (
	serviceName = "order"
	envPrefix   = "ORDER"
)

// productMaxConcurrent bounds the calls to the product service in flight
// from one order instance. Each order has at most one such call in flight,
// so the bound is the number of orders being placed at once; the breaker's
// default (100) shed orders as 503s under a burst of a few hundred.
const productMaxConcurrent = 1024

// productSleepWindow is how long the catalog's circuit, once open, fails
// calls before letting one through to try. The catalog fails fast on its
// own when its database is out (kit/postgres.Guard), so the circuit mostly
// opens for that, and hystrix's 5 s default would keep orders failing for
// up to 5 s after the database is back.
const productSleepWindow = time.Second

// Bounds of the database's work, unless -database-url sets them
// (connect_timeout, statement_timeout, lock_timeout): a connection's
// handshake, one statement, one wait for a lock, each well inside the
// request timeout.
const (
	dbConnectTimeout   = 2 * time.Second
	dbStatementTimeout = 5 * time.Second
	dbLockTimeout      = 2 * time.Second
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

	authService string   // Consul service that issues tokens and serves the keys
	jwksURLs    []string // fixed JWKS locations instead of authService's instances
	tokenURLs   []string // fixed token endpoints instead of authService's instances
	issuer      string
	audience    string

	productService string   // Consul service of the catalog
	productAddrs   []string // fixed catalog gRPC addresses instead of Consul
	productTimeout time.Duration
	serviceID      string
	serviceSecret  string

	recoveryInterval time.Duration
	recoveryAge      time.Duration
	recoveryBatch    int
}

// parseOptions reads args and ORDER_* environment variables (kit/config).
// Usage and errors go to stderr.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet(serviceName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.httpAddr, "http-addr", ":8084", "HTTP listen address (port 0 picks a free port)")
	fs.StringVar(&o.grpcAddr, "grpc-addr", ":9084", "gRPC listen address (port 0 picks a free port)")
	fs.StringVar(&o.advertiseAddr, "advertise-addr", "127.0.0.1", "address registered in Consul, where other services reach this instance")
	fs.StringVar(&o.databaseURL, "database-url", "", "Postgres URL, e.g. postgres://user:pass@127.0.0.1:5432/order (required)")
	fs.StringVar(&o.consulAddr, "consul-addr", "127.0.0.1:8500", `Consul agent address; "" disables registration and discovery (then -jwks-url, -token-url and -product-addr are required)`)
	fs.StringVar(&o.instanceID, "instance-id", "", `Consul instance ID; "" means order-<random>`)
	fs.StringVar(&o.logFormat, "log-format", "logfmt", "log format: logfmt or json")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "how long in-flight requests may finish at shutdown")
	fs.DurationVar(&o.deregisterDelay, "deregister-delay", 2*time.Second, "pause after deregistering, before draining, so watchers drop this instance")
	fs.Float64Var(&o.rateLimit, "rate-limit", 1000, "requests per second this instance accepts over both transports")
	fs.IntVar(&o.rateBurst, "rate-burst", 2000, "requests accepted in a burst above -rate-limit")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 10*time.Second, "time limit per request; 0 disables")
	fs.StringVar(&o.debugAddr, "debug-addr", "", `address of a separate listener for the net/http/pprof profiles, e.g. 127.0.0.1:6060 (keep it private); "" disables it`)

	fs.StringVar(&o.authService, "auth-service", "user", "Consul service that issues access tokens: its instances serve the keys at "+auth.JWKSPath+" and service tokens at "+auth.TokenPath)
	jwksURL := fs.String("jwks-url", "", "comma-separated URLs of the token signing keys (JWKS), tried in order; replaces the lookup of -auth-service in Consul")
	tokenURL := fs.String("token-url", "", "comma-separated URLs of the service token endpoint, tried in order; replaces the lookup of -auth-service in Consul")
	fs.StringVar(&o.issuer, "issuer", auth.Issuer, `"iss" an access token must have`)
	fs.StringVar(&o.audience, "audience", auth.Audience, `"aud" an access token must include`)

	fs.StringVar(&o.productService, "product-service", "product", "Consul service of the catalog, whose gRPC API reserves stock")
	productAddr := fs.String("product-addr", "", "comma-separated gRPC addresses (host:port) of catalog instances; replaces the lookup of -product-service in Consul")
	fs.DurationVar(&o.productTimeout, "product-timeout", order.DefaultCatalogTimeout, "time limit of one call to the catalog, retries on other instances included")
	fs.StringVar(&o.serviceID, "service-id", serviceName, "client id of this service's account at the user service")
	fs.StringVar(&o.serviceSecret, "service-secret", "", "client secret of this service's account (required; prefer ORDER_SERVICE_SECRET or ORDER_SERVICE_SECRET_FILE)")

	fs.DurationVar(&o.recoveryInterval, "recovery-interval", order.DefaultRecoveryInterval, "pause between two rounds of the recovery loop")
	fs.DurationVar(&o.recoveryAge, "recovery-age", order.DefaultRecoveryAge, "how long an order must have been pending before the recovery loop finishes it")
	fs.IntVar(&o.recoveryBatch, "recovery-batch", order.DefaultRecoveryBatch, "orders of each kind one recovery round handles at most")

	if err := config.Parse(fs, envPrefix, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := config.Require(fs, envPrefix, "database-url", "service-secret"); err != nil {
		return o, err
	}
	var problems []error
	// Values once published (README, committed files) are refused outside a
	// development stack (KITSHOP_DEV=1, set by deploy/local).
	problems = append(problems, config.RefuseDevSecret("database-url", o.databaseURL, config.DevMode(), "dev-product-4ef85c0b89dd1ae22516c715", "dev-user-24ab73edf096721dc8df958b", "dev-order-7639e67ebe865e79cad018a8", "local-product-5b0e9c1d7a", "local-user-3f6a2e8b41", "local-order-9c4d1b7e20"))
	problems = append(problems, config.RefuseDevSecret("service-secret", o.serviceSecret, config.DevMode(), "dev-order-5909c5a9e17f054cb8d73ea16cfeede9", "local-order-account-6d1f0b3a9e7c4d25"))
	if !logging.ValidFormat(o.logFormat) {
		problems = append(problems, fmt.Errorf("-log-format %q: want logfmt or json", o.logFormat))
	}
	if o.rateLimit <= 0 || o.rateBurst < 1 {
		problems = append(problems, errors.New("-rate-limit must be > 0 and -rate-burst >= 1"))
	}
	if o.drainTimeout < 0 || o.deregisterDelay < 0 || o.requestTimeout < 0 {
		problems = append(problems, errors.New("-drain-timeout, -deregister-delay and -request-timeout must not be negative"))
	}
	if o.productTimeout <= 0 || o.recoveryInterval <= 0 || o.recoveryAge <= 0 || o.recoveryBatch < 1 {
		problems = append(problems, errors.New("-product-timeout, -recovery-interval, -recovery-age and -recovery-batch must be positive"))
	}
	if o.consulAddr != "" && o.advertiseAddr == "" {
		problems = append(problems, errors.New("-advertise-addr is required to register in Consul"))
	}
	if o.issuer == "" || o.audience == "" || o.serviceID == "" {
		problems = append(problems, errors.New("-issuer, -audience and -service-id must not be empty"))
	}
	var err error
	if o.jwksURLs, err = parseURLs("-jwks-url", *jwksURL); err != nil {
		problems = append(problems, err)
	}
	if o.tokenURLs, err = parseURLs("-token-url", *tokenURL); err != nil {
		problems = append(problems, err)
	}
	if o.productAddrs, err = parseAddrs("-product-addr", *productAddr); err != nil {
		problems = append(problems, err)
	}
	if o.consulAddr == "" && (len(o.jwksURLs) == 0 || len(o.tokenURLs) == 0 || len(o.productAddrs) == 0) {
		// Without Consul nothing could be found; better to say so now than
		// to answer every request with 503.
		problems = append(problems, errors.New("-jwks-url, -token-url and -product-addr are required when -consul-addr is empty"))
	}
	if o.consulAddr != "" && (o.authService == "" || o.productService == "") {
		problems = append(problems, errors.New("-auth-service and -product-service must not be empty"))
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

	// Database: wait for it and bring the schema up to date. The guard
	// fails the database's calls fast while it does not answer
	// (kit/postgres.Guard): an order gets a 503 with Retry-After at once
	// instead of waiting out the request timeout.
	guard := postgres.NewGuard(postgres.GuardOptions{Logger: log.With(logger, "component", "postgres")})
	pool, err := postgres.Open(ctx, o.databaseURL, postgres.WithGuard(guard),
		postgres.WithConnectTimeout(dbConnectTimeout),
		postgres.WithStatementTimeout(dbStatementTimeout),
		postgres.WithLockTimeout(dbLockTimeout))
	if err != nil {
		return err
	}
	// closers release what run set up, in order, once nothing uses it:
	// server.Run calls them after draining, the deferred call below on an
	// early return. What is added later is closed first.
	closers := []func(){pool.Close, guard.Stop}
	handedOver := false
	defer func() {
		if !handedOver {
			closeAll(closers)
		}
	}()
	schema, err := migrations.For(serviceName)
	if err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, pool, schema); err != nil {
		return err
	}

	var consulClient consul.Client
	if o.consulAddr != "" {
		if consulClient, err = consul.NewClient(o.consulAddr); err != nil {
			return err
		}
	}

	// The user service: keys to verify callers' tokens, and the token
	// endpoint of this service's own account.
	jwksURLs, tokenURLs := fixed(o.jwksURLs), fixed(o.tokenURLs)
	var issuers *consul.Watcher
	if len(o.jwksURLs) == 0 || len(o.tokenURLs) == 0 {
		issuers = consul.NewWatcher(consulClient, o.authService, log.With(logger, "component", "consul"))
		closers = append(closers, issuers.Stop)
		fromConsul := func(path string) func() []string {
			return func() []string {
				var urls []string
				for _, i := range issuers.Instances() {
					urls = append(urls, "http://"+i.HTTPAddr()+path)
				}
				return urls
			}
		}
		if len(o.jwksURLs) == 0 {
			jwksURLs = fromConsul(auth.JWKSPath)
		}
		if len(o.tokenURLs) == 0 {
			tokenURLs = fromConsul(auth.TokenPath)
		}
	}
	fetchKeys := auth.HTTPJWKSFetcher(nil, jwksURLs)
	if issuers != nil && len(o.jwksURLs) == 0 {
		fetch := fetchKeys
		fetchKeys = func(ctx context.Context) (auth.JWKS, error) {
			// A request right after start must not find the instance list
			// empty only because Consul has not answered yet.
			_ = issuers.Ready(ctx)
			return fetch(ctx)
		}
	}
	authLogger := log.With(logger, "component", "auth")
	verifier := auth.NewVerifier(auth.NewJWKSCache(fetchKeys, authLogger), o.issuer, o.audience)
	tokens := auth.NewClientCredentials(tokenURLs, o.serviceID, o.serviceSecret, nil, auth.WithTokenLogger(authLogger))

	// Metrics, served at /metrics on the HTTP port: the endpoints (below),
	// the catalog's breaker, the database pool, and the Go runtime.
	m := metrics.New(serviceName)
	m.Pool(serviceName, pool)

	// The catalog: instances from Consul (or fixed), then the client chain
	// of order.CatalogClient.
	var instancer sd.Instancer
	if len(o.productAddrs) > 0 {
		instancer = sd.FixedInstancer(o.productAddrs)
	} else {
		products := consul.NewWatcher(consulClient, o.productService, log.With(logger, "component", "consul"))
		instancer = consul.NewInstancer(products, consul.Instance.GRPCAddr)
		closers = append(closers, products.Stop, instancer.Stop)
	}
	catalog := order.NewCatalogClient(instancer, tokens, order.CatalogOptions{
		Timeout: o.productTimeout,
		Breaker: m.Breaker(order.DefaultBreakerName, breaker.NewHystrix(order.DefaultBreakerName, breaker.Settings{MaxConcurrent: productMaxConcurrent, SleepWindow: productSleepWindow})),
		Logger:  log.With(logger, "component", "catalog"),
	})
	closers = append(closers, catalog.Close)

	// Domain, inside out: repository, service, service middleware; and the
	// recovery loop on the same repository and catalog.
	repo := order.NewPostgres(pool)
	var svc order.Service
	svc = order.NewService(repo, catalog, order.WithReleaseTimeout(o.productTimeout))
	svc = order.LoggingMiddleware(log.With(logger, "component", "service"))(svc)
	recovery := order.NewRecovery(repo, catalog, log.With(logger, "component", "recovery"), order.RecoveryOptions{
		Interval:    o.recoveryInterval,
		Age:         o.recoveryAge,
		Batch:       o.recoveryBatch,
		CallTimeout: o.productTimeout,
	})
	closers = append(closers, recovery.Stop)

	// Endpoint middleware, outermost first, as in the other services: every
	// call is counted, timed and logged, the limiter protects the database,
	// and the timeout bounds each call. The breaker is on the outbound
	// catalog calls (order.CatalogClient), where the dependency is.
	bucket := ratelimit.NewTokenBucket(o.rateLimit, o.rateBurst)
	endpointLogger := log.With(logger, "component", "endpoint")
	eps := order.NewEndpoints(svc, verifier).Wrap(func(method string) endpoint.Middleware {
		return endpoint.Chain(
			m.EndpointMiddleware(method),
			logging.EndpointMiddleware(endpointLogger, method),
			ratelimit.Middleware(bucket),
			middleware.Timeout(o.requestTimeout),
		)
	})

	httpLogger := log.With(logger, "component", "http")
	handler := requestid.HTTPMiddleware(order.NewHTTPHandler(eps, httpLogger))

	grpcLogger := log.With(logger, "component", "grpc")
	grpcServer := grpcx.NewServer(grpcLogger)
	orderv1.RegisterOrderServiceServer(grpcServer, order.NewGRPCServer(eps, grpcLogger))

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
	// they ask for port 0. Every route needs a token: no public routes.
	var registrar server.Registrar
	if consulClient != nil {
		registrar = consul.NewRegistrar(consulClient, consul.Registration{
			Name:      serviceName,
			ID:        o.instanceID,
			Address:   o.advertiseAddr,
			HTTPPort:  server.Port(httpLn),
			GRPCPort:  server.Port(grpcLn),
			APIPrefix: order.CollectionPath,
		}, log.With(logger, "component", "consul"))
	} else {
		level.Info(logger).Log("msg", "consul registration disabled")
	}

	// The first round runs now: what a previous run left half-done is
	// finished as soon as the catalog answers.
	recovery.Start()
	level.Info(logger).Log("msg", "recovery loop started", "interval", o.recoveryInterval, "age", o.recoveryAge)

	// Without its database the instance still answers at once (503 with
	// Retry-After), and every instance shares the database: taking them
	// out of rotation would only turn those answers into the gateway's and
	// make the return wait for the next health check. So an outage is
	// "degraded", not "not ready".
	readiness := health.New(guard.HealthCheck(func() bool { return true }))

	handedOver = true
	slices.Reverse(closers) // server.Run runs them in order
	return server.Run(ctx, server.Config{
		Name:            serviceName,
		Logger:          logger,
		HTTPListener:    httpLn,
		Handler:         handler,
		Metrics:         m.Handler(),
		GRPCListener:    grpcLn,
		GRPCServer:      grpcServer,
		DebugListener:   debugLn,
		Health:          readiness,
		Registrar:       registrar,
		DrainTimeout:    o.drainTimeout,
		DeregisterDelay: o.deregisterDelay,
		Closers:         closers,
	})
}

// closeAll runs closers last first: what was set up last depends on what
// came before it.
func closeAll(closers []func()) {
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// fixed returns a URL list function over a fixed list.
func fixed(urls []string) func() []string {
	return func() []string { return urls }
}

// parseURLs splits a comma-separated flag value and checks that each entry
// is an absolute http or https URL. An empty value is no URL.
func parseURLs(flagName, value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var urls []string
	for _, raw := range strings.Split(value, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%s %q: want absolute http(s) URLs separated by commas", flagName, raw)
		}
		urls = append(urls, raw)
	}
	return urls, nil
}

// parseAddrs splits a comma-separated flag value of host:port addresses.
func parseAddrs(flagName, value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var addrs []string
	for _, raw := range strings.Split(value, ",") {
		raw = strings.TrimSpace(raw)
		host, p, err := net.SplitHostPort(raw)
		if n, perr := strconv.Atoi(p); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%s %q: want host:port addresses separated by commas", flagName, raw)
		}
		addrs = append(addrs, raw)
	}
	return addrs, nil
}
