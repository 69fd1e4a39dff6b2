package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
)

// JWKS is a JSON Web Key Set (RFC 7517), the document the user service
// serves at /.well-known/jwks.json to publish its token signing keys.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWK is one public key of a JWKS. kitshop publishes Ed25519 keys only:
// Kty "OKP", Crv "Ed25519" (RFC 8037), X the raw public key in unpadded
// base64url, Alg "EdDSA" and Use "sig".
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// PublicJWK returns the JWK that publishes pub under kid.
func PublicJWK(kid string, pub ed25519.PublicKey) JWK {
	return JWK{
		Kty: "OKP",
		Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(pub),
		Kid: kid,
		Alg: algEdDSA,
		Use: "sig",
	}
}

// PublicKey returns the Ed25519 key k describes. It fails unless k is an
// Ed25519 key meant for signatures: a key published for another algorithm or
// use must not verify tokens.
func (k JWK) PublicKey() (ed25519.PublicKey, error) {
	switch {
	case k.Kty != "OKP":
		return nil, fmt.Errorf("jwk %.64q: key type %.16q is not OKP", k.Kid, k.Kty)
	case k.Crv != "Ed25519":
		return nil, fmt.Errorf("jwk %.64q: curve %.16q is not Ed25519", k.Kid, k.Crv)
	case k.Alg != "" && k.Alg != algEdDSA:
		return nil, fmt.Errorf("jwk %.64q: algorithm %.16q is not EdDSA", k.Kid, k.Alg)
	case k.Use != "" && k.Use != "sig":
		return nil, fmt.Errorf("jwk %.64q: use %.16q is not sig", k.Kid, k.Use)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
	if err != nil {
		return nil, fmt.Errorf("jwk %.64q: x: %w", k.Kid, err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("jwk %.64q: x is %d bytes, want %d", k.Kid, len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}
