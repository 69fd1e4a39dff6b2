// Command gateway is kitshop's HTTP entry point. It routes every public API
// path to the service that registered its prefix in Consul, and lets a
// request through to a route the service did not declare public only with a
// valid access token, checked against the keys of the -auth-service (found
// in Consul as well).
//
// Besides the routes, the HTTP port serves the gateway's own /healthz and
// /readyz. The metrics, for Prometheus, are served at /metrics on the
// internal -metrics-addr only (127.0.0.1:9180 by default), never on the
// public port: requests by route prefix, upstream service and status with
// their latency, rate-limit rejections (limiters "client" and "user"), the
// state of each instance's circuit breaker, refused route claims and the Go
// runtime. No service can claim /healthz, /readyz or /metrics as a route.
//
// A service may only take a prefix no other service serves, and a prefix
// pinned with -route-owners ("/api/v1/users=user,…") only its pinned
// service; the signing keys come from the -auth-service only.
//
// The public port cuts a request whose body has not arrived within
// -read-timeout and keeps at most -max-conns-per-client connections per
// client address (IPv4 address or IPv6 /64).
//
// With -debug-addr (off by default) a separate listener serves the
// net/http/pprof profiles; keep it on a private address. The log, an access
// line per request among it, is written in batches, at most 100ms late.
//
// -version prints the version, commit and build time (kit/version) and
// exits.
//
// Every flag can also be set through the environment: -rate-limit is
// GATEWAY_RATE_LIMIT, and so on. Flags win over the environment.
//
//	gateway -http-addr :8080 -consul-addr 127.0.0.1:8500
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/server"
	"github.com/kitshop/kitshop/kit/version"
	"github.com/kitshop/kitshop/user/userapi"
)

// envPrefix prefixes the environment variables that back the flags.
const envPrefix = "GATEWAY"

// The gateway's garbage collector (kit/server.TuneGC): the heap may grow to
// five times what is live before a collection, up to a soft limit below the
// 256 MiB of deploy/k8s. At Go's default of 100 the collector's mark phase
// showed as the p99 through the gateway on two cores (6.1 ms at half its
// peak, 3.9 ms with 400; peak 13.7k to 16.7k requests/s; make bench).
const (
	gcPercent   = 400
	memoryLimit = 192 << 20
)

