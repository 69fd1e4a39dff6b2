package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/metrics"
)

// BenchmarkCacheHit measures a public GET answered from the cache, with
// the access log and metrics as in production, against the same GET
// forwarded with the cache off.
func BenchmarkCacheHit(b *testing.B) {
	routes, signer := benchRoutes(b)
	for _, cached := range []bool{true, false} {
		var cache *gateway.Cache
		if cached {
			var err error
			if cache, err = gateway.NewCache(gateway.CacheConfig{}); err != nil {
				b.Fatal(err)
			}
			cache.SetLive(true)
		}
		g, err := gateway.New(gateway.Config{Source: routes, Keys: signer.KeySource(), Issuer: authtest.Issuer, Audience: authtest.Audience,
			Logger: log.NewLogfmtLogger(discard{}), Metrics: metrics.New("gateway"), Cache: cache})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(g.Stop)
		name := "cache-off"
		if cached {
			name = "cache-on"
		}
		b.Run(name, func(b *testing.B) { runGETs(b, g) })
	}
}

// benchRoutes starts an instance answering a cacheable product and returns
// the route table to it and a signer whose keys the gateway can use.
func benchRoutes(b *testing.B) (*gateway.Routes, *authtest.Signer) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=0, s-maxage=60")
		w.Header().Set("ETag", `"v1"`)
		w.Write([]byte(`{"id":"42","sku":"BENCH-1","name":"a product of the usual size","description":"with a description","price_minor":100,"currency":"EUR","stock":1000000000}`))
	}))
	b.Cleanup(up.Close)
	svc := serviceName(b)
	var routes gateway.Routes
	routes.Store(mustTable(b, gateway.Route{Prefix: "/api/v1/products", Service: svc,
		Instances: []consul.Instance{instanceAt(svc+"-1", svc, up.Listener.Addr().String())},
		Public:    mustPublic(b, "GET /api/v1/products")}))
	return &routes, authtest.NewSigner(b)
}

// runGETs sends the bench product's GET to h from parallel goroutines.
func runGETs(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/products/42", nil)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status = %d", w.Code)
			}
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
