package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/server"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/version"
	"github.com/kitshop/kitshop/user/userapi"
)

// settings are the parsed command line.
type settings struct {
	httpAddr          string
	consulAddr        string
	rateLimit         float64
	rateBurst         int
	upstreamTimeout   time.Duration
	probeInterval     time.Duration
	probeTimeout      time.Duration
	logFormat         string
	trace             tracing.Config
	logLevel          string
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
	features          features // cache, degradation, composites, balancing
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
	fs.DurationVar(&s.probeInterval, "probe-interval", gateway.DefaultProbeInterval, "how often each instance's /healthz is probed, so one that stops answering is skipped within a few intervals (0 disables the probes)")
	fs.DurationVar(&s.probeTimeout, "probe-timeout", gateway.DefaultProbeTimeout, "time limit of one probe; two failed in a row, with no response from the instance meanwhile, take it out of rotation")
	fs.StringVar(&s.logFormat, "log-format", logging.FormatLogfmt, "log `format`: logfmt or json")
	tracing.Flags(fs, &s.trace)
	fs.StringVar(&s.logLevel, "log-level", "info", "least severe log lines written: debug, info, warn or error")
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
	// 1024: a client at 256 requests in flight (the bench's open loop) briefly
	// holds a few more connections while others close; at 256 those were cut
	// (EOF) and the half-rate p99 rose from 4 ms to 29 ms.
	fs.IntVar(&s.maxConnsPerClient, "max-conns-per-client", 1024, "connections one client address (IPv4 address or IPv6 /64) may keep open (0: no limit, for use behind a load balancer)")
	checkFeatures := s.features.register(fs)
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
	problems = append(problems, s.trace.Check())
	if _, err := logging.NewLevelVar(s.logLevel); err != nil {
		problems = append(problems, fmt.Errorf("-log-level: %w", err))
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
	if s.probeInterval < 0 {
		problems = append(problems, fmt.Errorf("-probe-interval %v: want a duration >= 0 (0 disables the probes)", s.probeInterval))
	}
	if s.probeTimeout <= 0 {
		problems = append(problems, fmt.Errorf("-probe-timeout %v: want a positive duration", s.probeTimeout))
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
	problems = append(problems, checkFeatures()...)
	owners, err := gateway.ParseOwners(*routeOwners)
	if err != nil {
		problems = append(problems, fmt.Errorf("-route-owners: %w", err))
	}
	s.routeOwners = owners
	return s, errors.Join(problems...)
}

// listen opens the public, debug (optional) and metrics listeners, or none.
func listen(s settings) (public, debug, metrics net.Listener, err error) {
	if public, err = net.Listen("tcp", s.httpAddr); err != nil {
		return nil, nil, nil, fmt.Errorf("listen on %s: %w", s.httpAddr, err)
	}
	if debug, err = server.ListenDebug(s.debugAddr); err != nil {
		public.Close()
		return nil, nil, nil, fmt.Errorf("debug listener: %w", err)
	}
	if metrics, err = server.ListenInternal(s.metricsAddr); err != nil {
		public.Close()
		if debug != nil {
			debug.Close()
		}
		return nil, nil, nil, fmt.Errorf("metrics listener: %w", err)
	}
	return public, debug, metrics, nil
}
