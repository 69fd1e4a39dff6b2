// Package breaker stops calls to a dependency that keeps failing, so a slow or
// broken instance costs its callers a fast error instead of their threads and
// time, and gets room to recover.
//
// Wrap every client endpoint that reaches another process (a service over
// gRPC, an upstream over HTTP) with Middleware, one Breaker per dependency —
// per instance when calls are load balanced, so one bad instance does not open
// the circuit for the healthy ones.
//
// Only infrastructure failures count against a circuit. A not-found, an
// invalid request or a conflict is the dependency working correctly, so
// Middleware reports such calls to the breaker as successes while still
// returning the error to the caller unchanged. Rejected calls (circuit open,
// too many concurrent calls, breaker timeout) fail with errs.Unavailable and a
// RetryAfter hint.
//
// NewHystrix implements Breaker with github.com/afex/hystrix-go's circuits,
// running each call on the caller's goroutine (hystrix.Do would start two
// goroutines per call); its breaker timeout cancels the call's context, so
// a call must return when its context is done. Hystrix keeps
// its circuits in a process-wide registry keyed by name and starts a metrics
// goroutine per name that lives as long as the process, so use a fixed,
// bounded set of names (one per dependency or instance address), never
// per-request names.
package breaker
