package breaker_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
)

// BenchmarkHystrixExecute measures the breaker's own cost per call around a
// run that does nothing: what every guarded call pays, serially and from
// many goroutines at once.
func BenchmarkHystrixExecute(b *testing.B) {
	run := func(context.Context) error { return nil }
	b.Run("serial", func(b *testing.B) {
		h := breaker.NewHystrix(b.Name()+"-"+rand.Text(), breaker.Settings{})
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := h.Execute(ctx, run); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		h := breaker.NewHystrix(b.Name()+"-"+rand.Text(), breaker.Settings{MaxConcurrent: 1 << 16})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := h.Execute(ctx, run); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkMiddleware measures an endpoint behind Middleware, for a success
// and for a business error (which the breaker records as a success).
func BenchmarkMiddleware(b *testing.B) {
	notFound := errs.New(errs.NotFound, "no such product")
	for _, tt := range []struct {
		name string
		err  error
	}{{"success", nil}, {"business error", notFound}} {
		b.Run(tt.name, func(b *testing.B) {
			h := breaker.NewHystrix(b.Name()+"-"+rand.Text(), breaker.Settings{})
			ep := breaker.Middleware(h)(func(context.Context, any) (any, error) { return "ok", tt.err })
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ep(ctx, nil); err != tt.err {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHystrixExecuteDeadline is a call whose context ends before the
// breaker timeout could (the usual case behind kit/middleware.Timeout).
func BenchmarkHystrixExecuteDeadline(b *testing.B) {
	h := breaker.NewHystrix(b.Name()+"-"+rand.Text(), breaker.Settings{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	h2 := breaker.NewHystrix(b.Name()+"-long-"+rand.Text(), breaker.Settings{Timeout: 2 * time.Hour})
	run := func(context.Context) error { return nil }
	for _, tt := range []struct {
		name string
		h    *breaker.Hystrix
	}{{"breaker timeout first", h}, {"caller deadline first", h2}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tt.h.Execute(ctx, run); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
