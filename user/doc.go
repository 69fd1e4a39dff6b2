// Package user is the account service: sign-up, login with short-lived
// access tokens (EdDSA JWTs) and rotating refresh tokens, the caller's own
// profile, and the public keys other services verify the tokens with.
//
// The package reads top to bottom as its layers: service.go (the domain:
// types, the Service and Repository interfaces, options), accounts.go
// (sign-up, profile, admin bootstrap), events.go (the events it publishes),
// sessions.go (login, refresh and logout: the refresh token sessions, and
// service tokens), identifier.go and validate.go (the rules on input),
// hashpool.go (passwords, hashed in a bounded pool), signup.go and
// throttle.go (sign-up and login throttling), service_accounts.go (the
// secrets of service accounts), token.go (signing keys, access tokens and
// the JWKS), postgres.go and postgres_sessions.go (the Repository on
// Postgres), endpoint.go (go-kit endpoints), transport_http.go and
// transport_grpc.go (the two wire formats) and middleware.go (service
// middleware). cmd/user wires them together.
//
// Every account created, by sign-up or as the bootstrapped admin, is
// published as a user.registered event (kitshop.user.v1.UserRegistered on
// EventStream) with its id, email and name, for the services that keep
// their own copy of the address. The event is written to the outbox
// (kit/outbox) in the transaction that inserts the account, so it is
// published if and only if the account exists; a sign-up with a taken
// email, answered like any other, creates no account and no event.
//
// Besides users there are service accounts (service_accounts.go): other
// services get tokens for calls made as themselves with a client id and
// secret (ServiceToken, the OAuth 2.0 client credentials grant); kit/auth's
// ClientCredentials is the client side.
//
// Passwords and service secrets are only ever held in memory long enough
// to hash or compare them: they are never stored, logged or returned, and
// neither are their hashes or the tokens.
package user
