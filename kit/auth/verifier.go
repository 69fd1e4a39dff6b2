package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/errs"
)

// Leeway is the clock skew tolerated when checking "exp", "nbf" and "iat":
// the issuing and the verifying host never agree on the time exactly.
const Leeway = 30 * time.Second

// MaxTokenBytes bounds the length of a token Verify will parse. kitshop's
// tokens are a few hundred bytes; the bound keeps a hostile client from making
// the server decode megabytes of base64.
const MaxTokenBytes = 8 << 10

// algEdDSA is the only JWS algorithm kitshop accepts.
const algEdDSA = "EdDSA"

// msgInvalidToken is what a client learns about any bad token. Saying more
// (expired? wrong key?) would help an attacker more than a legitimate client,
// which reacts the same way to all of them: refresh or log in again.
const msgInvalidToken = "invalid or expired token"

// msgKeysUnavailable is the client-facing message when tokens cannot be
// checked because the signing keys cannot be fetched.
const msgKeysUnavailable = "cannot verify credentials right now, try again later"

// KeySource finds the public key a token was signed with, by its "kid".
type KeySource interface {
	// PublicKey returns the Ed25519 key with id kid. It returns an
	// errs.Unauthenticated error when no such key exists, and an
	// errs.Unavailable error when it cannot tell (the keys cannot be fetched).
	PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

// KeyChecker is implemented by a KeySource that can tell cheaply (from
// memory, without fetching anything) whether it still has key under kid. A
// Verifier asks it on every token it answers from memory, so that a key
// withdrawn from the set takes its remembered tokens with it at once.
// JWKSCache and StaticKeys implement it; with another KeySource, remembered
// tokens are only bounded by WithVerifyCacheMaxAge.
type KeyChecker interface {
	HasKey(kid string, key ed25519.PublicKey) bool
}

// StaticKeys is a KeySource over a fixed set of keys, by kid. The issuer
// uses it to verify its own tokens; tests use it to avoid a JWKS server.
type StaticKeys map[string]ed25519.PublicKey

// PublicKey implements KeySource.
func (s StaticKeys) PublicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	key, ok := s[kid]
	if !ok {
		return nil, unknownKey(kid)
	}
	return key, nil
}

// HasKey implements KeyChecker.
func (s StaticKeys) HasKey(kid string, key ed25519.PublicKey) bool {
	return key.Equal(s[kid])
}

// DefaultVerifyCacheSize is how many verified tokens a Verifier remembers
// unless WithVerifyCacheSize says otherwise. An entry takes about 300 bytes,
// so the default costs a few megabytes at most.
const DefaultVerifyCacheSize = 10_000

// DefaultVerifyCacheMaxAge is how long a Verifier answers a token from
// memory after checking it in full, unless WithVerifyCacheMaxAge says
// otherwise: the bound on how long a token keeps being accepted after its
// signing key left the key set, on top of the check on every hit that the
// key is still there.
const DefaultVerifyCacheMaxAge = 10 * time.Second

// DefaultMaxTokenLifetime is the longest lifetime ("exp" minus "iat") a
// Verifier accepts unless WithMaxTokenLifetime says otherwise. kitshop's
// access tokens live 15 minutes; a token valid for longer was issued by
// mistake or by someone holding a stolen key, and would outlive every
// revocation.
const DefaultMaxTokenLifetime = time.Hour

// VerifierOption configures a Verifier.
type VerifierOption func(*verifierOptions)

type verifierOptions struct {
	cacheSize   int
	cacheMaxAge time.Duration
	maxLifetime time.Duration
	now         func() time.Time
}

// WithVerifyCacheSize sets how many verified tokens the Verifier remembers
// (default DefaultVerifyCacheSize); n <= 0 turns the memory off, so that
// every call checks its token in full.
func WithVerifyCacheSize(n int) VerifierOption {
	return func(o *verifierOptions) { o.cacheSize = max(n, 0) }
}

// WithVerifyCacheMaxAge bounds how long an accepted token is answered from
// memory after its check (never past its expiry either way; default
// DefaultVerifyCacheMaxAge); d <= 0 means until it expires.
func WithVerifyCacheMaxAge(d time.Duration) VerifierOption {
	return func(o *verifierOptions) { o.cacheMaxAge = max(d, 0) }
}

// WithMaxTokenLifetime sets the longest lifetime a token may state, "exp"
// minus "iat" (or minus the time of the check for a token without "iat");
// default DefaultMaxTokenLifetime. Set it to the issuer's access token
// lifetime or a little more; d <= 0 means the default.
func WithMaxTokenLifetime(d time.Duration) VerifierOption {
	return func(o *verifierOptions) {
		if d > 0 {
			o.maxLifetime = d
		}
	}
}

