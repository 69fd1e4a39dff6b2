package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/consul"
)

// shop is an order, a catalog and a payment service behind one gateway
// with the default composites.
type shop struct {
	tg                   *testGateway
	token                string
	paymentDown          atomic.Bool
	paymentSlow          atomic.Bool
	productAuthorization atomic.Int64 // product calls that carried credentials
}

func newShop(t *testing.T) *shop {
	t.Helper()
	s := &shop{}
	orders := newUpstream(t, "o1", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" || r.URL.Query().Has("expand") {
			http.Error(w, "bad request to the order service", http.StatusBadRequest)
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/o1") {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"title":"not found","status":404}`)
			return
		}
		fmt.Fprint(w, `{"id":"o1","status":"confirmed","items":[{"product_id":"p1","quantity":1},{"product_id":"p2","quantity":2},{"product_id":"p1","quantity":3}]}`)
	})
	products := newUpstream(t, "c1", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			s.productAuthorization.Add(1)
		}
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		if id == "gone" {
			http.Error(w, `{"title":"not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Cache-Control", sharedCacheControl)
		fmt.Fprintf(w, `{"id":%q,"name":"product %s"}`, id, id)
	})
	payments := newUpstream(t, "pay1", func(w http.ResponseWriter, r *http.Request) {
		if s.paymentSlow.Load() {
			time.Sleep(1500 * time.Millisecond)
		}
		if s.paymentDown.Load() || r.Header.Get("Authorization") == "" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"payments":[{"order_id":%q,"status":"succeeded"}]}`, r.URL.Query().Get("order_id"))
	})
	cs, err := gateway.ParseComposites([]byte(gateway.DefaultCompositesJSON))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := gateway.NewCache(gateway.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cache.SetLive(true)
	svc := serviceName(t)
	s.tg = newGateway(t, gateway.Config{Composites: cs, Cache: cache},
		gateway.Route{Prefix: "/api/v1/orders", Service: svc + "-order", Instances: []consul.Instance{orders.instance(svc + "-order")}},
		gateway.Route{Prefix: "/api/v1/products", Service: svc + "-product", Instances: []consul.Instance{products.instance(svc + "-product")},
			Public: mustPublic(t, "GET /api/v1/products")},
		gateway.Route{Prefix: "/api/v1/payments", Service: svc + "-payment", Instances: []consul.Instance{payments.instance(svc + "-payment")}},
	)
	s.token = s.tg.signer.Token("u1")
	return s
}

type expanded struct {
	ID    string `json:"id"`
	Items []struct {
		ProductID string          `json:"product_id"`
		Product   json.RawMessage `json:"product"`
	} `json:"items"`
	Payment  json.RawMessage               `json:"payment"`
	Expanded map[string]gateway.PartReport `json:"expanded"`
}

func (s *shop) expand(t *testing.T, path string) (*http.Response, expanded, string) {
	t.Helper()
	resp, body := s.tg.do(t, http.MethodGet, path, nil, bearer(s.token))
	var e expanded
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
	}
	return resp, e, body
}

