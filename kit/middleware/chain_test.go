package middleware_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/middleware"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/requestid"
)

// chain builds the client chain the services use, outermost first:
// logging → rate limit → breaker → timeout → ep.
func chain(t testing.TB, w io.Writer, bucket *ratelimit.TokenBucket, timeout time.Duration, ep endpoint.Endpoint) endpoint.Endpoint {
	t.Helper()
	b := breaker.NewHystrix(t.Name()+"-"+rand.Text(), breaker.Settings{})
	return endpoint.Chain(
		logging.EndpointMiddleware(logging.New(w, "logfmt"), "GetProduct"),
		ratelimit.Middleware(bucket),
		breaker.Middleware(b),
		middleware.Timeout(timeout),
	)(ep)
}

func TestChain(t *testing.T) {
	notFound := errs.New(errs.NotFound, "no such product")
	tests := []struct {
		name     string
		endpoint endpoint.Endpoint
		wantKind errs.Kind
		wantOK   bool
		wantLog  []string
	}{
		{"success", func(context.Context, any) (any, error) { return "p-1", nil }, 0, true, []string{"level=info", "method=GetProduct request_id=req-1 took="}},
		{"business error passes through", func(context.Context, any) (any, error) { return nil, notFound }, errs.NotFound, false, []string{"level=info", "kind=not_found"}},
		{"slow call times out", slow, errs.Unavailable, false, []string{"level=error", "method=GetProduct request_id=req-1 took=", `kind=unavailable err="unavailable: request timed out`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			ep := chain(t, &logs, ratelimit.NewTokenBucket(1000, 1000), 50*time.Millisecond, tt.endpoint)
			ctx := requestid.NewContext(context.Background(), "req-1")
			resp, err := ep(ctx, nil)
			for _, want := range tt.wantLog {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log %q does not contain %q", logs.String(), want)
				}
			}
			if tt.wantOK {
				if err != nil || resp == nil {
					t.Errorf("got (%v, %v), want a response", resp, err)
				}
				return
			}
			if got := errs.KindOf(err); err == nil || got != tt.wantKind {
				t.Errorf("error %v has kind %v, want %v", err, got, tt.wantKind)
			}
		})
	}
}

func TestChainRateLimited(t *testing.T) {
	calls := 0
	ep := chain(t, io.Discard, ratelimit.NewTokenBucket(1, 1), time.Second, func(context.Context, any) (any, error) {
		calls++
		return "ok", nil
	})
	_, _ = ep(context.Background(), nil)
	_, err := ep(context.Background(), nil)
	if !errs.Is(err, errs.RateLimited) || errs.RetryAfterOf(err) < time.Second {
		t.Errorf("error = %v (retry after %v), want rate limited with RetryAfter >= 1s", err, errs.RetryAfterOf(err))
	}
	if calls != 1 {
		t.Errorf("endpoint called %d times, want 1", calls)
	}
}

// BenchmarkChain measures the per-call overhead of the full client chain
// around an endpoint that does nothing.
func BenchmarkChain(b *testing.B) {
	ep := chain(b, io.Discard, ratelimit.NewTokenBucket(1e9, 1e9), time.Second, func(context.Context, any) (any, error) {
		return "ok", nil
	})
	ctx := requestid.NewContext(context.Background(), requestid.New())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ep(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
