package authtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/auth"
)

// Signer signs tokens with one Ed25519 key. Its fields may be changed
// between calls, for example to sign with another Kid or Issuer.
type Signer struct {
	Kid      string
	Private  ed25519.PrivateKey
	Public   ed25519.PublicKey
	Issuer   string        // "iss" of Claims; the package's Issuer by default
	Audience string        // "aud" of Claims; the package's Audience by default
	TTL      time.Duration // lifetime of Claims; 15 minutes by default

	t testing.TB
}

// Issuer and Audience are the claims of a Signer's tokens unless changed.
const (
	Issuer   = "authtest-issuer"
	Audience = "authtest"
)

// NewSigner returns a Signer with a fresh key and a random kid. Errors fail
// t.
func NewSigner(t testing.TB) *Signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("authtest: generating key: %v", err)
	}
	return &Signer{
		Kid:      "test-" + randomHex(8),
		Private:  priv,
		Public:   pub,
		Issuer:   Issuer,
		Audience: Audience,
		TTL:      15 * time.Minute,
		t:        t,
	}
}

// Claims returns the claims of a valid token for userID with roles, as the
// user service issues them: iss, aud, sub, iat, exp, jti and roles. Change
// or delete entries to make invalid ones.
func (s *Signer) Claims(userID string, roles ...string) jwt.MapClaims {
	now := time.Now()
	if roles == nil {
		roles = []string{}
	}
	return jwt.MapClaims{
		"iss":   s.Issuer,
		"aud":   s.Audience,
		"sub":   userID,
		"iat":   now.Unix(),
		"exp":   now.Add(s.TTL).Unix(),
		"jti":   randomHex(16),
		"roles": roles,
	}
}

// Token returns a valid signed token for userID with roles.
func (s *Signer) Token(userID string, roles ...string) string {
	s.t.Helper()
	return s.Sign(s.Claims(userID, roles...))
}

// Sign returns a token with claims, signed the way the user service signs:
// header {"alg":"EdDSA","kid":s.Kid,"typ":"JWT"}.
func (s *Signer) Sign(claims jwt.MapClaims) string {
	s.t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = s.Kid
	raw, err := tok.SignedString(s.Private)
	if err != nil {
		s.t.Fatalf("authtest: signing token: %v", err)
	}
	return raw
}

// SignWithHeader returns a token with exactly header and claims, signed
// with s's Ed25519 key whatever header says. It forges tokens whose header
// lies (another alg, no kid, a foreign kid, a crit extension).
func (s *Signer) SignWithHeader(header map[string]any, claims jwt.MapClaims) string {
	s.t.Helper()
	signingInput := segment(s.t, header) + "." + segment(s.t, claims)
	sig := ed25519.Sign(s.Private, []byte(signingInput))
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// KeySource returns a KeySource that knows s's key under s.Kid.
func (s *Signer) KeySource() auth.KeySource {
	return auth.StaticKeys{s.Kid: s.Public}
}

// JWK returns s's public key as published in a JWKS.
func (s *Signer) JWK() auth.JWK {
	return auth.PublicJWK(s.Kid, s.Public)
}

// JWKS returns a key set with s's public key.
func (s *Signer) JWKS() auth.JWKS {
	return auth.JWKS{Keys: []auth.JWK{s.JWK()}}
}

// Verifier returns a Verifier that accepts s's tokens.
func (s *Signer) Verifier() *auth.Verifier {
	return auth.NewVerifier(s.KeySource(), s.Issuer, s.Audience)
}

// Unsigned returns header.claims. with an empty signature, the shape of an
// "alg":"none" token.
func Unsigned(t testing.TB, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	return segment(t, header) + "." + segment(t, claims) + "."
}

func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("authtest: encoding %T: %v", v, err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
