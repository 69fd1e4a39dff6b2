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
// The same readiness drives the standard grpc.health.v1 service (GRPC), which
// Consul's gRPC check and grpc clients probe.
package health
