package httpx_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmarks
// measure the router and not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkRouter routes requests the way a service's HTTP port sees them:
// kit/server's router (health, metrics, everything else to the service)
// in front of the service's own router.
func BenchmarkRouter(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = r.PathValue("id") })
	svc := httpx.NewRouter(log.NewNopLogger())
	svc.Handle(http.MethodGet, "/api/v1/products", ok)
	svc.Handle(http.MethodPost, "/api/v1/products", ok)
	svc.Handle(http.MethodGet, "/api/v1/products/{id}", ok)
	svc.Handle(http.MethodPatch, "/api/v1/products/{id}", ok)
	svc.Handle(http.MethodDelete, "/api/v1/products/{id}", ok)
	front := httpx.NewRouter(log.NewNopLogger())
	front.Handle(http.MethodGet, "/healthz", ok)
	front.Handle(http.MethodGet, "/readyz", ok)
	front.Handle(http.MethodGet, "/metrics", ok)
	front.Handle("", "/", svc)
	for _, tt := range []struct{ name, method, path string }{
		{"item", http.MethodGet, "/api/v1/products/0b7e2a39-3c2c-4c4e-9a59-1d1f4a0c7f10"},
		{"health", http.MethodGet, "/healthz"},
		{"not found", http.MethodGet, "/api/v1/nothing"},
		{"method not allowed", http.MethodPut, "/api/v1/products"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				front.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkProblemFor measures the mapping of an error to its problem
// document and the whole error response, for a business error with a field
// and for a wrapped failure.
func BenchmarkProblemFor(b *testing.B) {
	ctx := context.Background()
	invalid := &errs.Error{Kind: errs.Invalid, Message: "invalid product", Fields: []errs.FieldError{{Field: "name", Message: "must not be empty"}}}
	failure := errs.Wrap(errors.New("dial tcp: connection refused"), errs.Unavailable, "database unavailable")
	for _, tt := range []struct {
		name string
		err  error
	}{{"invalid", invalid}, {"unavailable", failure}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = httpx.ProblemFor(ctx, tt.err)
			}
		})
		b.Run(tt.name+"/WriteError", func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/products/42", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				httpx.WriteError(w, req, log.NewNopLogger(), tt.err)
			}
		})
	}
}
