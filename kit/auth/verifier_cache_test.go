package auth_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
)

// countingKeys is s's KeySource that counts its lookups: a Verifier that
// answers from memory does not look up the key.
type countingKeys struct {
	keys  auth.KeySource
	calls atomic.Int64
}

func (c *countingKeys) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	c.calls.Add(1)
	return c.keys.PublicKey(ctx, kid)
}

// clock is a settable time for auth.WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// wantSameOutcome fails t unless the cached and the uncached Verifier's
// answers are the same: the identity, or an error of the same kind, message
// and text.
func wantSameOutcome(t *testing.T, gotID auth.Identity, gotErr error, wantID auth.Identity, wantErr error) {
	t.Helper()
	if !reflect.DeepEqual(gotID, wantID) {
		t.Errorf("identity = %+v, want %+v", gotID, wantID)
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("err = %v, want %v", gotErr, wantErr)
	}
	if gotErr == nil {
		return
	}
	if got, want := errs.KindOf(gotErr), errs.KindOf(wantErr); got != want {
		t.Errorf("kind = %v, want %v", got, want)
	}
	if got, want := errs.Message(gotErr), errs.Message(wantErr); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if got, want := gotErr.Error(), wantErr.Error(); got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestVerifyCacheHit(t *testing.T) {
	s := authtest.NewSigner(t)
	tests := []struct {
		name  string
		token string
	}{
		{"customer", s.Token("user-1", auth.RoleCustomer)},
		{"admin", s.Token("user-2", auth.RoleCustomer, auth.RoleAdmin)},
		{"no roles", s.Token("user-3")},
		{"service", s.Token(auth.ServiceSubject("order"), auth.RoleService)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := &countingKeys{keys: s.KeySource()}
			v := auth.NewVerifier(keys, authtest.Issuer, authtest.Audience)
			want, err := auth.NewVerifier(s.KeySource(), authtest.Issuer, authtest.Audience, auth.WithVerifyCacheSize(0)).Verify(t.Context(), tt.token)
			if err != nil {
				t.Fatalf("uncached Verify: %v", err)
			}
			for i := range 3 {
				got, err := v.Verify(t.Context(), tt.token)
				if err != nil {
					t.Fatalf("Verify #%d: %v", i+1, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Verify #%d = %+v, want %+v", i+1, got, want)
				}
				// The caller owns what it got: changing it must not change
				// what the next call returns.
				for j := range got.Roles {
					got.Roles[j] = auth.RoleAdmin
				}
			}
			if got := keys.calls.Load(); got != 1 {
				t.Errorf("key looked up %d times, want 1", got)
			}
			if got := v.CachedTokens(); got != 1 {
				t.Errorf("cached tokens = %d, want 1", got)
			}
		})
	}
}

func TestVerifyCacheDisabled(t *testing.T) {
	s := authtest.NewSigner(t)
	token := s.Token("user-1", auth.RoleCustomer)
	for _, n := range []int{0, -1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			keys := &countingKeys{keys: s.KeySource()}
			v := auth.NewVerifier(keys, authtest.Issuer, authtest.Audience, auth.WithVerifyCacheSize(n))
			for range 3 {
				if _, err := v.Verify(t.Context(), token); err != nil {
					t.Fatalf("Verify: %v", err)
				}
			}
			if got := keys.calls.Load(); got != 3 {
				t.Errorf("key looked up %d times, want 3", got)
			}
			if got := v.CachedTokens(); got != 0 {
				t.Errorf("cached tokens = %d, want 0", got)
			}
		})
	}
}

