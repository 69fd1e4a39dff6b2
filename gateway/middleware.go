package gateway

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/requestid"
)

// Names of the gateway's rate limiters in kitshop_ratelimit_rejections_total.
const (
	limiterClient = "client"
	limiterUser   = "user"
)

// chain wraps the router in the gateway's request middleware, outermost
// first: request id (so every later step, even a rejection, can name it),
// access log and metrics (so rejected requests are logged and counted too),
// panic recovery, and the per-client rate limit. Authentication and the
// per-user limit come later, in route, as only the route says whether a
// request needs a token.
func (g *Gateway) chain(router http.Handler) http.Handler {
	h := router
	if g.limiter != nil {
		h = g.rateLimit(h)
	}
	h = httpx.Recover(g.logger, h)
	h = accessLog(g.logger, g.clientIP, g.routeMetrics, newRefusalLog(g.metrics), h)
	return requestid.HTTPMiddleware(h)
}

// rateLimit answers 429 with Retry-After once a client has used up its
// bucket. Clients are told apart by IP address only (IPv6 ones by their
// /64, see ratelimit.ClientKey): ports change per connection and anything
// else is chosen by the client.
//
// A rejected request is attributed to the route its path would have taken,
// in the access log and the metrics, so that 429s show which API is being
// hammered instead of passing for unknown paths; finding the route is a
// map lookup or two and allocates nothing.
func (g *Gateway) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := g.limiter.Allow(ratelimit.ClientKey(g.clientIP(r))); !ok {
			if cleanPath(r.URL.Path) {
				if rt, ok := g.source.Table().Lookup(r.URL.Path); ok {
					info := infoFrom(r.Context())
					info.prefix, info.service = rt.Prefix, rt.Service
				}
			}
			if g.metrics != nil {
				g.metrics.RateLimited(limiterClient)
			}
			httpx.WriteError(w, r, g.logger, ratelimit.Error(wait))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog writes one line per request once it is done: what was asked,
// who asked (user_id, from a verified token only), where it went and how it
// ended. It never logs bodies, the query string or any header but the
// request id, so tokens and personal data stay out of the logs.
//
// With m set it also records the request in m (routeInstruments) by the matched
// route prefix and its service, never the raw path, which would give every
// product id a series of its own. A response cut off mid-body (status 0 in
// the log) is recorded with code "0".
//
// Refused requests (429) are logged at most once per client and second
// (see refusalLog); the line then counts the ones left out ("suppressed").
func accessLog(logger log.Logger, clientIP func(*http.Request) string, m *routeInstruments, refused *refusalLog, next http.Handler) http.Handler {
	logger = level.Info(logger) // once, not per request
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		rec := &recorder{ResponseWriter: w}
		aborted := true
		defer func() {
			status := rec.status
			switch {
			case aborted:
				// A panic, most likely http.ErrAbortHandler after the
				// upstream broke off mid-body; the client saw a cut
				// response. Log it and let the panic go on to net/http.
				status = 0
			case !rec.wroteHeader:
				status = http.StatusOK // net/http's implicit status
			}
			took := time.Since(start)
			if m != nil {
				m.route(info.prefix, info.service).request(r.Context(), status, took)
			}
			client := clientIP(r)
			suppressed := 0
			if status == http.StatusTooManyRequests {
				var ok bool
				if ok, suppressed = refused.allow(client, start); !ok {
					return
				}
			}
			// Room for the trace ids, so that appending them does not
			// copy the line.
			kv := make([]any, 0, 30)
			kv = append(kv,
				"msg", "request",
				"method", r.Method,
				"path", r.URL.Path,
				"route", info.prefix,
				"service", info.service,
				"instance", info.instance,
				"user_id", info.userID,
				"attempts", info.attempts,
				"status", status,
				"bytes", rec.bytes,
				"took", took,
				"request_id", requestid.FromContext(r.Context()),
				"client", client,
			)
			kv = logging.AppendTrace(kv, r.Context())
			if aborted {
				kv = append(kv, "aborted", true)
			}
			if suppressed > 0 {
				kv = append(kv, "suppressed", suppressed)
			}
			logger.Log(kv...)
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		aborted = false
	})
}

// requestInfo collects, for the access log, what the inner layers learnt
// about a request. It is only touched by the request's own goroutine.
type requestInfo struct {
	prefix   string
	service  string
	instance string
	attempts int
	userID   string // set once a token has been verified
	call     call   // set by route for the forwarder
}

type infoKey struct{}

// infoFrom returns the request's info, or a throwaway one when the handler
// runs without the access log (so callers never check for nil).
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// recorder notes the status and size of a response for the access log. The
// ReverseProxy flushes through http.ResponseController, which finds the
// underlying writer's Flush (and Hijack) via Unwrap.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader && status >= 200 {
		// 1xx responses are interim; the final status comes later.
		r.status = status
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.status = http.StatusOK
		r.wroteHeader = true
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// clientIP returns the address the rate limit and the logs attribute a
// request to: the peer's IP, or, only when the gateway is configured to
// trust a proxy in front of it, the last address that proxy appended to
// X-Forwarded-For. Trusting the header by default would let any client pick
// a fresh identity per request and escape its rate limit.
func (g *Gateway) clientIP(r *http.Request) string {
	if g.trustForwardedFor {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := strings.TrimSpace(last); net.ParseIP(ip) != nil {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
