// Command gateway is kitshop's HTTP entry point. It routes every public API
// path to the service that registered its prefix in Consul.
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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/server"
)

// envPrefix prefixes the environment variables that back the flags.
const envPrefix = "GATEWAY"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr)
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
	if err := config.Parse(fs, envPrefix, args); err != nil {
		return s, err
	}
	var problems []error
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := config.Require(fs, envPrefix, "http-addr", "consul-addr"); err != nil {
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
	if s.upstreamTimeout <= 0 {
		problems = append(problems, fmt.Errorf("-upstream-timeout %v: want a positive duration", s.upstreamTimeout))
	}
	if s.drainTimeout <= 0 {
		problems = append(problems, fmt.Errorf("-drain-timeout %v: want a positive duration", s.drainTimeout))
	}
	return s, errors.Join(problems...)
}

// run is the whole program: it serves until ctx ends, then shuts down
// gracefully. Configuration comes from args and the process environment
// (kit/config); logs go to stderr.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	s, err := parse(args, stderr)
	if err != nil {
		return err
	}
	logger := logging.New(stderr, s.logFormat)

	client, err := consul.NewClient(s.consulAddr)
	if err != nil {
		return err
	}
	src := gateway.NewConsulSource(client, logger)
	gw, err := gateway.New(gateway.Config{
		Source:            src,
		Logger:            log.With(logger, "component", "gateway"),
		UpstreamTimeout:   s.upstreamTimeout,
		RateLimit:         s.rateLimit,
		RateBurst:         s.rateBurst,
		TrustForwardedFor: s.trustForwardedFor,
	})
	if err != nil {
		src.Stop()
		return err
	}
	ln, err := net.Listen("tcp", s.httpAddr)
	if err != nil {
		src.Stop()
		return fmt.Errorf("listen on %s: %w", s.httpAddr, err)
	}
	// Not ready until the routes are known: a gateway that has not heard
	// from Consul would answer every request with a 404.
	ready := health.New(health.Check{Name: "routes", Func: func(context.Context) error {
		if !src.Synced() {
			return errs.New(errs.Unavailable, "waiting for the service catalog")
		}
		return nil
	}})
	return server.Run(ctx, server.Config{
		Name:         "gateway",
		Logger:       logger,
		HTTPListener: ln,
		Handler:      gw,
		Health:       ready,
		DrainTimeout: s.drainTimeout,
		Closers:      []func(){gw.Stop, src.Stop},
	})
}
