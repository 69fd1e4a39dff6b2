package gateway

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"math"
	"net/http"
	"net/http/httputil"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/kit/tracing"
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
	// Metrics, if set, records every request by route, upstream and status
	// (routeInstruments), the rejections of the per-client and
	// per-user rate limits (limiters "client" and "user") and the state of
	// each instance's circuit breaker (breaker "gateway/<service>/<instance
	// id>"), the prefix claims a ConsulSource refuses, and the access log
	// lines of 429s left out. Serve its Handler on an internal listener
	// (kit/server's MetricsListener). Nil records nothing.
	Metrics *metrics.Metrics
}

// Gateway is the HTTP entry point: an http.Handler that routes each request
// to an instance of the service owning its path prefix.
type Gateway struct {
	source            Source
	logger            log.Logger
	limiter           *ratelimit.Keyed  // per client IP; nil when disabled
	userLimiter       *ratelimit.Keyed  // per user; nil when disabled
	verifier          *auth.Verifier    // remembers accepted tokens for acceptedTokenTTL
	metrics           *metrics.Metrics  // nil: not recorded
	routeMetrics      *routeInstruments // nil with metrics
	trustForwardedFor bool
	maxBody, bufBody  int64
	transport         http.RoundTripper
	proxy             *httputil.ReverseProxy
	breakers          *breakers
	cache             *Cache // nil: no response cache
	fwd               *forwarder
	composites        atomic.Pointer[Composites] // nil: none
	handler           http.Handler
	openAPI           http.Handler // OpenAPIPath
	stopOnce          sync.Once
}

// New returns a Gateway for cfg, or an error naming the first invalid field.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	g := &Gateway{
		source:            cfg.Source,
		logger:            cfg.Logger,
		trustForwardedFor: cfg.TrustForwardedFor,
		maxBody:           cfg.MaxBodyBytes,
		bufBody:           cfg.RetryBodyBytes,
		transport:         cfg.Transport,
		verifier: auth.NewVerifier(cfg.Keys, cfg.Issuer, cfg.Audience,
			auth.WithVerifyCacheSize(acceptedTokensMax), auth.WithVerifyCacheMaxAge(acceptedTokenTTL)),
		metrics: cfg.Metrics,
		cache:   cfg.Cache,
	}
	// Both limiters exist while disabled (rate 0), so live configuration
	// can switch them on; a disabled one costs an atomic load.
	g.limiter = ratelimit.NewKeyed(cfg.RateLimit, cfg.RateBurst, cfg.RateLimitClients)
	g.userLimiter = ratelimit.NewKeyed(cfg.UserRateLimit, cfg.UserRateBurst, cfg.UserRateLimitUsers)
	if cfg.Metrics != nil {
		g.routeMetrics = newRouteInstruments(cfg.Metrics)
	}
	g.breakers = newBreakers(cfg.Breaker, cfg.Logger, cfg.Metrics)
	fwd := &forwarder{
		transport: cfg.Transport,
		picker:    picker{rr: consul.NewRoundRobin(), breakers: g.breakers},
		breakers:  g.breakers,
		logger:    cfg.Logger,
	}
	fwd.timeout.Store(int64(cfg.UpstreamTimeout))
	fwd.balance.Store(&cfg.Balance)
	g.fwd = fwd
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      fwd,
		ModifyResponse: modifyResponse,
		ErrorHandler:   g.proxyError,
		BufferPool:     newBufferPool(),
		ErrorLog:       stdlog.New(log.NewStdlibAdapter(level.Warn(log.With(cfg.Logger, "component", "reverse_proxy"))), "", 0),
	}
	openAPI, err := newOpenAPIHandler(cfg.Logger)
	if err != nil {
		return nil, err
	}
	g.openAPI = openAPI
	g.composites.Store(cfg.Composites)
	g.handler = g.chain(g.aggregate(http.HandlerFunc(g.route)))
	if cfg.Cache != nil && cfg.Metrics != nil {
		for _, c := range cfg.Cache.Collectors() {
			_ = cfg.Metrics.Registry().Register(c) // a second gateway on the same Metrics keeps the first's
		}
	}
	if rc, ok := cfg.Source.(interface{ RefusedClaims() int }); ok && cfg.Metrics != nil {
		// Registering twice (a second gateway on the same Metrics) keeps
		// the first.
		_ = cfg.Metrics.Registry().Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metrics.Namespace,
			Name:      "gateway_route_claims_refused",
			Help:      "Claims to API prefixes the gateway refuses: a prefix announced by a second service, or by a service it is not pinned to.",
		}, func() float64 { return float64(rc.RefusedClaims()) }))
	}
	return g, nil
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
	return c.Balance.Validate()
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// Stop releases the idle upstream connections. Call it after the HTTP
// server has shut down; the Source is the caller's to stop.
func (g *Gateway) Stop() {
	g.stopOnce.Do(func() {
		if t, ok := g.transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	})
}

// call is the routing state of one proxied request, passed from route to
// the forwarder through the request context (the ReverseProxy offers no
// other channel). It lives in the request's requestInfo, which the access
// log has put on the context already: one allocation and one context value
// per request fewer than a value of its own.
type call struct {
	route *Route
	body  *body
	info  *requestInfo
}

