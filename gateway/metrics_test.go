package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
)

// scrape reads m as Prometheus would.
func scrape(t testing.TB, m *metrics.Metrics) *metricstest.Metrics {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	got, err := metricstest.Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// wantValue waits until the named series of m add up to want: the gateway
// records a request once its handler has returned, which may be just after
// the client has read the response.
func wantValue(t testing.TB, m *metrics.Metrics, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := scrape(t, m)
		v, _ := got.Value(name, labels)
		if v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v; metrics:\n%s", name, labels, v, want, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMetricsRequests: every request is counted by the route prefix it
// matched, never by its raw path, with the status the client got, whether
// an upstream or the gateway itself answered.
func TestMetricsRequests(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	m := metrics.New("gateway")
	gw := newGateway(t, gateway.Config{Metrics: m},
		gateway.Route{Prefix: "/api/v1/things", Service: svc, Instances: []consul.Instance{up.instance(svc)},
			Public: mustPublic(t, "GET /api/v1/things/public")},
		gateway.Route{Prefix: "/api/v1/down", Service: svc + "-down", Public: mustPublic(t, "GET /api/v1/down")})

	for _, tt := range []struct {
		path string
		want int
	}{
		{"/api/v1/things/public/12345", http.StatusOK},
		{"/api/v1/things/public/67890", http.StatusOK},
		{"/api/v1/things/secret", http.StatusUnauthorized},
		{"/api/v1/down/1", http.StatusServiceUnavailable},
		{"/api/v1/nothing/here", http.StatusNotFound},
		{"/api/v1/things/public/../../nothing", http.StatusBadRequest},
	} {
		req, err := http.NewRequest(http.MethodGet, gw.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = tt.path // sent as is, dot segments included
		resp, err := gw.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}

	route := map[string]string{"route": "/api/v1/things", "upstream": svc}
	with := func(labels map[string]string, code string) map[string]string {
		out := map[string]string{"code": code}
		for k, v := range labels {
			out[k] = v
		}
		return out
	}
	for _, tt := range []struct {
		labels map[string]string
		want   float64
	}{
		{with(route, "200"), 2},
		{with(route, "401"), 1},
		{with(map[string]string{"route": "/api/v1/down", "upstream": svc + "-down"}, "503"), 1},
		{with(map[string]string{"route": "unmatched", "upstream": "none"}, "404"), 1},
		{with(map[string]string{"route": "unmatched", "upstream": "none"}, "400"), 1},
	} {
		wantValue(t, m, "kitshop_gateway_requests_total", tt.labels, tt.want)
	}
	got := scrape(t, m)
	if n, _ := got.Count("kitshop_gateway_request_duration_seconds", route); n != 3 {
		t.Errorf("latency observations of the route = %d, want 3", n)
	}
	if text := got.String(); strings.Contains(text, "12345") || strings.Contains(text, "nothing") {
		t.Errorf("a raw path made it into the labels:\n%s", text)
	}
}

// TestMetricsRateLimits: a rejection by either limiter is counted under the
// limiter's name, and the 429 under the route the request was meant for.
func TestMetricsRateLimits(t *testing.T) {
	tests := []struct {
		name    string
		cfg     gateway.Config
		limiter string
	}{
		{"client", gateway.Config{RateLimit: 0.5, RateBurst: 1}, "client"},
		{"user", gateway.Config{UserRateLimit: 0.5, UserRateBurst: 1}, "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := serviceName(t)
			up := newUpstream(t, svc+"-1", nil)
			tt.cfg.Metrics = metrics.New("gateway")
			gw := newGateway(t, tt.cfg, userRoutes(t, svc, up)...)
			token := bearer(gw.signer.Token("alice"))
			for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
				if resp, body := gw.do(t, http.MethodGet, "/api/v1/users/me", nil, token); resp.StatusCode != want {
					t.Fatalf("request %d: status = %d, want %d (body %s)", i, resp.StatusCode, want, body)
				}
			}
			wantValue(t, tt.cfg.Metrics, "kitshop_ratelimit_rejections_total", map[string]string{"limiter": tt.limiter}, 1)
			wantValue(t, tt.cfg.Metrics, "kitshop_gateway_requests_total",
				map[string]string{"route": "/api/v1/users", "upstream": svc, "code": "429"}, 1)
			if got := up.hits.Load(); got != 1 {
				t.Errorf("upstream got %d requests, want 1", got)
			}
		})
	}
}

// TestMetricsBreaker: each instance's breaker exports its state under
// gateway/<service>/<instance>.
func TestMetricsBreaker(t *testing.T) {
	svc := serviceName(t)
	failing := newUpstream(t, svc+"-failing", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	m := metrics.New("gateway")
	gw := newGateway(t, gateway.Config{Metrics: m, Breaker: breaker.Settings{VolumeThreshold: 4, ErrorPercent: 50, SleepWindow: time.Minute}},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{failing.instance(svc)}})
	name := map[string]string{"breaker": "gateway/" + svc + "/" + svc + "-failing"}

	gw.get(t, "/api")
	wantValue(t, m, "kitshop_breaker_open", name, 0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if resp, _ := gw.get(t, "/api"); resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker never opened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantValue(t, m, "kitshop_breaker_open", name, 1)
	wantValue(t, m, "kitshop_gateway_requests_total", map[string]string{"route": "/api", "upstream": svc, "code": "503"}, 1)
}
