package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

// TestMalformedQueryIsRefused: httputil.ReverseProxy drops query parameters
// it cannot parse, so without a check of its own the gateway would pass
// ?q=%zz on as an unfiltered request.
func TestMalformedQueryIsRefused(t *testing.T) {
	svc := serviceName(t)
	up := newUpstream(t, svc+"-1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.RawQuery)
	})
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api/v1/things", Service: svc,
		Instances: []consul.Instance{up.instance(svc)}, Public: allPublic(t, "/api/v1/things")})

	tests := []struct {
		query      string
		wantStatus int
		wantField  string
	}{
		{"q=mug&limit=5", http.StatusOK, ""},
		{"q=%zz", http.StatusBadRequest, "q"},
		{"limit=5&q=%e", http.StatusBadRequest, "q"},
		{"a=1;b=2", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := gw.get(t, "/api/v1/things?"+tt.query)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK {
				if body != tt.query {
					t.Errorf("upstream got query %q, want %q unchanged", body, tt.query)
				}
				return
			}
			var p struct {
				Kind   string `json:"kind"`
				Errors []struct {
					Field string `json:"field"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Kind != "invalid" {
				t.Fatalf("body %s: want an invalid problem", body)
			}
			if tt.wantField != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.wantField) {
				t.Errorf("problem %s: want field %q named", body, tt.wantField)
			}
		})
	}
}
