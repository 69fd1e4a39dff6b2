// Package apispec holds the gateway's OpenAPI document (gateway/openapi.yaml)
// to the code: it loads and validates the document, and checks real HTTP
// exchanges against it.
//
// Transport is an http.RoundTripper for tests that talk to the gateway: it
// checks every request and response that passes through it and reports each
// mismatch, so an end-to-end test fails when the code and the document part
// ways. The rules:
//
//   - a request for a path and method the document has must get one of the
//     responses the operation documents (status, headers, content type and
//     body schema);
//   - a request the document says is malformed (a missing field, an unknown
//     member, a bad parameter, no token where one is required) must be
//     refused with a 4xx problem document;
//   - a request for a path or method the document lacks must be refused with
//     a 4xx problem document too: the gateway serves nothing undocumented.
//
// A valid request that the service refuses with a 4xx is not a mismatch: the
// document describes shapes, not every business rule (a taken SKU, a short
// stock).
package apispec
