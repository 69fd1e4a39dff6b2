package metrics

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	kitmetrics "github.com/go-kit/kit/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/errs"
)

// Namespace prefixes every metric name.
const Namespace = "kitshop"

// OutcomeSuccess is the outcome label of a call that returned no error.
const OutcomeSuccess = "success"

// LatencyBuckets are the histogram buckets in seconds: fine-grained below
// 10 ms, where a healthy call on this stack lands, and up to the 10 s
// default request timeout.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds one process's registry and instruments.
type Metrics struct {
	service  string
	registry *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	breakerRejections  *prometheus.CounterVec
	breakerTransitions *prometheus.CounterVec
	rateLimited        *prometheus.CounterVec
}

// New returns the metrics of the named service (the "service" label of
// every request metric), with Go runtime and process collectors registered.
func New(service string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "requests_total",
		Help: "Endpoint calls by service, method and outcome (success or error kind).",
	}, []string{"service", "method", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "request_duration_seconds",
		Help:    "Endpoint call latency by service, method and outcome.",
		Buckets: LatencyBuckets,
	}, []string{"service", "method", "outcome"})
	m := &Metrics{
		service:  service,
		registry: reg,
		requests: requests,
		duration: duration,
		breakerRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "breaker_rejections_total",
			Help: "Calls a circuit breaker rejected without running them.",
		}, []string{"breaker"}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "breaker_transitions_total",
			Help: "Changes of state of a circuit breaker, by the state it changed to (open or closed).",
		}, []string{"breaker", "to"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "ratelimit_rejections_total",
			Help: "Requests rejected by the named rate limiter.",
		}, []string{"limiter"}),
	}
	reg.MustRegister(requests, duration, m.breakerRejections, m.breakerTransitions, m.rateLimited)
	return m
}

// Registry returns the registry, for registering collectors of one's own.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	// OpenMetrics, when the scraper asks for it, carries the exemplars.
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry, EnableOpenMetrics: true})
}

// Outcome is the outcome label for a call's error: "success" or the error's
// kind ("not_found", "rate_limited", "unavailable", ...).
func Outcome(err error) string {
	if err == nil {
		return OutcomeSuccess
	}
	return errs.KindOf(err).String()
}

// EndpointMiddleware counts and times every call of the named method in
// kitshop_requests_total and kitshop_request_duration_seconds. Put it
// outermost, so that calls rejected by inner middleware (rate limits,
// breakers, timeouts) are counted with their outcome. It is Instrument over
// this registry's go-kit Counter and Histogram with the service and method
// labels bound.
func (m *Metrics) EndpointMiddleware(method string) endpoint.Middleware {
	return Instrument(
		m.Requests().With("service", m.service, "method", method),
		m.Duration().With("service", m.service, "method", method),
	)
}

// Requests returns kitshop_requests_total as a go-kit metrics.Counter with
// the labels service, method and outcome.
func (m *Metrics) Requests() kitmetrics.Counter { return newCounter(m.requests) }

// Duration returns kitshop_request_duration_seconds as a go-kit
// metrics.Histogram with the labels service, method and outcome.
func (m *Metrics) Duration() kitmetrics.Histogram { return newHistogram(m.duration) }

// Instrument returns endpoint middleware that adds 1 to requests and
// observes the call's duration in seconds, both with the label "outcome"
// ("success" or the error's kind) added. It works with any go-kit metrics
// backend. The instruments of each outcome are resolved once, on the
// outcome's first call, so with this package's Prometheus binding a call
// costs a few atomic operations and no allocation.
func Instrument(requests kitmetrics.Counter, duration kitmetrics.Histogram) endpoint.Middleware {
	o := &outcomes{requests: requests, duration: duration}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (response any, err error) {
			defer func(begin time.Time) {
				in := o.get(err)
				in.requests.Add(1)
				observe(ctx, in.duration, time.Since(begin).Seconds())
			}(time.Now())
			return next(ctx, request)
		}
	}
}

// observe records v in h, with the trace id as an exemplar when the call
// is part of a sampled trace and h is this package's Prometheus binding:
// a latency bucket then links to a trace that landed in it.
func observe(ctx context.Context, h kitmetrics.Histogram, v float64) {
	if eh, ok := h.(*histogram); ok {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			eh.observeWithTrace(v, sc.TraceID().String())
			return
		}
	}
	h.Observe(v)
}

// outcomes are one method's instruments per outcome, resolved on first use.
// Slot 0 is success and slot 1+k the error kind k; kinds out of the known
// range share the "internal" series, as errs.Kind.String says.
type outcomes struct {
	requests kitmetrics.Counter
	duration kitmetrics.Histogram
	slots    [1 + 256]atomic.Pointer[instruments]
}

type instruments struct {
	requests kitmetrics.Counter
	duration kitmetrics.Histogram
}

func (o *outcomes) get(err error) *instruments {
	i := 0
	if e, ok := err.(*errs.Error); ok && e != nil {
		// The common case, without errs.KindOf's errors.As, which
		// allocates; for an *errs.Error both give its Kind.
		i = 1 + int(e.Kind)
	} else if err != nil {
		i = 1 + int(errs.KindOf(err))
	}
	if in := o.slots[i].Load(); in != nil {
		return in
	}
	// Two first calls may race here; both get equivalent instruments, so
	// either store is right.
	outcome := Outcome(err)
	in := &instruments{requests: o.requests.With("outcome", outcome), duration: o.duration.With("outcome", outcome)}
	o.slots[i].Store(in)
	return in
}

// RateLimited counts one rejection by the named limiter.
func (m *Metrics) RateLimited(limiter string) {
	m.rateLimited.WithLabelValues(limiter).Inc()
}
