package product_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
)

// User ids of the callers in the authorization tests. The service never
// looks them up: the token's word is enough.
const (
	adminID    = "6f1c7d1e-0000-4000-8000-00000000ad01"
	customerID = "6f1c7d1e-0000-4000-8000-0000000c0001"
)

// callers holds a token per kind of legitimate caller, all from one signer.
type callers struct {
	signer   *authtest.Signer
	admin    string // role admin (and customer, as the user service grants)
	customer string // role customer only
}

func newCallers(t *testing.T) callers {
	t.Helper()
	s := authtest.NewSigner(t)
	return callers{
		signer:   s,
		admin:    s.Token(adminID, auth.RoleCustomer, auth.RoleAdmin),
		customer: s.Token(customerID, auth.RoleCustomer),
	}
}

// forgery is a token a verifier trusting only the signer must refuse.
type forgery struct {
	name  string
	token string
}

// forgedTokens returns tokens that all claim an admin, each wrong in one
// way, so that a refusal can only be for that reason.
func forgedTokens(t *testing.T, s *authtest.Signer) []forgery {
	t.Helper()
	admin := func() jwt.MapClaims { return s.Claims(adminID, auth.RoleCustomer, auth.RoleAdmin) }
	with := func(changes map[string]any) jwt.MapClaims {
		c := admin()
		for k, v := range changes {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	now := time.Now()

	// Another key under the signer's kid (a signature that does not
	// verify), and under a kid of its own (a key nobody published).
	impostor := authtest.NewSigner(t)
	ownKid := impostor.Token(adminID, auth.RoleAdmin)
	impostor.Kid = s.Kid
	sameKid := impostor.Token(adminID, auth.RoleAdmin)

	// A customer's real token with the payload swapped for an admin's: the
	// signature no longer covers it.
	customer := strings.Split(s.Token(customerID, auth.RoleCustomer), ".")
	adminParts := strings.Split(s.Sign(admin()), ".")
	tampered := customer[0] + "." + adminParts[1] + "." + customer[2]

	// A valid admin token with one signature byte changed.
	sig, err := base64.RawURLEncoding.DecodeString(adminParts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[0] ^= 0x01
	flipped := adminParts[0] + "." + adminParts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	return []forgery{
		{"signed by another key under the real kid", sameKid},
		{"signed by another key under its own kid", ownKid},
		{"alg none", authtest.Unsigned(t, map[string]any{"alg": "none", "typ": "JWT", "kid": s.Kid}, admin())},
		{"HS256 keyed with the raw public key", hmacToken(t, s.Kid, []byte(s.Public), admin())},
		{"HS256 keyed with the PEM public key", hmacToken(t, s.Kid, publicPEM(t, s.Public), admin())},
		{"no kid", s.SignWithHeader(map[string]any{"alg": "EdDSA", "typ": "JWT"}, admin())},
		{"expired", s.Sign(with(map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}))},
		{"no expiry", s.Sign(with(map[string]any{"exp": nil}))},
		{"not valid yet", s.Sign(with(map[string]any{"nbf": now.Add(time.Hour).Unix()}))},
		{"wrong audience", s.Sign(with(map[string]any{"aud": "some-other-api"}))},
		{"wrong issuer", s.Sign(with(map[string]any{"iss": "https://issuer.example"}))},
		{"no subject", s.Sign(with(map[string]any{"sub": nil}))},
		{"tampered payload", tampered},
		{"tampered signature", flipped},
		{"not a JWT", "not-a-token"},
	}
}

// hmacToken signs claims with HS256 under key: the algorithm-confusion
// attack on verifiers that use the public key as an HMAC secret.
func hmacToken(t *testing.T, kid string, key []byte, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func publicPEM(t *testing.T, pub ed25519.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
