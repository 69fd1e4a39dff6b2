package gateway

import (
	"context"
	stdlog "log"
	"net/http"
	"net/http/httputil"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/kit/tracing"
)

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
	prober            *prober                    // nil: probes disabled
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
	if cfg.ProbeInterval > 0 {
		g.prober = startProber(&prober{source: cfg.Source, breakers: g.breakers, transport: cfg.Transport,
			interval: cfg.ProbeInterval, timeout: cfg.ProbeTimeout, logger: log.With(cfg.Logger, "component", "gateway.probe")})
	}
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

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// Stop ends the probes of the instances and releases the idle upstream
// connections. Call it after the HTTP server has shut down; the Source is
// the caller's to stop.
func (g *Gateway) Stop() {
	g.stopOnce.Do(func() {
		if g.prober != nil {
			g.prober.stopProbes()
		}
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
