package metricstest_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
)

const text = `# HELP kitshop_requests_total Endpoint calls.
# TYPE kitshop_requests_total counter
kitshop_requests_total{method="Get",outcome="success",service="product"} 3
kitshop_requests_total{method="Get",outcome="not_found",service="product"} 1
kitshop_requests_total{method="List",outcome="success",service="product"} 2
# HELP kitshop_request_duration_seconds Latency.
# TYPE kitshop_request_duration_seconds histogram
kitshop_request_duration_seconds_bucket{method="Get",outcome="success",service="product",le="0.1"} 3
kitshop_request_duration_seconds_bucket{method="Get",outcome="success",service="product",le="+Inf"} 3
kitshop_request_duration_seconds_sum{method="Get",outcome="success",service="product"} 0.01
kitshop_request_duration_seconds_count{method="Get",outcome="success",service="product"} 3
# HELP go_goroutines Goroutines.
# TYPE go_goroutines gauge
go_goroutines 7
`

func TestParse(t *testing.T) {
	m, err := metricstest.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	values := []struct {
		name   string
		labels map[string]string
		want   float64
		found  bool
	}{
		{"kitshop_requests_total", map[string]string{"method": "Get", "outcome": "success"}, 3, true},
		{"kitshop_requests_total", map[string]string{"method": "Get"}, 4, true},
		{"kitshop_requests_total", nil, 6, true},
		{"kitshop_requests_total", map[string]string{"method": "Delete"}, 0, false},
		{"kitshop_requests_total", map[string]string{"no_such_label": "x"}, 0, false},
		{"go_goroutines", nil, 7, true},
		{"absent_total", nil, 0, false},
	}
	for _, tt := range values {
		got, found := m.Value(tt.name, tt.labels)
		if got != tt.want || found != tt.found {
			t.Errorf("Value(%s, %v) = %v, %v; want %v, %v", tt.name, tt.labels, got, found, tt.want, tt.found)
		}
	}
	if got, found := m.Count("kitshop_request_duration_seconds", map[string]string{"method": "Get"}); got != 3 || !found {
		t.Errorf("Count = %d, %v; want 3, true", got, found)
	}
	if _, found := m.Count("kitshop_requests_total", nil); found {
		t.Error("Count found a histogram in a counter")
	}
	if !m.Has("go_goroutines") || m.Has("go_threads") {
		t.Error("Has is wrong")
	}
}

func TestParseMalformed(t *testing.T) {
	if _, err := metricstest.Parse(strings.NewReader("kitshop_x{a=\"1\" 2\n")); err == nil {
		t.Error("Parse accepted malformed text")
	}
}

func TestScrape(t *testing.T) {
	m := metrics.New("product")
	m.RateLimited("client")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	got := metricstest.Scrape(t, srv.URL)
	if v, _ := got.Value("kitshop_ratelimit_rejections_total", map[string]string{"limiter": "client"}); v != 1 {
		t.Errorf("rate limit rejections = %v, want 1\n%s", v, got)
	}
}
