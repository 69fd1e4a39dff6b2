package breaker

import (
	"context"
	"errors"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
)

// Breaker runs calls through a circuit breaker.
//
// Execute calls run unless the circuit rejects the call, and returns run's
// error, or an errs.Unavailable error when the breaker rejected or abandoned
// the call (circuit open, too many concurrent calls, breaker timeout, ctx
// done). An error from run counts as a failure; nil as a success.
// Implementations must return nil only after run has returned nil, so callers
// may read what run wrote.
type Breaker interface {
	Execute(ctx context.Context, run func(context.Context) error) error
}

// Middleware runs each call of the wrapped endpoint through b. Business errors
// (errs.Kind.Business: not found, invalid, conflict, …) are reported to b as
// successes but returned to the caller unchanged; every other error counts as
// a failure.
func Middleware(b Breaker) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			var (
				response    any
				businessErr error
			)
			err := b.Execute(ctx, func(ctx context.Context) error {
				var err error
				response, err = next(ctx, request)
				if err != nil && errs.KindOf(err).Business() {
					businessErr = err
					return nil
				}
				return err
			})
			if err != nil {
				// run may still be running (breaker timeout) and writing
				// response, so do not touch it.
				return nil, err
			}
			if businessErr != nil {
				return nil, businessErr
			}
			return response, nil
		}
	}
}

// Settings tune a breaker. Zero fields take the defaults below.
type Settings struct {
	// Timeout is the breaker's own limit on one call (default 10s). It is a
	// safety net: the per-call deadline belongs to kit/middleware.Timeout,
	// whose errors count as failures too. Calls beyond it count as failures;
	// their context is cancelled.
	Timeout time.Duration
	// MaxConcurrent calls may run at once (default 100); more are rejected.
	MaxConcurrent int
	// VolumeThreshold is the number of calls in the rolling 10s window before
	// the error rate can open the circuit (default 20).
	VolumeThreshold int
	// ErrorPercent of failed calls in the window opens the circuit
	// (default 50).
	ErrorPercent int
	// SleepWindow is how long an open circuit rejects calls before letting
	// one through to test recovery (default 5s).
	SleepWindow time.Duration
}

// The defaults for zero Settings fields.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultMaxConcurrent   = 100
	DefaultVolumeThreshold = 20
	DefaultErrorPercent    = 50
	DefaultSleepWindow     = 5 * time.Second
)

func (s Settings) withDefaults() Settings {
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxConcurrent <= 0 {
		s.MaxConcurrent = DefaultMaxConcurrent
	}
	if s.VolumeThreshold <= 0 {
		s.VolumeThreshold = DefaultVolumeThreshold
	}
	if s.ErrorPercent <= 0 {
		s.ErrorPercent = DefaultErrorPercent
	}
	if s.SleepWindow <= 0 {
		s.SleepWindow = DefaultSleepWindow
	}
	return s
}

// unavailable builds the error for a call the breaker refused or gave up on.
func unavailable(msg string, retryAfter time.Duration, cause error) error {
	return &errs.Error{Kind: errs.Unavailable, Message: msg, RetryAfter: retryAfter, Err: cause}
}

// ctxError classifies an error caused by the caller's context ending.
func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return unavailable("request timed out", 0, err)
	}
	return unavailable("request cancelled", 0, err)
}