// TestVerifyCacheRefusesTampered changes every character of a remembered
// token in turn: none of the results may pass for it.
func TestVerifyCacheRefusesTampered(t *testing.T) {
	s := authtest.NewSigner(t)
	v := s.Verifier()
	valid := s.Token("user-1", auth.RoleCustomer)
	want, err := v.Verify(t.Context(), valid)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for i := range len(valid) {
		b := []byte(valid)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		id, err := v.Verify(t.Context(), string(b))
		if errs.KindOf(err) != errs.Unauthenticated || !reflect.DeepEqual(id, auth.Identity{}) {
			t.Errorf("token with byte %d changed to %q: identity %+v, err %v; want refusal", i, b[i], id, err)
		}
	}
	for _, tampered := range []string{valid + "A", valid[:len(valid)-1], " " + valid} {
		_, err := v.Verify(t.Context(), tampered)
		wantUnauthenticated(t, err)
	}
	got, err := v.Verify(t.Context(), valid)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("valid token after the tampered ones: %+v, %v; want %+v", got, err, want)
	}
	if got := v.CachedTokens(); got != 1 {
		t.Errorf("cached tokens = %d, want 1: refused tokens must not be remembered", got)
	}
}

func TestVerifyCacheRemembersOnlySuccess(t *testing.T) {
	s := authtest.NewSigner(t)
	token := s.Token("user-1", auth.RoleCustomer)
	var down atomic.Bool
	down.Store(true)
	var calls atomic.Int64
	keys := keySourceFunc(func(ctx context.Context, kid string) (ed25519.PublicKey, error) {
		calls.Add(1)
		if down.Load() {
			return nil, errs.New(errs.Unavailable, "jwks down")
		}
		return s.KeySource().PublicKey(ctx, kid)
	})
	v := auth.NewVerifier(keys, authtest.Issuer, authtest.Audience)

	if _, err := v.Verify(t.Context(), token); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("Verify with keys down: %v, want unavailable", err)
	}
	down.Store(false)
	for range 2 {
		if _, err := v.Verify(t.Context(), token); err != nil {
			t.Fatalf("Verify with keys up: %v", err)
		}
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("key looked up %d times, want 2 (the failure, then once for good)", got)
	}
}

// TestVerifyCacheTime moves the clock after a token was remembered: the
// cached Verifier must answer exactly as one that sees the token for the
// first time.
func TestVerifyCacheTime(t *testing.T) {
	s := authtest.NewSigner(t)
	t0 := time.Unix(time.Now().Unix(), 0) // claims are in whole seconds
	token := s.Sign(authClaims(s, "user-1", t0, func(c jwt.MapClaims) {
		c["iat"] = t0.Unix()
		c["nbf"] = t0.Add(10 * time.Second).Unix() // accepted at t0 thanks to Leeway
		c["exp"] = t0.Add(time.Minute).Unix()
	}))
	exp := t0.Add(time.Minute)
	nbf := t0.Add(10 * time.Second)

	tests := []struct {
		name    string
		at      time.Time
		wantErr error // a cause of the refusal; nil for acceptance
	}{
		{"fresh", t0.Add(time.Second), nil},
		{"at exp", exp, nil},
		{"last instant of leeway", exp.Add(auth.Leeway - time.Nanosecond), nil},
		{"leeway over", exp.Add(auth.Leeway), jwt.ErrTokenExpired},
		{"long expired", exp.Add(time.Hour), jwt.ErrTokenExpired},
		{"clock set back to nbf less leeway", nbf.Add(-auth.Leeway), nil},
		{"clock set back before nbf less leeway", nbf.Add(-auth.Leeway - time.Nanosecond), jwt.ErrTokenNotValidYet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{now: t0}
			keys := &countingKeys{keys: s.KeySource()}
			cached := auth.NewVerifier(keys, authtest.Issuer, authtest.Audience, auth.WithClock(c.Now), auth.WithVerifyCacheMaxAge(0)) // memory until exp
			uncached := auth.NewVerifier(s.KeySource(), authtest.Issuer, authtest.Audience, auth.WithClock(c.Now), auth.WithVerifyCacheSize(0))
			if _, err := cached.Verify(t.Context(), token); err != nil {
				t.Fatalf("Verify at t0: %v", err)
			}

			c.Set(tt.at)
			got, gotErr := cached.Verify(t.Context(), token)
			want, wantErr := uncached.Verify(t.Context(), token)
			wantSameOutcome(t, got, gotErr, want, wantErr)

			if tt.wantErr == nil {
				if gotErr != nil {
					t.Fatalf("Verify: %v", gotErr)
				}
				if n := keys.calls.Load(); n != 1 {
					t.Errorf("key looked up %d times, want 1: the answer did not come from memory", n)
				}
				return
			}
			wantUnauthenticated(t, gotErr)
			if !errors.Is(gotErr, tt.wantErr) {
				t.Errorf("err = %v, want cause %v", gotErr, tt.wantErr)
			}
			if n := cached.CachedTokens(); n != 0 {
				t.Errorf("cached tokens = %d, want 0: a token past its time is forgotten", n)
			}
		})
	}
}

