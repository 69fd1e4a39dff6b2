// Package logging builds kitshop's structured loggers and the endpoint
// middleware that writes one line per call.
//
// Use New once in main to build the process logger (logfmt for people, json
// for log shippers) and pass it down with log.With(logger, "component", …).
// Wrap every endpoint, server and client side, with EndpointMiddleware so each
// call leaves a line with its method, request id, trace and span ids,
// duration and, on failure, the error kind and cause. Other lines written
// while serving a request take the same ids with AppendRequest or
// WithRequest, so a trace id found in a response's Trace-Id header finds
// every line of the request in every process. Request and response bodies
// are never logged: they may hold personal data or secrets.
//
// Logging is on every request's path, so it is kept cheap:
//
//   - New writes logfmt with NewLogfmt, byte for byte go-kit's logfmt but
//     about three times faster for the usual values (strings, integers,
//     durations), and names the caller (file:line of the code that logged,
//     behind any level filter or log.With) from a cache rather than by
//     resolving the stack on every line.
//   - SuccessLevel lets a command log the successes of its hottest reads at
//     debug level, which its info filter drops, while their failures and
//     every write keep their lines: a line per successful read cost more CPU
//     than the read's whole middleware, and the request metrics count and
//     time them anyway.
//   - AppendTrace adds the trace and span ids as values that are formatted
//     only when the line is written, and NewLogfmt writes them straight
//     into the line.
//   - BufferedWriter batches the lines of a process that logs one per
//     request (the gateway's access log) into one write per 32 KiB, at the
//     price of lines reaching the output up to 100ms late.
package logging
