// Package logging builds kitshop's structured loggers and the endpoint
// middleware that writes one line per call.
//
// Use New once in main to build the process logger (logfmt for people, json
// for log shippers) and pass it down with log.With(logger, "component", …).
// Wrap every endpoint, server and client side, with EndpointMiddleware so each
// call leaves a line with its method, request id, duration and, on failure,
// the error kind and cause. Request and response bodies are never logged: they
// may hold personal data or secrets.
package logging
