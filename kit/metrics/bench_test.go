package metrics_test

import (
	"context"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/metrics"
)

// BenchmarkEndpointMiddleware measures what the middleware adds to a call:
// the instruments are resolved when the middleware is built, so a call
// should cost a few atomic operations and no allocation.
func BenchmarkEndpointMiddleware(b *testing.B) {
	m := metrics.New("product")
	for _, bc := range []struct {
		name string
		err  error
	}{
		{"success", nil},
		{"not_found", errs.New(errs.NotFound, "gone")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ep := m.EndpointMiddleware("GetProduct")(func(context.Context, any) (any, error) { return nil, bc.err })
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = ep(ctx, nil)
				}
			})
		})
	}
}
