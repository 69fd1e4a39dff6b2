package middleware_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/middleware"
)

// slow waits for ctx to end (at most 10s) and then returns what ctx says.
func slow(ctx context.Context, _ any) (any, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(10 * time.Second):
		return "too late", nil
	}
}

func TestTimeout(t *testing.T) {
	notFound := errs.New(errs.NotFound, "no such product")
	internal := errors.New("nil pointer")
	tests := []struct {
		name     string
		d        time.Duration
		endpoint func(context.Context, any) (any, error)
		wantResp any
		wantErr  error // exact error, or nil
		wantMsg  string
		wantKind errs.Kind
	}{
		{
			name:     "fast call passes",
			d:        time.Second,
			endpoint: func(context.Context, any) (any, error) { return "ok", nil },
			wantResp: "ok",
		},
		{
			name:     "slow call times out",
			d:        30 * time.Millisecond,
			endpoint: slow,
			wantKind: errs.Unavailable,
			wantMsg:  "request timed out",
		},
		{
			name: "deadline as wrapped error times out",
			d:    30 * time.Millisecond,
			endpoint: func(ctx context.Context, _ any) (any, error) {
				<-ctx.Done()
				return nil, errs.Wrap(ctx.Err(), errs.Internal, "")
			},
			wantKind: errs.Unavailable,
			wantMsg:  "request timed out",
		},
		{
			name: "business error after deadline is kept",
			d:    30 * time.Millisecond,
			endpoint: func(ctx context.Context, _ any) (any, error) {
				<-ctx.Done()
				return nil, notFound
			},
			wantErr: notFound,
		},
		{
			name:     "other errors pass unchanged",
			d:        time.Second,
			endpoint: func(context.Context, any) (any, error) { return nil, internal },
			wantErr:  internal,
		},
		{
			name: "zero disables",
			d:    0,
			endpoint: func(ctx context.Context, _ any) (any, error) {
				if _, ok := ctx.Deadline(); ok {
					return nil, errors.New("unexpected deadline")
				}
				return "no deadline", nil
			},
			wantResp: "no deadline",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := middleware.Timeout(tt.d)(tt.endpoint)
			start := time.Now()
			resp, err := ep(context.Background(), nil)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("call took %v, want prompt", took)
			}
			if resp != tt.wantResp {
				t.Errorf("response = %v, want %v", resp, tt.wantResp)
			}
			switch {
			case tt.wantMsg != "":
				if got := errs.KindOf(err); err == nil || got != tt.wantKind {
					t.Fatalf("error %v has kind %v, want %v", err, got, tt.wantKind)
				}
				if got := errs.Message(err); got != tt.wantMsg {
					t.Errorf("message = %q, want %q", got, tt.wantMsg)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %v does not keep the deadline as its cause", err)
				}
			case err != tt.wantErr:
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestTimeoutKeepsEarlierDeadline(t *testing.T) {
	tests := []struct {
		name   string
		parent time.Duration
		d      time.Duration
		want   time.Duration // expected remaining time seen by the endpoint
	}{
		{"parent shorter wins", 50 * time.Millisecond, time.Hour, 50 * time.Millisecond},
		{"timeout shorter wins", time.Hour, 50 * time.Millisecond, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.parent)
			defer cancel()
			var remaining time.Duration
			ep := middleware.Timeout(tt.d)(func(ctx context.Context, req any) (any, error) {
				dl, _ := ctx.Deadline()
				remaining = time.Until(dl)
				return slow(ctx, req)
			})
			start := time.Now()
			_, err := ep(ctx, nil)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("call took %v, want about %v", took, tt.want)
			}
			if remaining > tt.want || remaining < tt.want-time.Second {
				t.Errorf("endpoint saw %v until its deadline, want about %v", remaining, tt.want)
			}
			if got, want := errs.Message(err), "request timed out"; !errs.Is(err, errs.Unavailable) || got != want {
				t.Errorf("error = %v, want unavailable %q", err, want)
			}
		})
	}
}

func TestTimeoutFuncReadsTheLimitPerCall(t *testing.T) {
	var limit atomic.Int64
	limit.Store(int64(time.Hour))
	slow := func(ctx context.Context, _ any) (any, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
			return "ok", nil
		}
	}
	ep := middleware.TimeoutFunc(func() time.Duration { return time.Duration(limit.Load()) })(slow)
	if _, err := ep(context.Background(), nil); err != nil {
		t.Fatalf("call under a long limit: %v", err)
	}
	limit.Store(int64(time.Millisecond))
	if _, err := ep(context.Background(), nil); errs.KindOf(err) != errs.Unavailable {
		t.Errorf("call under a lowered limit: %v, want Unavailable", err)
	}
}
