// Package server runs a service's HTTP and gRPC servers with a graceful
// lifecycle; every kitshop command's main ends in server.Run.
//
// Run serves /healthz (200 {"status":"ok","version":…,"commit":…}, see
// kit/version) and /readyz (kit/health) in front of the service's handler and the grpc.health.v1 service on the gRPC server, becomes ready
// and registers in service discovery once serving. When its context ends
// (SIGTERM) or a server fails, it shuts down in the order that loses no
// request:
//
//  1. readiness fails (/readyz 503, gRPC NOT_SERVING), so health checks and
//     load balancers stop choosing this instance;
//  2. the instance deregisters, then waits DeregisterDelay so that watchers
//     (the gateway) drop it from their lists;
//  3. HTTP and gRPC stop accepting and drain in-flight requests, for at most
//     DrainTimeout, after which remaining connections are cut;
//  4. Closers run (database pools and the like), when nothing uses them any
//     more.
//
// The HTTP port bounds what one client can hold: ReadTimeout cuts a
// request whose body does not arrive in time (a client that sends its
// headers and then trickles its body, or nothing), WriteTimeout a response
// the client does not read, and MaxConnsPerClient caps the connections per
// client address (IPv4 address or IPv6 /64). The defaults (Default…) suit
// API traffic of small JSON documents.
//
// With a MetricsListener (a command's -metrics-addr flag, see
// ListenInternal) the metrics are served there only, away from the port
// clients reach.
//
// With a DebugListener (a command's -debug-addr flag, see ListenDebug) Run
// also serves the net/http/pprof profiles there, on a listener of their own
// that the public port never shares.
//
// TuneGC, which a main may call first thing, sets the garbage collector's
// percentage and soft memory limit unless GOGC or GOMEMLIMIT say otherwise;
// Run gives the grown heap back to the operating system once the process
// goes idle.
package server
