package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"
	kitmetrics "github.com/go-kit/kit/metrics"
	kitprometheus "github.com/go-kit/kit/metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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

	requests kitmetrics.Counter
	duration kitmetrics.Histogram

	breakerRejections *prometheus.CounterVec
	rateLimited       *prometheus.CounterVec

	gatewayRequests *prometheus.CounterVec
	gatewayDuration *prometheus.HistogramVec
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
		requests: kitprometheus.NewCounter(requests),
		duration: kitprometheus.NewHistogram(duration),
		breakerRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "breaker_rejections_total",
			Help: "Calls a circuit breaker rejected without running them.",
		}, []string{"breaker"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "ratelimit_rejections_total",
			Help: "Requests rejected by the named rate limiter.",
		}, []string{"limiter"}),
		gatewayRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "gateway_requests_total",
			Help: "Requests through the gateway by route prefix, upstream service and status code.",
		}, []string{"route", "upstream", "code"}),
		gatewayDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "gateway_request_duration_seconds",
			Help:    "Gateway request latency by route prefix and upstream service.",
			Buckets: LatencyBuckets,
		}, []string{"route", "upstream"}),
	}
	reg.MustRegister(requests, duration, m.breakerRejections, m.rateLimited,
		m.gatewayRequests, m.gatewayDuration)
	return m
}

// Registry returns the registry, for registering collectors of one's own.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Outcome is the outcome label for a call's error: "success" or the error's
// kind ("not_found", "rate_limited", "unavailable", ...).
func Outcome(err error) string {
	if err == nil {
		return OutcomeSuccess
	}
	return errs.KindOf(err).String()
}

// EndpointMiddleware counts and times every call of the named method. Put it
// outermost, so that calls rejected by inner middleware (rate limits,
// breakers, timeouts) are counted with their outcome.
func (m *Metrics) EndpointMiddleware(method string) endpoint.Middleware {
	requests := m.requests.With("service", m.service, "method", method)
	duration := m.duration.With("service", m.service, "method", method)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (response any, err error) {
			defer func(begin time.Time) {
				outcome := Outcome(err)
				requests.With("outcome", outcome).Add(1)
				duration.With("outcome", outcome).Observe(time.Since(begin).Seconds())
			}(time.Now())
			return next(ctx, request)
		}
	}
}

// RateLimited counts one rejection by the named limiter.
func (m *Metrics) RateLimited(limiter string) {
	m.rateLimited.WithLabelValues(limiter).Inc()
}

// GatewayRequest records one request the gateway answered. route is the
// matched prefix ("" when none matched, reported as "unmatched"), upstream the
// service it went to ("" when it went nowhere, reported as "none").
func (m *Metrics) GatewayRequest(route, upstream string, code int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	if upstream == "" {
		upstream = "none"
	}
	m.gatewayRequests.WithLabelValues(route, upstream, strconv.Itoa(code)).Inc()
	m.gatewayDuration.WithLabelValues(route, upstream).Observe(took.Seconds())
}
