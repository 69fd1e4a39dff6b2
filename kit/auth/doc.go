// Package auth verifies the access tokens kitshop's user service issues and
// carries the caller's identity through endpoints.
//
// Tokens are JWTs signed with Ed25519 (alg "EdDSA") and nothing else: a token
// that names another algorithm (none, HS256, RS256, ...) is refused before any
// key is looked up, so the classic algorithm-confusion attacks do not apply.
// The header names the signing key by "kid"; the claims carry the issuer,
// the audience, the user id ("sub"), the expiry ("exp", required), a token id
// ("jti") and the user's roles ("roles").
//
// Which piece to use:
//
//   - Verifier checks a raw token and returns the caller's Identity. Every way
//     a token can be wrong is an errs.Unauthenticated error with the same safe
//     message; the reason is kept as the cause, for logs only. When the
//     signing keys cannot be fetched the error is errs.Unavailable instead, so
//     an outage of the user service shows as 503, not as "log in again".
//     A Verifier remembers the tokens it accepted (10,000 by default, see
//     WithVerifyCacheSize), because clients send the same token with every
//     request: a repeat costs a SHA-256 and a map lookup instead of a
//     signature check and a JSON parse, and is still refused from the
//     moment the token expires. A remembered token is checked in full again
//     after 10 seconds (WithVerifyCacheMaxAge), and forgotten at once when
//     its key leaves the key set (KeyChecker). A token whose "exp" is more
//     than an hour after its "iat" is refused (WithMaxTokenLifetime).
//   - JWKSCache is the KeySource of every service but the issuer: it fetches
//     the issuer's public keys (a JWKS document, see HTTPJWKSFetcher), keeps
//     them, refreshes them now and then without making requests wait, and
//     refetches when a token names a key it does not know (key rotation), at
//     most once per MinRefresh however many requests ask at the same time.
//     It fetches only from the URLs it is given: no redirects, no proxies.
//     StaticKeys serves the issuer itself, which knows its own keys.
//   - HTTPToContext and GRPCToContext take the bearer token off an incoming
//     request (unverified); ContextToGRPC and UnaryClientInterceptor forward
//     it on outgoing gRPC calls, so a service acts with its caller's rights.
//   - Authenticate, Optional and Admin are endpoint middleware. Inside a
//     service, RequireRole and RequireOwnerOrAdmin decide per resource.
//   - A service that calls another as itself (to reserve stock, say) is a
//     service account: ClientCredentials, a TokenSource, gets
//     and caches its token from the issuer's token endpoint with a client
//     id and secret. ServiceTokenInterceptor (plain gRPC clients), or
//     ServiceTokenMiddleware with ServiceTokenToGRPC (go-kit clients), send
//     it. Such tokens have RoleService and the subject
//     ServiceSubject(name); the service token wins over a forwarded
//     caller's token wherever both could apply.
//
// The package only verifies; issuing tokens (and holding private keys) is the
// user service's job. Tests sign tokens with package authtest.
package auth