// authClaims returns s's claims for userID issued at t0, changed by edit.
func authClaims(s *authtest.Signer, userID string, t0 time.Time, edit func(jwt.MapClaims)) jwt.MapClaims {
	c := s.Claims(userID, auth.RoleCustomer)
	c["iat"] = t0.Unix()
	c["exp"] = t0.Add(s.TTL).Unix()
	edit(c)
	return c
}

func TestVerifyCacheBounded(t *testing.T) {
	s := authtest.NewSigner(t)
	for _, size := range []int{1, 2, 10, 100} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			v := auth.NewVerifier(s.KeySource(), authtest.Issuer, authtest.Audience, auth.WithVerifyCacheSize(size))
			for i := range 5 * size {
				userID := fmt.Sprintf("user-%d", i)
				id, err := v.Verify(t.Context(), s.Token(userID))
				if err != nil || id.UserID != userID {
					t.Fatalf("Verify token %d: %+v, %v", i, id, err)
				}
				if got := v.CachedTokens(); got > size || got == 0 {
					t.Fatalf("after %d tokens: cached tokens = %d, want 1..%d", i+1, got, size)
				}
			}
		})
	}
}

// TestVerifyCacheEvictsExpiredFirst fills the memory with tokens that then
// expire and one that does not: making room must drop the expired ones and
// keep the live one.
func TestVerifyCacheEvictsExpiredFirst(t *testing.T) {
	s := authtest.NewSigner(t)
	t0 := time.Unix(time.Now().Unix(), 0)
	c := &clock{now: t0}
	keys := &countingKeys{keys: s.KeySource()}
	v := auth.NewVerifier(keys, authtest.Issuer, authtest.Audience, auth.WithClock(c.Now), auth.WithVerifyCacheSize(10), auth.WithVerifyCacheMaxAge(0))

	verify := func(token string) {
		t.Helper()
		if _, err := v.Verify(t.Context(), token); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	short := func(userID string) string {
		return s.Sign(authClaims(s, userID, t0, func(c jwt.MapClaims) { c["exp"] = t0.Add(10 * time.Second).Unix() }))
	}
	hot := s.Sign(authClaims(s, "hot", t0, func(jwt.MapClaims) {}))
	verify(hot)
	for i := range 9 {
		verify(short(fmt.Sprintf("user-%d", i)))
	}
	if got := v.CachedTokens(); got != 10 {
		t.Fatalf("cached tokens = %d, want 10", got)
	}

	c.Set(t0.Add(10*time.Second + auth.Leeway))
	for i := range 5 {
		verify(s.Sign(authClaims(s, fmt.Sprintf("new-%d", i), t0, func(jwt.MapClaims) {})))
	}
	if got, want := v.CachedTokens(), 6; got != want {
		t.Errorf("cached tokens = %d, want %d (hot and the 5 new ones)", got, want)
	}
	before := keys.calls.Load()
	verify(hot)
	if got := keys.calls.Load(); got != before {
		t.Errorf("hot token was evicted (key looked up again) while expired ones were there to go")
	}
}

// TestVerifyCacheConcurrent is for -race: many goroutines verify more
// valid tokens than the memory holds, and forged ones, at once, and change
// the roles they get back.
func TestVerifyCacheConcurrent(t *testing.T) {
	s := authtest.NewSigner(t)
	impostor := authtest.NewSigner(t)
	impostor.Kid = s.Kid
	v := auth.NewVerifier(s.KeySource(), authtest.Issuer, authtest.Audience, auth.WithVerifyCacheSize(8))

	type tokenCase struct {
		token  string
		userID string // empty for a token that must be refused
	}
	var tokens []tokenCase
	for i := range 24 {
		userID := fmt.Sprintf("user-%d", i)
		valid := s.Token(userID, auth.RoleCustomer)
		tampered := []byte(valid)
		if i := len(tampered) - 10; tampered[i] == 'A' { // in the signature
			tampered[i] = 'B'
		} else {
			tampered[i] = 'A'
		}
		tokens = append(tokens,
			tokenCase{valid, userID},
			tokenCase{string(tampered), ""},
			tokenCase{impostor.Token(userID, auth.RoleAdmin), ""},
		)
	}

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				tc := tokens[(g*7+i*5)%len(tokens)]
				id, err := v.Verify(t.Context(), tc.token)
				switch {
				case tc.userID == "" && err == nil:
					t.Errorf("forged token accepted as %+v", id)
				case tc.userID != "" && err != nil:
					t.Errorf("Verify %s: %v", tc.userID, err)
				case tc.userID != "" && (id.UserID != tc.userID || !reflect.DeepEqual(id.Roles, []string{auth.RoleCustomer})):
					t.Errorf("identity = %+v, want %s with role customer", id, tc.userID)
				}
				for j := range id.Roles {
					id.Roles[j] = auth.RoleAdmin // a race if another caller shared the slice
				}
			}
		})
	}
	wg.Wait()
	if got := v.CachedTokens(); got > 8 {
		t.Errorf("cached tokens = %d, want at most 8", got)
	}
}