func main() {
	server.TuneGC(gcPercent, memoryLimit) // GOGC and GOMEMLIMIT win when set
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// settings are the parsed command line.
type settings struct {
	httpAddr          string
	consulAddr        string
	rateLimit         float64
	rateBurst         int
	upstreamTimeout   time.Duration
	logFormat         string
	drainTimeout      time.Duration
	trustForwardedFor bool
	authService       string
	issuer            string
	audience          string
	userRateLimit     float64
	userRateBurst     int
	debugAddr         string
	metricsAddr       string
	routeOwners       gateway.Owners
	readTimeout       time.Duration
	maxConnsPerClient int
	showVersion       bool
}

// parse reads the flags from args and, for flags not given, from the
// environment.
func parse(args []string, stderr io.Writer) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.httpAddr, "http-addr", ":8080", "`address` to serve HTTP on (port 0 picks a free port)")
	fs.StringVar(&s.consulAddr, "consul-addr", "127.0.0.1:8500", "`address` of the Consul agent that lists the services to route")
	fs.Float64Var(&s.rateLimit, "rate-limit", 100, "requests per second allowed per client IP (0 disables the limit)")
	fs.IntVar(&s.rateBurst, "rate-burst", 200, "requests a client IP may send in a burst above -rate-limit")
	fs.DurationVar(&s.upstreamTimeout, "upstream-timeout", gateway.DefaultUpstreamTimeout, "time limit of one attempt on an upstream instance, response body included")
	fs.StringVar(&s.logFormat, "log-format", logging.FormatLogfmt, "log `format`: logfmt or json")
	fs.DurationVar(&s.drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "time in-flight requests get to finish at shutdown")
	fs.BoolVar(&s.trustForwardedFor, "trust-forwarded-for", false, "take the client IP from X-Forwarded-For (only behind a trusted proxy)")
	fs.StringVar(&s.authService, "auth-service", userapi.Service, "Consul `name` of the service that issues access tokens; its instances serve the keys at "+auth.JWKSPath)
	fs.StringVar(&s.issuer, "issuer", userapi.Issuer, "the \"iss\" access tokens must have")
	fs.StringVar(&s.audience, "audience", userapi.Audience, "value the \"aud\" of access tokens must contain")
	fs.Float64Var(&s.userRateLimit, "user-rate-limit", 50, "requests per second allowed per authenticated user, on top of -rate-limit (0 disables the limit)")
	fs.IntVar(&s.userRateBurst, "user-rate-burst", 100, "requests a user may send in a burst above -user-rate-limit")
	fs.StringVar(&s.debugAddr, "debug-addr", "", "`address` of a separate listener for the net/http/pprof profiles, e.g. 127.0.0.1:6060 (keep it private); \"\" disables it")
	fs.StringVar(&s.metricsAddr, "metrics-addr", "127.0.0.1:9180", "internal `address` that serves /metrics for Prometheus (keep it private); the public port has no /metrics")
	routeOwners := fs.String("route-owners", "", "`prefixes` pinned to the only service that may serve them, as \"/api/v1/users=user,/api/v1/auth=user\"; paths below a pinned prefix are pinned too")
	fs.DurationVar(&s.readTimeout, "read-timeout", server.DefaultReadTimeout, "time a client gets to send a whole request, body included, before its connection is cut")
	fs.IntVar(&s.maxConnsPerClient, "max-conns-per-client", 256, "connections one client address (IPv4 address or IPv6 /64) may keep open (0: no limit, for use behind a load balancer)")
	showVersion := version.Flag(fs)
	if err := config.Parse(fs, envPrefix, args); err != nil {
		return s, err
	}
	if *showVersion {
		// Nothing else matters: the version prints even when the rest of
		// the configuration would not do.
		return settings{showVersion: true}, nil
	}
	var problems []error
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := config.Require(fs, envPrefix, "http-addr", "consul-addr", "auth-service", "issuer", "audience"); err != nil {
		problems = append(problems, err)
	}
	if !logging.ValidFormat(s.logFormat) {
		problems = append(problems, fmt.Errorf("-log-format %q: want logfmt or json", s.logFormat))
	}
	if s.rateLimit < 0 || math.IsNaN(s.rateLimit) || math.IsInf(s.rateLimit, 0) {
		problems = append(problems, fmt.Errorf("-rate-limit %v: want a number of requests per second >= 0", s.rateLimit))
	}
	if s.rateBurst < 1 {
		problems = append(problems, fmt.Errorf("-rate-burst %d: want at least 1", s.rateBurst))
	}
	if s.userRateLimit < 0 || math.IsNaN(s.userRateLimit) || math.IsInf(s.userRateLimit, 0) {
		problems = append(problems, fmt.Errorf("-user-rate-limit %v: want a number of requests per second >= 0", s.userRateLimit))
	}
	if s.userRateBurst < 1 {
		problems = append(problems, fmt.Errorf("-user-rate-burst %d: want at least 1", s.userRateBurst))
	}
	if strings.ContainsAny(s.authService, "/ ") {
		problems = append(problems, fmt.Errorf("-auth-service %q: want a Consul service name", s.authService))
	}
	if s.upstreamTimeout <= 0 {
		problems = append(problems, fmt.Errorf("-upstream-timeout %v: want a positive duration", s.upstreamTimeout))
	}
	if s.drainTimeout <= 0 {
		problems = append(problems, fmt.Errorf("-drain-timeout %v: want a positive duration", s.drainTimeout))
	}
	if s.readTimeout <= 0 {
		problems = append(problems, fmt.Errorf("-read-timeout %v: want a positive duration", s.readTimeout))
	}
	if s.maxConnsPerClient < 0 {
		problems = append(problems, fmt.Errorf("-max-conns-per-client %d: want 0 (no limit) or more", s.maxConnsPerClient))
	}
	if s.metricsAddr == "" {
		problems = append(problems, errors.New("-metrics-addr: want an address; the metrics are not served on the public port"))
	}
	owners, err := gateway.ParseOwners(*routeOwners)
	if err != nil {
		problems = append(problems, fmt.Errorf("-route-owners: %w", err))
	}
	s.routeOwners = owners
	return s, errors.Join(problems...)
}

