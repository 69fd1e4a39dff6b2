package gateway_test

import (
	"testing"

	"github.com/kitshop/kitshop/gateway"
)

func TestTableSite(t *testing.T) {
	withSite := mustTable(t,
		gateway.Route{Prefix: "/api/v1/products", Service: "product"},
		gateway.Route{Prefix: "/", Service: "web"},
	)
	noSite := mustTable(t, gateway.Route{Prefix: "/api/v1/products", Service: "product"})
	tests := []struct {
		path        string
		wantService string // "" means no route
	}{
		{"/", "web"},
		{"/products/42", "web"},
		{"/static/style.0123.css", "web"},
		{"/apiary", "web"},
		{"/api/v1/products/42", "product"},
		// API paths nobody serves stay 404s, in any letter case.
		{"/api", ""},
		{"/api/", ""},
		{"/api/v1/orders", ""},
		{"/API/v1/orders", ""},
		{"/Api", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r, ok := withSite.Lookup(tt.path)
			if got := routedTo(r, ok); got != tt.wantService {
				t.Errorf("Lookup(%q) = %q, want %q", tt.path, got, tt.wantService)
			}
			if r, ok := noSite.Lookup(tt.path); ok && r.Service != "product" {
				t.Errorf("without a site, Lookup(%q) = %q", tt.path, r.Service)
			}
		})
	}
}

func TestPublicRoutesSite(t *testing.T) {
	site := mustPublic(t, "GET /,POST /")
	for _, tt := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/", true},
		{"HEAD", "/products/1", true},
		{"POST", "/cart/add", true},
		{"DELETE", "/cart", false},
	} {
		if got := site.Allows(tt.method, tt.path, ""); got != tt.want {
			t.Errorf("Allows(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
	// Only a service that serves the site may make the root public: an API
	// service announcing "GET /" must not open every route it has.
	if in, out := site.Within([]string{"/api/v1/widgets"}); in.Len() != 0 || len(out) != 2 {
		t.Errorf("within an API prefix: %d kept, %d dropped; want 0 and 2", in.Len(), len(out))
	}
	if in, _ := site.Within([]string{"/"}); in.Len() != 2 {
		t.Errorf("within the site: %d kept, want 2", in.Len())
	}
}

func routedTo(r *gateway.Route, ok bool) string {
	if !ok {
		return ""
	}
	return r.Service
}
