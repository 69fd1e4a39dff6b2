package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/metrics"
)

// TestProxyDropsBreakersOfDepartedInstances: the breaker of an instance
// the routing table no longer lists is dropped, with its metrics, instead
// of being kept for the life of the gateway.
func TestProxyDropsBreakersOfDepartedInstances(t *testing.T) {
	svc := serviceName(t)
	a, b := newUpstream(t, svc+"-a", nil), newUpstream(t, svc+"-b", nil)
	route := func(ups ...*upstream) gateway.Route {
		var instances []consul.Instance
		for _, u := range ups {
			instances = append(instances, u.instance(svc))
		}
		return gateway.Route{Prefix: "/api/v1/things", Service: svc, Instances: instances, Public: allPublic(t, "/api/v1/things")}
	}
	routes := &gateway.Routes{}
	routes.Store(mustTable(t, route(a, b)))
	m := metrics.New("gateway")
	g, err := gateway.New(gateway.Config{Source: routes, Keys: authtest.NewSigner(t).KeySource(), Issuer: authtest.Issuer, Audience: authtest.Audience, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	get := func() {
		t.Helper()
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/things/1", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET = %d, want 200", rec.Code)
		}
	}
	breakerOf := func(u *upstream) map[string]string {
		return map[string]string{"breaker": "gateway/" + svc + "/" + u.id}
	}
	get()
	get() // round robin: one request each
	if got := g.Breakers(); got != 2 {
		t.Fatalf("breakers = %d, want 2", got)
	}
	has := func(got interface {
		Value(string, map[string]string) (float64, bool)
	}, labels map[string]string) bool {
		_, ok := got.Value("kitshop_breaker_open", labels)
		return ok
	}
	if got := scrape(t, m); !has(got, breakerOf(b)) {
		t.Fatalf("no breaker metric for %s:\n%s", b.id, got)
	}

	routes.Store(mustTable(t, route(a))) // b leaves
	get()
	if got := g.Breakers(); got != 1 {
		t.Errorf("breakers after an instance left = %d, want 1", got)
	}
	got := scrape(t, m)
	if has(got, breakerOf(b)) {
		t.Errorf("breaker metric of the departed instance still exported:\n%s", got)
	}
	if !has(got, breakerOf(a)) {
		t.Errorf("breaker metric of the remaining instance gone:\n%s", got)
	}
}
