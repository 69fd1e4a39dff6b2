package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/kitshop/kitshop/kit/metrics"
)

// Instrument an endpoint and read the counter back from /metrics.
func ExampleMetrics_EndpointMiddleware() {
	m := metrics.New("product")
	ep := m.EndpointMiddleware("GetProduct")(func(context.Context, any) (any, error) { return "ok", nil })
	_, _ = ep(context.Background(), nil)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "kitshop_requests_total") {
			fmt.Println(line)
		}
	}
	// Output: kitshop_requests_total{method="GetProduct",outcome="success",service="product"} 1
}
