package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
)

// with returns claims changed by edit, for one-line invalid tokens.
func with(claims jwt.MapClaims, edit func(jwt.MapClaims)) jwt.MapClaims {
	edit(claims)
	return claims
}

// header is the header the user service writes, changed by edit.
func header(kid string, edit func(map[string]any)) map[string]any {
	h := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}
	if edit != nil {
		edit(h)
	}
	return h
}

// b64 encodes v as a JWT segment.
func b64(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// wantUnauthenticated fails t unless err is the Verifier's refusal: kind
// Unauthenticated, the one safe message, and a cause for the logs.
func wantUnauthenticated(t *testing.T, err error) {
	t.Helper()
	if got := errs.KindOf(err); got != errs.Unauthenticated {
		t.Fatalf("kind = %v (err %v), want unauthenticated", got, err)
	}
	if got, want := errs.Message(err), "invalid or expired token"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if errors.Unwrap(err) == nil {
		t.Errorf("error %v has no cause to log", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	s := authtest.NewSigner(t)
	other := authtest.NewSigner(t)
	now := time.Now()

	valid := s.Token("user-1", auth.RoleCustomer)
	parts := strings.Split(valid, ".")

	impostor := authtest.NewSigner(t)
	impostor.Kid = s.Kid // same kid, different key

	hs256 := jwt.NewWithClaims(jwt.SigningMethodHS256, s.Claims("user-1", auth.RoleAdmin))
	hs256.Header["kid"] = s.Kid
	hs256Token, err := hs256.SignedString([]byte(s.Public))
	if err != nil {
		t.Fatal(err)
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs256 := jwt.NewWithClaims(jwt.SigningMethodRS256, s.Claims("user-1", auth.RoleAdmin))
	rs256.Header["kid"] = s.Kid
	rs256Token, err := rs256.SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}

	tamperedSig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	tamperedSig[10] ^= 0x01

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not a token"},
		{"garbage segments", "a.b.c"},
		{"only dots", ".."},
		{"two segments", parts[0] + "." + parts[1]},
		{"four segments", valid + "." + parts[2]},
		{"bearer prefix left on", "Bearer " + valid},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"too long", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", auth.MaxTokenBytes) }))},
		{"expired", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) {
			c["iat"] = now.Add(-time.Hour).Unix()
			c["exp"] = now.Add(-time.Minute).Unix()
		}))},
		{"not yet valid", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() }))},
		{"issued in the future", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["iat"] = now.Add(5 * time.Minute).Unix() }))},
		{"signed by another key with the same kid", impostor.Token("user-1", auth.RoleCustomer)},
		{"tampered payload", parts[0] + "." + b64(t, s.Claims("user-1", auth.RoleAdmin)) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(tamperedSig)},
		{"signature removed", parts[0] + "." + parts[1] + "."},
		{"alg none", authtest.Unsigned(t, header(s.Kid, func(h map[string]any) { h["alg"] = "none" }), s.Claims("user-1", auth.RoleAdmin))},
		{"alg none with the real signature", b64(t, header(s.Kid, func(h map[string]any) { h["alg"] = "none" })) + "." + parts[1] + "." + parts[2]},
		{"HS256 keyed with the public key", hs256Token},
		{"RS256", rs256Token},
		{"header claims HS256 over an Ed25519 signature", s.SignWithHeader(header(s.Kid, func(h map[string]any) { h["alg"] = "HS256" }), s.Claims("user-1"))},
		{"alg missing", s.SignWithHeader(header(s.Kid, func(h map[string]any) { delete(h, "alg") }), s.Claims("user-1"))},
		{"kid missing", s.SignWithHeader(header(s.Kid, func(h map[string]any) { delete(h, "kid") }), s.Claims("user-1"))},
		{"kid empty", s.SignWithHeader(header("", nil), s.Claims("user-1"))},
		{"kid not a string", s.SignWithHeader(header(s.Kid, func(h map[string]any) { h["kid"] = 7 }), s.Claims("user-1"))},
		{"unknown kid", other.Token("user-1", auth.RoleCustomer)},
		{"typ is not JWT", s.SignWithHeader(header(s.Kid, func(h map[string]any) { h["typ"] = "refresh+jwt" }), s.Claims("user-1"))},
		{"crit extension", s.SignWithHeader(header(s.Kid, func(h map[string]any) { h["crit"] = []string{"exp"} }), s.Claims("user-1"))},
		{"wrong issuer", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["iss"] = "evil" }))},
		{"missing issuer", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { delete(c, "iss") }))},
		{"wrong audience", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["aud"] = "billing" }))},
		{"audience list without ours", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["aud"] = []string{"billing", "kitshop2"} }))},
		{"missing audience", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { delete(c, "aud") }))},
		{"missing sub", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { delete(c, "sub") }))},
		{"empty sub", s.Sign(s.Claims(""))},
		{"sub not a string", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["sub"] = 42 }))},
		{"missing exp", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"exp not a number", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["exp"] = "tomorrow" }))},
		{"roles not a list", s.Sign(with(s.Claims("user-1"), func(c jwt.MapClaims) { c["roles"] = "admin" }))},
		{"claims not an object", s.SignWithHeader(header(s.Kid, nil), nil)},
	}
	v := s.Verifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(t.Context(), tt.token)
			wantUnauthenticated(t, err)
			if !reflect.DeepEqual(id, auth.Identity{}) {
				t.Errorf("refused token yielded identity %+v", id)
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	s := authtest.NewSigner(t)
	now := time.Now()
	tests := []struct {
		name      string
		claims    jwt.MapClaims
		wantRoles []string
	}{
		{"customer", s.Claims("user-1", auth.RoleCustomer), []string{auth.RoleCustomer}},
		{"admin", s.Claims("user-1", auth.RoleCustomer, auth.RoleAdmin), []string{auth.RoleCustomer, auth.RoleAdmin}},
		{"no roles claim", with(s.Claims("user-1"), func(c jwt.MapClaims) { delete(c, "roles") }), nil},
		{"audience list with ours", with(s.Claims("user-1", auth.RoleCustomer), func(c jwt.MapClaims) { c["aud"] = []string{"billing", authtest.Audience} }),
			[]string{auth.RoleCustomer}},
		{"expired within leeway", with(s.Claims("user-1", auth.RoleCustomer), func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() }),
			[]string{auth.RoleCustomer}},
		{"not before within leeway", with(s.Claims("user-1", auth.RoleCustomer), func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Second).Unix() }),
			[]string{auth.RoleCustomer}},
		{"issued at within leeway", with(s.Claims("user-1", auth.RoleCustomer), func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Second).Unix() }),
			[]string{auth.RoleCustomer}},
		{"no iat", with(s.Claims("user-1", auth.RoleCustomer), func(c jwt.MapClaims) { delete(c, "iat") }), []string{auth.RoleCustomer}},
	}
	v := s.Verifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(t.Context(), s.Sign(tt.claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			exp := time.Unix(tt.claims["exp"].(int64), 0)
			want := auth.Identity{UserID: "user-1", Roles: tt.wantRoles, TokenID: tt.claims["jti"].(string), ExpiresAt: exp}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("identity = %+v, want %+v", got, want)
			}
		})
	}
}

