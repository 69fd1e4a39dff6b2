package middleware

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd/lb"

	"github.com/kitshop/kitshop/kit/errs"
)

// MaxBackoff caps the doubling wait between Retry attempts; waiting longer
// rarely beats failing and letting the client decide.
const MaxBackoff = 10 * time.Second

// NoInstanceWait is how long RetryBalanced waits before it looks again for an
// instance when the balancer had none.
const NoInstanceWait = 20 * time.Millisecond

// Retry calls the wrapped endpoint up to attempts times (attempts < 1 means
// 1) while it fails with errs.Unavailable, and returns the last result. Every
// other error, business or Internal, is returned at once: the answer would
// not change. Between attempts it waits a jittered, doubling backoff (between
// backoff/2 and backoff before the second attempt, twice that before the
// third, …, growing to at most MaxBackoff or backoff if larger) and gives up
// early, with the last error, when ctx is done.
//
// Use it only for idempotent endpoints: an Unavailable call may still have
// taken effect.
func Retry(attempts int, backoff time.Duration) endpoint.Middleware {
	attempts = max(attempts, 1)
	ceiling := max(backoff, MaxBackoff)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			wait := backoff
			for attempt := 1; ; attempt++ {
				response, err := next(ctx, request)
				if err == nil || !errs.Is(err, errs.Unavailable) || attempt >= attempts {
					return response, err
				}
				if !sleep(ctx, jitter(wait)) {
					return nil, err
				}
				wait = min(2*wait, ceiling)
			}
		}
	}
}

// jitter spreads retries of many callers over [d/2, d] so they do not hit a
// recovering dependency in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return max(d, 0)
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits for d and reports whether ctx is still live afterwards.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// RetryBalanced is go-kit's lb.Retry made kind-aware: each attempt takes the
// next endpoint from b — with lb.NewRoundRobin, the next instance, so a dead
// instance costs one attempt, not all of them — and only errs.Unavailable
// failures are retried, up to attempts calls in all (attempts < 1 means 1).
// timeout (if > 0) bounds all attempts together; running out of it returns
// errs.Unavailable "request timed out". No instance at all is
// errs.Unavailable too ("no instance available"), after the remaining
// attempts have looked again, NoInstanceWait apart: an empty instance set is
// often a moment's state (a go-kit sd.Endpointer fills its cache on a
// goroutine of its own after the first discovery event, so a call right
// after it is built can find none), and a service that has no instance for
// longer fails within a few tens of milliseconds all the same.
//
// Use it only for idempotent calls. Attempts are not spaced out: they go to
// different instances. For per-attempt deadlines, wrap the endpoints the
// balancer hands out with Timeout.
func RetryBalanced(b lb.Balancer, attempts int, timeout time.Duration) endpoint.Endpoint {
	attempts = max(attempts, 1)
	return func(ctx context.Context, request any) (any, error) {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		var lastErr error
		for attempt := 1; attempt <= attempts; attempt++ {
			if ctx.Err() != nil {
				break
			}
			ep, err := b.Endpoint()
			if err != nil {
				noInstance := &errs.Error{Kind: errs.Unavailable, Message: "no instance available", RetryAfter: time.Second, Err: err}
				if attempt < attempts && sleep(ctx, NoInstanceWait) {
					continue
				}
				return nil, noInstance
			}
			response, err := ep(ctx, request)
			if err == nil || !errs.Is(err, errs.Unavailable) {
				return response, err
			}
			lastErr = err
		}
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, timeoutError(cmp.Or(lastErr, ctx.Err()))
		case lastErr == nil:
			// The caller gave up before the first attempt.
			return nil, &errs.Error{Kind: errs.Unavailable, Message: "request cancelled", Err: ctx.Err()}
		}
		return nil, lastErr
	}
}
