package user_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
)

func TestLoginThrottle(t *testing.T) {
	now := time.Now()
	window := 5 * time.Minute
	th := user.NewLoginThrottle(5, 20, window)

	// Five failures in a row are allowed, the sixth attempt is refused.
	for i := range 5 {
		if err := th.Allow("ann@example.com", "192.0.2.1", now); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		th.Fail("ann@example.com", "192.0.2.1", now)
	}
	err := th.Allow("ann@example.com", "192.0.2.1", now)
	if !errs.Is(err, errs.RateLimited) {
		t.Fatalf("sixth attempt: %v, want rate_limited", err)
	}
	// One token refills in window/10; Retry-After rounds up to seconds.
	if got := errs.RetryAfterOf(err); got < 30*time.Second || got > 31*time.Second {
		t.Errorf("retry after %v, want 30s (window/10)", got)
	}
	// Other accounts from the same client are still allowed, and so is
	// the same account a while later.
	if err := th.Allow("bob@example.com", "192.0.2.1", now); err != nil {
		t.Errorf("other account: %v", err)
	}
	if err := th.Allow("ann@example.com", "192.0.2.1", now.Add(window/10+time.Second)); err != nil {
		t.Errorf("after the wait: %v", err)
	}

	// Successes cost half: ten in a row are fine.
	for i := range 10 {
		if err := th.Allow("carol@example.com", "192.0.2.2", now); err != nil {
			t.Fatalf("successful attempt %d: %v", i+1, err)
		}
	}
}

// An IPv6 client picks any address of its /64 per attempt; the budget is
// per /64.
func TestLoginThrottlePerIPv6Prefix(t *testing.T) {
	now := time.Now()
	th := user.NewLoginThrottle(5, 3, time.Minute)
	for i, account := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		ip := fmt.Sprintf("2001:db8:1:2::%x", i+1)
		if err := th.Allow(account, ip, now); err != nil {
			t.Fatal(err)
		}
		th.Fail(account, ip, now)
	}
	if err := th.Allow("d@example.com", "2001:db8:1:2:ffff::9", now); !errs.Is(err, errs.RateLimited) {
		t.Errorf("fourth account from the same /64: %v, want rate_limited", err)
	}
	if err := th.Allow("d@example.com", "2001:db8:1:3::1", now); err != nil {
		t.Errorf("from another /64: %v, want allowed", err)
	}
}

func TestLoginThrottlePerClient(t *testing.T) {
	now := time.Now()
	th := user.NewLoginThrottle(5, 3, time.Minute)
	// One client tries three accounts once each: the client's budget is
	// spent though no account's is.
	for _, account := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := th.Allow(account, "192.0.2.9", now); err != nil {
			t.Fatal(err)
		}
		th.Fail(account, "192.0.2.9", now)
	}
	if err := th.Allow("d@example.com", "192.0.2.9", now); !errs.Is(err, errs.RateLimited) {
		t.Errorf("fourth account from one client: %v, want rate_limited", err)
	}
	if err := th.Allow("d@example.com", "198.51.100.1", now); err != nil {
		t.Errorf("another client: %v", err)
	}
	// Without a client address only the account counts.
	if err := th.Allow("d@example.com", "", now); err != nil {
		t.Errorf("unknown client: %v", err)
	}
}

func TestLoginThrottleDisabled(t *testing.T) {
	var nilThrottle *user.LoginThrottle
	off := user.NewLoginThrottle(0, 0, time.Minute)
	now := time.Now()
	for _, th := range []*user.LoginThrottle{nilThrottle, off} {
		for range 50 {
			if err := th.Allow("a@example.com", "192.0.2.1", now); err != nil {
				t.Fatal(err)
			}
			th.Fail("a@example.com", "192.0.2.1", now)
		}
	}
}

// The service throttles by account whether or not the account exists, and
// a throttled attempt is refused even with the right password.
func TestLoginLockout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.signUp(t, "ann@example.com")

	for _, email := range []string{u.Email, "nobody@example.com"} {
		t.Run(email, func(t *testing.T) {
			for i := range user.DefaultAccountFailures {
				_, err := f.svc.Login(ctx, user.Credentials{Email: email, Password: "wrong password", ClientIP: "192.0.2.1"})
				if !errs.Is(err, errs.Unauthenticated) {
					t.Fatalf("failure %d: %v, want unauthenticated", i+1, err)
				}
			}
			_, err := f.svc.Login(ctx, user.Credentials{Email: email, Password: testPassword, ClientIP: "192.0.2.1"})
			if !errs.Is(err, errs.RateLimited) || errs.RetryAfterOf(err) < time.Second {
				t.Errorf("attempt after %d failures: %v, want rate_limited with a retry hint", user.DefaultAccountFailures, err)
			}
		})
	}
	// Case and spaces do not make a fresh account key.
	_, err := f.svc.Login(ctx, user.Credentials{Email: " ANN@example.com", Password: testPassword, ClientIP: "198.51.100.7"})
	if !errs.Is(err, errs.RateLimited) {
		t.Errorf("attempt with the email in upper case: %v, want rate_limited", err)
	}
}

// A database failure is not the client's failure: it does not count.
func TestLoginThrottleIgnoresOutages(t *testing.T) {
	// Two failures allowed: had the three outages counted as failures,
	// the third attempt would be throttled.
	f := newFixture(t, user.WithLoginThrottle(user.NewLoginThrottle(2, 0, time.Hour)))
	ctx := context.Background()
	f.signUp(t, "ann@example.com")
	f.pool.Close()
	for range 3 {
		_, err := f.svc.Login(ctx, user.Credentials{Email: "ann@example.com", Password: testPassword})
		if !errs.Is(err, errs.Unavailable) {
			t.Fatalf("Login on a closed pool: %v, want unavailable", err)
		}
	}
}
