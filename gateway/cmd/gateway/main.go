package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/server"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/version"
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
	levels, err := logging.NewLevelVar(s.logLevel)
	if err != nil {
		return err
	}
	unfiltered := logging.New(logOut, s.logFormat)
	logger := levels.Filter(unfiltered)
	m := metrics.New("gateway")
	tp, err := setupTracing(ctx, s.trace, logger)
	if err != nil {
		return err
	}
	defer flushTraces(tp, logger)

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
	cache, err := s.features.newCache()
	if err != nil {
		stop()
		return err
	}
	cs, err := gateway.NewComposites(s.features.composites)
	if err != nil {
		stop()
		return err
	}
	probeInterval := s.probeInterval
	if probeInterval == 0 {
		probeInterval = -1 // gateway.Config: disabled
	}
	cfg := gateway.Config{
		Cache:             cache,
		Balance:           s.features.balance,
		Composites:        cs,
		Source:            src,
		Keys:              keys,
		Issuer:            s.issuer,
		Audience:          s.audience,
		Logger:            log.With(logger, "component", "gateway"),
		UpstreamTimeout:   s.upstreamTimeout,
		ProbeInterval:     probeInterval,
		ProbeTimeout:      s.probeTimeout,
		RateLimit:         s.rateLimit,
		RateBurst:         s.rateBurst,
		UserRateLimit:     s.userRateLimit,
		UserRateBurst:     s.userRateBurst,
		TrustForwardedFor: s.trustForwardedFor,
		Metrics:           m,
		Transport:         tracing.Transport(gateway.NewUpstream()), // a client span per attempt of a sampled trace
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		stop()
		return err
	}
	// Changes of the live configuration are logged whatever the level: a
	// change of the level itself must show either way.
	live, err := startLive(ctx, s, gw, cfg, levels, log.With(unfiltered, "component", "liveconfig"), m)
	if err != nil {
		stop()
		return err
	}
	stopFeatures, err := s.features.start(gw, cache, logger)
	if err != nil {
		live.Stop()
		stop()
		return err
	}
	stop = func() {
		live.Stop()
		keys.Stop()
		src.Stop()
	}
	ln, debugLn, metricsLn, err := listen(s)
	if err != nil {
		stopFeatures()
		stop()
		return err
	}
	maxConns := s.maxConnsPerClient
	if maxConns == 0 {
		maxConns = -1 // kit/server: no limit
	}
	return server.Run(ctx, server.Config{
		Name:            "gateway",
		Logger:          logger,
		HTTPListener:    ln,
		DebugListener:   debugLn,
		MetricsListener: metricsLn,
		Handler:         tracing.HTTPHandler(gw), // the server span, outermost
		Metrics:         m.Handler(),
		Health:          health.New(src.HealthCheck()),
		DrainTimeout:    s.drainTimeout,
		ReadTimeout:     s.readTimeout,
		// Room for an attempt, its retry and a slow response.
		WriteTimeout:      max(server.DefaultWriteTimeout, 2*s.upstreamTimeout+s.readTimeout),
		MaxConnsPerClient: maxConns,
		Closers:           []func(){gw.Stop, stopFeatures, stop},
	})
}
