package gateway

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/metrics"
)

// Defaults for the zero values of Config.
const (
	DefaultUpstreamTimeout = 10 * time.Second
	// DefaultMaxBodyBytes leaves a margin over what services accept
	// (httpx.MaxBodyBytes), so the service, which knows the exact rule,
	// is the one that answers a body that is only slightly too large.
	DefaultMaxBodyBytes = httpx.MaxBodyBytes + 64<<10
	// DefaultRetryBodyBytes is the largest body buffered for a retry. API
	// requests are small JSON documents; larger bodies are streamed.
	DefaultRetryBodyBytes = 64 << 10
	// DefaultRateLimitClients bounds the memory of the per-client limiter,
	// DefaultRateLimitUsers that of the per-user one.
	DefaultRateLimitClients = 100_000
	DefaultRateLimitUsers   = 100_000
	// DefaultBreakerMaxConcurrent is the default number of requests one
	// instance may have in flight through the gateway: high, because the
	// gateway is a multiplexer, not a single caller; the breaker is there to
	// stop hammering a failing instance, not to cap a healthy one.
	DefaultBreakerMaxConcurrent = 1024
	DefaultBreakerSleepWindow   = 5 * time.Second
)

// Bounds of the gateway's memory of accepted tokens (kit/auth.Verifier's):
// a client sending its token with every request costs a hash and a map
// lookup instead of an Ed25519 verification and a JSON parse.
const (
	// acceptedTokenTTL is how long an accepted token is taken on trust, at
	// most (never past its expiry). It bounds how long a signing key
	// withdrawn from the user service's key set can still get its tokens
	// through the gateway; the service behind checks every token itself
	// anyway, the gateway's check only keeps anonymous and forged traffic
	// away.
	acceptedTokenTTL = 10 * time.Second
	// acceptedTokensMax bounds the entries.
	acceptedTokensMax = 10_000
)

// Config configures a Gateway. Source and Keys are required.
type Config struct {
	// Source yields the routing table; NewConsulSource in production. The
	// caller owns it (and stops it).
	Source Source
	// Keys are the public keys access tokens are signed with:
	// consul.NewKeySource (the JWKS of the user service) in production, static
	// keys in tests. The caller owns it.
	Keys auth.KeySource
	// Issuer and Audience are the "iss" a token must have and a value its
	// "aud" must contain (the user service's: userapi.Issuer and
	// userapi.Audience). Both are required.
	Issuer, Audience string
	// Logger receives the access log and errors; nil discards them.
	Logger log.Logger
	// UpstreamTimeout bounds each attempt on an instance, from sending the
	// request to the end of the response body. With one retry a request may
	// take up to twice as long. Zero means DefaultUpstreamTimeout.
	UpstreamTimeout time.Duration
	// RateLimit is the requests per second allowed per client IP, with
	// bursts of RateBurst (default: one second's worth, at least 1). Zero
	// disables rate limiting.
	RateLimit float64
	RateBurst int
	// RateLimitClients is how many clients the limiter remembers; zero means
	// DefaultRateLimitClients.
	RateLimitClients int
	// UserRateLimit is the requests per second allowed per user (the
	// token's subject) on protected routes, in addition to the per-client
	// limit, with bursts of UserRateBurst (default: one second's worth, at
	// least 1). It stops one account from using many addresses to get more
	// than its share. Zero disables it. UserRateLimitUsers is how many users
	// the limiter remembers; zero means DefaultRateLimitUsers.
	UserRateLimit      float64
	UserRateBurst      int
	UserRateLimitUsers int
	// TrustForwardedFor makes the gateway take the client's address from the
	// last X-Forwarded-For entry and extend that header upstream, for
	// deployments behind a trusted load balancer. Off by default, when the
	// header is replaced by the peer's address.
	TrustForwardedFor bool
	// MaxBodyBytes limits request bodies (larger: 400 problem); zero means
	// DefaultMaxBodyBytes. RetryBodyBytes is the largest body buffered so a
	// retry can resend it; zero means DefaultRetryBodyBytes.
	MaxBodyBytes   int64
	RetryBodyBytes int64
	// Breaker configures the circuit breaker of each instance. Zero (or
	// negative) fields get gateway defaults: a Timeout beyond UpstreamTimeout (the attempt's
	// own deadline should fire first), DefaultBreakerMaxConcurrent and
	// DefaultBreakerSleepWindow; the others get kit/breaker's defaults.
	Breaker breaker.Settings
	// Balance chooses each service's instance selection strategy; the zero
	// value is round robin for all. Gateway.SetBalance changes it live.
	Balance Balance
	// Composites are the composite routes (see CompositeRoute); nil means
	// none. Gateway.SetComposites changes them live.
	Composites *Composites
	// Cache, if set, answers public GETs from memory (see Cache); nil
	// sends every request to the service.
	Cache *Cache
	// Transport sends upstream requests; nil means NewUpstream().
	Transport http.RoundTripper
	// ProbeInterval is how often each instance's /healthz is asked whether
	// it still answers, so an instance that stops answering (a stopped or
	// hung process) is skipped, and its requests in flight get a 503, within
	// a few intervals rather than when Consul fails its checks or the
	// upstream timeout ends (see prober). Zero means DefaultProbeInterval;
	// negative disables the probes. ProbeTimeout bounds each probe; zero
	// means DefaultProbeTimeout.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	// Metrics, if set, records every request by route, upstream and status
	// (routeInstruments), the rejections of the per-client and
	// per-user rate limits (limiters "client" and "user") and the state of
	// each instance's circuit breaker (breaker "gateway/<service>/<instance
	// id>"), the prefix claims a ConsulSource refuses, and the access log
	// lines of 429s left out. Serve its Handler on an internal listener
	// (kit/server's MetricsListener). Nil records nothing.
	Metrics *metrics.Metrics
}

