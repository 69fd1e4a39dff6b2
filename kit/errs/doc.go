// Package errs is kitshop's single error vocabulary.
//
// Every error that crosses a layer carries a Kind (Invalid, NotFound, Conflict,
// Unauthenticated, Forbidden, RateLimited, Unavailable, Internal). The kind decides
// the HTTP status and the gRPC code, and it is recovered from either on the way
// back in, so an error keeps its meaning across every hop: a NotFound raised in
// one service is a NotFound in the service that called it over
// gRPC and a 404 at the gateway.
//
// An *Error separates what a client may see (Message, Fields) from what only the
// logs may see (Err, the cause). Errors of unknown origin are Internal and show
// clients a generic message.
//
// Use New or Errorf for domain errors, Wrap to attach a kind to an
// infrastructure failure, and KindOf wherever a decision depends on the kind
// (status codes, breakers, retries).
package errs
