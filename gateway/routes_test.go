package gateway_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

func TestTableLookup(t *testing.T) {
	table := mustTable(t,
		gateway.Route{Prefix: "/api/v1/products", Service: "product"},
		gateway.Route{Prefix: "/api/v1/products/reviews", Service: "review"},
		gateway.Route{Prefix: "/api/v1/orders/", Service: "order"}, // trailing slash is normalised away
		gateway.Route{Prefix: "/shop", Service: "shop"},
	)
	tests := []struct {
		path        string
		wantService string // "" means no route
		wantPrefix  string
	}{
		{path: "/api/v1/products", wantService: "product", wantPrefix: "/api/v1/products"},
		{path: "/api/v1/products/", wantService: "product", wantPrefix: "/api/v1/products"},
		{path: "/api/v1/products/42", wantService: "product", wantPrefix: "/api/v1/products"},
		{path: "/api/v1/products/42/images/7", wantService: "product", wantPrefix: "/api/v1/products"},
		{path: "/api/v1/products/reviews", wantService: "review", wantPrefix: "/api/v1/products/reviews"},
		{path: "/api/v1/products/reviews/9", wantService: "review", wantPrefix: "/api/v1/products/reviews"},
		{path: "/api/v1/products/reviewsx", wantService: "product", wantPrefix: "/api/v1/products"},
		{path: "/api/v1/orders", wantService: "order", wantPrefix: "/api/v1/orders"},
		{path: "/api/v1/orders/1", wantService: "order", wantPrefix: "/api/v1/orders"},
		{path: "/shop", wantService: "shop", wantPrefix: "/shop"},
		{path: "/api/v1/productsfoo"},
		{path: "/api/v1/product"},
		{path: "/api/v1"},
		{path: "/api"},
		{path: "/"},
		{path: ""},
		{path: "/shopping"},
		{path: "/API/v1/products"},
		{path: "/x" + strings.Repeat("/api/v1/products", 1000)},
		{path: "/api/v1/products" + strings.Repeat("/x", 5000), wantService: "product", wantPrefix: "/api/v1/products"},
		{path: "/api/v1/products" + strings.Repeat("x", 5000)},
	}
	for _, tt := range tests {
		name := tt.path
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			r, ok := table.Lookup(tt.path)
			if tt.wantService == "" {
				if ok {
					t.Fatalf("Lookup(%q) = %q, want no route", tt.path, r.Prefix)
				}
				return
			}
			if !ok {
				t.Fatalf("Lookup(%q): no route, want %s", tt.path, tt.wantService)
			}
			if r.Service != tt.wantService || r.Prefix != tt.wantPrefix {
				t.Errorf("Lookup(%q) = %s %s, want %s %s", tt.path, r.Service, r.Prefix, tt.wantService, tt.wantPrefix)
			}
		})
	}
}

func TestTableLookupEmpty(t *testing.T) {
	var nilTable *gateway.Table
	for _, table := range []*gateway.Table{nilTable, mustTable(t), (&gateway.Routes{}).Table()} {
		if r, ok := table.Lookup("/api/v1/products"); ok {
			t.Errorf("empty table routed to %+v", r)
		}
	}
}

func TestNewTableRejects(t *testing.T) {
	tests := []struct {
		name    string
		routes  []gateway.Route
		wantErr string
	}{
		{"empty", []gateway.Route{{Prefix: "", Service: "a"}}, "below the root"},
		{"relative", []gateway.Route{{Prefix: "api/v1", Service: "a"}}, "must start with /"},
		{"dot dot", []gateway.Route{{Prefix: "/api/../admin", Service: "a"}}, "clean path"},
		{"double slash", []gateway.Route{{Prefix: "/api//v1", Service: "a"}}, "clean path"},
		{"query", []gateway.Route{{Prefix: "/api?x=1", Service: "a"}}, "not allowed"},
		{"no service", []gateway.Route{{Prefix: "/api"}}, "empty service"},
		{"metrics", []gateway.Route{{Prefix: "/metrics", Service: "a"}}, "reserved"},
		{"below metrics", []gateway.Route{{Prefix: "/metrics/v1", Service: "a"}}, "reserved"},
		{"healthz", []gateway.Route{{Prefix: "/healthz/", Service: "a"}}, "reserved"},
		{"readyz in other case", []gateway.Route{{Prefix: "/ReadyZ", Service: "a"}}, "reserved"},
		{"openapi", []gateway.Route{{Prefix: "/api/openapi.json", Service: "a"}}, "reserved"},
		{"below openapi", []gateway.Route{{Prefix: "/api/openapi.json/v2", Service: "a"}}, "reserved"},
		{"openapi in other case", []gateway.Route{{Prefix: "/API/OpenAPI.JSON/", Service: "a"}}, "reserved"},
		{"duplicate", []gateway.Route{{Prefix: "/api", Service: "a"}, {Prefix: "/api/", Service: "b"}}, `claimed by services "a" and "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gateway.NewTable(tt.routes...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewTable error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestTableRoutesSorted(t *testing.T) {
	table := mustTable(t,
		gateway.Route{Prefix: "/b", Service: "b"},
		gateway.Route{Prefix: "/a/", Service: "a"},
	)
	var got []string
	for _, r := range table.Routes() {
		got = append(got, r.Service+"="+r.Prefix)
	}
	want := "a=/a b=/b"
	if strings.Join(got, " ") != want {
		t.Errorf("Routes() = %v, want %s", got, want)
	}
	if table.Len() != 2 {
		t.Errorf("Len() = %d, want 2", table.Len())
	}
}

// TestRoutesSwap checks that readers see whole tables while a writer swaps
// them: every lookup during the swaps finds a route whose service and
// instance belong to the same generation.
func TestRoutesSwap(t *testing.T) {
	var routes gateway.Routes
	gen := func(n int) *gateway.Table {
		return mustTable(t,
			gateway.Route{Prefix: "/api/v1/a", Service: fmt.Sprintf("a%d", n), Instances: []consul.Instance{{ID: fmt.Sprintf("a%d-1", n)}}},
			gateway.Route{Prefix: "/api/v1/b", Service: fmt.Sprintf("b%d", n)},
		)
	}
	routes.Store(gen(0))

	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		broken atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				table := routes.Table()
				a, okA := table.Lookup("/api/v1/a/1")
				b, okB := table.Lookup("/api/v1/b")
				if !okA || !okB || a.Instances[0].ID != a.Service+"-1" || a.Service[1:] != b.Service[1:] {
					broken.Add(1)
				}
			}
		})
	}
	for n := 1; n <= 200; n++ {
		routes.Store(gen(n))
	}
	stop.Store(true)
	wg.Wait()
	if n := broken.Load(); n > 0 {
		t.Errorf("%d lookups saw a torn or missing table", n)
	}
	if r, _ := routes.Table().Lookup("/api/v1/a"); r.Service != "a200" {
		t.Errorf("after the swaps, /api/v1/a routes to %s, want a200", r.Service)
	}
}

func mustTable(t testing.TB, routes ...gateway.Route) *gateway.Table {
	t.Helper()
	table, err := gateway.NewTable(routes...)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return table
}