func TestAggregateOrder(t *testing.T) {
	s := newShop(t)
	resp, e, body := s.expand(t, "/api/v1/orders/o1?expand=products,payment")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if e.ID != "o1" || len(e.Items) != 3 {
		t.Fatalf("order %s: want o1 with 3 items", body)
	}
	for _, it := range e.Items {
		if want := fmt.Sprintf(`{"id":%q,"name":"product %s"}`, it.ProductID, it.ProductID); string(it.Product) != want {
			t.Errorf("item %s: product %s, want %s", it.ProductID, it.Product, want)
		}
	}
	if !strings.Contains(string(e.Payment), `"status":"succeeded"`) {
		t.Errorf("payment %s, want the payment", e.Payment)
	}
	if e.Expanded["products"].Status != "ok" || e.Expanded["payment"].Status != "ok" {
		t.Errorf("report %+v, want both ok", e.Expanded)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if n := s.productAuthorization.Load(); n != 0 {
		t.Errorf("%d product calls carried the caller's credentials, want none", n)
	}

	t.Run("one part", func(t *testing.T) {
		_, e, body := s.expand(t, "/api/v1/orders/o1?expand=payment")
		if e.Items[0].Product != nil || e.Payment == nil || len(e.Expanded) != 1 {
			t.Errorf("expand=payment: %s", body)
		}
	})
	t.Run("payment down", func(t *testing.T) {
		s.paymentDown.Store(true)
		defer s.paymentDown.Store(false)
		resp, e, body := s.expand(t, "/api/v1/orders/o1?expand=products,payment")
		if resp.StatusCode != http.StatusOK || e.Items[1].Product == nil || e.Payment != nil {
			t.Fatalf("%d %s: want the order with products and no payment", resp.StatusCode, body)
		}
		if r := e.Expanded["payment"]; r.Status != "failed" || r.HTTPStatus != http.StatusInternalServerError {
			t.Errorf("payment report %+v, want failed with 500", r)
		}
	})
	t.Run("payment slow", func(t *testing.T) {
		s.paymentSlow.Store(true)
		defer s.paymentSlow.Store(false)
		start := time.Now()
		_, e, body := s.expand(t, "/api/v1/orders/o1?expand=products,payment")
		if r := e.Expanded["payment"]; r.Status != "timeout" || e.Items[0].Product == nil {
			t.Errorf("%s: want products and a payment timeout", body)
		}
		if d := time.Since(start); d > 1400*time.Millisecond {
			t.Errorf("answered after %v, want within the part's 1s timeout", d)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		resp, body := s.tg.do(t, http.MethodGet, "/api/v1/orders/o1?expand=products,invoices", nil, bearer(s.token))
		wantProblem(t, resp, body, http.StatusBadRequest, "invalid")
		resp, body = s.tg.do(t, http.MethodGet, "/api/v1/orders/o1?expand=products", nil, nil)
		wantProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
		resp, _, body = s.expand(t, "/api/v1/orders/o2?expand=products")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("unknown order: %d %s, want the order service's 404", resp.StatusCode, body)
		}
	})
	t.Run("no expand", func(t *testing.T) {
		_, e, body := s.expand(t, "/api/v1/orders/o1")
		if e.Expanded != nil || e.Items[0].Product != nil {
			t.Errorf("without expand: %s, want the order as it is", body)
		}
	})
}

func TestParseComposites(t *testing.T) {
	tests := []struct {
		name, json, wantErr string
	}{
		{"default", gateway.DefaultCompositesJSON, ""},
		{"unknown field", `{"composites":[{"name":"x","path":"/a","parts":[],"extra":1}]}`, "unknown field"},
		{"no parts", `{"composites":[{"name":"x","path":"/a/{id}"}]}`, "no parts"},
		{"unclean path", `{"composites":[{"name":"x","path":"/a//b","parts":[{"name":"p","path":"/b","into":"p"}]}]}`, "clean absolute path"},
		{"unknown placeholder", `{"composites":[{"name":"x","path":"/a/{id}","parts":[{"name":"p","path":"/b/{oid}","into":"p"}]}]}`, "{oid}"},
		{"key without each", `{"composites":[{"name":"x","path":"/a/{id}","parts":[{"name":"p","path":"/b/{key}","into":"p"}]}]}`, "{key}"},
		{"each without key", `{"composites":[{"name":"x","path":"/a/{id}","parts":[{"name":"p","path":"/b","into":"p","each":"items"}]}]}`, "each and key"},
		{"bad timeout", `{"composites":[{"name":"x","path":"/a/{id}","parts":[{"name":"p","path":"/b","into":"p","timeout":"1h"}]}]}`, "timeout"},
		{"duplicate part", `{"composites":[{"name":"x","path":"/a/{id}","parts":[{"name":"p","path":"/b","into":"p"},{"name":"p","path":"/c","into":"q"}]}]}`, "unique"},
		{"no into", `{"composites":[{"name":"x","path":"/a/{id}","parts":[{"name":"p","path":"/b"}]}]}`, "into"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gateway.ParseComposites([]byte(tt.json))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
