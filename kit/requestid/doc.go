// Package requestid gives every request an identifier that follows it through
// every hop — HTTP at the edge, gRPC between services — and into every log line.
//
// Use HTTPMiddleware on every HTTP server (the gateway and the services) and
// UnaryServerInterceptor / UnaryClientInterceptor on every gRPC server and
// client. An incoming id is adopted only if it is well formed (see Valid), so a
// client cannot inject log-breaking text; otherwise a fresh one is generated.
// Code that logs reads the id with FromContext.
package requestid