func (c *Config) defaults() error {
	if c.Source == nil {
		return errors.New("gateway: Config.Source is required")
	}
	if c.Keys == nil {
		// Without keys no token can be checked; failing here beats a
		// gateway that answers every protected route with an error.
		return errors.New("gateway: Config.Keys is required")
	}
	if c.Issuer == "" || c.Audience == "" {
		return errors.New("gateway: Config.Issuer and Config.Audience are required")
	}
	if c.Logger == nil {
		c.Logger = log.NewNopLogger()
	}
	for _, f := range []struct {
		name  string
		value int64
	}{
		{"UpstreamTimeout", int64(c.UpstreamTimeout)},
		{"RateBurst", int64(c.RateBurst)},
		{"RateLimitClients", int64(c.RateLimitClients)},
		{"UserRateBurst", int64(c.UserRateBurst)},
		{"UserRateLimitUsers", int64(c.UserRateLimitUsers)},
		{"MaxBodyBytes", c.MaxBodyBytes},
		{"RetryBodyBytes", c.RetryBodyBytes},
		{"ProbeTimeout", int64(c.ProbeTimeout)},
	} {
		if f.value < 0 {
			return fmt.Errorf("gateway: Config.%s must not be negative", f.name)
		}
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) {
		return fmt.Errorf("gateway: Config.RateLimit must be a non-negative number of requests per second, got %v", c.RateLimit)
	}
	if c.UserRateLimit < 0 || math.IsNaN(c.UserRateLimit) {
		return fmt.Errorf("gateway: Config.UserRateLimit must be a non-negative number of requests per second, got %v", c.UserRateLimit)
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.RateBurst == 0 {
		c.RateBurst = max(1, int(c.RateLimit))
	}
	if c.RateLimitClients == 0 {
		c.RateLimitClients = DefaultRateLimitClients
	}
	if c.UserRateBurst == 0 {
		c.UserRateBurst = max(1, int(c.UserRateLimit))
	}
	if c.UserRateLimitUsers == 0 {
		c.UserRateLimitUsers = DefaultRateLimitUsers
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RetryBodyBytes == 0 {
		c.RetryBodyBytes = DefaultRetryBodyBytes
	}
	c.RetryBodyBytes = min(c.RetryBodyBytes, c.MaxBodyBytes)
	if c.Breaker.Timeout <= 0 {
		c.Breaker.Timeout = c.UpstreamTimeout + time.Second
	}
	if c.Breaker.MaxConcurrent <= 0 {
		c.Breaker.MaxConcurrent = DefaultBreakerMaxConcurrent
	}
	if c.Breaker.SleepWindow <= 0 {
		c.Breaker.SleepWindow = DefaultBreakerSleepWindow
	}
	if c.Transport == nil {
		c.Transport = NewUpstream()
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	return c.Balance.Validate()
}
