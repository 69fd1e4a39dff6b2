package middleware

import (
	"context"
	"errors"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
)

// Timeout gives each call at most d. A call that fails after its deadline has
// passed returns errs.Unavailable "request timed out" (cause kept for logs). A
// context that already carries an earlier deadline keeps it. d <= 0 disables
// the timeout.
//
// The endpoint runs on the calling goroutine and must honour ctx, as go-kit
// transports and the gRPC and HTTP clients do. Running it on another goroutine
// would return sooner from an endpoint that ignores ctx, but would leak that
// goroutine and turn its panics into process crashes.
func Timeout(d time.Duration) endpoint.Middleware {
	if d <= 0 {
		return func(next endpoint.Endpoint) endpoint.Endpoint { return next }
	}
	return TimeoutFunc(func() time.Duration { return d })
}

// TimeoutFunc is Timeout with the limit read from d on every call, for a
// limit that changes live (kit/liveconfig). d returning <= 0 disables the
// timeout for that call.
func TimeoutFunc(d func() time.Duration) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			limit := d()
			if limit <= 0 {
				return next(ctx, request)
			}
			ctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			response, err := next(ctx, request)
			if err != nil && timedOut(ctx, err) {
				return nil, timeoutError(err)
			}
			return response, err
		}
	}
}

// timedOut reports whether err is the result of ctx's deadline rather than a
// real answer: a business error that arrived just in time is still an answer.
func timedOut(ctx context.Context, err error) bool {
	if errs.KindOf(err).Business() {
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
}

func timeoutError(cause error) error {
	return &errs.Error{Kind: errs.Unavailable, Message: "request timed out", Err: cause}
}