// callFrom returns the routing state of the request with ctx, or nil.
func callFrom(ctx context.Context) *call {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok && info.call.route != nil {
		return &info.call
	}
	return nil
}

// route is the innermost handler: it checks the path, finds the route,
// authenticates the request unless the route is public, prepares the body
// and hands the request to the proxy.
func (g *Gateway) route(w http.ResponseWriter, r *http.Request) {
	if !cleanPath(r.URL.Path) {
		// A path the upstream might resolve differently from us (dot
		// segments, doubled slashes) could reach endpoints outside the
		// route's prefix.
		httpx.WriteError(w, r, g.logger, errs.New(errs.Invalid, "invalid request path"))
		return
	}
	if err := refuseUpgrade(r); err != nil {
		httpx.WriteError(w, r, g.logger, err)
		return
	}
	// httputil.ReverseProxy drops query parameters it cannot parse, so
	// ?q=%zz would reach the service as no filter at all: refuse them here,
	// naming the parameter, as the services do.
	if _, err := httpx.ParseQuery(r.URL.RawQuery); err != nil {
		httpx.WriteError(w, r, g.logger, err)
		return
	}
	if r.URL.Path == OpenAPIPath {
		g.openAPI.ServeHTTP(w, r)
		return
	}
	table := g.source.Table()
	g.breakers.prune(table)
	rt, ok := table.Lookup(r.URL.Path)
	if !ok {
		httpx.WriteError(w, r, g.logger, errs.New(errs.NotFound, "no such endpoint"))
		return
	}
	info, onCtx := r.Context().Value(infoKey{}).(*requestInfo)
	if !onCtx {
		// Without the access log (tests of the bare router): a context
		// value of its own.
		info = &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	}
	info.prefix, info.service = rt.Prefix, rt.Service
	tracing.SetRoute(r.Context(), r.Method, rt.Prefix, rt.Service)
	public := rt.Public.Allows(r.Method, r.URL.Path, r.URL.RawPath)
	if !public {
		// Before anything else about the service (is it up?) is revealed
		// and before the body is read: an anonymous client learns nothing
		// and costs little.
		if err := g.authenticate(r, info); err != nil {
			g.proxyError(w, r, err)
			return
		}
	}
	if g.cache != nil && public {
		switch ok, credentials := cacheableRequest(r); {
		case ok:
			g.serveCached(w, r, rt, info)
			return
		case credentials:
			w.Header().Set(headerCacheStatus, cacheStatusName+"; "+servedBypass)
		}
	}
	g.forward(w, r, rt, info)
	g.invalidateWritten(r, rt)
}

// refuseUpgrade refuses a request to switch protocols (WebSocket and the
// like): the ReverseProxy would pass the switch on and then splice the
// client's connection to the instance's for as long as either keeps it
// open, beyond the upstream timeout, the breaker and the access log. No
// route serves such a protocol, so the request is refused before it costs
// anything. An "h2c" upgrade, which curl --http2 offers on plain HTTP, is an
// offer the server may ignore (RFC 7540, section 3.2): the request is served
// over HTTP/1.1 without it.
func refuseUpgrade(r *http.Request) error {
	up := r.Header.Values("Upgrade")
	if len(up) == 0 && !headerHasToken(r.Header.Values("Connection"), "upgrade") {
		return nil
	}
	if len(up) == 1 && strings.EqualFold(strings.TrimSpace(up[0]), "h2c") {
		r.Header.Del("Upgrade")
		r.Header.Del("Http2-Settings")
		return nil
	}
	return errs.New(errs.Invalid, "protocol upgrades (such as WebSocket) are not supported")
}

// headerHasToken reports whether the comma-separated values contain token,
// ignoring case.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// cleanPath reports whether p is an absolute path without empty, "." or
// ".." segments (a trailing slash is fine).
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return c == p || c+"/" == p
}

// rewrite shapes the outgoing request. The ReverseProxy has already removed
// hop-by-hop headers and any X-Forwarded-* the client sent; rewrite removes
// identity headers a client may have made up. Authorization, the path and
// the query stay as they are. The host is the forwarder's to choose per
// attempt.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	stripIdentityHeaders(pr.Out.Header)
	// The gateway's own server answered the client's "100-continue" when
	// the body was read; the body goes upstream without waiting for another.
	delete(pr.Out.Header, "Expect")
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "upstream" // replaced by the forwarder with the instance's address
	pr.Out.Host = ""             // the upstream sees its own address as Host
	if g.trustForwardedFor {
		if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			pr.Out.Header["X-Forwarded-For"] = prior
		}
	}
	pr.SetXForwarded()
	pr.Out.Header[requestid.HeaderKey] = []string{requestid.FromContext(pr.In.Context())}
}

// modifyResponse drops the upstream's echo of the request id: the gateway
// has already set the same header, and the proxy adds upstream headers to
// ours rather than replacing them.
func modifyResponse(resp *http.Response) error {
	delete(resp.Header, requestid.HeaderKey)
	return nil
}

// proxyError answers a request the gateway could not complete.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client is gone; nobody reads an answer. 499 (nginx's "client
		// closed request") keeps such requests apart in the access log.
		w.WriteHeader(499)
		return
	}
	httpx.WriteError(w, r, g.logger, err)
}

// bufferPool recycles the proxy's copy buffers, saving a 32 KiB allocation
// per request.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(p []byte) { b.p.Put(&p) }
