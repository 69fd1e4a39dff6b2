// Package metrics instruments kitshop processes for Prometheus through go-kit's
// metrics package.
//
// A process builds one *Metrics with New, serves Handler at /metrics
// (kit/server.Config.Metrics), and passes the value down to what it
// instruments:
//
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
//   - GatewayRequest records one proxied request by route, upstream and status
//     (kitshop_gateway_requests_total, kitshop_gateway_request_duration_seconds).
//
// Go runtime and process metrics are registered too. Every Metrics has its own
// registry: nothing is registered globally, so tests and several instances in
// one process never collide.
package metrics