func TestVerifyTokenWithoutTyp(t *testing.T) {
	s := authtest.NewSigner(t)
	token := s.SignWithHeader(header(s.Kid, func(h map[string]any) { delete(h, "typ") }), s.Claims("user-1"))
	if _, err := s.Verifier().Verify(t.Context(), token); err != nil {
		t.Errorf("Verify: %v; typ is optional (RFC 7519 section 5.1)", err)
	}
}

func TestVerifyCustomIssuerAndAudience(t *testing.T) {
	s := authtest.NewSigner(t)
	s.Issuer, s.Audience = "https://id.example", "shop-api"
	token := s.Token("user-1")

	if _, err := auth.NewVerifier(s.KeySource(), "https://id.example", "shop-api").Verify(t.Context(), token); err != nil {
		t.Errorf("Verify with matching issuer and audience: %v", err)
	}
	_, err := auth.NewVerifier(s.KeySource(), authtest.Issuer, authtest.Audience).Verify(t.Context(), token)
	wantUnauthenticated(t, err)
}

// keySourceFunc adapts a function to auth.KeySource.
type keySourceFunc func(ctx context.Context, kid string) (ed25519.PublicKey, error)

func (f keySourceFunc) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	return f(ctx, kid)
}

func TestVerifyKeySourceFailures(t *testing.T) {
	s := authtest.NewSigner(t)
	token := s.Token("user-1")
	tests := []struct {
		name     string
		keys     auth.KeySource
		wantKind errs.Kind
	}{
		{"key source unavailable", keySourceFunc(func(context.Context, string) (ed25519.PublicKey, error) {
			return nil, &errs.Error{Kind: errs.Unavailable, Message: "jwks down", RetryAfter: 3 * time.Second, Err: errors.New("connection refused")}
		}), errs.Unavailable},
		{"caller gave up", keySourceFunc(func(context.Context, string) (ed25519.PublicKey, error) {
			return nil, context.Canceled
		}), errs.Unavailable},
		{"plain error", keySourceFunc(func(context.Context, string) (ed25519.PublicKey, error) {
			return nil, errors.New("bug")
		}), errs.Unauthenticated},
		{"no key and no error", keySourceFunc(func(context.Context, string) (ed25519.PublicKey, error) {
			return nil, nil
		}), errs.Unauthenticated},
		{"short key", keySourceFunc(func(context.Context, string) (ed25519.PublicKey, error) {
			return s.Public[:16], nil
		}), errs.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewVerifier(tt.keys, authtest.Issuer, authtest.Audience).Verify(t.Context(), token)
			if got := errs.KindOf(err); got != tt.wantKind {
				t.Fatalf("kind = %v (err %v), want %v", got, err, tt.wantKind)
			}
			if tt.wantKind == errs.Unavailable && strings.Contains(errs.Message(err), "connection refused") {
				t.Errorf("message %q leaks the cause", errs.Message(err))
			}
		})
	}
}
