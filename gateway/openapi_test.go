package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

// TestOpenAPI checks that the gateway serves its OpenAPI document itself, to
// anyone, even when a service's prefix covers the path: a public GET and
// HEAD, conditional requests, and a 405 problem for other methods.
func TestOpenAPI(t *testing.T) {
	up := newUpstream(t, "api-1", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("from the upstream"))
	})
	// A service claiming all of /api, and only with a token.
	gw := newGateway(t, gateway.Config{}, gateway.Route{Prefix: "/api", Service: "api", Instances: []consul.Instance{up.instance("api")}})
	want, err := gateway.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}

	resp, body := gw.get(t, gateway.OpenAPIPath)
	if resp.StatusCode != http.StatusOK || body != string(want) {
		t.Fatalf("GET %s = %d %.80q, want 200 and the document", gateway.OpenAPIPath, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Paths["/api/v1/products"] == nil {
		t.Errorf("document: openapi %q, paths %d; want 3.1.0 with /api/v1/products", doc.OpenAPI, len(doc.Paths))
	}

	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	resp, body = gw.do(t, http.MethodGet, gateway.OpenAPIPath, nil, http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("GET with If-None-Match = %d %q, want 304 and no body", resp.StatusCode, body)
	}
	resp, body = gw.do(t, http.MethodHead, gateway.OpenAPIPath, nil, nil)
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD = %d %q, want 200 and no body", resp.StatusCode, body)
	}
	resp, body = gw.do(t, http.MethodPost, gateway.OpenAPIPath, strings.NewReader("{}"), http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("POST = %d (Allow %q, Content-Type %q) %s, want a 405 problem with Allow", resp.StatusCode,
			resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), body)
	}
	// Next to it, the service still gets its paths (and wants a token).
	if resp, _ := gw.get(t, "/api/openapi.jsonx"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/openapi.jsonx = %d, want 401 from the route to the service", resp.StatusCode)
	}
}
