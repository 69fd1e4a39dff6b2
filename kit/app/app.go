package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/liveconfig"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/middleware"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/server"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/version"
)

// Spec describes a service to New.
type Spec struct {
	// Name is the service's name in Consul, in logs and in metrics.
	Name string
	// EnvPrefix prefixes the environment variables that set its flags;
	// "" means Name in upper case.
	EnvPrefix string
	// HTTPAddr, GRPCAddr and MetricsAddr are the default listen addresses;
	// MetricsAddr is internal (/metrics for Prometheus) and should default
	// to loopback.
	HTTPAddr, GRPCAddr, MetricsAddr string
	// RateLimit and RateBurst are the defaults of -rate-limit and
	// -rate-burst.
	RateLimit float64
	RateBurst int
	// Schema, when set, are the service's migrations: New requires
	// -database-url, opens a pool and migrates the database.
	Schema fs.FS
	// Auth, when Auth.Issuer is set, makes New build a token verifier.
	Auth Auth
	// GCPercent and MemoryLimit, when set, tune the garbage collector
	// (kit/server.TuneGC); GOGC and GOMEMLIMIT still win.
	GCPercent   int
	MemoryLimit int64
	// SecretFlags name the service's own flags that hold secrets; like
	// -database-url, they must not hold one of DevSecrets unless the
	// process runs in development mode (kit/config.DevMode).
	SecretFlags []string
	// DevSecrets are the development credentials published with the
	// project (in its README, its local stack, its history).
	DevSecrets []string
	// Flags, when set, adds the service's own flags to the flag set before
	// it is parsed, and returns a check that runs after parsing (nil when
	// there is nothing to check).
	Flags func(fs *flag.FlagSet) (check func() error)
	// Events connects the service to NATS JetStream (-nats-url), for
	// Publish and Subscribe.
	Events bool
	// Live are the service's own live settings, besides those every
	// service has (LiveSchema); a main binds them on App.Live.
	Live []liveconfig.Checker
}

// The database's timeouts: a connection attempt, a statement, and a wait
// for a lock. They bound how long a request can hang on the database when it
// is slow; when it does not answer at all, the Guard fails calls at once.
const (
	DBConnectTimeout   = 2 * time.Second
	DBStatementTimeout = 5 * time.Second
	DBLockTimeout      = 2 * time.Second
)

// Auth says how a service checks access tokens.
type Auth struct {
	// Issuer and Audience are the defaults of -issuer and -audience.
	Issuer, Audience string
	// Service is the default of -auth-service, the Consul service whose
	// instances serve the signing keys; "" means the service verifies with
	// keys of its own (set App.Verifier).
	Service string
}

