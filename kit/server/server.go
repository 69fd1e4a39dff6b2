package server

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/oklog/run"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/httpx"
)

// DefaultDrainTimeout is how long in-flight requests may take to finish
// during shutdown when Config.DrainTimeout is zero.
const DefaultDrainTimeout = 15 * time.Second

// Registrar registers the instance in service discovery (kit/consul
// implements it). Register may block retrying until discovery is reachable
// and must return when ctx ends; Deregister must be safe to call whether or
// not Register succeeded.
type Registrar interface {
	Register(ctx context.Context) error
	Deregister(ctx context.Context) error
}

// Config is what Run serves. At least one of HTTPListener and GRPCListener
// is required; GRPCServer is required with GRPCListener. Run owns the
// listeners and servers from the moment it is called.
type Config struct {
	// Name identifies the service in log lines.
	Name string
	// Logger receives one line per lifecycle step; nil discards them.
	Logger log.Logger

	// HTTPListener serves Handler behind /healthz, /readyz and, if set and
	// there is no MetricsListener, /metrics.
	HTTPListener net.Listener
	// Handler serves every other path; nil answers 404 problems.
	Handler http.Handler
	// Metrics, if set, is served at GET /metrics (promhttp.Handler()): on
	// MetricsListener if there is one, else on the HTTP port.
	Metrics http.Handler
	// MetricsListener, if set, serves Metrics at /metrics and nothing else,
	// and the HTTP port serves no /metrics: the metrics tell an outsider
	// about the program's traffic and internals, and scraping them costs,
	// so they belong on an address only Prometheus reaches. See
	// ListenInternal.
	MetricsListener net.Listener

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// HTTP server's (see net/http.Server): zero means the Default… value
	// of this package, a negative value no limit. ReadTimeout is what cuts
	// a client that sends its headers and then trickles, or never sends,
	// its body; WriteTimeout one that does not read its response.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxConnsPerClient bounds the connections open on the HTTP port per
	// client address (an IPv4 address or an IPv6 /64); further ones are
	// closed on accept. Zero means DefaultMaxConnsPerClient, a negative
	// value no limit (behind a load balancer that is the only client).
	MaxConnsPerClient int

	// GRPCListener serves GRPCServer, on which Run registers the
	// grpc.health.v1 service unless it is registered already.
	GRPCListener net.Listener
	GRPCServer   *grpc.Server

	// Health is the readiness Run flips; nil means a Health without checks.
	Health *health.Health
	// Registrar registers the instance once serving; nil skips discovery.
	Registrar Registrar

	// DrainTimeout bounds the wait for in-flight requests at shutdown;
	// zero means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// DeregisterDelay is a pause after deregistering and before draining,
	// so that watchers stop sending traffic before the listeners close.
	DeregisterDelay time.Duration

	// DebugListener, if set, serves DebugHandler (net/http/pprof profiles)
	// and nothing else, apart from the public port: profiles reveal the
	// program's internals and a CPU profile costs CPU while it runs, so they
	// belong on an address only operators reach (loopback, or a port the
	// network does not expose). See ListenDebug.
	DebugListener net.Listener

	// Closers run in order after both servers have stopped.
	Closers []func()
}

