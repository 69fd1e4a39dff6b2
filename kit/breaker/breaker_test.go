package breaker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
)

// recordingBreaker is a Breaker that always runs the call and records what
// run reported, so the test sees exactly what a real breaker would count.
type recordingBreaker struct {
	reported []error
}

func (b *recordingBreaker) Execute(ctx context.Context, run func(context.Context) error) error {
	err := run(ctx)
	b.reported = append(b.reported, err)
	return err
}

func TestMiddlewareReportsBusinessErrorsAsSuccess(t *testing.T) {
	infra := errors.New("connection reset")
	tests := []struct {
		name         string
		resp         any
		err          error
		wantResp     any
		wantReported bool // whether the breaker must see a failure
	}{
		{"success", "product", nil, "product", false},
		{"not found", nil, errs.New(errs.NotFound, "no such product"), nil, false},
		{"invalid", nil, errs.New(errs.Invalid, "bad id"), nil, false},
		{"conflict", nil, errs.New(errs.Conflict, "out of stock"), nil, false},
		{"forbidden", nil, errs.New(errs.Forbidden, "no"), nil, false},
		{"rate limited", nil, errs.New(errs.RateLimited, "slow down"), nil, false},
		{"unavailable", nil, errs.Wrap(infra, errs.Unavailable, "down"), nil, true},
		{"internal", nil, errs.Wrap(infra, errs.Internal, ""), nil, true},
		{"unclassified", nil, infra, nil, true},
		{"deadline", nil, context.DeadlineExceeded, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &recordingBreaker{}
			ep := breaker.Middleware(b)(func(context.Context, any) (any, error) { return tt.resp, tt.err })

			gotResp, gotErr := ep(context.Background(), "req")
			if gotErr != tt.err {
				t.Errorf("caller got error %v, want %v unchanged", gotErr, tt.err)
			}
			if gotResp != tt.wantResp {
				t.Errorf("caller got response %v, want %v", gotResp, tt.wantResp)
			}
			if len(b.reported) != 1 {
				t.Fatalf("breaker saw %d calls, want 1", len(b.reported))
			}
			if got := b.reported[0] != nil; got != tt.wantReported {
				t.Errorf("breaker saw failure = %v (%v), want %v", got, b.reported[0], tt.wantReported)
			}
		})
	}
}

// rejectingBreaker never runs the call.
type rejectingBreaker struct{ err error }

func (b rejectingBreaker) Execute(context.Context, func(context.Context) error) error { return b.err }

func TestMiddlewareRejected(t *testing.T) {
	rejection := errs.New(errs.Unavailable, "circuit open")
	called := false
	ep := breaker.Middleware(rejectingBreaker{rejection})(func(context.Context, any) (any, error) {
		called = true
		return "x", nil
	})
	resp, err := ep(context.Background(), nil)
	if err != rejection || resp != nil {
		t.Errorf("got (%v, %v), want (nil, %v)", resp, err, rejection)
	}
	if called {
		t.Error("endpoint called although the breaker rejected the call")
	}
}
