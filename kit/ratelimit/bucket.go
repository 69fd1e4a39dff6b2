package ratelimit

import (
	"context"
	"math"
	"time"

	"github.com/go-kit/kit/endpoint"
	"golang.org/x/time/rate"

	"github.com/kitshop/kitshop/kit/errs"
)

// TokenBucket allows perSecond calls on average with bursts of up to burst
// calls. It is safe for concurrent use.
type TokenBucket struct {
	lim *rate.Limiter
}

// NewTokenBucket returns a full bucket refilling at perSecond tokens per
// second and holding at most burst tokens. perSecond <= 0 means no limit (the
// usual meaning of 0 for a rate flag); burst < 1 is treated as 1, since a
// bucket that can never hold a token would reject everything.
func NewTokenBucket(perSecond float64, burst int) *TokenBucket {
	limit, burst := normalize(perSecond, burst)
	return &TokenBucket{lim: rate.NewLimiter(limit, burst)}
}

// SetRate changes the rate and burst, normalised as by NewTokenBucket, for
// live configuration. The bucket keeps its tokens, capped at the new burst.
func (b *TokenBucket) SetRate(perSecond float64, burst int) {
	limit, burst := normalize(perSecond, burst)
	now := time.Now()
	b.lim.SetLimitAt(now, limit)
	b.lim.SetBurstAt(now, burst)
}

// Allow takes a token if one is available. Otherwise it reports false and how
// long until a token will be (exact, not rounded; see Error for the rounding
// a client sees).
func (b *TokenBucket) Allow() (ok bool, retryAfter time.Duration) {
	return b.AllowAt(time.Now())
}

// AllowAt is Allow as of time now, for callers (and tests) that already hold
// the current time.
func (b *TokenBucket) AllowAt(now time.Time) (ok bool, retryAfter time.Duration) {
	return allow(b.lim, now)
}

// allow takes a token from lim or computes when one will be available. The
// two steps are not atomic, but the wait is only a hint for the client.
// Unlike Reserve/Cancel this allocates nothing.
func allow(lim *rate.Limiter, now time.Time) (bool, time.Duration) {
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(lim.Limit()) * float64(time.Second)))
	return false, max(wait, time.Nanosecond)
}

func normalize(perSecond float64, burst int) (rate.Limit, int) {
	limit := rate.Limit(perSecond)
	if perSecond <= 0 || math.IsInf(perSecond, 1) || math.IsNaN(perSecond) {
		limit = rate.Inf
	}
	return limit, max(burst, 1)
}

// Error returns the errs.RateLimited error for a call rejected with the given
// wait. Its RetryAfter is the wait rounded up to whole seconds and at least
// one second, because HTTP's Retry-After counts whole seconds and a zero
// would invite an immediate retry.
func Error(retryAfter time.Duration) error {
	return &errs.Error{Kind: errs.RateLimited, Message: "too many requests", RetryAfter: RoundUp(retryAfter)}
}

// RoundUp rounds d up to whole seconds, with a minimum of one second.
func RoundUp(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	if d > math.MaxInt64-time.Second {
		// Guard the addition below; nobody waits 292 years anyway.
		return d.Truncate(time.Second)
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// Middleware rejects calls with Error while b has no tokens, without calling
// the wrapped endpoint.
func Middleware(b *TokenBucket) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			if ok, wait := b.Allow(); !ok {
				return nil, Error(wait)
			}
			return next(ctx, request)
		}
	}
}