// Run serves until ctx ends or a server fails, then shuts down gracefully
// (see the package documentation) and returns. It returns nil after a
// shutdown caused by ctx, and the failure otherwise.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		// Run owns the listeners; do not leave them bound.
		for _, ln := range []net.Listener{cfg.HTTPListener, cfg.GRPCListener, cfg.DebugListener, cfg.MetricsListener} {
			if ln != nil {
				ln.Close()
			}
		}
		return err
	}
	cfg.setDefaults()
	logger := log.With(cfg.Logger, "component", "server", "server", cfg.Name)
	h := cfg.Health

	var httpSrv *http.Server
	if cfg.HTTPListener != nil {
		httpSrv = &http.Server{
			Handler:           cfg.routes(),
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			ErrorLog:          stdlog.New(log.NewStdlibAdapter(level.Warn(log.With(logger, "transport", "http"))), "", 0),
		}
		if cfg.MaxConnsPerClient > 0 {
			cfg.HTTPListener = limitPerClient(cfg.HTTPListener, cfg.MaxConnsPerClient)
		}
	}
	if cfg.GRPCListener != nil {
		registerGRPCHealth(cfg.GRPCServer, h)
	}
	var debugSrv *http.Server
	if cfg.DebugListener != nil {
		debugSrv = &http.Server{
			Handler:           DebugHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          stdlog.New(log.NewStdlibAdapter(level.Warn(log.With(logger, "transport", "debug"))), "", 0),
		}
	}

	var metricsSrv *http.Server
	if cfg.MetricsListener != nil {
		metricsSrv = &http.Server{
			Handler:           metricsHandler(cfg.Metrics),
			ReadHeaderTimeout: DefaultReadHeaderTimeout,
			ReadTimeout:       DefaultReadTimeout,
			WriteTimeout:      DefaultWriteTimeout,
			ErrorLog:          stdlog.New(log.NewStdlibAdapter(level.Warn(log.With(logger, "transport", "metrics"))), "", 0),
		}
	}

	regCtx, regCancel := context.WithCancel(ctx)
	defer regCancel()
	lc := &lifecycle{cfg: cfg, logger: logger, httpSrv: httpSrv, debugSrv: debugSrv, metricsSrv: metricsSrv, stop: make(chan struct{}),
		regCtx: regCtx, regCancel: regCancel, regDone: make(chan struct{})}
	var g run.Group
	// The lifecycle actor comes first: run.Group interrupts actors in the
	// order they were added, so its interrupt, the ordered shutdown, runs
	// before anything else is touched.
	g.Add(func() error { return lc.run(ctx) }, func(error) { lc.shutdown(ctx) })
	if httpSrv != nil {
		g.Add(func() error {
			if err := httpSrv.Serve(cfg.HTTPListener); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		}, func(error) {})
	}
	if debugSrv != nil {
		g.Add(func() error {
			if err := debugSrv.Serve(cfg.DebugListener); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("debug server: %w", err)
			}
			return nil
		}, func(error) {})
	}
	if metricsSrv != nil {
		g.Add(func() error {
			if err := metricsSrv.Serve(cfg.MetricsListener); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		}, func(error) {})
	}
	if cfg.GRPCListener != nil {
		g.Add(func() error {
			if err := cfg.GRPCServer.Serve(cfg.GRPCListener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return fmt.Errorf("grpc server: %w", err)
			}
			return nil
		}, func(error) {})
	}
	// Memory a busy spell grew goes back to the system once idle.
	memStop := make(chan struct{})
	g.Add(func() error { releaseIdleMemory(memStop); return nil }, func(error) { close(memStop) })
	err := g.Run()
	if err != nil {
		level.Error(logger).Log("msg", "server failed", "err", err)
	}

	if len(cfg.Closers) > 0 {
		level.Info(logger).Log("msg", "closing resources", "count", len(cfg.Closers))
	}
	for _, c := range cfg.Closers {
		c()
	}
	level.Info(logger).Log("msg", "stopped")
	return err
}