func (s Spec) envPrefix() string {
	if s.EnvPrefix != "" {
		return s.EnvPrefix
	}
	return strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// App is a service being built and then run. Its exported fields are ready
// when New returns; a main may replace Verifier before it builds endpoints.
type App struct {
	Spec    Spec
	Options Options
	Logger  log.Logger
	Metrics *metrics.Metrics
	// Pool is the migrated database, nil without Spec.Schema.
	Pool *pgxpool.Pool
	// Guard fails the pool's calls fast while the database does not answer
	// (kit/postgres.Guard), nil without Spec.Schema.
	Guard *postgres.Guard
	// Consul is nil when -consul-addr is empty.
	Consul consul.Client
	// Verifier checks access tokens, nil without Spec.Auth.
	Verifier *auth.Verifier
	// NATS and JetStream are the broker connection, nil without
	// Spec.Events. The connection reconnects forever.
	NATS      *nats.Conn
	JetStream jetstream.JetStream
	// Tracing is the process's tracing (kit/tracing), set up from
	// -trace-ratio, -trace-dir and the OTEL_* environment.
	Tracing *tracing.Provider
	// Live follows the service's live settings in Consul
	// (kitshop/config/<service>/); the common ones are bound already.
	Live *liveconfig.Store

	httpLn, grpcLn, metricsLn, debugLn net.Listener
	degraded                           func() bool
	grpcServer                         *grpc.Server
	handler                            http.Handler
	registration                       *Registration
	checks                             []health.Check
	limiter                            *ratelimit.TokenBucket
	requestTimeout                     *atomic.Int64
	liveLogger                         log.Logger // not filtered by the log level
	levels                             *logging.LevelVar

	mu      sync.Mutex
	closers []func()
}

// New parses args and the environment, then sets up what every service
// needs (see the package documentation). On an error it releases what it
// had set up; flag.ErrHelp means -h printed the usage.
func New(ctx context.Context, spec Spec, args []string, stderr io.Writer) (a *App, err error) {
	o, err := Parse(spec, args, stderr)
	if err != nil {
		return nil, err
	}
	server.TuneGC(spec.GCPercent, spec.MemoryLimit)
	logger := logging.New(stderr, o.LogFormat)
	// Debug lines (the transports' "request rejected") repeat what the
	// endpoint log already says; they are for local debugging only. The
	// level is live (log-level).
	levels, err := logging.NewLevelVar(o.LogLevel)
	if err != nil {
		return nil, err
	}
	// Changes of the live configuration are logged whatever the level: they
	// are rare, and a change of the level itself must show either way.
	unfiltered := log.With(logger, "service", spec.Name, "instance", o.InstanceID)
	logger = log.With(levels.Filter(logger), "service", spec.Name, "instance", o.InstanceID)
	a = &App{Spec: spec, Options: o, Logger: logger, Metrics: metrics.New(spec.Name), liveLogger: log.With(unfiltered, "component", "liveconfig"), levels: levels}
	defer func() {
		if err != nil {
			a.Close()
			a = nil
		}
	}()
	if err = a.setupTracing(ctx); err != nil {
		return a, err
	}

	if spec.Schema != nil {
		a.Guard = postgres.NewGuard(postgres.GuardOptions{Logger: a.Log("postgres")})
		a.Defer(a.Guard.Stop)
		if a.Pool, err = postgres.Open(ctx, o.DatabaseURL, postgres.WithGuard(a.Guard), a.sqlTracer(),
			postgres.WithConnectTimeout(DBConnectTimeout),
			postgres.WithStatementTimeout(DBStatementTimeout),
			postgres.WithLockTimeout(DBLockTimeout)); err != nil {
			return a, err
		}
		a.Defer(a.Pool.Close)
		if err = postgres.Migrate(ctx, a.Pool, spec.Schema); err != nil {
			return a, err
		}
		a.Metrics.Pool(spec.Name, a.Pool)
	}
	if o.ConsulAddr != "" {
		if a.Consul, err = consul.NewClient(o.ConsulAddr); err != nil {
			return a, err
		}
	}
	if spec.Auth.Issuer != "" && spec.Auth.Service != "" {
		a.Verifier = auth.NewVerifier(a.Keys(o.AuthService, o.JWKSURLs), o.Issuer, o.Audience)
	}
	if spec.Events {
		if err = a.connectNATS(); err != nil {
			return a, err
		}
	}
	a.limiter = ratelimit.NewTokenBucket(o.RateLimit, o.RateBurst)
	a.startLive(ctx, levels)

	if err = a.listen(); err != nil {
		return a, err
	}
	return a, nil
}

// listen binds the listeners now, so that the ports are known before the
// instance is registered and tests can read them.
func (a *App) listen() error {
	var err error
	if a.httpLn, err = net.Listen("tcp", a.Options.HTTPAddr); err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	a.Defer(func() { a.httpLn.Close() })
	if a.Options.GRPCAddr != "" {
		if a.grpcLn, err = net.Listen("tcp", a.Options.GRPCAddr); err != nil {
			return fmt.Errorf("grpc listener: %w", err)
		}
		a.Defer(func() { a.grpcLn.Close() })
	}
	if a.metricsLn, err = net.Listen("tcp", a.Options.MetricsAddr); err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	a.Defer(func() { a.metricsLn.Close() })
	if a.debugLn, err = server.ListenDebug(a.Options.DebugAddr); err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	if a.debugLn != nil {
		a.Defer(func() { a.debugLn.Close() })
	}
	return nil
}

// HTTPAddr is the address the HTTP listener is bound to.
func (a *App) HTTPAddr() string { return a.httpLn.Addr().String() }

// GRPCAddr is the address the gRPC listener is bound to, "" without one.
func (a *App) GRPCAddr() string {
	if a.grpcLn == nil {
		return ""
	}
	return a.grpcLn.Addr().String()
}

// Defer adds fn to the closers, which run last first when the App is
// closed: what was set up last depends on what came before it.
func (a *App) Defer(fn func()) {
	a.mu.Lock()
	a.closers = append(a.closers, fn)
	a.mu.Unlock()
}

// Close runs the closers, last first, once. Run calls it after the servers
// have stopped; a main calls it only when it gives up before Run.
func (a *App) Close() {
	a.mu.Lock()
	closers := a.closers
	a.closers = nil
	a.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// Log returns the logger with a component, for one part of the service.
func (a *App) Log(component string) log.Logger { return log.With(a.Logger, "component", component) }

// Watch follows the healthy instances of a service in Consul until the App
// closes. It needs Consul.
func (a *App) Watch(service string) *consul.Watcher {
	w := consul.NewWatcher(a.Consul, service, a.Log("consul"))
	a.Defer(w.Stop)
	return w
}

// Endpoint is the standard endpoint middleware chain, outermost first: every
// call is counted and timed, traced (a span named <service>.<method>),
// logged (including the ones the limiter or the access rules reject, by
// their outcome), limited by the instance's token bucket, and bounded by
// the request timeout. extra goes between the limiter
// and the timeout. No circuit breaker: breakers belong on outbound calls.
func (a *App) Endpoint(method string, logOpts []logging.Option, extra ...endpoint.Middleware) endpoint.Middleware {
	chain := []endpoint.Middleware{
		tracing.EndpointMiddleware(a.Spec.Name + "." + method),
		// The level in force comes first, so a method's own options win.
		logging.EndpointMiddleware(a.Log("endpoint"), method, append([]logging.Option{logging.FilteredBy(a.levels)}, logOpts...)...),
		ratelimit.Middleware(a.limiter),
	}
	chain = append(chain, extra...)
	chain = append(chain, middleware.TimeoutFunc(a.RequestTimeout))
	return endpoint.Chain(a.Metrics.EndpointMiddleware(method), chain...)
}

// GRPC returns the service's gRPC server, made on first use with kit/grpcx's
// interceptors. It needs -grpc-addr.
func (a *App) GRPC() *grpc.Server {
	if a.grpcServer == nil {
		a.grpcServer = grpcx.NewServer(a.Log("grpc")) // traced when tracing is on
	}
	return a.grpcServer
}

// Handle sets the handler of the HTTP port, behind a server span per
// request (kit/tracing); kit/server serves /healthz and /readyz in front
// of it.
func (a *App) Handle(h http.Handler) { a.handler = tracing.HTTPHandler(h) }

// MetricsAddr is the address the internal metrics listener is bound to.
func (a *App) MetricsAddr() string { return a.metricsLn.Addr().String() }

// Check adds a readiness check to the one on the database.
func (a *App) Check(c health.Check) { a.checks = append(a.checks, c) }

// DegradedWhen says when the instance can still serve some requests while
// its database is unreachable (from a cache, or with fast 503s that keep
// the route answering): then readiness reports degraded (200) rather than
// not ready, and the instance stays in rotation. Without it, an
// unreachable database makes the instance not ready.
func (a *App) DegradedWhen(serving func() bool) { a.degraded = serving }

// Registration is what the instance announces in Consul besides its
// addresses: the gateway prefixes it serves and which routes under them need
// no token.
type Registration struct {
	// Prefixes are the gateway paths routed to the service.
	Prefixes []string
	// Public are the routes the gateway lets through without a token.
	Public []consul.PublicRoute
	// Meta is extra service metadata.
	Meta map[string]string
}

// Register announces the instance in Consul when Run starts serving, if
// Consul is enabled.
func (a *App) Register(r Registration) { a.registration = &r }

// Run serves until ctx ends or a server fails, then shuts down in order
// (kit/server.Run) and runs the closers. It returns nil after a shutdown
// caused by ctx.
func (a *App) Run(ctx context.Context) error {
	var registrar server.Registrar
	switch {
	case a.Consul == nil:
		level.Info(a.Logger).Log("msg", "consul registration disabled")
	case a.registration != nil:
		reg := consul.Registration{
			Name:      a.Spec.Name,
			ID:        a.Options.InstanceID,
			Address:   a.Options.AdvertiseAddr,
			HTTPPort:  server.Port(a.httpLn),
			APIPrefix: strings.Join(a.registration.Prefixes, ","),
			Meta:      a.registration.meta(),
		}
		reg.Meta[consul.MetaMetricsPort] = strconv.Itoa(server.Port(a.metricsLn))
		if a.grpcLn != nil {
			reg.GRPCPort = server.Port(a.grpcLn)
		}
		registrar = consul.NewRegistrar(a.Consul, reg, a.Log("consul"))
	}
	if a.grpcLn != nil && a.grpcServer == nil {
		a.Close()
		return errors.New("app: -grpc-addr is set but no gRPC service was registered")
	}
	checks := a.checks
	if a.Guard != nil {
		checks = append([]health.Check{a.Guard.HealthCheck(a.degraded)}, checks...)
	}
	// server.Run owns the listeners and runs the closers from here on.
	a.mu.Lock()
	closers := a.closers
	a.closers = nil
	a.mu.Unlock()
	reversed := make([]func(), 0, len(closers))
	for i := len(closers) - 1; i >= 0; i-- {
		reversed = append(reversed, closers[i])
	}
	return server.Run(ctx, server.Config{
		Name:            a.Spec.Name,
		Logger:          a.Logger,
		HTTPListener:    a.httpLn,
		Handler:         a.handler,
		Metrics:         a.Metrics.Handler(),
		MetricsListener: a.metricsLn,
		GRPCListener:    a.grpcLn,
		GRPCServer:      a.grpcServer,
		DebugListener:   a.debugLn,
		Health:          health.New(checks...),
		Registrar:       registrar,
		DrainTimeout:    a.Options.DrainTimeout,
		DeregisterDelay: a.Options.DeregisterDelay,
		Closers:         reversed,
	})
}

// meta is the Consul service meta of the registration.
func (r *Registration) meta() map[string]string {
	meta := make(map[string]string, len(r.Meta)+2)
	meta[consul.MetaVersion] = version.Get().Version
	for k, v := range r.Meta {
		meta[k] = v
	}
	if len(r.Public) > 0 {
		meta[consul.MetaPublicRoutes] = consul.FormatPublicRoutes(r.Public)
	}
	return meta
}
