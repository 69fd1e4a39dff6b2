// Package gateway is kitshop's single HTTP entry point: a reverse proxy that
// routes public API paths to the services that serve them.
//
// Routing is discovered, not configured. Every service that registers in
// Consul with the "api" tag and an api_prefix meta value (such as
// "/api/v1/products") is routed by that prefix, so a new service is reachable
// as soon as its first instance passes its health checks, without touching or
// restarting the gateway. ConsulSource follows Consul and publishes immutable
// Tables; the gateway reads the current one without locking for every request.
// A path is routed to the longest prefix that matches it on path-segment
// boundaries: "/api/v1/products" serves "/api/v1/products" and
// "/api/v1/products/42", never "/api/v1/productsale".
//
// For each request the gateway, in this order:
//
//   - adopts or generates the X-Request-ID (kit/requestid) and echoes it;
//   - writes one access log line when the request is done;
//   - rate limits per client IP (429 with Retry-After);
//   - finds the route (404 problem when no prefix matches) and a healthy
//     instance by round robin, skipping instances whose circuit breaker is
//     open (503 problem with Retry-After when there is none);
//   - forwards the request with its path unchanged, X-Forwarded-For/-Host/
//     -Proto set by the gateway and hop-by-hop headers removed, within a
//     per-attempt timeout;
//   - retries once on another instance when that is safe: any method when the
//     request never left the gateway (connection refused, breaker open), and
//     idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) also after a
//     transport error, a timeout, or a 502/503 from the instance.
//
// Upstream responses, error bodies included, pass through unchanged. Errors
// the gateway itself produces are problem documents (kit/httpx). Transport
// failures and 5xx responses count against the instance's circuit breaker;
// 4xx responses are the client's business and never do.
//
// Request bodies are limited (MaxBodyBytes); small ones are buffered so a
// retry can send them again, larger ones are streamed and retried only if the
// upstream never read a byte. Protocol upgrades (WebSocket) are not proxied.
package gateway
