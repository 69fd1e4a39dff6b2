package gateway

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/kitshop/kitshop/kit/metrics"
)

func TestRouteInstruments(t *testing.T) {
	m := metrics.New("gateway")
	ri := newRouteInstruments(m)
	r := ri.route("/api/v1/orders", "order")
	if again := ri.route("/api/v1/orders", "order"); again != r {
		t.Error("route built the same route twice")
	}
	if ri.route("/api/v1/orders", "order2") == r {
		t.Error("route returned another upstream's route")
	}
	for _, code := range []int{201, 201, 0, 499, 999, -1} {
		r.request(code, 20*time.Millisecond)
	}
	wantLines(t, m,
		`kitshop_gateway_requests_total{code="201",route="/api/v1/orders",upstream="order"} 2`,
		`kitshop_gateway_requests_total{code="0",route="/api/v1/orders",upstream="order"} 1`,
		`kitshop_gateway_requests_total{code="499",route="/api/v1/orders",upstream="order"} 1`,
		`kitshop_gateway_requests_total{code="999",route="/api/v1/orders",upstream="order"} 1`,
		`kitshop_gateway_requests_total{code="-1",route="/api/v1/orders",upstream="order"} 1`,
		`kitshop_gateway_request_duration_seconds_count{route="/api/v1/orders",upstream="order"} 6`,
	)
}

// wantLines fails unless the exposition of m has every line of want.
func wantLines(t *testing.T, m *metrics.Metrics, want ...string) {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range want {
		if !strings.Contains(buf.String(), line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}
