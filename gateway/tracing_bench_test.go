package gateway_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/tracing"
)

// BenchmarkCacheHitTraced measures a public GET answered from the cache
// behind the server span, as cmd/gateway wires it, with the access log and
// metrics as in production (kit/logging's logfmt): tracing off, on at the default ratio (a request
// without a traceparent, as a browser sends it, is recorded one time in
// ten), and on for every request. The spans go to a file.
func BenchmarkCacheHitTraced(b *testing.B) {
	routes, signer := benchRoutes(b)
	for _, bc := range []struct {
		name  string
		ratio float64
		on    bool
	}{
		{"off", 0, false},
		{"default-ratio", tracing.DefaultRatio, true},
		{"every-request", 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			prev := otel.GetTracerProvider()
			defer otel.SetTracerProvider(prev)
			cfg := tracing.Config{Service: "gateway", Ratio: bc.ratio}
			if bc.on {
				cfg.Dir = b.TempDir()
			}
			tp, err := tracing.Setup(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer tp.Shutdown(context.Background())
			cache, err := gateway.NewCache(gateway.CacheConfig{})
			if err != nil {
				b.Fatal(err)
			}
			cache.SetLive(true)
			g, err := gateway.New(gateway.Config{Source: routes, Keys: signer.KeySource(), Issuer: authtest.Issuer, Audience: authtest.Audience,
				Logger: logging.NewLogfmt(discard{}), Metrics: metrics.New("gateway"), Cache: cache,
				Transport: tracing.Transport(gateway.NewUpstream())})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Stop()
			runGETs(b, tracing.HTTPHandler(g))
		})
	}
}
