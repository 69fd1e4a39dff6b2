// Package health answers "is this process alive?" and "should it get
// traffic?" over HTTP and gRPC.
//
// A Health starts not ready. kit/server marks it ready once the listeners
// serve and not ready again as the first step of a graceful shutdown, before
// deregistering from Consul, so load balancers stop sending traffic before
// the process stops accepting it. Dependencies (the database) are Checks that
// /readyz runs on each probe; a failing check takes the instance out of
// rotation until it recovers, while /healthz stays 200 so nothing restarts a
// process that is merely waiting for its database.
//
// A check may instead return a Degraded error: the dependency is out, but
// the process works around it (it serves reads from a cache and fails the
// rest fast with 503 and Retry-After). /readyz then answers 200 with status
// "degraded", and the instance stays in rotation: when every instance
// shares the dependency, withdrawing them all helps no one, and coming back
// would wait for the next health check.
//
// The same readiness drives the standard grpc.health.v1 service (GRPC), which
// Consul's gRPC check and grpc clients probe.
package health
