// Command product runs the catalog service: the product API over HTTP
// (/api/v1/products) and gRPC (kitshop.product.v1.ProductService) on a
// Postgres database, registered in Consul for the gateway to find.
//
// Reading the catalog is open to everyone; creating, changing and deleting
// products needs an admin's access token, over HTTP and gRPC alike. The
// service checks tokens itself, with the public keys of the user service
// (-auth-service), which it finds in Consul and fetches from
// /.well-known/jwks.json when it first needs them. Without Consul, -jwks-url
// names where to fetch them.
//
// The gRPC port also serves the stock API (BatchGetProducts, ReserveStock,
// ReleaseStock) to other services: it needs a token with the "service" (or
// "admin") role, such as the order service's service-account token.
//
// The HTTP port also serves /healthz, /readyz and, for Prometheus, /metrics:
// calls per method and outcome with their latency, the database pool and the
// Go runtime.
//
// While the database does not answer (kit/postgres.Guard), writes and reads
// the cache cannot serve fail at once with 503 and Retry-After, cached reads
// are answered with a Warning: 110 header (possibly stale), and /readyz
// says "degraded" (200) as long as the cache holds anything, "not_ready"
// otherwise.
//
// With -debug-addr (off by default) a separate listener serves the
// net/http/pprof profiles; keep it on a private address. Successful reads
// (GetProduct, BatchGetProducts) are not logged, unlike their failures and
// every list and write: see the endpoint middleware in run.
//
// Every flag can also be set through the environment as PRODUCT_<FLAG>
// (upper case, dashes as underscores), e.g. PRODUCT_DATABASE_URL; flags win.
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
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
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
	"github.com/kitshop/kitshop/product"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

const (
	serviceName = "product"
	envPrefix   = "PRODUCT"
)

// Bounds of the database's work, unless -database-url sets them
// (connect_timeout, statement_timeout, lock_timeout): a connection's
// handshake, one statement, and one wait for a row lock (a popular
// product's stock), each well inside the request timeout.
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
	seed            bool
	logFormat       string
	drainTimeout    time.Duration
	deregisterDelay time.Duration
	rateLimit       float64
	rateBurst       int
	requestTimeout  time.Duration
	debugAddr       string
	cacheItems      int

	authService string   // Consul service that issues the tokens
	jwksURLs    []string // fixed JWKS locations instead of authService's instances
	issuer      string
	audience    string
}

