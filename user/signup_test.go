package user_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/user"
)

func TestSignUpThrottlePerClient(t *testing.T) {
	f := newFixture(t, user.WithSignUpThrottle(2, time.Hour))
	ctx := context.Background()
	signUp := func(email, ip string) error {
		_, err := f.svc.SignUp(ctx, user.NewUser{Email: email, Password: testPassword, Name: "Ann", ClientIP: ip})
		return err
	}
	for i, email := range []string{"a@example.com", "b@example.com"} {
		if err := signUp(email, "2001:db8:1:2::1"); err != nil {
			t.Fatalf("sign-up %d: %v", i+1, err)
		}
	}
	// The same /64, another address: the same client.
	err := signUp("c@example.com", "2001:db8:1:2::99")
	if !errs.Is(err, errs.RateLimited) || errs.RetryAfterOf(err) <= 0 {
		t.Errorf("third sign-up from the /64: %v, want rate_limited with a retry hint", err)
	}
	if err := signUp("c@example.com", "192.0.2.1"); err != nil {
		t.Errorf("sign-up from another client: %v", err)
	}
	// Taken emails count as well: probing costs the same as signing up.
	if err := signUp("a@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := signUp("a@example.com", "192.0.2.1"); !errs.Is(err, errs.RateLimited) {
		t.Errorf("probing a taken email past the budget: %v, want rate_limited", err)
	}
}

// busyPool returns a hash pool of one worker and no queue, kept busy until
// the test ends.
func busyPool(t *testing.T) *user.HashPool {
	t.Helper()
	pool := user.NewHashPool(1, 0)
	occupy(t, pool)
	return pool
}

// occupy holds one worker of pool until release is called or the test
// ends.
func occupy(t *testing.T, pool *user.HashPool) (release func()) {
	t.Helper()
	started, stop := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() { done <- pool.Do(context.Background(), func() { close(started); <-stop }) }()
	<-started
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(stop)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

func TestHashPool(t *testing.T) {
	pool := user.NewHashPool(1, 1)
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error)
	go func() { first <- pool.Do(context.Background(), func() { close(started); <-release }) }()
	<-started

	// A caller may wait for the worker, but gives up when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pool.Do(ctx, func() { t.Error("ran after its context ended") }); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Do whose context ended: %v, want unavailable", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Error(err)
	}
	ran := false
	if err := pool.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Errorf("Do on a free pool: %v, ran %v", err, ran)
	}

	// Without a queue, a second caller is refused at once.
	pool = busyPool(t)
	err := pool.Do(context.Background(), func() { t.Error("ran on a full pool") })
	if !errs.Is(err, errs.Unavailable) || errs.RetryAfterOf(err) <= 0 {
		t.Errorf("Do on a full pool: %v, want unavailable with a retry hint", err)
	}
}

// With password hashing saturated, logins and sign-ups are shed with 503
// and Retry-After instead of queueing CPU work; a sign-up with a taken
// email is shed too, because it hashes like any other.
func TestHashPoolShedsLoad(t *testing.T) {
	pool := user.NewHashPool(1, 0)
	f := newHTTPFixture(t, nil, user.WithHashPool(pool))
	decodeSignUp(t, f.postJSON(t, user.UsersPath, signUpBody))

	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() { done <- pool.Do(context.Background(), func() { close(started); <-release }) }()
	<-started
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	for name, r := range map[string]httpResult{
		"login":           f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`),
		"sign-up":         f.postJSON(t, user.UsersPath, `{"email":"bob@example.com","password":"correct horse","name":"Bob"}`),
		"taken sign-up":   f.postJSON(t, user.UsersPath, signUpBody),
		"unknown account": f.postJSON(t, user.LoginPath, `{"email":"nobody@example.com","password":"correct horse"}`),
	} {
		decodeProblem(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", name)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	decodeTokens(t, f.postJSON(t, user.LoginPath, `{"email":"ann@example.com","password":"correct horse"}`))
}

// decodeSignUp checks that r is the one answer every sign-up gets, and
// returns its body.
func decodeSignUp(t *testing.T, r httpResult) []byte {
	t.Helper()
	if r.status != http.StatusAccepted {
		t.Fatalf("sign-up status = %d, want 202; body %s", r.status, r.body)
	}
	var body struct{ Status, Message string }
	if err := json.Unmarshal(r.body, &body); err != nil || body.Status != "accepted" || body.Message != user.SignUpMessage {
		t.Errorf("sign-up body %s (%v)", r.body, err)
	}
	return r.body
}
