package product_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/middleware"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/product"
)

// BenchmarkHTTPGet measures what the service adds around a read, without
// the database: GET /api/v1/products/{id} through the request id, the
// router, the go-kit transport and the endpoint middleware cmd/product
// wires (metrics, logging with successful reads at debug level behind the
// info level in force, rate limit, timeout), on an in-memory repository. A found
// product and a not found (a logged business error and a problem document).
func BenchmarkHTTPGet(b *testing.B) {
	repo := newMemRepo()
	p, err := product.NewService(repo).Create(context.Background(), product.NewProduct{
		SKU: "BENCH-1", Name: "Mug", Description: "Stoneware, 350 ml", PriceMinor: 1500, Currency: "EUR", Stock: 10})
	if err != nil {
		b.Fatal(err)
	}
	levels, err := logging.NewLevelVar("info")
	if err != nil {
		b.Fatal(err)
	}
	logger := levels.Filter(logging.New(io.Discard, logging.FormatLogfmt))
	m := metrics.New("product")
	bucket := ratelimit.NewTokenBucket(1e9, 1e9)
	eps := product.NewEndpoints(product.NewService(repo), authtest.NewSigner(b).Verifier()).Wrap(func(method string) endpoint.Middleware {
		opts := []logging.Option{logging.FilteredBy(levels)}
		if method == product.MethodGet {
			opts = append(opts, logging.SuccessLevel(level.DebugValue()))
		}
		return endpoint.Chain(m.EndpointMiddleware(method), logging.EndpointMiddleware(logger, method, opts...),
			ratelimit.Middleware(bucket), middleware.Timeout(10*time.Second))
	})
	h := requestid.HTTPMiddleware(product.NewHTTPHandler(eps, logger))
	for _, tt := range []struct {
		name, id string
		want     int
	}{{"found", p.ID, http.StatusOK}, {"not found", "0b7e2a39-3c2c-4c4e-9a59-1d1f4a0c7f10", http.StatusNotFound}} {
		b.Run(tt.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, product.ItemURL(tt.id), nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != tt.want {
					b.Fatalf("status %d, want %d", w.Code, tt.want)
				}
			}
		})
	}
}

// BenchmarkErrorMapping measures the catalog's errors on their way to the
// wire and back: the problem document of HTTP (kit/httpx), and the gRPC
// status the kit/grpcx interceptors send and read (kit/errs).
func BenchmarkErrorMapping(b *testing.B) {
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"not found", errs.New(errs.NotFound, "product not found")},
		{"invalid with fields", &errs.Error{Kind: errs.Invalid, Message: "invalid product",
			Fields: []errs.FieldError{{Field: "name", Message: "must not be empty"}, {Field: "price_minor", Message: "must be at least 0"}}}},
		{"conflict with fields", &errs.Error{Kind: errs.Conflict, Message: "insufficient stock",
			Fields: []errs.FieldError{{Field: "items[0].quantity", Message: "only 2 left"}}}},
	} {
		b.Run(tt.name+"/http problem", func(b *testing.B) {
			ctx := requestid.NewContext(context.Background(), "req-1")
			b.ReportAllocs()
			for b.Loop() {
				_ = httpx.ProblemFor(ctx, tt.err)
			}
		})
		b.Run(tt.name+"/grpc status", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := errs.FromGRPC(errs.ToGRPC(tt.err)); errs.KindOf(err) != errs.KindOf(tt.err) {
					b.Fatalf("round trip gave %v", err)
				}
			}
		})
	}
}
