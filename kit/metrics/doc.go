// Package metrics instruments kitshop processes for Prometheus: go-kit
// endpoint middleware, breakers, rate limiters, database pools and the
// gateway report to one registry per process.
//
// A process builds one *Metrics with New, serves Handler at /metrics
// (kit/server.Config.Metrics), and passes the value down to what it
// instruments:
//
//   - Instrument is endpoint middleware over go-kit's metrics.Counter and
//     metrics.Histogram, so it works with any go-kit metrics backend;
//     EndpointMiddleware is Instrument over this package's Prometheus
//     binding (Requests, Duration), whose children are resolved once
//     rather than per call as go-kit's own Prometheus adapter does.
//   - EndpointMiddleware counts and times every endpoint call by service,
//     method and outcome ("success" or the error kind, so rate-limited calls
//     show up as outcome="rate_limited"): kitshop_requests_total and
//     kitshop_request_duration_seconds.
//   - Breaker wraps a breaker.Breaker to export its state
//     (kitshop_breaker_open) and count the calls it rejects without running
//     them (kitshop_breaker_rejections_total).
//   - RateLimited counts rejections by a named limiter
//     (kitshop_ratelimit_rejections_total), for callers such as the gateway
//     that limit outside an endpoint.
//   - Pool exports pgx pool statistics (kitshop_db_pool_*).
//
// A component with instruments of its own (the gateway's per route)
// registers them in Registry.
//
// The instruments on a request's path resolve their labels once and keep
// the children, so recording costs a few atomic operations and no
// allocation: client_golang's vectors directly, not go-kit's metrics
// adapter, which rebuilds a label map on every observation.
//
// Go runtime and process metrics are registered too. Every Metrics has its own
// registry: nothing is registered globally, so tests and several instances in
// one process never collide.
package metrics
