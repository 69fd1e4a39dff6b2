// Package local runs the whole kitshop system on one machine, on loopback:
// PostgreSQL, a Consul dev agent, a NATS server with JetStream (its streams
// on disk under the run folder), every service (several instances each) and
// the gateway, as real processes built into bin/. `make run` uses it through
// cmd/kitshop-local; the end-to-end test uses it with free ports. Every
// service and the gateway find the broker through <PREFIX>_NATS_URL in
// their environment.
//
// A new service joins the stack by appending one ServiceSpec to
// DefaultServices: its binary, whether it gets a database, its instances,
// its flags and the gateway requests that prove it is reachable. Or, with
// no code to change, by a file deploy/local/services/<name>.json holding
// the same (see FileServices; kit/cmd/kitgen writes one per new service).
//
// The stack includes the user service, which issues the access tokens, with
// an admin account bootstrapped from Config.AdminEmail and
// Config.AdminPassword (development defaults; the password reaches the
// service through its environment, never its command line), and the order
// service, which reserves stock in the product service as the service
// account "order" with Config.ServiceSecret (given to both services through
// their environment as well).
//
// Files, in reading order: spec.go (what a stack is made of), stack.go
// (start-up), ready.go (waiting for readiness), lifecycle.go (waiting,
// stopping, accessors), supervise.go (restarting what dies) and summary.go
// (what `make run` prints).
package local
