package gateway_test

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/metrics"
)

// TestAccessLogThinsRefusals: a client hammering the gateway past its rate
// limit gets at most one access log line per second for its 429s, and the
// metrics still count every refusal: the lines written plus the lines left
// out add up to the requests refused.
func TestAccessLogThinsRefusals(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", nil)
	m := metrics.New("gateway")
	gw := newGateway(t, gateway.Config{RateLimit: 0.001, RateBurst: 1, Metrics: m},
		gateway.Route{Prefix: "/api", Public: allPublic(t, "/api"), Service: svc, Instances: []consul.Instance{up.instance(svc)}})

	if resp, _ := gw.get(t, "/api"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request = %d, want 200", resp.StatusCode)
	}
	const refused = 200
	start := time.Now()
	for i := range refused {
		if resp, _ := gw.get(t, "/api"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d = %d, want 429", i, resp.StatusCode)
		}
	}
	seconds := int(math.Ceil(time.Since(start).Seconds()))
	wantValue(t, m, "kitshop_ratelimit_rejections_total", map[string]string{"limiter": "client"}, refused)
	wantValue(t, m, "kitshop_gateway_requests_total", map[string]string{"route": "/api", "upstream": svc, "code": "429"}, refused)

	lines := len(gw.logs.Lines("status=429"))
	if lines < 1 || lines > seconds+1 {
		t.Errorf("%d access log lines for %d refusals in %d s, want 1 to %d", lines, refused, seconds, seconds+1)
	}
	wantValue(t, m, "kitshop_gateway_access_log_suppressed_total", nil, float64(refused-lines))
	if got := len(gw.logs.Lines("status=200")); got != 1 {
		t.Errorf("%d lines for the request let through, want 1", got)
	}
}
