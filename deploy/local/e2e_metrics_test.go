package local_test

import (
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
)

// testMetrics scrapes /metrics from the running stack before and after a
// few requests through the gateway and checks that the counters and
// histograms for exactly those requests moved: on the gateway per route and
// upstream, and on every instance of every service per method.
func testMetrics(t *testing.T, c *client, stack *local.Stack, customer string) {
	gatewayMetrics := stack.GatewayMetricsURL()
	productRoute := map[string]string{"route": "/api/v1/products", "upstream": "product", "code": "200"}
	userRoute := map[string]string{"route": "/api/v1/users", "upstream": "user", "code": "200"}

	// The public port has no /metrics: they are on the internal listener.
	if r := c.do(t, http.MethodGet, "/metrics", nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /metrics on the gateway's public port = %d, want 404", r.Status)
	}
	before := metricstest.Scrape(t, gatewayMetrics)
	listed := map[string]string{"method": "ListProducts", "outcome": "success"}
	productBefore := sumRequests(t, stack, "product", listed)
	userBefore := sumRequests(t, stack, "user", nil)

	const n = 6
	for range n {
		// no-cache: each read reaches an instance (revalidated), rather
		// than the gateway's cache, so the services' counters move too.
		if r := c.do(t, http.MethodGet, "/api/v1/products?limit=1", http.Header{"Cache-Control": {"no-cache"}}, nil); r.Status != http.StatusOK {
			t.Fatalf("GET products = %d", r.Status)
		}
	}
	me := http.Header{"Authorization": {"Bearer " + customer}}
	if r := c.do(t, http.MethodGet, "/api/v1/users/me", me, nil); r.Status != http.StatusOK {
		t.Fatalf("GET /me = %d", r.Status)
	}

	after := metricstest.Scrape(t, gatewayMetrics)
	moved := func(m0, m1 *metricstest.Metrics, name string, labels map[string]string) float64 {
		v0, _ := m0.Value(name, labels)
		v1, ok := m1.Value(name, labels)
		if !ok {
			t.Fatalf("%s%v missing:\n%s", name, labels, m1)
		}
		return v1 - v0
	}
	if d := moved(before, after, "kitshop_gateway_requests_total", productRoute); d < n {
		t.Errorf("gateway product requests moved by %v, want >= %d", d, n)
	}
	if d := moved(before, after, "kitshop_gateway_requests_total", userRoute); d < 1 {
		t.Errorf("gateway user requests moved by %v, want >= 1", d)
	}
	c0, _ := before.Count("kitshop_gateway_request_duration_seconds", map[string]string{"route": "/api/v1/products"})
	c1, _ := after.Count("kitshop_gateway_request_duration_seconds", map[string]string{"route": "/api/v1/products"})
	if c1-c0 < n {
		t.Errorf("gateway latency histogram moved by %d, want >= %d", c1-c0, n)
	}

	// The product requests were spread over both instances; together they
	// counted every one. The user service counted the /me call.
	if d := sumRequests(t, stack, "product", listed) - productBefore; d < n {
		t.Errorf("product ListProducts counters moved by %v, want >= %d", d, n)
	}
	if d := sumRequests(t, stack, "user", nil) - userBefore; d < 1 {
		t.Errorf("user request counters moved by %v, want >= 1", d)
	}

	// Every instance of every service exports its pool and runtime (request
	// series appear with the first request, which order has not had yet).
	for _, svc := range []string{"user", "product", "order"} {
		for _, inst := range stack.Instances(svc) {
			m := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics")
			for _, name := range []string{"kitshop_db_pool_max_conns", "kitshop_db_pool_acquires_total", "go_goroutines"} {
				if !m.Has(name) {
					t.Errorf("%s: /metrics lacks %s", inst.ID, name)
				}
			}
		}
	}
}

// sumRequests adds kitshop_requests_total over every instance of service,
// restricted to the labels given.
func sumRequests(t *testing.T, stack *local.Stack, service string, labels map[string]string) float64 {
	t.Helper()
	var sum float64
	for _, inst := range stack.Instances(service) {
		v, _ := metricstest.Scrape(t, "http://"+inst.MetricsAddr+"/metrics").Value("kitshop_requests_total", labels)
		sum += v
	}
	return sum
}
