package user_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
)

// An attacker with a copy of a refresh token refreshes in a loop while its
// owner logs out. Once Logout has returned, no token of the session may
// work any more, not even one a refresh that ran at the same moment
// handed out: revocation and rotation are serialised on the session.
func TestLogoutRacingRefreshLeavesNoSurvivor(t *testing.T) {
	f := newFixture(t, user.WithLoginThrottle(nil)) // a hundred logins in a row
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")

	const races = 100
	survivors := 0
	for range races {
		pair := f.login(t, u.Email)
		var (
			mu     sync.Mutex
			latest = pair.RefreshToken // the attacker's newest token
			stop   = make(chan struct{})
			wg     sync.WaitGroup
		)
		started := make(chan struct{})
		wg.Go(func() {
			first := true
			for {
				mu.Lock()
				tok := latest
				mu.Unlock()
				if first {
					close(started)
					first = false
				}
				next, err := f.svc.Refresh(ctx, tok)
				if err == nil {
					mu.Lock()
					latest = next.RefreshToken
					mu.Unlock()
				} else if !errs.Is(err, errs.Unauthenticated) {
					t.Errorf("attacker's refresh: %v", err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				if err != nil {
					return // the session is gone
				}
			}
		})
		<-started
		// The owner logs out with the token it was given.
		if err := f.svc.Logout(ctx, pair.RefreshToken); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		close(stop)
		wg.Wait()
		mu.Lock()
		tok := latest
		mu.Unlock()
		if _, err := f.svc.Refresh(ctx, tok); err == nil {
			survivors++
		} else if !errs.Is(err, errs.Unauthenticated) {
			t.Fatalf("refresh after logout: %v", err)
		}
	}
	if survivors != 0 {
		t.Errorf("%d of %d sessions survived logout, want 0", survivors, races)
	}
}

// Rotated refresh tokens are kept for the reuse window, then deleted; a
// rotated token presented inside the window still revokes its session.
func TestRotatedRefreshTokensArePruned(t *testing.T) {
	const window = time.Hour
	f := newFixture(t, user.WithReuseWindow(window))
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")
	first := f.login(t, u.Email)
	second, err := f.svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}

	f.clock.Advance(window + time.Minute)
	third, err := f.svc.Refresh(ctx, second.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.tokenRows(t, first.RefreshToken); n != 0 {
		t.Errorf("the token rotated %v ago is still stored", window+time.Minute)
	}
	if n := f.tokenRows(t, second.RefreshToken); n != 1 {
		t.Errorf("the token rotated just now is gone: %d rows", n)
	}
	// Past the window a copy is merely unknown: the session lives on.
	if _, err := f.svc.Refresh(ctx, first.RefreshToken); !errs.Is(err, errs.Unauthenticated) || errors.Is(err, user.ErrRefreshTokenReused) {
		t.Errorf("refresh with a pruned token: %v, want plain unauthenticated", err)
	}
	// Inside the window reuse is caught and ends the session.
	if _, err := f.svc.Refresh(ctx, second.RefreshToken); !errors.Is(err, user.ErrRefreshTokenReused) {
		t.Errorf("reuse inside the window: %v, want ErrRefreshTokenReused", err)
	}
	if _, err := f.svc.Refresh(ctx, third.RefreshToken); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("refresh after reuse: %v, want unauthenticated", err)
	}

	// A login prunes too: the other session's rotated token goes.
	other := f.login(t, u.Email)
	if _, err := f.svc.Refresh(ctx, other.RefreshToken); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(window + time.Minute)
	f.login(t, u.Email)
	if n := f.tokenRows(t, other.RefreshToken); n != 0 {
		t.Errorf("login left a token rotated %v ago", window+time.Minute)
	}
}

// tokenRows counts the stored rows of refresh token tok.
func (f *fixture) tokenRows(t *testing.T, tok string) int {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM refresh_tokens WHERE token_hash = $1`, sum[:]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
