package user

import (
	"context"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/ratelimit"
)

// Defaults of the login throttle.
const (
	// DefaultAccountFailures is how many failed logins an account may see
	// per DefaultThrottleWindow before further attempts are refused.
	DefaultAccountFailures = 5
	// DefaultClientFailures is the same per client IP address. It is
	// higher because several people may share an address (an office, a
	// carrier's NAT), and lower would let one of them lock out the rest.
	DefaultClientFailures = 20
	// DefaultThrottleWindow is the period the failure budgets refill over.
	DefaultThrottleWindow = 5 * time.Minute
	// throttleMaxKeys bounds the memory of each of the two limiters (about
	// 200 bytes per key); past it the quietest keys are forgotten, never
	// a locked-out one before those that spent less (kit/ratelimit Keyed).
	throttleMaxKeys = 100_000
)

// LoginThrottle slows down password guessing, per account (the email tried,
// or the client id of a service account) and per client address, with one
// token bucket per key (kit/ratelimit Keyed). Logins and service token
// requests share it: a client's failures at either count against the same
// address budget.
//
// The buckets hold two tokens per allowed failure. Every attempt takes one
// before the password is checked (so a throttled attempt costs no bcrypt
// time and learns nothing, even with the right password), and a failed
// attempt takes a second one. So a key gets its failure budget in a row,
// successful logins cost half as much as failures, and the budget refills
// evenly over the window: after a lockout, one more guess becomes possible
// every window/failures.
//
// The state is in memory, per instance: with n instances behind the
// gateway an attacker gets up to n times the budget, which still turns an
// online guessing attack from millions of guesses into a handful.
// Accounts are keyed by the normalised email whether or not an account has
// it, so throttling does not tell which emails exist. It is safe for
// concurrent use.
//
// For a service account the trade-off is the same as for a user: anyone who
// knows its client id (not a secret) can spend its failure budget and lock
// it out for a while. Its clients ride that out with the token they hold
// (kit/auth.ClientCredentials refreshes at 80% of the lifetime and keeps
// using the token until 90%), and the token endpoint need not be reachable
// from outside (it is public so that services reach it without a token,
// not so that the internet does). Successful requests cost a token too:
// with the defaults, 10 replicas of a service may start at once, and any
// number up to 24 refresh every 12 minutes (80% of a 15 minute token); a
// larger fleet needs a larger -login-account-failures.
type LoginThrottle struct {
	accounts *ratelimit.Keyed // nil: not throttled per account
	clients  *ratelimit.Keyed // nil: not throttled per client
}

// NewLoginThrottle returns a throttle allowing accountFailures failed logins
// per account and clientFailures per client address, refilling over window.
// A budget <= 0 turns that half of the throttle off.
func NewLoginThrottle(accountFailures, clientFailures int, window time.Duration) *LoginThrottle {
	return &LoginThrottle{
		accounts: newFailureLimiter(accountFailures, window),
		clients:  newFailureLimiter(clientFailures, window),
	}
}

func newFailureLimiter(failures int, window time.Duration) *ratelimit.Keyed {
	if failures <= 0 || window <= 0 {
		return nil
	}
	tokens := 2 * failures
	return ratelimit.NewKeyed(float64(tokens)/window.Seconds(), tokens, throttleMaxKeys)
}

// The account keys of the two kinds of account live in separate
// namespaces, so that a login attempt for the "email" service:order cannot
// spend the budget of the service account order, nor the other way round.
func userKey(email string) string { return "user:" + email }

func serviceKey(name string) string { return "service:" + name }

// Allow takes the attempt's token from the account's and the client's
// bucket (an empty client is not throttled per client). Clients are keyed
// by ratelimit.ClientKey: an IPv6 client by its /64, all of which it owns. It returns a
// RateLimited error with the wait until the next attempt is possible when
// either bucket is empty. A nil throttle allows everything.
func (t *LoginThrottle) Allow(account, client string, now time.Time) error {
	if t == nil {
		return nil
	}
	// The account first: an attempt refused for the account does not use
	// up the client's budget too.
	if t.accounts != nil {
		if ok, wait := t.accounts.AllowAt(account, now); !ok {
			return ratelimit.Error(wait)
		}
	}
	if t.clients != nil && client != "" {
		if ok, wait := t.clients.AllowAt(ratelimit.ClientKey(client), now); !ok {
			return ratelimit.Error(wait)
		}
	}
	return nil
}

// Fail records that an allowed attempt failed: it takes the second token.
// An already empty bucket stays empty; the next Allow refuses.
func (t *LoginThrottle) Fail(account, client string, now time.Time) {
	if t == nil {
		return
	}
	if t.accounts != nil {
		t.accounts.AllowAt(account, now)
	}
	if t.clients != nil && client != "" {
		t.clients.AllowAt(ratelimit.ClientKey(client), now)
	}
}

// CountThrottled returns endpoint middleware that counts the refusals of
// method's throttle (Login and ServiceToken answering RateLimited count for
// the "login" limiter, SignUp for the "signup" one), so that password
// guessing and sign-up floods show up apart from overload. It goes inside
// the instance's rate limit, whose own refusals never reach it; the
// endpoint metrics count both as outcome "rate_limited".
func CountThrottled(m *metrics.Metrics, method string) endpoint.Middleware {
	limiter := "login"
	switch method {
	case MethodLogin, MethodServiceToken:
	case MethodSignUp:
		limiter = "signup"
	default:
		return func(next endpoint.Endpoint) endpoint.Endpoint { return next }
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			response, err := next(ctx, request)
			if errs.Is(err, errs.RateLimited) {
				m.RateLimited(limiter)
			}
			return response, err
		}
	}
}
