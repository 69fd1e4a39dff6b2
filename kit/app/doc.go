// Package app is the start-up every kitshop service shares, written once so
// that a service's main reads as the wiring of its own layers.
//
// A main describes its service with a Spec, adds its own flags, and builds
// its layers inside out by hand, as before; what every service needs around
// those layers comes from the App that New returns:
//
//   - the common flags (listen addresses, database, Consul, logging,
//     timeouts, rate limit, token verification), each also read from the
//     environment as <PREFIX>_<FLAG> and from <PREFIX>_<FLAG>_FILE for
//     secrets (kit/config);
//   - the logger, with the service and instance in every line;
//   - a pool on a migrated database;
//   - the Consul client, and the instance's registration with its gateway
//     prefixes and public routes as typed fields;
//   - the token verifier, with the issuer's keys found through Consul or at
//     fixed URLs;
//   - the standard endpoint middleware chain (metrics, log, rate limit,
//     timeout);
//   - the live configuration (kit/liveconfig, App.Live): the rate limit and
//     burst, the request timeout and the log level follow
//     kitshop/config/<service>/ in Consul, with the flags as defaults; a
//     service declares its own live settings in Spec.Live and binds them;
//   - the HTTP, gRPC and debug listeners, bound in New so that tests can read
//     the ports they got (HTTPAddr, GRPCAddr);
//   - one last-in-first-out stack of closers (Defer);
//   - Run, which serves until its context ends and then shuts down in order:
//     deregister, drain, stop the servers, run the closers (kit/server).
//
// The shape follows go-kit's addsvc (main wires everything) with the
// lifecycle of kratos's app.Run and the shared configuration of go-zero's
// ServiceConf, kept explicit: nothing is registered behind the main's back.
//
// Main is the whole of a service's func main. package apptest starts the
// same build function in tests, on port 0, and reads the bound ports.
package app