// parseOptions reads args and PRODUCT_* environment variables (kit/config).
// Usage and errors go to stderr.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet(serviceName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.httpAddr, "http-addr", ":8081", "HTTP listen address (port 0 picks a free port)")
	fs.StringVar(&o.grpcAddr, "grpc-addr", ":9081", "gRPC listen address (port 0 picks a free port)")
	fs.StringVar(&o.advertiseAddr, "advertise-addr", "127.0.0.1", "address registered in Consul, where other services reach this instance")
	fs.StringVar(&o.databaseURL, "database-url", "", "Postgres URL, e.g. postgres://user:pass@127.0.0.1:5432/product (required)")
	fs.StringVar(&o.consulAddr, "consul-addr", "127.0.0.1:8500", `Consul agent address; "" disables registration`)
	fs.StringVar(&o.instanceID, "instance-id", "", `Consul instance ID; "" means product-<random>`)
	fs.BoolVar(&o.seed, "seed", false, "load the demo catalog after migrating (keeps existing products)")
	fs.StringVar(&o.logFormat, "log-format", "logfmt", "log format: logfmt or json")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "how long in-flight requests may finish at shutdown")
	fs.DurationVar(&o.deregisterDelay, "deregister-delay", 2*time.Second, "pause after deregistering, before draining, so watchers drop this instance")
	fs.Float64Var(&o.rateLimit, "rate-limit", 50000, "requests per second this instance accepts over both transports (a ceiling that protects the database, not a per-client quota)")
	fs.IntVar(&o.rateBurst, "rate-burst", 50000, "requests accepted in a burst above -rate-limit")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 10*time.Second, "time limit per request; 0 disables")
	fs.StringVar(&o.debugAddr, "debug-addr", "", `address of a separate listener for the net/http/pprof profiles, e.g. 127.0.0.1:6060 (keep it private); "" disables it`)
	fs.IntVar(&o.cacheItems, "cache-items", product.DefaultCacheItems, "products kept in the read cache, which follows every change through Postgres notifications; 0 disables the cache")
	fs.StringVar(&o.authService, "auth-service", "user", "Consul service that issues the access tokens; its instances serve the keys at "+auth.JWKSPath)
	jwksURL := fs.String("jwks-url", "", "comma-separated URLs of the token signing keys (JWKS), tried in order; replaces the lookup of -auth-service in Consul")
	fs.StringVar(&o.issuer, "issuer", auth.Issuer, `"iss" an access token must have`)
	fs.StringVar(&o.audience, "audience", auth.Audience, `"aud" an access token must include`)

	if err := config.Parse(fs, envPrefix, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := config.Require(fs, envPrefix, "database-url"); err != nil {
		return o, err
	}
	var problems []error
	// Values once published (README, committed files) are refused outside a
	// development stack (KITSHOP_DEV=1, set by deploy/local).
	problems = append(problems, config.RefuseDevSecret("database-url", o.databaseURL, config.DevMode(), "dev-product-4ef85c0b89dd1ae22516c715", "dev-user-24ab73edf096721dc8df958b", "dev-order-7639e67ebe865e79cad018a8", "local-product-5b0e9c1d7a", "local-user-3f6a2e8b41", "local-order-9c4d1b7e20"))
	if !logging.ValidFormat(o.logFormat) {
		problems = append(problems, fmt.Errorf("-log-format %q: want logfmt or json", o.logFormat))
	}
	if o.rateLimit <= 0 || o.rateBurst < 1 {
		problems = append(problems, errors.New("-rate-limit must be > 0 and -rate-burst >= 1"))
	}
	if o.cacheItems < 0 {
		problems = append(problems, errors.New("-cache-items must not be negative"))
	}
	if o.drainTimeout < 0 || o.deregisterDelay < 0 || o.requestTimeout < 0 {
		problems = append(problems, errors.New("-drain-timeout, -deregister-delay and -request-timeout must not be negative"))
	}
	if o.consulAddr != "" && o.advertiseAddr == "" {
		problems = append(problems, errors.New("-advertise-addr is required to register in Consul"))
	}
	if *jwksURL != "" {
		urls, err := parseJWKSURLs(*jwksURL)
		if err != nil {
			problems = append(problems, err)
		}
		o.jwksURLs = urls
	} else if o.consulAddr == "" {
		// Without keys no write could ever be allowed; better to say so now
		// than to answer every write with 503.
		problems = append(problems, errors.New("-jwks-url is required when -consul-addr is empty: the token signing keys are found through Consul otherwise"))
	} else if o.authService == "" {
		problems = append(problems, errors.New("-auth-service must not be empty"))
	}
	if o.issuer == "" || o.audience == "" {
		problems = append(problems, errors.New("-issuer and -audience must not be empty"))
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

	// Database: wait for it, bring the schema up to date, seed on request.
	// The guard fails the database's calls fast while it does not answer
	// (kit/postgres.Guard): writes get a 503 with Retry-After at once, and
	// the cache answers the reads it can (product.Cache).
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
	// early return.
	closers := []func(){guard.Stop, pool.Close}
	handedOver := false
	defer func() {
		if !handedOver {
			for _, c := range closers {
				c()
			}
		}
	}()
	schema, err := migrations.For(serviceName)
	if err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, pool, schema); err != nil {
		return err
	}
	if o.seed {
		seed, err := migrations.Seed(serviceName)
		if err != nil {
			return err
		}
		if _, err := pool.Exec(ctx, string(seed)); err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		level.Info(logger).Log("msg", "seed data applied")
	}

	// Consul, when enabled: registration, and where the signing keys are.
	var consulClient consul.Client
	if o.consulAddr != "" {
		if consulClient, err = consul.NewClient(o.consulAddr); err != nil {
			return err
		}
	}

	// Token verification with the issuer's public keys, fetched when the
	// first write needs them and whenever a token names a key not seen yet
	// (kit/auth.JWKSCache), so the user service may start after us.
	fetchKeys := auth.HTTPJWKSFetcher(nil, func() []string { return o.jwksURLs })
	if len(o.jwksURLs) == 0 {
		issuers := consul.NewWatcher(consulClient, o.authService, logger)
		closers = append(closers, issuers.Stop)
		fromConsul := auth.HTTPJWKSFetcher(nil, func() []string {
			var urls []string
			for _, i := range issuers.Instances() {
				urls = append(urls, "http://"+i.HTTPAddr()+auth.JWKSPath)
			}
			return urls
		})
		fetchKeys = func(ctx context.Context) (auth.JWKS, error) {
			// A write right after start must not find the instance list
			// empty only because Consul has not answered yet. If it does
			// not answer, the fetch fails for want of a URL.
			_ = issuers.Ready(ctx)
			return fromConsul(ctx)
		}
	}
	verifier := auth.NewVerifier(auth.NewJWKSCache(fetchKeys, log.With(logger, "component", "auth")), o.issuer, o.audience)

	// Metrics, served at /metrics on the HTTP port: the endpoints (below),
	// the database pool, and the Go runtime.
	m := metrics.New(serviceName)
	m.Pool(serviceName, pool)

	// Domain, inside out: repository, service, service middleware.
	// The read cache (unless disabled) serves GetProduct and the list pages
	// from memory while a connection of its own listens for every committed
	// change (product.Cache); it is stopped after the servers, with the pool.
	var repo product.Repository = product.NewPostgres(pool)
	var stockRepo product.StockRepository = product.NewPostgres(pool)
	// Readiness while the database is unreachable: degraded (still in
	// rotation) while the cache has something to serve, not ready otherwise.
	var serving func() bool
	if o.cacheItems > 0 {
		cache := product.NewCache(repo, o.cacheItems, 0)
		cache.ServeStale(func() bool { return !guard.Up() })
		serving = cache.Warm
		stockRepo = cache.StockRepository(stockRepo)
		listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
		listening := make(chan struct{})
		go func() {
			defer close(listening)
			_ = postgres.Listen(listenCtx, pool, product.ChangeChannel, cache.ListenHandler(log.With(logger, "component", "cache")))
		}()
		closers = slices.Insert(closers, 0, func() { stopListening(); <-listening })
		repo = cache
	}
	var svc product.Service
	svc = product.NewService(repo)
	svc = product.LoggingMiddleware(log.With(logger, "component", "service"))(svc)
	// The stock API for other services (gRPC only), on the same database.
	stock := product.StockLoggingMiddleware(log.With(logger, "component", "stock"))(product.NewStock(stockRepo))

	// Endpoint middleware, outermost first: every call is counted and timed
	// and logged (including the ones the limiter or the access rules reject,
	// by their outcome), the limiter protects the database from overload,
	// and the timeout bounds each call, key fetches included. No circuit
	// breaker: the breakers belong on outbound calls, and this service makes
	// none beyond its own database (and the key fetches, which JWKSCache
	// already keeps rare).
	//
	// Successful point reads (GetProduct, and BatchGetProducts for the order
	// service) are logged at debug level, which the filter above drops: they
	// are the catalog's hottest calls, a line each cost more CPU than all
	// the rest of their middleware, and the metrics count and time every one
	// of them anyway. Their failures, every list and every write are still
	// logged at info (business errors) or error, and the writes also in the
	// catalog's audit lines (product.LoggingMiddleware).
	bucket := ratelimit.NewTokenBucket(o.rateLimit, o.rateBurst)
	endpointLogger := log.With(logger, "component", "endpoint")
	endpointMiddleware := func(method string) endpoint.Middleware {
		var logOpts []logging.Option
		if method == product.MethodGet || method == product.MethodBatchGet {
			logOpts = append(logOpts, logging.SuccessLevel(level.DebugValue()))
		}
		return endpoint.Chain(
			m.EndpointMiddleware(method),
			logging.EndpointMiddleware(endpointLogger, method, logOpts...),
			ratelimit.Middleware(bucket),
			middleware.Timeout(o.requestTimeout),
		)
	}
	eps := product.NewEndpoints(svc, verifier).Wrap(endpointMiddleware)
	stockEps := product.NewStockEndpoints(stock, verifier).Wrap(endpointMiddleware)

	httpLogger := log.With(logger, "component", "http")
	handler := requestid.HTTPMiddleware(product.NewHTTPHandler(eps, httpLogger))

	grpcLogger := log.With(logger, "component", "grpc")
	grpcServer := grpcx.NewServer(grpcLogger)
	productv1.RegisterProductServiceServer(grpcServer, product.NewGRPCServer(eps, grpcLogger, product.WithStock(stockEps)))

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
	// they ask for port 0, and the routes the gateway may let through
	// without a token.
	var registrar server.Registrar
	if consulClient != nil {
		registrar = consul.NewRegistrar(consulClient, consul.Registration{
			Name:      serviceName,
			ID:        o.instanceID,
			Address:   o.advertiseAddr,
			HTTPPort:  server.Port(httpLn),
			GRPCPort:  server.Port(grpcLn),
			APIPrefix: product.CollectionPath,
			Meta:      map[string]string{"public_routes": product.PublicRoutes},
		}, log.With(logger, "component", "consul"))
	} else {
		level.Info(logger).Log("msg", "consul registration disabled")
	}

	handedOver = true
	return server.Run(ctx, server.Config{
		Name:            serviceName,
		Logger:          logger,
		HTTPListener:    httpLn,
		Handler:         handler,
		Metrics:         m.Handler(),
		GRPCListener:    grpcLn,
		GRPCServer:      grpcServer,
		DebugListener:   debugLn,
		Health:          health.New(guard.HealthCheck(serving)),
		Registrar:       registrar,
		DrainTimeout:    o.drainTimeout,
		DeregisterDelay: o.deregisterDelay,
		Closers:         closers,
	})
}

// parseJWKSURLs splits a -jwks-url value and checks each entry is an
// absolute http or https URL.
func parseJWKSURLs(value string) ([]string, error) {
	var urls []string
	for _, raw := range strings.Split(value, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("-jwks-url %q: want absolute http(s) URLs separated by commas", raw)
		}
		urls = append(urls, raw)
	}
	return urls, nil
}
