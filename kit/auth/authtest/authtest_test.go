package authtest_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
)

func TestSignerTokensVerify(t *testing.T) {
	s := authtest.NewSigner(t)
	id, err := s.Verifier().Verify(t.Context(), s.Token("user-1", auth.RoleCustomer, auth.RoleAdmin))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := []string{auth.RoleCustomer, auth.RoleAdmin}; id.UserID != "user-1" || !slices.Equal(id.Roles, want) || id.TokenID == "" {
		t.Errorf("identity = %+v, want user-1 with roles %v and a token id", id, want)
	}
}

// TestSignerJWKS checks that the published key set round-trips through JSON
// into a JWKSCache, as it does between the user service and the others.
func TestSignerJWKS(t *testing.T) {
	s := authtest.NewSigner(t)
	data, err := json.Marshal(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(ctx context.Context) (auth.JWKS, error) {
		var set auth.JWKS
		return set, json.Unmarshal(data, &set)
	}
	v := auth.NewVerifier(auth.NewJWKSCache(fetch, log.NewNopLogger()), authtest.Issuer, authtest.Audience)
	if _, err := v.Verify(t.Context(), s.Token("user-1")); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestSignersAreDistinct(t *testing.T) {
	a, b := authtest.NewSigner(t), authtest.NewSigner(t)
	if a.Kid == b.Kid || a.Public.Equal(b.Public) {
		t.Fatal("two signers share a kid or a key")
	}
	_, err := a.Verifier().Verify(t.Context(), b.Token("user-1"))
	if got := errs.KindOf(err); got != errs.Unauthenticated {
		t.Errorf("kind = %v, want unauthenticated", got)
	}
}

func TestForgedTokens(t *testing.T) {
	s := authtest.NewSigner(t)
	tests := []struct {
		name  string
		token string
	}{
		{"alg none", authtest.Unsigned(t, map[string]any{"alg": "none", "kid": s.Kid}, s.Claims("user-1"))},
		{"header lies about alg", s.SignWithHeader(map[string]any{"alg": "HS256", "kid": s.Kid}, s.Claims("user-1"))},
		{"no kid", s.SignWithHeader(map[string]any{"alg": "EdDSA"}, s.Claims("user-1"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Verifier().Verify(t.Context(), tt.token)
			if got := errs.KindOf(err); got != errs.Unauthenticated {
				t.Errorf("kind = %v (err %v), want unauthenticated", got, err)
			}
		})
	}
	// The same header with the right alg and kid is accepted: the forgeries
	// above fail for their header, not for their signature.
	if _, err := s.Verifier().Verify(t.Context(), s.SignWithHeader(map[string]any{"alg": "EdDSA", "kid": s.Kid}, s.Claims("user-1"))); err != nil {
		t.Errorf("Verify honest SignWithHeader token: %v", err)
	}
}
