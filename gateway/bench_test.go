package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/metrics"
)

// benchTable is a table of the size a real deployment might have: a few
// dozen services under versioned prefixes.
func benchTable(b *testing.B) *gateway.Table {
	b.Helper()
	var routes []gateway.Route
	for i := range 40 {
		routes = append(routes, gateway.Route{Prefix: fmt.Sprintf("/api/v%d/service%d", i%3+1, i), Service: fmt.Sprintf("service%d", i)})
	}
	routes = append(routes, gateway.Route{Prefix: "/api/v1/products", Service: "product"})
	return mustTable(b, routes...)
}

func BenchmarkTableLookup(b *testing.B) {
	table := benchTable(b)
	for _, path := range []string{"/api/v1/products", "/api/v1/products/42/images/7", "/api/v1/unknown/path/here"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				table.Lookup(path)
			}
		})
	}
}

func BenchmarkRoutesTableLookup(b *testing.B) {
	var routes gateway.Routes
	routes.Store(benchTable(b))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			routes.Table().Lookup("/api/v1/products/42")
		}
	})
}

func BenchmarkInstanceSelection(b *testing.B) {
	var instances []consul.Instance
	for i := range 8 {
		instances = append(instances, consul.Instance{ID: fmt.Sprintf("product-%d", i), Address: "10.0.0.1", HTTPPort: 8000 + i})
	}
	rr := consul.NewRoundRobin()
	open := map[string]bool{"product-3": true, "product-4": true}
	skip := func(in consul.Instance) bool { return open[in.ID] }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := rr.Next(instances, skip); !ok {
				b.Fatal("no instance")
			}
		}
	})
}

// BenchmarkGateway measures the whole gateway path for a small GET: the
// middleware, lookup, instance selection, breaker, metrics and forwarding
// to a real upstream over loopback; on a public route, and on a protected
// one, where the token is verified too. The last case leaves the metrics
// out, to show what they cost.
func BenchmarkGateway(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":"42"}`))
	}))
	defer up.Close()
	svc := serviceName(b)
	signer := authtest.NewSigner(b)
	var routes gateway.Routes
	routes.Store(mustTable(b, gateway.Route{Prefix: "/api/v1/products", Service: svc,
		Instances: []consul.Instance{instanceAt(svc+"-1", svc, up.Listener.Addr().String())},
		Public:    mustPublic(b, "GET /api/v1/products/public")}))
	newGateway := func(m *metrics.Metrics) *gateway.Gateway {
		g, err := gateway.New(gateway.Config{Source: &routes, Keys: signer.KeySource(), Issuer: authtest.Issuer, Audience: authtest.Audience, Logger: log.NewNopLogger(), Metrics: m})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(g.Stop)
		return g
	}
	withMetrics, withoutMetrics := newGateway(metrics.New("gateway")), newGateway(nil)

	for _, bc := range []struct {
		name, path, token string
		g                 *gateway.Gateway
	}{
		{"public", "/api/v1/products/public/42", "", withMetrics},
		{"authenticated", "/api/v1/products/42", signer.Token("user-1", "customer"), withMetrics},
		{"public-without-metrics", "/api/v1/products/public/42", "", withoutMetrics},
	} {
		g := bc.g
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			if bc.token != "" {
				req.Header.Set("Authorization", "Bearer "+bc.token)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				g.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status = %d, body %s", w.Code, w.Body)
				}
			}
		})
	}
}