// withClock makes the Verifier read the time from now instead of time.Now,
// for the parser's checks and for its memory of verified tokens alike.
// Tests use it (see export_test.go) to move a cached token past its expiry.
func withClock(now func() time.Time) VerifierOption {
	return func(o *verifierOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// Verifier checks access tokens. It is safe for concurrent use.
//
// A Verifier remembers the tokens it accepted (see WithVerifyCacheSize): a
// client presents the same token with every request for the token's whole
// lifetime, and checking it again (an Ed25519 verification and a JSON parse)
// was about a third of a service's CPU. A remembered token is still refused
// from the instant its "exp" (plus Leeway) has passed, with the same error as
// a token seen for the first time; only accepted tokens are remembered, so a
// forged, tampered or expired token is checked in full every time.
//
// A remembered token is forgotten after DefaultVerifyCacheMaxAge (see
// WithVerifyCacheMaxAge), and at once when its key (its "kid") is no longer
// the KeySource's: every hit asks a KeySource that is a KeyChecker (as
// JWKSCache is) whether it still has the key, a map lookup. And a token whose lifetime is longer than
// DefaultMaxTokenLifetime (WithMaxTokenLifetime) is refused outright, so no
// token is good for long whatever its "exp" says.
type Verifier struct {
	keys        KeySource
	parser      *jwt.Parser
	now         func() time.Time
	cache       *verifiedTokens // nil when the memory is off
	maxAge      time.Duration   // of a remembered token; 0: until it expires
	maxLifetime time.Duration   // exp - iat
	checker     KeyChecker      // keys, if it is one; else nil
}

// NewVerifier returns a Verifier that accepts tokens signed by a key from
// keys whose "iss" is issuer and whose "aud" contains audience. Both are the
// issuing service's to define; empty ones are a wiring bug, and it panics.
func NewVerifier(keys KeySource, issuer, audience string, opts ...VerifierOption) *Verifier {
	if issuer == "" || audience == "" {
		panic("auth: NewVerifier needs an issuer and an audience")
	}
	o := verifierOptions{
		cacheSize:   DefaultVerifyCacheSize,
		cacheMaxAge: DefaultVerifyCacheMaxAge,
		maxLifetime: DefaultMaxTokenLifetime,
		now:         time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	v := &Verifier{
		keys:        keys,
		now:         o.now,
		maxAge:      o.cacheMaxAge,
		maxLifetime: o.maxLifetime,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{algEdDSA}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			// The memory of verified tokens must see the same time as
			// the parser, or it could accept what the parser refuses.
			jwt.WithTimeFunc(o.now),
			// Canonical base64 only, so a token has exactly one spelling.
			jwt.WithStrictDecoding(),
		),
	}
	if o.cacheSize > 0 {
		v.cache = newVerifiedTokens(o.cacheSize)
	}
	v.checker, _ = keys.(KeyChecker)
	return v
}

// claims is the claim set of a kitshop access token.
type claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
}

// Validate is called by the jwt parser after the registered claims passed
// its own checks; it adds what the parser does not know is required.
func (c claims) Validate() error {
	if c.Subject == "" {
		return fmt.Errorf("%w: sub", jwt.ErrTokenRequiredClaimMissing)
	}
	return nil
}

// Verify checks rawToken (without the "Bearer " prefix) and returns the
// identity it states.
//
// The token must be an EdDSA-signed JWT whose "kid" names a key of the
// Verifier's KeySource, with the right issuer and audience, an "exp" in the
// future, no "nbf" or "iat" in the future (each within Leeway) and a "sub".
// Any failure is an errs.Unauthenticated error with a message that is the same
// for all of them; the reason is the error's cause. If the KeySource cannot
// tell whether the key exists, the error is errs.Unavailable.
//
// A token accepted before is answered from memory, without asking the
// KeySource, for as long as the checks of time above still pass.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (Identity, error) {
	// Before any hashing, so an oversized token costs nothing.
	switch {
	case rawToken == "":
		return Identity{}, invalidToken(errors.New("empty token"))
	case len(rawToken) > MaxTokenBytes:
		return Identity{}, invalidToken(fmt.Errorf("token is %d bytes, longer than %d", len(rawToken), MaxTokenBytes))
	}
	if v.cache == nil {
		c, err := v.parse(ctx, rawToken)
		if err != nil {
			return Identity{}, err
		}
		return c.identity(), nil
	}

	key := keyOf(rawToken)
	now := v.now()
	if id, ok := v.cache.lookup(key, now, v.checker); ok {
		return id, nil
	}
	c, kid, pub, err := v.parseKey(ctx, rawToken)
	if err != nil {
		return Identity{}, err
	}
	id := c.identity()
	e := c.verified(id)
	e.kid, e.key = kid, pub
	if limit := now.Add(v.maxAge); v.maxAge > 0 && limit.Before(e.until) {
		e.until = limit
	}
	v.cache.add(key, e, now)
	return id, nil
}

