package gateway

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/metrics"
)

// routeInstruments are the gateway's own metrics, per route:
// kitshop_gateway_requests_total by matched prefix, upstream service and
// status code, and kitshop_gateway_request_duration_seconds by prefix and
// upstream. The raw path is never a label, so the number of series stays
// bounded by the routes.
type routeInstruments struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu     sync.RWMutex // guards routes, built on first use
	routes map[routeKey]*routeMetrics
}

type routeKey struct{ route, upstream string }

// newRouteInstruments registers the instruments in m's registry.
func newRouteInstruments(m *metrics.Metrics) *routeInstruments {
	ri := &routeInstruments{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "gateway_requests_total",
			Help: "Requests through the gateway by route prefix, upstream service and status code.",
		}, []string{"route", "upstream", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Name: "gateway_request_duration_seconds",
			Help:    "Gateway request latency by route prefix and upstream service.",
			Buckets: metrics.LatencyBuckets,
		}, []string{"route", "upstream"}),
		routes: make(map[routeKey]*routeMetrics),
	}
	// A second gateway on the same Metrics (tests) shares the first's.
	ri.requests = register(m, ri.requests)
	ri.duration = register(m, ri.duration)
	return ri
}

// register registers c in m's registry, or returns the collector already
// registered under its name.
func register[C prometheus.Collector](m *metrics.Metrics, c C) C {
	if err := m.Registry().Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			return are.ExistingCollector.(C)
		}
		panic(err)
	}
	return c
}

// route returns the instruments of one route: route is the matched prefix
// ("" when none matched, reported as "unmatched"), upstream its service (""
// when none, reported as "none"). It is built on the first call and
// returned again afterwards.
func (ri *routeInstruments) route(route, upstream string) *routeMetrics {
	if route == "" {
		route = "unmatched"
	}
	if upstream == "" {
		upstream = "none"
	}
	k := routeKey{route, upstream}
	ri.mu.RLock()
	r, ok := ri.routes[k]
	ri.mu.RUnlock()
	if ok {
		return r
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if r, ok := ri.routes[k]; ok {
		return r
	}
	r = &routeMetrics{
		requests:   ri.requests.MustCurryWith(prometheus.Labels{"route": route, "upstream": upstream}),
		duration:   ri.duration.WithLabelValues(route, upstream),
		exemplarAt: make([]atomic.Int64, len(metrics.LatencyBuckets)+1),
	}
	ri.routes[k] = r
	return r
}

// maxStatus bounds the status codes whose counters routeMetrics keeps at
// hand; HTTP defines none above 599.
const maxStatus = 600

// routeMetrics records the requests of one route with its labels resolved:
// recording costs a few atomic operations and no allocation.
type routeMetrics struct {
	requests *prometheus.CounterVec // curried: only "code" is left
	duration prometheus.Observer
	codes    [maxStatus]atomic.Pointer[prometheus.Counter]
	// exemplarAt is when each latency bucket (metrics.LatencyBuckets, then
	// +Inf) last took an exemplar, in Unix nanoseconds.
	exemplarAt []atomic.Int64
}

// exemplarInterval is how often a route's latency bucket takes a new
// exemplar at most. A bucket keeps only its last one and Prometheus reads
// it every few seconds; an exemplar costs the histogram a handful of
// allocations, which every sampled request paid.
const exemplarInterval = time.Second

// request records one request answered with the status code after took.
// A request of a sampled trace leaves its trace id as the exemplar of its
// latency bucket, one a second at most, so a slow bucket links to a trace
// that landed in it.
func (r *routeMetrics) request(ctx context.Context, code int, took time.Duration) {
	r.counter(code).Inc()
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() && r.exemplarDue(took.Seconds()) {
		if eo, ok := r.duration.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(took.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	r.duration.Observe(took.Seconds())
}

// exemplarDue reports whether the bucket of an observation of v seconds
// may take a new exemplar, and if so notes that it has.
func (r *routeMetrics) exemplarDue(v float64) bool {
	// The bucket the histogram puts v in: the first whose upper bound is
	// at least v.
	at := &r.exemplarAt[sort.SearchFloat64s(metrics.LatencyBuckets, v)]
	last, now := at.Load(), time.Now().UnixNano()
	return now-last >= int64(exemplarInterval) && at.CompareAndSwap(last, now)
}

func (r *routeMetrics) counter(code int) prometheus.Counter {
	if code < 0 || code >= maxStatus {
		return r.requests.WithLabelValues(strconv.Itoa(code))
	}
	if c := r.codes[code].Load(); c != nil {
		return *c
	}
	c := r.requests.WithLabelValues(strconv.Itoa(code))
	r.codes[code].Store(&c)
	return c
}
