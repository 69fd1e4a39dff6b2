package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/server"
	"github.com/kitshop/kitshop/kit/version"
)

// Options are the settings every service shares, from flags and the
// environment. A main reads them from App.Options; its own settings are
// flags it adds in Spec.Flags.
type Options struct {
	HTTPAddr      string
	GRPCAddr      string
	MetricsAddr   string
	DebugAddr     string
	AdvertiseAddr string
	InstanceID    string
	ConsulAddr    string
	DatabaseURL   string
	LogFormat     string
	LogLevel      string

	DrainTimeout    time.Duration
	DeregisterDelay time.Duration
	RequestTimeout  time.Duration
	RateLimit       float64
	RateBurst       int

	// AuthService is the Consul service whose instances serve the token
	// signing keys; JWKSURLs, when set, replace it with fixed URLs.
	AuthService string
	JWKSURLs    []string
	Issuer      string
	Audience    string

	// NATSURL is the broker (JetStream), with Spec.Events; StreamReplicas
	// is the replication of the streams the service creates.
	NATSURL        string
	StreamReplicas int
}

// ErrVersion is what Parse (and so New) returns for -version: Main prints
// the version (kit/version) and exits 0.
var ErrVersion = errors.New("app: -version")

// Parse registers the common flags and the service's own (Spec.Flags) on one
// flag set, reads args and the environment, and checks the result, without
// setting anything up: New calls it first, and tests of a main's flags call
// it alone.
func Parse(spec Spec, args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.HTTPAddr, "http-addr", spec.HTTPAddr, "HTTP listen address (port 0 picks a free port)")
	fs.StringVar(&o.GRPCAddr, "grpc-addr", spec.GRPCAddr, `gRPC listen address (port 0 picks a free port); "" serves no gRPC`)
	fs.StringVar(&o.MetricsAddr, "metrics-addr", spec.MetricsAddr, "internal address that serves /metrics for Prometheus (keep it private; port 0 picks a free port, registered in Consul as "+consul.MetaMetricsPort+"); the HTTP port has no /metrics")
	fs.StringVar(&o.DebugAddr, "debug-addr", "", `address of a separate listener for the net/http/pprof profiles, e.g. 127.0.0.1:6060 (keep it private); "" disables it`)
	fs.StringVar(&o.AdvertiseAddr, "advertise-addr", "127.0.0.1", "address registered in Consul, where other services reach this instance")
	fs.StringVar(&o.InstanceID, "instance-id", "", `Consul instance ID; "" means `+spec.Name+`-<random>`)
	fs.StringVar(&o.ConsulAddr, "consul-addr", "127.0.0.1:8500", `Consul agent address; "" disables registration`)
	if spec.Schema != nil {
		fs.StringVar(&o.DatabaseURL, "database-url", "", "Postgres URL, e.g. postgres://user:pass@127.0.0.1:5432/"+spec.Name+" (required)")
	}
	if spec.Events {
		fs.StringVar(&o.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server(s) with JetStream, comma-separated; the service starts and keeps its events in its outbox while none answers")
		fs.IntVar(&o.StreamReplicas, "stream-replicas", 1, "replicas of the JetStream streams this service creates: 1 on a single server, 3 on a three-node cluster")
	}
	fs.StringVar(&o.LogFormat, "log-format", "logfmt", "log format: logfmt or json")
	fs.StringVar(&o.LogLevel, "log-level", "info", "least severe log lines written: debug, info, warn or error (live: kitshop/config/"+spec.Name+"/log-level)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", server.DefaultDrainTimeout, "how long in-flight requests may finish at shutdown")
	fs.DurationVar(&o.DeregisterDelay, "deregister-delay", 2*time.Second, "pause after deregistering, before draining, so watchers drop this instance")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "time limit per request; 0 disables")
	fs.Float64Var(&o.RateLimit, "rate-limit", spec.RateLimit, "requests per second this instance accepts over both transports (a ceiling that protects it, not a per-client quota)")
	fs.IntVar(&o.RateBurst, "rate-burst", spec.RateBurst, "requests accepted in a burst above -rate-limit")
	jwksURL := ""
	if spec.Auth.Issuer != "" {
		fs.StringVar(&o.Issuer, "issuer", spec.Auth.Issuer, `"iss" an access token must have`)
		fs.StringVar(&o.Audience, "audience", spec.Auth.Audience, `"aud" an access token must include`)
		if spec.Auth.Service != "" {
			fs.StringVar(&o.AuthService, "auth-service", spec.Auth.Service, "Consul service that issues the access tokens and serves their keys")
			fs.StringVar(&jwksURL, "jwks-url", "", "comma-separated URLs of the token signing keys (JWKS), tried in order; replaces the lookup of -auth-service in Consul")
		}
	}
	var check func() error
	if spec.Flags != nil {
		check = spec.Flags(fs)
	}
	showVersion := version.Flag(fs)

	if err := config.Parse(fs, spec.envPrefix(), args); err != nil {
		return o, err
	}
	if *showVersion {
		return o, ErrVersion
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if spec.Schema != nil {
		if err := config.Require(fs, spec.envPrefix(), "database-url"); err != nil {
			return o, err
		}
	}
	var problems []error
	if o.MetricsAddr == "" {
		problems = append(problems, errors.New("-metrics-addr: want an address; the metrics are not served on the HTTP port"))
	}
	// Published development values are refused outside a development
	// stack (KITSHOP_DEV=1): they would let anyone who read the repository in.
	for _, name := range append([]string{"database-url"}, spec.SecretFlags...) {
		if f := fs.Lookup(name); f != nil {
			problems = append(problems, config.RefuseDevSecret(name, f.Value.String(), config.DevMode(), spec.DevSecrets...))
		}
	}
	if _, err := logging.NewLevelVar(o.LogLevel); err != nil {
		problems = append(problems, fmt.Errorf("-log-level: %w", err))
	}
	if !logging.ValidFormat(o.LogFormat) {
		problems = append(problems, fmt.Errorf("-log-format %q: want logfmt or json", o.LogFormat))
	}
	if o.RateLimit <= 0 || o.RateBurst < 1 {
		problems = append(problems, errors.New("-rate-limit must be > 0 and -rate-burst >= 1"))
	}
	if o.DrainTimeout < 0 || o.DeregisterDelay < 0 || o.RequestTimeout < 0 {
		problems = append(problems, errors.New("-drain-timeout, -deregister-delay and -request-timeout must not be negative"))
	}
	if spec.Events && (o.NATSURL == "" || o.StreamReplicas < 1 || o.StreamReplicas > 5) {
		problems = append(problems, errors.New("-nats-url must not be empty and -stream-replicas must be 1 to 5"))
	}
	if o.ConsulAddr != "" && o.AdvertiseAddr == "" {
		problems = append(problems, errors.New("-advertise-addr is required to register in Consul"))
	}
	if spec.Auth.Issuer != "" {
		if o.Issuer == "" || o.Audience == "" {
			problems = append(problems, errors.New("-issuer and -audience must not be empty"))
		}
		if spec.Auth.Service != "" {
			urls, err := ParseURLs("-jwks-url", jwksURL)
			problems = append(problems, err)
			o.JWKSURLs = urls
			switch {
			case len(urls) > 0:
			case o.ConsulAddr == "":
				// Without keys no protected call could ever be allowed;
				// better to say so now than to answer each with 503.
				problems = append(problems, errors.New("-jwks-url is required when -consul-addr is empty: the token signing keys are found through Consul otherwise"))
			case o.AuthService == "":
				problems = append(problems, errors.New("-auth-service must not be empty"))
			}
		}
	}
	if check != nil {
		problems = append(problems, check())
	}
	if o.InstanceID == "" {
		o.InstanceID = consul.NewInstanceID(spec.Name)
	}
	return o, errors.Join(problems...)
}

// ParseURLs splits a comma-separated flag value and checks that each entry
// is an absolute http or https URL. An empty value is no URL.
func ParseURLs(flagName, value string) ([]string, error) {
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

// ParseAddrs splits a comma-separated flag value of host:port addresses. An
// empty value is no address.
func ParseAddrs(flagName, value string) ([]string, error) {
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
