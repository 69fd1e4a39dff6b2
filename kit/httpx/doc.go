// Package httpx is the HTTP side of kitshop's error vocabulary and the strict
// JSON plumbing every HTTP transport shares.
//
// Use it in each service's transport_http.go and in the gateway:
//
//   - DecodeJSON in request decoders: it turns every malformed input (wrong
//     Content-Type, empty, oversized, unknown or mistyped fields, trailing
//     data, repeated keys, text that is not UTF-8) into an errs.Invalid
//     error with a message the client can act on.
//   - Query instead of r.URL.Query in request decoders: a parameter that
//     cannot be decoded (?q=%zz) is a 400 naming it, not silently dropped.
//   - EncodeJSON as the go-kit response encoder.
//   - ServerOptions (or ErrorEncoder) on every go-kit httptransport.Server, and
//     WriteError in plain handlers, so that every error leaves as an RFC 9457
//     problem document (application/problem+json) whose status follows from
//     the error's kind. Causes of Internal and Unavailable errors are logged
//     with the request id, never sent.
//   - ErrorFromResponse in HTTP clients, to turn a problem document back into
//     an *errs.Error of the same kind.
//   - Router instead of a bare http.ServeMux, so unknown paths and wrong methods
//     get problem documents too, and Recover so a panic becomes a 500 problem
//     instead of a dropped connection.
package httpx
