package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	local "github.com/kitshop/kitshop/deploy/local"
)

// product is a product as the API shows it.
type product struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceMinor  int64     `json:"price_minor"`
	Currency    string    `json:"currency"`
	Stock       int64     `json:"stock"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// page is one page of GET /api/v1/products.
type page struct {
	Products      []product `json:"products"`
	NextPageToken string    `json:"next_page_token"`
}

// testCatalog walks the seeded catalog page by page.
func testCatalog(t *testing.T, c *client) {
	const (
		pageSize = 7
		maxPages = 50 // far more than the seed needs; bounds the walk
		minSeed  = 20
	)
	var (
		all   []product
		pages int
		token string
	)
	for pages < maxPages {
		path := fmt.Sprintf("/api/v1/products?limit=%d", pageSize)
		if token != "" {
			path += "&page_token=" + url.QueryEscape(token)
		}
		var hdr http.Header
		if pages == 0 {
			// A client's own request id must come back unchanged.
			hdr = http.Header{"X-Request-Id": {"e2e-catalog-1"}}
		}
		r := c.do(t, http.MethodGet, path, hdr, nil)
		var p page
		decodeJSON(t, "GET "+path, r, http.StatusOK, &p)
		if pages == 0 {
			if got := r.Header.Get("X-Request-ID"); got != "e2e-catalog-1" {
				t.Errorf("X-Request-ID = %q, want the client's e2e-catalog-1 echoed", got)
			}
		}
		pages++
		if len(p.Products) > pageSize {
			t.Errorf("page %d has %d products, want at most %d", pages, len(p.Products), pageSize)
		}
		all = append(all, p.Products...)
		if token = p.NextPageToken; token == "" {
			break
		}
	}
	if token != "" {
		t.Fatalf("catalog still has a next page after %d pages", maxPages)
	}
	if len(all) < minSeed {
		t.Fatalf("catalog has %d products, want the seeded %d or more", len(all), minSeed)
	}
	if min := (minSeed + pageSize - 1) / pageSize; pages < min {
		t.Errorf("%d products came in %d pages of at most %d, want at least %d", len(all), pages, pageSize, min)
	}
	ids := make(map[string]bool, len(all))
	for i, p := range all {
		if ids[p.ID] {
			t.Errorf("product %s (%s) listed twice", p.ID, p.SKU)
		}
		ids[p.ID] = true
		if uuid.Validate(p.ID) != nil || p.SKU == "" || p.Name == "" || len(p.Currency) != 3 || p.PriceMinor < 0 || p.Stock < 0 {
			t.Errorf("implausible product %+v", p)
		}
		if i > 0 && all[i-1].SKU >= p.SKU {
			t.Errorf("SKU %s listed after %s, want strictly ascending SKUs across pages", p.SKU, all[i-1].SKU)
		}
	}
	t.Logf("catalog: %d products in %d pages", len(all), pages)
}

// consulEntry is one instance in Consul's /v1/health/service answer.
type consulEntry struct {
	Service struct {
		ID   string
		Port int
		Meta map[string]string
	}
	Checks []struct {
		CheckID   string
		ServiceID string
		Status    string
	}
}

// consulHealth asks Consul's health API about service; query is "" or
// "?passing".
func consulHealth(ctx context.Context, stack *local.Stack, service, query string) ([]consulEntry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.ConsulURL()+"/v1/health/service/"+service+query, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("consul answered %s", resp.Status)
	}
	var entries []consulEntry
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		return nil, fmt.Errorf("consul health answer: %w", err)
	}
	return entries, nil
}

// testConsulInstances checks that every instance is registered and passing,
// each at its own port, with the metadata the gateway routes by.
func testConsulInstances(t *testing.T, stack *local.Stack) {
	for _, tt := range []struct {
		service      string
		instances    int
		apiPrefix    string
		publicRoutes []string // entries that must be among the public routes
	}{
		{"product", 2, "/api/v1/products", []string{"GET /api/v1/products"}},
		{"user", 1, "/api/v1/users,/api/v1/auth", []string{"POST =/api/v1/users", "POST =/api/v1/auth/login"}},
		{"order", 1, "/api/v1/orders", nil},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		entries, err := consulHealth(ctx, stack, tt.service, "?passing")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, e := range entries {
			got = append(got, fmt.Sprintf("%s:%d", e.Service.ID, e.Service.Port))
			if p := e.Service.Meta["api_prefix"]; p != tt.apiPrefix {
				t.Errorf("%s: api_prefix %q, want %q", e.Service.ID, p, tt.apiPrefix)
			}
			public := strings.Split(e.Service.Meta["public_routes"], ",")
			for _, r := range tt.publicRoutes {
				if !slices.Contains(public, r) {
					t.Errorf("%s: public_routes %q lack %q", e.Service.ID, e.Service.Meta["public_routes"], r)
				}
			}
		}
		for _, inst := range stack.Instances(tt.service) {
			want = append(want, inst.ID+":"+strings.TrimPrefix(inst.HTTPAddr, "127.0.0.1:"))
		}
		slices.Sort(got)
		slices.Sort(want)
		if len(want) != tt.instances || !slices.Equal(got, want) {
			t.Errorf("passing %s instances (id:port) = %v, want %v (%d)", tt.service, got, want, tt.instances)
		}
	}
}

// testCRUD creates, reads, changes and deletes a product as the admin (the
// token of admin); reading needs no token.
func testCRUD(t *testing.T, c *client, admin string) {
	asAdmin := bearer(admin)
	sku := "E2E-" + randomHex(t, 4)
	in := map[string]any{
		"sku": sku, "name": "End-to-end mug", "description": "Made by the end-to-end test",
		"price_minor": 1500, "currency": "EUR", "stock": 3,
	}
	r := c.do(t, http.MethodPost, "/api/v1/products", asAdmin, mustJSON(t, in))
	var created product
	decodeJSON(t, "create", r, http.StatusCreated, &created)
	if created.SKU != sku || created.Name != "End-to-end mug" || created.PriceMinor != 1500 || created.Currency != "EUR" || created.Stock != 3 {
		t.Errorf("created %+v, want the fields sent", created)
	}
	loc := r.Header.Get("Location")
	if want := "/api/v1/products/" + created.ID; loc != want || uuid.Validate(created.ID) != nil {
		t.Fatalf("create: Location %q, id %q; want Location %s with a UUID", loc, created.ID, want)
	}

	var got product
	decodeJSON(t, "get", c.do(t, http.MethodGet, loc, nil, nil), http.StatusOK, &got)
	if got.ID != created.ID || got.SKU != sku || got.PriceMinor != 1500 {
		t.Errorf("get %s = %+v, want %+v", loc, got, created)
	}

	var patched product
	decodeJSON(t, "patch", c.do(t, http.MethodPatch, loc, asAdmin, []byte(`{"price_minor":1299}`)), http.StatusOK, &patched)
	if patched.PriceMinor != 1299 || patched.SKU != sku || patched.Name != created.Name || patched.Stock != created.Stock {
		t.Errorf("after PATCH price_minor=1299: %+v, want only the price changed", patched)
	}
	// Read again: the other instance may answer, and it must see the change
	// as soon as its cache has heard the change's notification, which
	// Postgres sends to every instance at commit (sub-millisecond on an idle
	// host; the bound here allows for a loaded CI machine).
	seen := awaitConsistent(t, "get after patch", func() bool {
		var again [2]product
		for i := range again {
			decodeJSON(t, "get after patch", c.do(t, http.MethodGet, loc, nil, nil), http.StatusOK, &again[i])
		}
		return again[0].PriceMinor == 1299 && again[1].PriceMinor == 1299
	})
	t.Logf("crud: both instances served the patched price %v after the PATCH answered", seen)

	// SKUs are case-insensitive, so the lower-case spelling is the same SKU.
	in["sku"] = strings.ToLower(sku)
	r = c.do(t, http.MethodPost, "/api/v1/products", asAdmin, mustJSON(t, in))
	checkProblem(t, "duplicate SKU", r, http.StatusConflict, "conflict", "")

	r = c.do(t, http.MethodDelete, loc, asAdmin, nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Errorf("delete: status %d, body %q; want 204 and no body", r.Status, truncate(r.Body))
	}
	checkRequestID(t, "delete", r)
	awaitConsistent(t, "get after delete", func() bool {
		return c.do(t, http.MethodGet, loc, nil, nil).Status == http.StatusNotFound &&
			c.do(t, http.MethodGet, loc, nil, nil).Status == http.StatusNotFound
	})
	checkProblem(t, "get after delete", c.do(t, http.MethodGet, loc, nil, nil), http.StatusNotFound, "not_found", "")
	checkProblem(t, "delete twice", c.do(t, http.MethodDelete, loc, asAdmin, nil), http.StatusNotFound, "not_found", "")
}

// testBadInput sends what a careless or hostile client might: every answer
// must be the right 4xx problem document, never a 5xx. Requests carry the
// admin's token (admin), so that each fails for the reason its case is
// about, not for want of credentials.
func testBadInput(t *testing.T, c *client, admin string) {
	// valid returns a valid create body with changes applied; a nil value
	// removes the field.
	valid := func(changes map[string]any) []byte {
		body := map[string]any{"sku": "E2E-BAD-1", "name": "Bad input", "price_minor": 100, "currency": "EUR", "stock": 1}
		for k, v := range changes {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return mustJSON(t, body)
	}
	someID := uuid.NewString()
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		wantStatus  int
		wantKind    string
		wantField   string
	}{
		{"non-JSON body", "POST", "/api/v1/products", "", []byte("this is not JSON"), 400, "invalid", ""},
		{"truncated JSON", "POST", "/api/v1/products", "", []byte(`{"sku":"E2E-BAD-1","name":`), 400, "invalid", ""},
		{"JSON array", "POST", "/api/v1/products", "", []byte(`[1,2]`), 400, "invalid", ""},
		{"trailing data", "POST", "/api/v1/products", "", append(valid(nil), `{}`...), 400, "invalid", ""},
		{"empty body", "POST", "/api/v1/products", "", nil, 400, "invalid", ""},
		{"text/plain body", "POST", "/api/v1/products", "text/plain", valid(nil), 400, "invalid", ""},
		{"missing name", "POST", "/api/v1/products", "", valid(map[string]any{"name": nil}), 400, "invalid", "name"},
		{"empty name", "POST", "/api/v1/products", "", valid(map[string]any{"name": ""}), 400, "invalid", "name"},
		{"blank name", "POST", "/api/v1/products", "", valid(map[string]any{"name": "   "}), 400, "invalid", "name"},
		{"null name", "POST", "/api/v1/products", "", []byte(`{"sku":"E2E-BAD-1","name":null,"price_minor":1,"currency":"EUR"}`), 400, "invalid", "name"},
		{"name of wrong type", "POST", "/api/v1/products", "", valid(map[string]any{"name": 42}), 400, "invalid", "name"},
		{"negative price", "POST", "/api/v1/products", "", valid(map[string]any{"price_minor": -1}), 400, "invalid", "price_minor"},
		{"negative stock", "POST", "/api/v1/products", "", valid(map[string]any{"stock": -5}), 400, "invalid", "stock"},
		{"bad currency", "POST", "/api/v1/products", "", valid(map[string]any{"currency": "euro"}), 400, "invalid", "currency"},
		{"unknown field", "POST", "/api/v1/products", "", valid(map[string]any{"colour": "red"}), 400, "invalid", "colour"},
		{"body over 1 MiB", "POST", "/api/v1/products", "", valid(map[string]any{"description": strings.Repeat("x", 1<<20)}), 413, "invalid", ""},
		{"malformed id", "GET", "/api/v1/products/not-a-uuid", "", nil, 400, "invalid", "id"},
		{"malformed id on delete", "DELETE", "/api/v1/products/42", "", nil, 400, "invalid", "id"},
		{"malformed id on patch", "PATCH", "/api/v1/products/42", "", []byte(`{"stock":1}`), 400, "invalid", "id"},
		{"empty patch", "PATCH", "/api/v1/products/" + someID, "", []byte(`{}`), 400, "invalid", ""},
		{"negative stock in patch", "PATCH", "/api/v1/products/" + someID, "", []byte(`{"stock":-1}`), 400, "invalid", "stock"},
		{"unknown id", "GET", "/api/v1/products/" + someID, "", nil, 404, "not_found", ""},
		{"limit=100000", "GET", "/api/v1/products?limit=100000", "", nil, 400, "invalid", "limit"},
		{"limit=0", "GET", "/api/v1/products?limit=0", "", nil, 400, "invalid", "limit"},
		{"limit not a number", "GET", "/api/v1/products?limit=ten", "", nil, 400, "invalid", "limit"},
		{"bad page_token", "GET", "/api/v1/products?page_token=not-a-token", "", nil, 400, "invalid", "page_token"},
		{"wrong method on collection", "PUT", "/api/v1/products", "", valid(nil), 405, "invalid", ""},
		{"wrong method on item", "POST", "/api/v1/products/" + someID, "", valid(nil), 405, "invalid", ""},
		{"unknown path under /api/", "GET", "/api/v1/no-such-thing", "", nil, 404, "not_found", ""},
		{"unknown path under the products prefix", "GET", "/api/v1/products/" + someID + "/extra", "", nil, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := bearer(admin)
			if tt.contentType != "" {
				hdr.Set("Content-Type", tt.contentType)
			}
			r := c.do(t, tt.method, tt.path, hdr, tt.body)
			checkProblem(t, tt.method+" "+tt.path, r, tt.wantStatus, tt.wantKind, tt.wantField)
			if tt.wantStatus == http.StatusMethodNotAllowed && r.Header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
}