// run is the whole program: it serves until ctx ends, then shuts down
// gracefully. Configuration comes from args and the process environment
// (kit/config); logs go to stderr, and -version to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if s.showVersion {
		version.Print(stdout, "gateway")
		return nil
	}
	// The access log writes a line per request. Buffered, the lines of a
	// busy gateway go out in batches, a write system call per 32 KiB rather
	// than per request (3 to 4% of the gateway's CPU); they reach stderr at
	// most 100ms late, and the deferred Close writes the rest at the end.
	logOut := logging.NewBufferedWriter(stderr, 0, 0)
	defer logOut.Close()
	logger := logging.New(logOut, s.logFormat)
	m := metrics.New("gateway")

	client, err := consul.NewClient(s.consulAddr)
	if err != nil {
		return err
	}
	src := gateway.NewPinnedConsulSource(client, logger, s.routeOwners)
	keys := consul.NewKeySource(client, s.authService, &http.Client{Timeout: auth.DefaultFetchTimeout, Transport: gateway.NewTransport()}, logger)
	stop := func() {
		keys.Stop()
		src.Stop()
	}
	gw, err := gateway.New(gateway.Config{
		Source:            src,
		Keys:              keys,
		Issuer:            s.issuer,
		Audience:          s.audience,
		Logger:            log.With(logger, "component", "gateway"),
		UpstreamTimeout:   s.upstreamTimeout,
		RateLimit:         s.rateLimit,
		RateBurst:         s.rateBurst,
		UserRateLimit:     s.userRateLimit,
		UserRateBurst:     s.userRateBurst,
		TrustForwardedFor: s.trustForwardedFor,
		Metrics:           m,
	})
	if err != nil {
		stop()
		return err
	}
	ln, err := net.Listen("tcp", s.httpAddr)
	if err != nil {
		stop()
		return fmt.Errorf("listen on %s: %w", s.httpAddr, err)
	}
	debugLn, err := server.ListenDebug(s.debugAddr)
	if err != nil {
		ln.Close()
		stop()
		return fmt.Errorf("debug listener: %w", err)
	}
	metricsLn, err := server.ListenInternal(s.metricsAddr)
	if err != nil {
		ln.Close()
		if debugLn != nil {
			debugLn.Close()
		}
		stop()
		return fmt.Errorf("metrics listener: %w", err)
	}
	maxConns := s.maxConnsPerClient
	if maxConns == 0 {
		maxConns = -1 // kit/server: no limit
	}
	// Not ready until the routes are known: a gateway that has not heard
	// from Consul would answer every request with a 404. The signing keys
	// are not a condition: public routes (login among them) work without
	// them, and a user service that is down must not take the gateway out
	// of rotation.
	ready := health.New(health.Check{Name: "routes", Func: func(context.Context) error {
		if !src.Synced() {
			return errs.New(errs.Unavailable, "waiting for the service catalog")
		}
		return nil
	}})
	return server.Run(ctx, server.Config{
		Name:            "gateway",
		Logger:          logger,
		HTTPListener:    ln,
		DebugListener:   debugLn,
		MetricsListener: metricsLn,
		Handler:         gw,
		Metrics:         m.Handler(),
		Health:          ready,
		DrainTimeout:    s.drainTimeout,
		ReadTimeout:     s.readTimeout,
		// Room for an attempt, its retry and a slow response.
		WriteTimeout:      max(server.DefaultWriteTimeout, 2*s.upstreamTimeout+s.readTimeout),
		MaxConnsPerClient: maxConns,
		Closers:           []func(){gw.Stop, stop},
	})
}
