// Package middleware holds the transport-level endpoint middleware that is
// neither breaker, rate limiting nor logging: per-call deadlines and retries.
//
// Wrap every client endpoint with Timeout so no call waits forever on a slow
// dependency. Retry and RetryBalanced repeat a call that failed with
// errs.Unavailable; use them only for idempotent endpoints (reads, or writes
// keyed by an idempotency key), because a call that timed out may still have
// taken effect. Business errors and Internal errors are never retried: asking
// again would get the same answer.
//
// A typical client chain, outermost first, is
//
//	logging.EndpointMiddleware → ratelimit.Middleware → breaker.Middleware → Timeout
//
// so each attempt has its own deadline and slow attempts count against the
// circuit.
package middleware
