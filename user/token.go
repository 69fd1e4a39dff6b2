package user

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user/userapi"
)

// DefaultAccessTTL is the lifetime of an access token. Access tokens cannot
// be revoked (services verify them without asking anyone), so it is short;
// clients refresh.
const DefaultAccessTTL = 15 * time.Minute

// Signer issues access tokens: JWTs signed with one Ed25519 key (alg
// EdDSA), whose header names the key ("kid", see KeyID) so verifiers can
// pick it from the JWKS. It is safe for concurrent use.
type Signer struct {
	key      ed25519.PrivateKey
	kid      string
	issuer   string
	audience string
	ttl      time.Duration
}

// NewSigner returns a Signer with key whose tokens have "iss" issuer, "aud"
// audience and live for ttl. Empty issuer and audience mean userapi.Issuer and
// userapi.Audience, which kit/auth verifiers expect by default.
func NewSigner(key ed25519.PrivateKey, issuer, audience string, ttl time.Duration) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("user: signing key is not an Ed25519 private key")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("user: access token lifetime %v must be positive", ttl)
	}
	if issuer == "" {
		issuer = userapi.Issuer
	}
	if audience == "" {
		audience = userapi.Audience
	}
	return &Signer{
		key:      key,
		kid:      KeyID(key.Public().(ed25519.PublicKey)),
		issuer:   issuer,
		audience: audience,
		ttl:      ttl,
	}, nil
}

// accessClaims is the claim set of an access token, as kit/auth.Verifier
// reads it.
type accessClaims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles"`
}

// Sign returns an access token for the user with roles, issued at now:
// claims iss, aud, sub, roles, iat, exp (now plus the TTL) and a random
// jti.
func (s *Signer) Sign(now time.Time, userID string, roles []string) (string, error) {
	if roles == nil {
		roles = []string{}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Audience:  jwt.ClaimStrings{s.audience},
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
			ID:        uuid.NewString(),
		},
		Roles: slices.Clone(roles),
	})
	tok.Header["kid"] = s.kid
	raw, err := tok.SignedString(s.key)
	if err != nil {
		return "", errs.Wrap(err, errs.Internal, "")
	}
	return raw, nil
}

// TTL returns the lifetime of the tokens.
func (s *Signer) TTL() time.Duration { return s.ttl }

// KeyID returns the "kid" of the tokens.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the key that verifies the tokens.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// JWKS returns the key set publishing the public key.
func (s *Signer) JWKS() auth.JWKS {
	return auth.JWKS{Keys: []auth.JWK{auth.PublicJWK(s.kid, s.PublicKey())}}
}

// Keys returns a KeySource with the public key, for a kit/auth.Verifier of
// the service's own tokens: the service trusts its own key without
// fetching its own JWKS.
func (s *Signer) Keys() auth.KeySource {
	return auth.StaticKeys{s.kid: s.PublicKey()}
}

// Verifier returns a verifier for the tokens s issues; it refuses tokens
// that live longer than s's tokens do (with a minute to spare for the
// rounding of "iat" and "exp" to seconds).
func (s *Signer) Verifier() *auth.Verifier {
	return auth.NewVerifier(s.Keys(), s.issuer, s.audience, auth.WithMaxTokenLifetime(s.ttl+time.Minute))
}

// KeyID derives a key id from a public key: the unpadded base64url of the
// first 8 bytes of its SHA-256. Every instance holding the same key names
// it the same way, and a new key gets a new name without anyone choosing
// one.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// pemTypePrivateKey is the PEM block type of a PKCS #8 private key.
const pemTypePrivateKey = "PRIVATE KEY"

// MarshalPrivateKey encodes key as a PKCS #8 PEM block, the format of
// `openssl genpkey -algorithm ed25519`.
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("user: encoding signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePrivateKey, Bytes: der}), nil
}

// ParsePrivateKey decodes a PKCS #8 PEM Ed25519 private key, such as one
// made by `openssl genpkey -algorithm ed25519`.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemTypePrivateKey {
		return nil, errors.New(`no "PRIVATE KEY" PEM block`)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want an Ed25519 key", k)
	}
	return key, nil
}

// LoadSigningKey reads the PEM private key at path. If the file does not
// exist and generate is set, it creates a new key there first (mode 0600,
// missing parent directories 0700) and reports created. Several instances
// starting at once with the same path end up with the same key: the file is
// written under a temporary name and linked into place only if nobody else
// was first.
//
// All instances of the service must share one key: each verifies tokens
// with its own.
func LoadSigningKey(path string, generate bool) (key ed25519.PrivateKey, created bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := ParsePrivateKey(data)
		if err != nil {
			return nil, false, fmt.Errorf("user: signing key %s: %w", path, err)
		}
		return key, false, nil
	case !errors.Is(err, fs.ErrNotExist) || !generate:
		return nil, false, fmt.Errorf("user: signing key: %w", err)
	}

	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("user: generating signing key: %w", err)
	}
	pemData, err := MarshalPrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	linked, err := writeNew(path, pemData)
	if err != nil {
		return nil, false, fmt.Errorf("user: writing signing key: %w", err)
	}
	if !linked {
		// Another instance won the race; use its key.
		key, _, err := LoadSigningKey(path, false)
		return key, false, err
	}
	return key, true, nil
}

// writeNew creates path with data and mode 0600 unless it exists, in which
// case it reports false and leaves the file alone. Readers never see a
// partly written file.
func writeNew(path string, data []byte) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; Chmod states it.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	// A hard link fails if path exists, unlike a rename, which would
	// replace a key some instance already uses.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