func (c *Config) validate() error {
	switch {
	case c.HTTPListener == nil && c.GRPCListener == nil:
		return errors.New("server: no listener: set HTTPListener, GRPCListener or both")
	case c.GRPCListener != nil && c.GRPCServer == nil:
		return errors.New("server: GRPCListener set without GRPCServer")
	case c.MetricsListener != nil && c.Metrics == nil:
		return errors.New("server: MetricsListener set without Metrics")
	case c.DrainTimeout < 0, c.DeregisterDelay < 0:
		return errors.New("server: negative DrainTimeout or DeregisterDelay")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = log.NewNopLogger()
	}
	if c.Health == nil {
		c.Health = health.New()
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{&c.ReadTimeout, DefaultReadTimeout},
		{&c.WriteTimeout, DefaultWriteTimeout},
		{&c.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxConnsPerClient == 0 {
		c.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
}

// routes puts the health endpoints (and metrics) in front of the handler.
func (c *Config) routes() http.Handler {
	r := httpx.NewRouter(c.Logger)
	r.Handle(http.MethodGet, pathLive, liveHandler())
	r.Handle(http.MethodGet, pathReady, c.Health.ReadyHandler())
	if c.Metrics != nil && c.MetricsListener == nil {
		r.Handle(http.MethodGet, pathMetrics, c.Metrics)
	}
	if c.Handler == nil {
		return r
	}
	r.Handle("", "/", c.Handler)
	return &front{router: r, handler: httpx.Recover(c.Logger, c.Handler)}
}

// The paths Run serves itself.
const (
	pathLive    = "/healthz"
	pathReady   = "/readyz"
	pathMetrics = "/metrics"
)

// front sends every request for a path of the service straight to its
// handler, and only Run's own paths, and paths the router would clean up
// with a redirect, through the router: the same answers as the router alone
// (which sends everything it does not know to the handler), without a
// pattern match per request. That match, with its allocations, cost as much
// as a service's whole rate limiter.
type front struct {
	router  http.Handler
	handler http.Handler // the service's handler under httpx.Recover, as the router runs it
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect || own(r.URL.Path) || !cleanPath(r.URL.Path) {
		f.router.ServeHTTP(w, r)
		return
	}
	// The mux matches the escaped form of the path (for the usual path
	// without escapes the same string, and no allocation).
	if ep := r.URL.EscapedPath(); ep != r.URL.Path && (own(ep) || !cleanPath(ep)) {
		f.router.ServeHTTP(w, r)
		return
	}
	f.handler.ServeHTTP(w, r)
}

func own(p string) bool { return p == pathLive || p == pathReady || p == pathMetrics }

// cleanPath reports whether p is a path http.ServeMux serves as it is: it
// starts with a slash and has no empty, "." or ".." segments (a trailing
// slash is fine). The mux redirects any other path to its clean form.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return c == p || c+"/" == p
}

// registerGRPCHealth registers the health service unless the caller did, and
// makes every other registered service's health status follow readiness.
func registerGRPCHealth(srv *grpc.Server, h *health.Health) {
	services := srv.GetServiceInfo()
	if _, ok := services[healthpb.Health_ServiceDesc.ServiceName]; !ok {
		healthpb.RegisterHealthServer(srv, h.GRPC())
	}
	for name := range services {
		switch name {
		case healthpb.Health_ServiceDesc.ServiceName,
			grpc_reflection_v1.ServerReflection_ServiceDesc.ServiceName,
			grpc_reflection_v1alpha.ServerReflection_ServiceDesc.ServiceName:
			continue
		}
		h.AddGRPCService(name)
	}
}

// lifecycle is the state shared by the startup and the ordered shutdown.
type lifecycle struct {
	cfg      Config
	logger   log.Logger
	httpSrv  *http.Server
	debugSrv *http.Server // nil without a DebugListener
	// metricsSrv is nil without a MetricsListener.
	metricsSrv *http.Server

	regCtx    context.Context
	regCancel context.CancelFunc
	regDone   chan struct{} // closed when Register has returned

	mu         sync.Mutex
	stopping   bool          // set by shutdown; startup must not happen after it
	registered bool          // Register was started
	stop       chan struct{} // closed by shutdown to end run
}

// run marks the process ready, starts registration and waits for the end.
func (lc *lifecycle) run(ctx context.Context) error {
	lc.start()
	select {
	case <-ctx.Done():
		level.Info(lc.logger).Log("msg", "shutdown requested", "reason", context.Cause(ctx))
	case <-lc.stop:
	}
	return nil
}

// start becomes ready and starts registration, unless a failing server has
// already begun the shutdown: readiness must never come back after it.
func (lc *lifecycle) start() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.stopping {
		return
	}
	if ln := lc.cfg.HTTPListener; ln != nil {
		level.Info(lc.logger).Log("msg", "listening", "transport", "http", "addr", ln.Addr())
	}
	if ln := lc.cfg.GRPCListener; ln != nil {
		level.Info(lc.logger).Log("msg", "listening", "transport", "grpc", "addr", ln.Addr())
	}
	if ln := lc.cfg.DebugListener; ln != nil {
		level.Info(lc.logger).Log("msg", "listening", "transport", "debug", "addr", ln.Addr())
	}
	if ln := lc.cfg.MetricsListener; ln != nil {
		level.Info(lc.logger).Log("msg", "listening", "transport", "metrics", "addr", ln.Addr())
	}
	// The listeners are bound, so connections queue from now on even if the
	// Serve loops are a moment away.
	lc.cfg.Health.SetReady(true)

	r := lc.cfg.Registrar
	if r == nil {
		return
	}
	lc.registered = true
	go func() {
		defer close(lc.regDone)
		err := r.Register(lc.regCtx)
		switch {
		case lc.regCtx.Err() != nil:
			// Shutting down before registration finished; Deregister follows.
		case err != nil:
			level.Error(lc.logger).Log("msg", "registration failed", "err", err)
		default:
			level.Info(lc.logger).Log("msg", "registered")
		}
	}()
}

// shutdown runs the ordered shutdown; run.Group calls it once, after run
// or a server has returned.
func (lc *lifecycle) shutdown(ctx context.Context) {
	lc.mu.Lock()
	lc.stopping = true
	close(lc.stop)
	registered := lc.registered
	lc.mu.Unlock()

	logger, cfg := lc.logger, lc.cfg
	// Work that must finish even though ctx has ended gets its own
	// deadlines from a context that is never canceled.
	base := context.WithoutCancel(ctx)

	level.Info(logger).Log("msg", "not ready")
	cfg.Health.SetReady(false)

	lc.regCancel() // a Register still retrying is pointless now
	if registered {
		<-lc.regDone
		dctx, cancel := context.WithTimeout(base, cfg.DrainTimeout)
		if err := cfg.Registrar.Deregister(dctx); err != nil {
			level.Warn(logger).Log("msg", "deregistration failed", "err", err)
		} else {
			level.Info(logger).Log("msg", "deregistered")
		}
		cancel()
	}
	if cfg.DeregisterDelay > 0 {
		level.Info(logger).Log("msg", "waiting for watchers", "delay", cfg.DeregisterDelay)
		time.Sleep(cfg.DeregisterDelay)
	}

	level.Info(logger).Log("msg", "draining", "timeout", cfg.DrainTimeout)
	drainCtx, cancel := context.WithTimeout(base, cfg.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if lc.httpSrv != nil {
		wg.Go(func() {
			if err := lc.httpSrv.Shutdown(drainCtx); err != nil {
				level.Warn(logger).Log("msg", "http drain incomplete, closing connections", "transport", "http", "err", err)
				lc.httpSrv.Close()
			}
		})
	}
	if cfg.GRPCListener != nil {
		wg.Go(func() {
			done := make(chan struct{})
			go func() {
				cfg.GRPCServer.GracefulStop()
				close(done)
			}()
			select {
			case <-done:
			case <-drainCtx.Done():
				level.Warn(logger).Log("msg", "grpc drain incomplete, closing connections", "transport", "grpc")
				cfg.GRPCServer.Stop()
				<-done
			}
		})
	}
	wg.Wait()
	if lc.debugSrv != nil {
		// Profiles are no traffic to drain: a CPU profile in progress would
		// only hold the shutdown up.
		lc.debugSrv.Close()
	}
	if lc.metricsSrv != nil {
		// Kept to the end, so the last scrapes see the drain; a scrape is
		// no traffic to wait for.
		lc.metricsSrv.Close()
	}
	level.Info(logger).Log("msg", "drained")
}

// Port returns the TCP port ln listens on, which is what a service
// registers when its address asked for port 0. It is 0 for a listener that
// is not TCP.
func Port(ln net.Listener) int {
	if addr, ok := ln.Addr().(*net.TCPAddr); ok {
		return addr.Port
	}
	return 0
}
