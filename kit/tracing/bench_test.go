package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/kitshop/kitshop/kit/tracing"
)

// BenchmarkHTTPHandler is the cost of a traced hop, a server span and an
// endpoint span around a handler that does nothing: with tracing off,
// on but recording no new trace (what an unsampled request costs),
// recording one in ten (the default), and every one, the spans written to
// a file.
func BenchmarkHTTPHandler(b *testing.B) {
	for _, bc := range []struct {
		name  string
		ratio float64
		dir   bool
	}{
		{"off", 0, false},
		{"none-recorded", 0, true},
		{"default-ratio", tracing.DefaultRatio, true},
		{"every-request", 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			prev := otel.GetTracerProvider()
			defer otel.SetTracerProvider(prev)
			cfg := tracing.Config{Service: "bench", Ratio: bc.ratio}
			if bc.dir {
				cfg.Dir = b.TempDir()
			}
			p, err := tracing.Setup(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			ep := tracing.EndpointMiddleware("bench.Get")(func(context.Context, any) (any, error) { return nil, nil })
			h := tracing.HTTPHandler(tracing.Route("GET /things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = ep(r.Context(), nil)
				w.WriteHeader(http.StatusOK)
			})))
			req := httptest.NewRequest(http.MethodGet, "/things/1", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.ServeHTTP(discard{}, req)
			}
		})
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
