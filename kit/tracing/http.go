package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/errs"
)

// TraceIDHeader is the response header that carries the trace id of a
// recorded request, so a user who saw an error can find its trace.
const TraceIDHeader = "Trace-Id"

// serverStart and clientStart are the start options of the HTTP spans,
// built once.
var (
	serverStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	clientStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
)

// HTTPHandler starts a server span per request, a child of the request's
// traceparent if it has one, and puts it on the request's context. A
// recorded request's response carries TraceIDHeader, and its span the
// method, path (never the query), route (see Route) and status; a 5xx
// marks it failed.
//
// An unrecorded request costs an extracted context and a span context
// (its ids, for the logs and the calls that follow) on the request's
// context; a new trace the sampler drops is not even started in the SDK
// (see rootSampling). With tracing off (no exporter), it costs nothing.
func HTTPHandler(next http.Handler) http.Handler {
	t := tracer()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tp := otel.GetTracerProvider()
		if !enabled(tp) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := propagator.Extract(r.Context(), headerCarrier(r.Header))
		var span trace.Span
		if rs := activeRoots(tp); rs != nil && !trace.SpanContextFromContext(ctx).IsValid() {
			ctx, span = rs.start(ctx, spanName(r.Method), trace.SpanKindServer, serverStart)
		} else {
			ctx, span = t.Start(ctx, spanName(r.Method), serverStart...)
		}
		defer span.End()
		if !span.IsRecording() {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		w.Header()[TraceIDHeader] = []string{span.SpanContext().TraceID().String()}
		span.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
		)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		failStatus(span, status)
	})
}

// Route names the request's server span after pattern (a route such as
// "GET /api/v1/products/{id}"), when the span is recorded: a low-cardinality
// name that groups the requests of one route.
func Route(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetName(pattern)
			span.SetAttributes(attribute.String("http.route", pattern))
		}
		next.ServeHTTP(w, r)
	})
}

// SetRoute names the request's server span after the gateway route that
// matched it ("GET /api/v1/orders", the route's prefix) and records the
// service it goes to, when the span is recorded.
func SetRoute(ctx context.Context, method, prefix, service string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetName(method + " " + prefix)
	span.SetAttributes(attribute.String("http.route", prefix), attribute.String("kitshop.upstream.service", service))
}

// spanName is "HTTP <method>" without an allocation for the usual methods.
func spanName(method string) string {
	switch method {
	case http.MethodGet:
		return "HTTP GET"
	case http.MethodPost:
		return "HTTP POST"
	case http.MethodPut:
		return "HTTP PUT"
	case http.MethodPatch:
		return "HTTP PATCH"
	case http.MethodDelete:
		return "HTTP DELETE"
	case http.MethodHead:
		return "HTTP HEAD"
	}
	return "HTTP"
}

// statusWriter notes the response status. Unwrap keeps Flush, Hijack and
// the rest reachable through http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Transport returns base (http.DefaultTransport when nil) with a client
// span around each request, whose context it sends as traceparent, over
// any the request carried. Each attempt of a retried request is a span of
// its own; under a parent-based sampler (Config.Ratio's), the attempts of
// an unsampled trace get none, and the caller's span context goes as it
// is. Without a trace context on the request's context, it adds nothing.
// It drops the upstream's TraceIDHeader from the response.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, t: tracer()}
}

type transport struct {
	base http.RoundTripper
	t    trace.Tracer
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return t.base.RoundTrip(req)
	}
	// A RoundTripper must not change its request: send a copy whose header
	// carries the trace context.
	out := *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	out.Header.Del("Tracestate")
	if !sc.IsSampled() && dropsUnsampledChildren() {
		// The sampler would drop the client span: pass on the caller's
		// span context as it is rather than start a span for nothing.
		propagator.Inject(ctx, headerCarrier(out.Header))
		resp, err := t.base.RoundTrip(&out)
		if err == nil {
			delete(resp.Header, TraceIDHeader)
		}
		return resp, err
	}
	ctx, span := t.t.Start(ctx, spanName(req.Method), clientStart...)
	defer span.End()
	propagator.Inject(ctx, headerCarrier(out.Header))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Host),
			attribute.String("url.path", req.URL.Path),
		)
	}
	resp, err := t.base.RoundTrip(&out)
	if err != nil {
		span.SetStatus(codes.Error, "transport error")
		span.SetAttributes(attribute.String("error.type", "transport"))
		return nil, err
	}
	// The upstream's Trace-Id names the same trace; a proxy's own server
	// span sets it once on the response it forwards.
	delete(resp.Header, TraceIDHeader)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		failStatus(span, resp.StatusCode)
	}
	return resp, nil
}

// dropsUnsampledChildren reports whether the provider Setup installed is
// the global one and its sampler parent-based: the child of an unsampled
// span is then never recorded.
func dropsUnsampledChildren() bool {
	rs := activeRoots(otel.GetTracerProvider())
	return rs != nil && rs.sampling.parentBased()
}

// failStatus gives a span whose response was an error its kind
// (kit/errs), as "error.type"; a 5xx also fails the span, as a 4xx, the
// caller's business, does not.
func failStatus(span trace.Span, status int) {
	if status < 400 {
		return
	}
	span.SetAttributes(attribute.String("error.type", errs.KindFromHTTPStatus(status).String()))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// CloseIdleConnections passes on to the base transport.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
