package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
)

// A token's "exp" has no upper bound in JWT; the Verifier sets one, so a
// token minted with a lifetime of years is not good for years.
func TestVerifyMaxTokenLifetime(t *testing.T) {
	s := authtest.NewSigner(t)
	t0 := time.Unix(time.Now().Unix(), 0)
	tests := []struct {
		name   string
		opts   []auth.VerifierOption
		edit   func(jwt.MapClaims)
		wantOK bool
	}{
		{"15 minutes", nil, func(c jwt.MapClaims) { c["exp"] = t0.Add(15 * time.Minute).Unix() }, true},
		{"exactly the default maximum", nil, func(c jwt.MapClaims) { c["exp"] = t0.Add(auth.DefaultMaxTokenLifetime).Unix() }, true},
		{"a second over the default", nil, func(c jwt.MapClaims) { c["exp"] = t0.Add(auth.DefaultMaxTokenLifetime + time.Second).Unix() }, false},
		{"ten years", nil, func(c jwt.MapClaims) { c["exp"] = t0.AddDate(10, 0, 0).Unix() }, false},
		{"no iat, exp far ahead", nil, func(c jwt.MapClaims) { delete(c, "iat"); c["exp"] = t0.Add(2 * time.Hour).Unix() }, false},
		{"no iat, exp near", nil, func(c jwt.MapClaims) { delete(c, "iat"); c["exp"] = t0.Add(time.Minute).Unix() }, true},
		{"a longer maximum configured", []auth.VerifierOption{auth.WithMaxTokenLifetime(3 * time.Hour)},
			func(c jwt.MapClaims) { c["exp"] = t0.Add(2 * time.Hour).Unix() }, true},
		{"a shorter maximum configured", []auth.VerifierOption{auth.WithMaxTokenLifetime(5 * time.Minute)},
			func(c jwt.MapClaims) { c["exp"] = t0.Add(15 * time.Minute).Unix() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{now: t0}
			opts := append([]auth.VerifierOption{auth.WithClock(c.Now)}, tt.opts...)
			v := auth.NewVerifier(s.KeySource(), authtest.Issuer, authtest.Audience, opts...)
			_, err := v.Verify(t.Context(), s.Sign(authClaims(s, "ann", t0, tt.edit)))
			switch {
			case tt.wantOK && err != nil:
				t.Errorf("Verify: %v, want accepted", err)
			case !tt.wantOK && !errs.Is(err, errs.Unauthenticated):
				t.Errorf("Verify: %v, want unauthenticated", err)
			}
		})
	}
}

// By default a token is answered from memory for DefaultVerifyCacheMaxAge
// at most, then checked in full again.
func TestVerifyCacheMaxAgeDefault(t *testing.T) {
	s := authtest.NewSigner(t)
	t0 := time.Unix(time.Now().Unix(), 0)
	c := &clock{now: t0}
	keys := &countingKeys{keys: s.KeySource()}
	v := auth.NewVerifier(keys, authtest.Issuer, authtest.Audience, auth.WithClock(c.Now))
	token := s.Sign(authClaims(s, "ann", t0, func(jwt.MapClaims) {}))
	for _, at := range []time.Duration{0, auth.DefaultVerifyCacheMaxAge - time.Second} {
		c.Set(t0.Add(at))
		if _, err := v.Verify(t.Context(), token); err != nil {
			t.Fatal(err)
		}
	}
	if got := keys.calls.Load(); got != 1 {
		t.Fatalf("key looked up %d times within the max age, want 1", got)
	}
	c.Set(t0.Add(auth.DefaultVerifyCacheMaxAge))
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	if got := keys.calls.Load(); got != 2 {
		t.Errorf("key looked up %d times, want 2: a token remembered past the max age", got)
	}
}

// A key withdrawn from the key set takes the tokens remembered with it
// along at once, not when the memory's max age runs out.
func TestVerifyCacheForgetsWithdrawnKey(t *testing.T) {
	old, next := authtest.NewSigner(t), authtest.NewSigner(t)
	var (
		mu  sync.Mutex
		set = auth.JWKS{Keys: []auth.JWK{old.JWK(), next.JWK()}}
	)
	fetch := func(context.Context) (auth.JWKS, error) {
		mu.Lock()
		defer mu.Unlock()
		return set, nil
	}
	cache := auth.NewJWKSCache(fetch, nil, auth.WithMinRefresh(time.Nanosecond))
	v := auth.NewVerifier(cache, authtest.Issuer, authtest.Audience, auth.WithVerifyCacheMaxAge(time.Hour))
	token := old.Token("ann", auth.RoleCustomer)
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	set = auth.JWKS{Keys: []auth.JWK{next.JWK()}}
	mu.Unlock()
	time.Sleep(time.Millisecond) // past WithMinRefresh
	if err := cache.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), token); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("token of a withdrawn key: %v, want unauthenticated", err)
	}
	if _, err := v.Verify(t.Context(), next.Token("ann", auth.RoleCustomer)); err != nil {
		t.Errorf("token of the remaining key: %v", err)
	}
}
