package user_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
	"github.com/kitshop/kitshop/user/userapi"
)

func TestKeyID(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pub)
	want := base64.RawURLEncoding.EncodeToString(sum[:8])
	if got := user.KeyID(pub); got != want || len(got) != 11 {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
}

func TestSignerTokens(t *testing.T) {
	s := newSigner(t)
	now := time.Now().Truncate(time.Second)
	raw, err := s.Sign(now, "user-1", []string{auth.RoleCustomer, auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}

	// The wire format, part by part.
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var header map[string]any
	decodeSegment(t, parts[0], &header)
	if header["alg"] != "EdDSA" || header["kid"] != s.KeyID() || header["typ"] != "JWT" {
		t.Errorf("header = %v", header)
	}
	var claims struct {
		Iss   string   `json:"iss"`
		Aud   []string `json:"aud"`
		Sub   string   `json:"sub"`
		Roles []string `json:"roles"`
		Iat   int64    `json:"iat"`
		Exp   int64    `json:"exp"`
		Jti   string   `json:"jti"`
	}
	decodeSegment(t, parts[1], &claims)
	if claims.Iss != userapi.Issuer || !slices.Equal(claims.Aud, []string{userapi.Audience}) || claims.Sub != "user-1" ||
		!slices.Equal(claims.Roles, []string{"customer", "admin"}) || claims.Iat != now.Unix() ||
		claims.Exp != now.Add(user.DefaultAccessTTL).Unix() || claims.Jti == "" {
		t.Errorf("claims = %+v", claims)
	}

	// kit/auth verifies it, with the service's own key or with the JWKS.
	id, err := s.Verifier().Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.UserID != "user-1" || !id.HasRole(auth.RoleAdmin) || id.TokenID != claims.Jti {
		t.Errorf("identity = %+v", id)
	}
	pub, err := s.JWKS().Keys[0].PublicKey()
	if err != nil || !pub.Equal(s.PublicKey()) {
		t.Errorf("JWKS key = %v, %v; want the signer's", pub, err)
	}

	// Two tokens never share a jti.
	other, err := s.Sign(now, "user-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	otherID, err := s.Verifier().Verify(context.Background(), other)
	if err != nil || otherID.TokenID == id.TokenID {
		t.Errorf("second token: %+v, %v; want another jti", otherID, err)
	}
}

// The service's verifier refuses tokens it did not sign or that are not
// valid now, whatever they claim.
func TestSignerVerifierRefusesForgeries(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := func(issuer string, ttl time.Duration) *user.Signer {
		t.Helper()
		s, err := user.NewSigner(key, issuer, "", ttl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := signer("", time.Minute)
	v := s.Verifier()
	sign := func(s *user.Signer, now time.Time) string {
		t.Helper()
		raw, err := s.Sign(now, "user-1", []string{auth.RoleCustomer})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}

	forger := authtest.NewSigner(t)
	sameKid := authtest.NewSigner(t)
	sameKid.Kid = s.KeyID() // a foreign key claiming to be ours

	tests := map[string]string{
		"foreign key":          forger.Token("user-1", auth.RoleAdmin),
		"foreign key, our kid": sameKid.Token("user-1", auth.RoleAdmin),
		"alg none":             authtest.Unsigned(t, map[string]any{"alg": "none", "kid": s.KeyID()}, forger.Claims("user-1", auth.RoleAdmin)),
		"tampered claims":      tamper(t, sign(s, time.Now())),
		"expired":              sign(signer("", time.Second), time.Now().Add(-time.Hour)),
		"issued in the future": sign(s, time.Now().Add(time.Hour)),
		"other issuer":         sign(signer("someone-else", time.Minute), time.Now()),
		"empty":                "",
	}
	for name, token := range tests {
		t.Run(name, func(t *testing.T) {
			if id, err := v.Verify(context.Background(), token); !errs.Is(err, errs.Unauthenticated) {
				t.Errorf("Verify = %+v, %v; want unauthenticated", id, err)
			}
		})
	}
}

func TestNewSignerRejects(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.NewSigner(key[:10], "", "", time.Minute); err == nil {
		t.Error("NewSigner accepted a short key")
	}
	if _, err := user.NewSigner(key, "", "", 0); err == nil {
		t.Error("NewSigner accepted a zero TTL")
	}
}

func TestPrivateKeyPEM(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("PEM = %s", data)
	}
	got, err := user.ParsePrivateKey(data)
	if err != nil || !got.Equal(key) {
		t.Errorf("ParsePrivateKey = %v, %v; want the key back", got, err)
	}

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"empty":            nil,
		"not PEM":          []byte("hello"),
		"public key block": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}),
		"garbage DER":      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"ECDSA key":        pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
	} {
		if _, err := user.ParsePrivateKey(bad); err == nil {
			t.Errorf("%s: ParsePrivateKey succeeded", name)
		}
	}
}

func TestLoadSigningKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "nested", "signing.pem")

	if _, _, err := user.LoadSigningKey(path, false); err == nil {
		t.Fatal("LoadSigningKey of a missing file without generate succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("missing key file created without generate: %v", err)
	}

	key, created, err := user.LoadSigningKey(path, true)
	if err != nil || !created {
		t.Fatalf("LoadSigningKey(generate) = %v, %v; want a new key", created, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %v, want 0600", mode)
	}
	if info, err := os.Stat(filepath.Dir(path)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("key directory: %v, %v; want mode 0700", info.Mode(), err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Errorf("key directory holds %v, %v; want the key file only", entries, err)
	}

	again, created, err := user.LoadSigningKey(path, true)
	if err != nil || created || !again.Equal(key) {
		t.Errorf("second LoadSigningKey = created %v, %v; want the same key, not created", created, err)
	}

	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := user.LoadSigningKey(path, true); err == nil {
		t.Error("LoadSigningKey of a corrupt file succeeded (or replaced it)")
	}
}

// Instances starting together with -generate-key agree on one key.
func TestLoadSigningKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.pem")
	const n = 8
	var (
		wg      sync.WaitGroup
		keys    = make([]ed25519.PrivateKey, n)
		created = make([]bool, n)
		errsOut = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			keys[i], created[i], errsOut[i] = user.LoadSigningKey(path, true)
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errsOut[i] != nil {
			t.Fatalf("instance %d: %v", i, errsOut[i])
		}
		if !keys[i].Equal(keys[0]) {
			t.Errorf("instance %d has another key", i)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d instances report creating the key, want 1", creators)
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %s: %v", b, err)
	}
}

// tamper changes the subject of a signed token, keeping its signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "someone-else"
	claims["roles"] = []string{auth.RoleCustomer, auth.RoleAdmin}
	b, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}