func BenchmarkVerify(b *testing.B) {
	s := authtest.NewSigner(b)
	token := s.Token("3f1c7a52-5d2e-4b8e-9a63-0c7d1e2f4a5b", auth.RoleCustomer)
	benchmarks := []struct {
		name string
		opts []auth.VerifierOption
	}{
		{"uncached", []auth.VerifierOption{auth.WithVerifyCacheSize(0)}},
		{"cached", nil},
	}
	for _, bm := range benchmarks {
		v := auth.NewVerifier(s.KeySource(), authtest.Issuer, authtest.Audience, bm.opts...)
		ctx := context.Background()
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bm.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(ctx, token); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// With a max age a remembered token is checked in full again once that
// age is reached, even though it has not expired.
func TestVerifyCacheMaxAge(t *testing.T) {
	s := authtest.NewSigner(t)
	t0 := time.Unix(time.Now().Unix(), 0)
	token := s.Sign(authClaims(s, "user-1", t0, func(c jwt.MapClaims) {
		c["iat"] = t0.Unix()
		c["exp"] = t0.Add(time.Hour).Unix()
	}))
	clk := &clock{now: t0}
	keys := &countingKeys{keys: s.KeySource()}
	v := auth.NewVerifier(keys, authtest.Issuer, authtest.Audience, auth.WithClock(clk.Now), auth.WithVerifyCacheMaxAge(10*time.Second))

	for _, step := range []struct {
		at        time.Duration
		wantCalls int64
	}{
		{0, 1},                // checked in full
		{5 * time.Second, 1},  // from memory
		{10 * time.Second, 2}, // max age reached: checked again
		{15 * time.Second, 2}, // remembered from the second check
	} {
		clk.Set(t0.Add(step.at))
		if _, err := v.Verify(t.Context(), token); err != nil {
			t.Fatalf("Verify at +%v: %v", step.at, err)
		}
		if got := keys.calls.Load(); got != step.wantCalls {
			t.Errorf("at +%v: key looked up %d times in all, want %d", step.at, got, step.wantCalls)
		}
	}
}
