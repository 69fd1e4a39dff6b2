// Command product runs the catalog service: the product API over HTTP
// (/api/v1/products) and gRPC (kitshop.product.v1.ProductService) on a
// Postgres database, registered in Consul for the gateway to find.
//
// Every flag can also be set through the environment as PRODUCT_<FLAG>
// (upper case, dashes as underscores), e.g. PRODUCT_DATABASE_URL; flags win.
// Run with -h for the list.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/logging"
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

func main() {
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
	if !logging.ValidFormat(o.logFormat) {
		problems = append(problems, fmt.Errorf("-log-format %q: want logfmt or json", o.logFormat))
	}
	if o.rateLimit <= 0 || o.rateBurst < 1 {
		problems = append(problems, errors.New("-rate-limit must be > 0 and -rate-burst >= 1"))
	}
	if o.drainTimeout < 0 || o.deregisterDelay < 0 || o.requestTimeout < 0 {
		problems = append(problems, errors.New("-drain-timeout, -deregister-delay and -request-timeout must not be negative"))
	}
	if o.consulAddr != "" && o.advertiseAddr == "" {
		problems = append(problems, errors.New("-advertise-addr is required to register in Consul"))
	}
	if o.instanceID == "" {
		o.instanceID = serviceName + "-" + randomHex(6)
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

	// Domain, inside out: repository, service, service middleware.
	var svc product.Service
	svc = product.NewService(product.NewPostgres(pool))
	svc = product.LoggingMiddleware(log.With(logger, "component", "service"))(svc)

	// Endpoint middleware, outermost first: every call is logged (including
	// the ones the limiter rejects), the limiter protects the database from
	// overload, and the timeout bounds each call. No circuit breaker: the
	// breakers belong on outbound calls, and this service makes none beyond
	// its own database.
	bucket := ratelimit.NewTokenBucket(o.rateLimit, o.rateBurst)
	endpointLogger := log.With(logger, "component", "endpoint")
	eps := product.NewEndpoints(svc).Wrap(func(method string) endpoint.Middleware {
		return endpoint.Chain(
			logging.EndpointMiddleware(endpointLogger, method),
			ratelimit.Middleware(bucket),
			middleware.Timeout(o.requestTimeout),
		)
	})

	httpLogger := log.With(logger, "component", "http")
	handler := requestid.HTTPMiddleware(product.NewHTTPHandler(eps, httpLogger))

	grpcLogger := log.With(logger, "component", "grpc")
	grpcServer := grpcx.NewServer(grpcLogger)
	productv1.RegisterProductServiceServer(grpcServer, product.NewGRPCServer(eps, grpcLogger))

	httpLn, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	grpcLn, err := net.Listen("tcp", o.grpcAddr)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("grpc listener: %w", err)
	}

	// Register the ports actually bound, which differ from the flags when
	// they ask for port 0.
	var registrar server.Registrar
	if o.consulAddr != "" {
		client, err := consul.NewClient(o.consulAddr)
		if err != nil {
			httpLn.Close()
			grpcLn.Close()
			return err
		}
		registrar = consul.NewRegistrar(client, consul.Registration{
			Name:      serviceName,
			ID:        o.instanceID,
			Address:   o.advertiseAddr,
			HTTPPort:  port(httpLn),
			GRPCPort:  port(grpcLn),
			APIPrefix: product.CollectionPath,
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
		GRPCListener:    grpcLn,
		GRPCServer:      grpcServer,
		Health:          health.New(postgres.HealthCheck(pool)),
		Registrar:       registrar,
		DrainTimeout:    o.drainTimeout,
		DeregisterDelay: o.deregisterDelay,
		Closers:         []func(){pool.Close},
	})
}

func port(ln net.Listener) int {
	if addr, ok := ln.Addr().(*net.TCPAddr); ok {
		return addr.Port
	}
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}
