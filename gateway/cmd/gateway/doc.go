// Command gateway is kitshop's HTTP entry point. It routes every public API
// path to the service that registered its prefix in Consul, and lets a
// request through to a route the service did not declare public only with a
// valid access token, checked against the keys of the -auth-service (found
// in Consul as well).
//
// Besides the routes, the HTTP port serves the gateway's own /healthz and
// /readyz. The metrics, for Prometheus, are served at /metrics on the
// internal -metrics-addr only (127.0.0.1:9180 by default), never on the
// public port: requests by route prefix, upstream service and status with
// their latency, rate-limit rejections (limiters "client" and "user"), the
// state of each instance's circuit breaker, refused route claims and the Go
// runtime. No service can claim /healthz, /readyz or /metrics as a route.
//
// A service may only take a prefix no other service serves, and a prefix
// pinned with -route-owners ("/api/v1/users=user,…") only its pinned
// service; the signing keys come from the -auth-service only.
//
// The public port cuts a request whose body has not arrived within
// -read-timeout and keeps at most -max-conns-per-client connections per
// client address (IPv4 address or IPv6 /64).
//
// Public GETs are answered from a response cache of -cache-max-bytes (0
// turns it off), kept fresh by the change events read from -nats-url; while
// a service cannot answer, the last good answer is served marked as stale
// for up to -stale-if-error. Composite routes (-composites) and instance
// selection (-balance-default, -balance) are live settings too, under
// kitshop/config/gateway/ in Consul's KV store.
//
// Every instance's /healthz is probed each -probe-interval (100ms), each
// probe within -probe-timeout (100ms): an instance that has failed two in a
// row and answered no request meanwhile (a stopped or hung process) is
// skipped, and the requests waiting on it get a 503, long before Consul
// fails its checks. The change is logged both ways.
//
// With -debug-addr (off by default) a separate listener serves the
// net/http/pprof profiles; keep it on a private address. The log, an access
// line per request among it, is written in batches, at most 100ms late.
//
// -version prints the version, commit and build time (kit/version) and
// exits.
//
// The per-client and per-user rate limits and bursts, the upstream timeout,
// the breakers' thresholds and the log level are live: they follow
// kitshop/config/gateway/ in Consul (kit/liveconfig, gateway.LiveSchema),
// with the flags as defaults, and change without a restart.
//
// Every flag can also be set through the environment: -rate-limit is
// GATEWAY_RATE_LIMIT, and so on. Flags win over the environment.
//
//	gateway -http-addr :8080 -consul-addr 127.0.0.1:8500
package main
