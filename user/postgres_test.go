package user_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
)

func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")
	first := f.login(t, u.Email)

	second, err := f.svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if second.UserID != u.ID || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Errorf("Refresh = %+v, want new tokens for %s", second, u.ID)
	}
	if _, err := f.signer.Verifier().Verify(ctx, second.AccessToken); err != nil {
		t.Errorf("refreshed access token: %v", err)
	}

	// The chain goes on, and stays one family.
	third, err := f.svc.Refresh(ctx, second.RefreshToken)
	if err != nil {
		t.Fatalf("second Refresh: %v", err)
	}
	var families, rows int
	if err := f.pool.QueryRow(ctx, `SELECT count(DISTINCT family_id), count(*) FROM refresh_tokens`).Scan(&families, &rows); err != nil {
		t.Fatal(err)
	}
	if families != 1 || rows != 3 {
		t.Errorf("%d families and %d tokens, want 1 and 3", families, rows)
	}
	// Only hashes are stored.
	var stored int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE token_hash IN ($1, $2, $3)`,
		[]byte(first.RefreshToken), []byte(second.RefreshToken), []byte(third.RefreshToken)).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Error("refresh tokens are stored in clear")
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")
	first := f.login(t, u.Email)
	other := f.login(t, u.Email) // another device: another family

	second, err := f.svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// The first token again: someone has a copy.
	_, err = f.svc.Refresh(ctx, first.RefreshToken)
	if !errs.Is(err, errs.Unauthenticated) || !errors.Is(err, user.ErrRefreshTokenReused) {
		t.Fatalf("reuse error = %v, want unauthenticated wrapping ErrRefreshTokenReused", err)
	}
	if errs.Message(err) != "invalid or expired refresh token" {
		t.Errorf("reuse message %q tells the client more than any other refusal", errs.Message(err))
	}
	// The whole family is gone, including the legitimate newest token.
	if _, err := f.svc.Refresh(ctx, second.RefreshToken); !errs.Is(err, errs.Unauthenticated) || errors.Is(err, user.ErrRefreshTokenReused) {
		t.Errorf("refresh with the family's newest token: %v, want plain unauthenticated", err)
	}
	// The other device's session lives on.
	if _, err := f.svc.Refresh(ctx, other.RefreshToken); err != nil {
		t.Errorf("refresh of another family: %v", err)
	}
}

func TestRefreshRejects(t *testing.T) {
	f := newFixture(t, user.WithRefreshTTL(time.Hour))
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")
	expiring := f.login(t, u.Email)

	tests := map[string]string{
		"unknown":             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"too short":           "abc",
		"not base64url":       "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"padded":              expiring.RefreshToken + "=",
		"access token":        expiring.AccessToken,
		"non-canonical final": expiring.RefreshToken[:42] + nonCanonical(expiring.RefreshToken[42]),
	}
	for name, token := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.Refresh(ctx, token)
			if !errs.Is(err, errs.Unauthenticated) || errs.Message(err) != "invalid or expired refresh token" {
				t.Errorf("Refresh error = %v, want unauthenticated", err)
			}
		})
	}
	if _, err := f.svc.Refresh(ctx, ""); !errs.Is(err, errs.Invalid) {
		t.Errorf("Refresh(\"\") = %v, want invalid", err)
	}

	f.clock.Advance(time.Hour)
	if _, err := f.svc.Refresh(ctx, expiring.RefreshToken); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("Refresh of an expired token: %v, want unauthenticated", err)
	}
	// Logging in again cleans the expired token up.
	f.login(t, u.Email)
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d refresh tokens stored, want 1 (the expired one deleted)", n)
	}
}

// nonCanonical returns another base64url character that decodes to the
// same bytes as the last character c of a 43-character token (whose last
// 2 bits are padding), so the token's spelling changes but not its bytes.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(alphabet) {
		if alphabet[i] == c {
			return string(alphabet[i^1])
		}
	}
	return "?"
}

func TestLogout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")
	first := f.login(t, u.Email)
	second, err := f.svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	other := f.login(t, u.Email)

	if err := f.svc.Logout(ctx, second.RefreshToken); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := f.svc.Refresh(ctx, second.RefreshToken); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("refresh after logout: %v, want unauthenticated", err)
	}
	// Idempotent, and silent about tokens it does not know.
	for name, token := range map[string]string{
		"again":        second.RefreshToken,
		"older token":  first.RefreshToken,
		"unknown":      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"not a token":  "hello",
		"access token": first.AccessToken,
	} {
		if err := f.svc.Logout(ctx, token); err != nil {
			t.Errorf("Logout(%s): %v, want nil", name, err)
		}
	}
	if err := f.svc.Logout(ctx, ""); !errs.Is(err, errs.Invalid) {
		t.Errorf("Logout(\"\") = %v, want invalid", err)
	}
	// Only that session ended.
	if _, err := f.svc.Refresh(ctx, other.RefreshToken); err != nil {
		t.Errorf("refresh of another session: %v", err)
	}
}

// Concurrent refreshes of one token: exactly one gets a new pair. The
// others find the token rotated, which is indistinguishable from theft, so
// they revoke the family, the winner's new token included.
func TestRefreshConcurrent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")
	pair := f.login(t, u.Email)

	const n = 8
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]error, n)
		pairs   = make([]user.TokenPair, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			pairs[i], results[i] = f.svc.Refresh(ctx, pair.RefreshToken)
		})
	}
	close(start)
	wg.Wait()

	won := 0
	for i, err := range results {
		switch {
		case err == nil:
			won++
			if pairs[i].RefreshToken == "" {
				t.Error("winner got no token")
			}
		case !errs.Is(err, errs.Unauthenticated):
			t.Errorf("refresh %d: %v, want success or unauthenticated", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", won)
	}
	var rotated, live int
	if err := f.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE rotated_at IS NOT NULL), count(*) FILTER (WHERE revoked_at IS NULL)
		FROM refresh_tokens`).Scan(&rotated, &live); err != nil {
		t.Fatal(err)
	}
	if rotated != 1 || live != 0 {
		t.Errorf("%d rotated and %d live tokens, want 1 and 0", rotated, live)
	}
}

// A database that cannot be reached is Unavailable, not a login failure.
func TestPostgresUnavailable(t *testing.T) {
	f := newFixture(t)
	f.pool.Close()
	ctx := context.Background()
	_, err := f.svc.Login(ctx, user.Credentials{Email: "ann@example.com", Password: testPassword})
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("Login on a closed pool: %v, want unavailable", err)
	}
	_, err = f.svc.SignUp(ctx, user.NewUser{Email: "ann@example.com", Password: testPassword, Name: "Ann"})
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("SignUp on a closed pool: %v, want unavailable", err)
	}
	_, err = f.svc.Refresh(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("Refresh on a closed pool: %v, want unavailable", err)
	}
}