// parse checks rawToken in full and returns its claims; see Verify.
func (v *Verifier) parse(ctx context.Context, rawToken string) (claims, error) {
	c, _, _, err := v.parseKey(ctx, rawToken)
	return c, err
}

// parseKey is parse that also returns the kid and key the token was
// verified with.
func (v *Verifier) parseKey(ctx context.Context, rawToken string) (claims, string, ed25519.PublicKey, error) {
	var (
		c      claims
		kid    string
		pub    ed25519.PublicKey
		keyErr error // the KeySource's error, to tell "no such key" from "cannot look"
	)
	_, err := v.parser.ParseWithClaims(rawToken, &c, func(t *jwt.Token) (any, error) {
		var err error
		kid, err = checkHeader(t)
		if err != nil {
			return nil, err
		}
		key, err := v.keys.PublicKey(ctx, kid)
		if err == nil && len(key) != ed25519.PublicKeySize {
			err = fmt.Errorf("key source returned no valid key for kid %.64q", kid)
		}
		keyErr, pub = err, key
		return key, err
	})
	if err != nil {
		if keyErr != nil && errs.KindOf(keyErr) == errs.Unavailable {
			return claims{}, "", nil, &errs.Error{
				Kind:       errs.Unavailable,
				Message:    msgKeysUnavailable,
				RetryAfter: errs.RetryAfterOf(keyErr),
				Err:        err,
			}
		}
		return claims{}, "", nil, invalidToken(err)
	}
	// The parser knows no upper bound of "exp": a token that states a
	// lifetime of years would be good for years.
	start := v.now()
	if c.IssuedAt != nil {
		start = c.IssuedAt.Time
	}
	if lifetime := c.ExpiresAt.Sub(start); lifetime > v.maxLifetime {
		return claims{}, "", nil, invalidToken(fmt.Errorf("token lifetime %v exceeds the maximum %v", lifetime.Round(time.Second), v.maxLifetime))
	}
	return c, kid, pub, nil
}

// identity returns the Identity the verified claims c state.
func (c claims) identity() Identity {
	id := Identity{
		UserID:  c.Subject,
		Roles:   slices.Clone(c.Roles),
		TokenID: c.ID,
	}
	if c.ExpiresAt != nil { // always true: the parser requires exp
		id.ExpiresAt = c.ExpiresAt.Time
	}
	return id
}

// verified returns the memory of the verified claims c, whose identity is
// id: the span of time in which the parser accepts them, by the same
// comparisons (jwt's Validator) with the same Leeway.
func (c claims) verified(id Identity) verifiedToken {
	e := verifiedToken{id: id}
	e.id.Roles = slices.Clone(id.Roles) // the caller owns id.Roles
	if c.ExpiresAt != nil {
		e.until = c.ExpiresAt.Add(Leeway)
	}
	for _, t := range []*jwt.NumericDate{c.NotBefore, c.IssuedAt} {
		if t != nil && t.Add(-Leeway).After(e.from) {
			e.from = t.Add(-Leeway)
		}
	}
	return e
}

// checkHeader vets the parts of the JOSE header the jwt package leaves to
// the caller and returns the key id.
func checkHeader(t *jwt.Token) (string, error) {
	// WithValidMethods already refused other algorithms; this guards
	// against that option being lost in a refactoring.
	if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
		return "", fmt.Errorf("unexpected signing method %v", t.Header["alg"])
	}
	if typ, ok := t.Header["typ"]; ok {
		if s, _ := typ.(string); !strings.EqualFold(s, "JWT") {
			return "", fmt.Errorf("unexpected token type %.32v", typ)
		}
	}
	// RFC 7515 section 4.1.11: extensions we do not understand must not be
	// ignored, and kitshop understands none.
	if _, ok := t.Header["crit"]; ok {
		return "", errors.New("unsupported critical header extensions")
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return "", errors.New("missing kid header")
	}
	return kid, nil
}

// invalidToken is the error for every token Verify refuses.
func invalidToken(cause error) error {
	return errs.Wrap(cause, errs.Unauthenticated, msgInvalidToken)
}

// unknownKey is a KeySource's error for a kid it does not have. The kid comes
// from the client; it is cut short before it reaches a log line.
func unknownKey(kid string) error {
	return invalidToken(fmt.Errorf("unknown key id %.64q", kid))
}
