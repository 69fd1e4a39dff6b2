// Package gateway is kitshop's single HTTP entry point: a reverse proxy that
// routes public API paths to the services that serve them and keeps
// requests without a valid access token away from the routes that need one.
//
// Routing is discovered, not configured. Every service that registers in
// Consul with the "api" tag and an api_prefix meta value (such as
// "/api/v1/products", or several prefixes separated by commas:
// "/api/v1/users,/api/v1/auth") is routed by those prefixes, so a new service
// is reachable as soon as its first instance passes its health checks,
// without touching or restarting the gateway. ConsulSource follows Consul
// and publishes immutable Tables; the gateway reads the current one without
// locking for every request. A path is routed to the longest prefix that
// matches it on path-segment boundaries: "/api/v1/products" serves
// "/api/v1/products" and "/api/v1/products/42", never "/api/v1/productsale".
// One service may announce the root, SitePrefix ("/"): a site such as the
// storefront, which gets the paths no other prefix matches outside /api.
//
// Which routes need a token is declared by each service too, in the
// public_routes meta value (MetaPublicRoutes): comma-separated
// "METHOD /path/prefix" or "METHOD =/exact/path" entries such as "GET
// /api/v1/products,POST =/api/v1/auth/login". A prefix entry makes requests
// with that method public whose path is the entry's or continues it after a
// slash, an exact entry only those for the path itself; a GET entry covers
// HEAD too. Every other request under the service's prefixes is protected.
// Nothing about it is written into the gateway. Declarations are parsed
// when they change, and malformed entries are logged once and ignored, which
// leaves their routes protected: a mistake fails closed.
//
// For each request the gateway, in this order:
//
//   - adopts or generates the X-Request-ID (kit/requestid) and echoes it;
//   - writes one access log line when the request is done, with the user's
//     id once a token has been verified (never the token);
//   - rate limits per client IP (429 with Retry-After);
//   - finds the route (404 problem when no prefix matches);
//   - unless the route is public, requires "Authorization: Bearer <token>"
//     with a token kit/auth's Verifier accepts, checked against the keys of
//     the user service (ConsulKeys fetches its JWKS through Consul): 401
//     problem with a WWW-Authenticate challenge when the token is missing or
//     bad, 503 when the keys cannot be fetched; the request is not
//     forwarded. Then it rate limits per user, by the token's subject (429);
//   - answers a public GET or HEAD without credentials from the response
//     cache when it can (Cache), and a composite route's expand from
//     several upstream calls (CompositeRoute);
//   - finds a healthy instance by the service's strategy (Balance: round
//     robin, random or power of two choices), skipping instances whose
//     circuit breaker is open or that have stopped answering (503 problem
//     with Retry-After when there is none, or the cached answer marked as
//     stale for a public GET);
//   - forwards the request with its path unchanged, X-Forwarded-For/-Host/
//     -Proto set by the gateway, hop-by-hop headers removed, and identity
//     headers a client may have made up (X-User-Id, X-User-Roles,
//     X-User-Email, X-Auth-User, X-Forwarded-User, X-Remote-User and every
//     X-Kitshop-* header, in any case and also spelt with underscores)
//     removed, within a per-attempt timeout;
//   - retries once on another instance when that is safe: any method when the
//     request never left the gateway (connection refused, breaker open), and
//     idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) also after a
//     transport error, a timeout, or a 502/503 from the instance.
//
// The Authorization header is forwarded unchanged, on every route. Services
// verify the token again and take the caller's identity from it alone, never
// from a header the gateway (or anyone) sets: the gateway's check is a
// first line that keeps anonymous and forged traffic off the services and
// makes per-user limits possible, not the only one.
//
// On public routes the gateway does not look at the token at all: a missing,
// expired or invalid one is forwarded as it is, and the service decides.
// Refusing a stale token there would lock a client out of the very routes
// (login, refresh) that get it a new one, and public routes keep working
// while the user service's keys cannot be fetched. Such requests are not
// limited per user, only per client.
//
// Upstream responses, error bodies included, pass through unchanged. Errors
// the gateway itself produces are problem documents (kit/httpx). Transport
// failures and 5xx responses count against the instance's circuit breaker;
// 4xx responses are the client's business and never do.
//
// Consul fails an instance that stops answering (a stopped or hung process)
// only after its checks time out, seconds later, and a request sent to it
// meanwhile would wait for the whole upstream timeout. So the gateway probes
// each instance's /healthz itself, every Config.ProbeInterval (100ms) within
// Config.ProbeTimeout (200ms), through its transport but not its breakers
// or access log. An instance is unresponsive when two probes in a row have
// failed and no response to a request has come from it since the first of
// them began (a refused connection counts at once): under heavy load its
// probes may time out, but its answers keep coming, and it stays in
// rotation. An unresponsive instance is skipped like an open circuit, and
// the requests waiting on it are cancelled then and answered 503 with
// Retry-After (retried on another instance only by the rules above, as
// after any transport error). Any answered probe, or any response, puts it
// back. Both changes are logged once, with the instance.
//
// Request bodies are limited (MaxBodyBytes); small ones are buffered so a
// retry can send them again, larger ones are streamed and retried only if the
// upstream never read a byte. Protocol upgrades (WebSocket) are not proxied.
//
// Upstream requests go through Upstream (NewUpstream): HTTP/1.1 over
// pooled keep-alive connections, each request written and its response read
// on the request's own goroutine, where http.Transport hands both to
// goroutines of its own. Measured on loopback with wrk, a bare
// httputil.ReverseProxy spent 56-60 us of CPU per request over http.Transport
// and 44-45 us over this design. The wire format stays net/http's: requests
// are written with http.Request.Write and responses read with
// http.ReadResponse, so chunking and the framing that request smuggling
// abuses are handled by the standard library; a connection carries another
// request only after its response was read to the end with nothing left
// over. Interim (1xx) responses are skipped, the client's "Expect:
// 100-continue" is answered by the gateway's own server and not passed on,
// and anything but plain http (and upgrades) goes to net/http's Transport.
//
// To keep the hop cheap, too, an accepted token is remembered, by its
// SHA-256, for up to 10 seconds and
// never past its expiry, so a client sending the same token with every
// request is not verified (an Ed25519 signature and a JSON parse) every
// time; a token the verifier refused is checked in full again.
//
// With Config.Metrics set, every request is counted and timed by the route
// prefix it matched ("unmatched" when none did) and the upstream service,
// never by its raw path, so the number of series follows the routes and not
// the ids in the URLs; a request the per-client limit refused counts under
// the route it was meant for. Rejections of the per-client and per-user
// limits count as limiters "client" and "user", and each instance's breaker
// exports its state as "gateway/<service>/<instance id>" (dropped when the
// instance leaves). The metrics themselves are served by kit/server at
// /metrics on an internal listener, never on the gateway's public port:
// /healthz, /readyz and /metrics stay reserved, and no service can announce
// them, or a path below them, as a prefix.
//
// A prefix belongs to the service that serves it: another service
// announcing it, or a service announcing a prefix the configuration pins to
// another (Owners), is refused, logged and counted. Requests to switch
// protocols (WebSocket) are refused with a 400, and refused (429) requests
// are logged at most once per client and second.
//
// Files, in reading order: gateway.go (Config and the handler), routes.go,
// public.go and owners.go (the routing table, public routes and prefix
// pins), consul_source.go (the table from Consul), middleware.go (request
// ids, rate limits, the access log; logsample.go thins the log of refused
// requests), auth.go (token checks), proxy.go (forwarding with retries),
// body.go (request bodies a retry can send again), breakers.go (a circuit
// breaker per instance), probe.go (finding instances that stopped
// answering), instruments.go (the gateway's metrics), openapi.go (the API
// description it serves), cache.go, cache_http.go and
// cache_events.go (the response cache, its serving and degradation, and its
// invalidation by change events), aggregate_config.go and aggregate.go
// (composite routes), balance.go (instance selection) and live.go (the
// live settings).
package gateway
