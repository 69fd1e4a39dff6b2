package product_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/product"
)

// newHTTPServer serves the real service on a fresh database, with request
// ids as in production, verifying tokens of the returned callers' signer.
func newHTTPServer(t *testing.T) (*httptest.Server, callers) {
	t.Helper()
	who := newCallers(t)
	svc, _, _ := newPostgresService(t)
	logger := log.NewNopLogger()
	h := product.NewHTTPHandler(product.NewEndpoints(svc, who.signer.Verifier()), logger)
	srv := httptest.NewServer(requestid.HTTPMiddleware(h))
	t.Cleanup(srv.Close)
	return srv, who
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// send makes one request with the given headers (nil for none).
func send(t *testing.T, method, url string, header http.Header, body string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// do makes one request as the caller of token ("" for an anonymous one),
// with a Content-Type when contentType is not empty.
func do(t *testing.T, token, method, url, contentType, body string) httpResult {
	t.Helper()
	header := http.Header{}
	if contentType != "" {
		header.Set("Content-Type", contentType)
	}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	return send(t, method, url, header, body)
}

func doJSON(t *testing.T, token, method, url, body string) httpResult {
	t.Helper()
	return do(t, token, method, url, "application/json", body)
}

// decodeProblem checks that r is a problem document for status and returns it.
func decodeProblem(t *testing.T, r httpResult, wantStatus int) httpx.Problem {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != httpx.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, httpx.ProblemContentType)
	}
	var p httpx.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != wantStatus || p.Kind == "" || p.Type != "urn:kitshop:problem:"+p.Kind || p.Title == "" {
		t.Errorf("malformed problem %+v", p)
	}
	if p.RequestID == "" || p.RequestID != r.header.Get(requestid.Header) {
		t.Errorf("problem request_id %q, response header %q", p.RequestID, r.header.Get(requestid.Header))
	}
	return p
}

func problemFields(p httpx.Problem) []string {
	var names []string
	for _, f := range p.Errors {
		names = append(names, f.Field)
	}
	return names
}

const validBody = `{"sku":"cof-001","name":"Espresso beans","description":"Dark roast","price_minor":1899,"currency":"EUR","stock":12}`

func TestHTTPCRUD(t *testing.T) {
	srv, who := newHTTPServer(t)
	base := srv.URL + product.CollectionPath

	// Create.
	r := doJSON(t, who.admin, http.MethodPost, base, validBody)
	if r.status != http.StatusCreated {
		t.Fatalf("POST status = %d, want 201; body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"created_at", "currency", "description", "id", "name", "price_minor", "sku", "stock", "updated_at"}
	if got := slices.Sorted(maps.Keys(raw)); !slices.Equal(got, wantKeys) {
		t.Errorf("JSON fields = %v, want %v", got, wantKeys)
	}
	var created product.Product
	if err := json.Unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	if created.SKU != "COF-001" || created.Name != "Espresso beans" || created.PriceMinor != 1899 || created.Stock != 12 {
		t.Errorf("created %+v", created)
	}
	loc := r.header.Get("Location")
	if want := "/api/v1/products/" + created.ID; loc != want {
		t.Errorf("Location = %q, want %q", loc, want)
	}

	// Get via Location.
	r = do(t, "", http.MethodGet, srv.URL+loc, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET status = %d; body %s", r.status, r.body)
	}
	var got product.Product
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != created.ID || got.SKU != created.SKU || !got.UpdatedAt.Equal(created.UpdatedAt) {
		t.Errorf("GET = %+v, want %+v", got, created)
	}

	// Partial update.
	r = doJSON(t, who.admin, http.MethodPatch, srv.URL+loc, `{"stock":3,"currency":"usd"}`)
	if r.status != http.StatusOK {
		t.Fatalf("PATCH status = %d; body %s", r.status, r.body)
	}
	var updated product.Product
	if err := json.Unmarshal(r.body, &updated); err != nil {
		t.Fatal(err)
	}
	if updated.Stock != 3 || updated.Currency != "USD" || updated.Name != created.Name || updated.PriceMinor != created.PriceMinor {
		t.Errorf("PATCH = %+v", updated)
	}

	// List.
	doJSON(t, who.admin, http.MethodPost, base, strings.Replace(validBody, "cof-001", "cof-002", 1))
	doJSON(t, who.admin, http.MethodPost, base, strings.Replace(validBody, "cof-001", "cof-003", 1))
	var skus []string
	next := base + "?limit=2"
	for range 10 {
		r = do(t, "", http.MethodGet, next, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("LIST status = %d; body %s", r.status, r.body)
		}
		var page struct {
			Products      []product.Product `json:"products"`
			NextPageToken string            `json:"next_page_token"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Products {
			skus = append(skus, p.SKU)
		}
		if page.NextPageToken == "" {
			break
		}
		next = base + "?limit=2&page_token=" + url.QueryEscape(page.NextPageToken)
	}
	if want := []string{"COF-001", "COF-002", "COF-003"}; !slices.Equal(skus, want) {
		t.Errorf("listed %v, want %v", skus, want)
	}
	r = do(t, "", http.MethodGet, base+"?q="+url.QueryEscape("cof-00"), "", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"products":[`) {
		t.Errorf("LIST with q: %d %s", r.status, r.body)
	}
	r = do(t, "", http.MethodGet, base+"?q=nomatch", "", "")
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"products":[]}` {
		t.Errorf("empty LIST: %d %s, want {\"products\":[]}", r.status, r.body)
	}

	// Delete.
	r = do(t, who.admin, http.MethodDelete, srv.URL+loc, "", "")
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("DELETE = %d %q, want 204 and no body", r.status, r.body)
	}
	r = do(t, "", http.MethodGet, srv.URL+loc, "", "")
	if p := decodeProblem(t, r, http.StatusNotFound); p.Kind != "not_found" {
		t.Errorf("GET after DELETE kind = %q", p.Kind)
	}
}

func TestHTTPErrors(t *testing.T) {
	srv, who := newHTTPServer(t)
	base := srv.URL + product.CollectionPath
	existing := doJSON(t, who.admin, http.MethodPost, base, validBody)
	if existing.status != http.StatusCreated {
		t.Fatalf("creating fixture: %d %s", existing.status, existing.body)
	}
	item := srv.URL + existing.header.Get("Location")
	unknown := base + "/" + uuid.NewString()

	tests := []struct {
		name        string
		method      string
		url         string
		contentType string
		body        string
		wantStatus  int
		wantKind    string
		wantFields  []string // checked when not nil
	}{
		{"non-JSON body", "POST", base, "application/json", "hello", 400, "invalid", nil},
		{"wrong content type", "POST", base, "text/plain", validBody, 400, "invalid", nil},
		{"no content type", "POST", base, "", validBody, 400, "invalid", nil},
		{"empty body", "POST", base, "application/json", "", 400, "invalid", nil},
		{"array body", "POST", base, "application/json", "[]", 400, "invalid", nil},
		{"trailing data", "POST", base, "application/json", validBody + "{}", 400, "invalid", nil},
		{"missing name", "POST", base, "application/json", `{"sku":"A-100","price_minor":1,"currency":"EUR"}`, 400, "invalid", []string{"name"}},
		{"empty name", "POST", base, "application/json", `{"sku":"A-100","name":"","price_minor":1,"currency":"EUR"}`, 400, "invalid", []string{"name"}},
		{"blank name", "POST", base, "application/json", `{"sku":"A-100","name":"   ","price_minor":1,"currency":"EUR"}`, 400, "invalid", []string{"name"}},
		{"null name", "POST", base, "application/json", `{"sku":"A-100","name":null,"price_minor":1,"currency":"EUR"}`, 400, "invalid", []string{"name"}},
		{"null body", "POST", base, "application/json", "null", 400, "invalid", []string{"sku", "name", "price_minor", "currency"}},
		{"null optional field", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":1,"currency":"EUR","stock":null}`, 400, "invalid", []string{"stock"}},
		{"missing everything", "POST", base, "application/json", `{}`, 400, "invalid", []string{"sku", "name", "price_minor", "currency"}},
		{"negative price", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":-1,"currency":"EUR"}`, 400, "invalid", []string{"price_minor"}},
		{"fractional price", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":12.5,"currency":"EUR"}`, 400, "invalid", []string{"price_minor"}},
		{"price beyond int64", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":99999999999999999999,"currency":"EUR"}`, 400, "invalid", []string{"price_minor"}},
		{"price as string", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":"1","currency":"EUR"}`, 400, "invalid", []string{"price_minor"}},
		{"negative stock", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":1,"currency":"EUR","stock":-1}`, 400, "invalid", []string{"stock"}},
		{"bad currency", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":1,"currency":"EURO"}`, 400, "invalid", []string{"currency"}},
		{"bad sku", "POST", base, "application/json", `{"sku":"a b","name":"x","price_minor":1,"currency":"EUR"}`, 400, "invalid", []string{"sku"}},
		{"several bad fields", "POST", base, "application/json", `{"sku":"?","name":"","price_minor":-1,"currency":"x","stock":-1}`, 400, "invalid", []string{"sku", "name", "price_minor", "currency", "stock"}},
		{"NUL in description", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":1,"currency":"EUR","description":"a\u0000b"}`, 400, "invalid", []string{"description"}},
		{"unknown field", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":1,"currency":"EUR","colour":"red"}`, 400, "invalid", []string{"colour"}},
		{"id in body", "POST", base, "application/json", `{"id":"x","sku":"A-100","name":"x","price_minor":1,"currency":"EUR"}`, 400, "invalid", []string{"id"}},
		{"duplicate key", "POST", base, "application/json", `{"sku":"A-100","name":"x","price_minor":1,"currency":"EUR","price_minor":2}`, 400, "invalid", []string{"price_minor"}},
		{"name not UTF-8", "POST", base, "application/json", "{\"sku\":\"A-100\",\"name\":\"x\xff\",\"price_minor\":1,\"currency\":\"EUR\"}", 400, "invalid", []string{"name"}},
		{"overlong UTF-8", "POST", base, "application/json", "{\"sku\":\"A-100\",\"name\":\"\xc0\xaf\",\"price_minor\":1,\"currency\":\"EUR\"}", 400, "invalid", []string{"name"}},
		{"body over 1 MiB", "POST", base, "application/json",
			`{"sku":"A-100","name":"x","price_minor":1,"currency":"EUR","description":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "invalid", nil},
		{"duplicate sku", "POST", base, "application/json", validBody, 409, "conflict", []string{"sku"}},

		{"malformed id get", "GET", base + "/not-a-uuid", "", "", 400, "invalid", []string{"id"}},
		{"malformed id patch", "PATCH", base + "/123", "application/json", `{"stock":1}`, 400, "invalid", []string{"id"}},
		{"malformed id delete", "DELETE", base + "/123", "", "", 400, "invalid", []string{"id"}},
		{"unknown id get", "GET", unknown, "", "", 404, "not_found", nil},
		{"unknown id patch", "PATCH", unknown, "application/json", `{"stock":1}`, 404, "not_found", nil},
		{"unknown id delete", "DELETE", unknown, "", "", 404, "not_found", nil},

		{"empty patch", "PATCH", item, "application/json", `{}`, 400, "invalid", nil},
		{"patch unknown field", "PATCH", item, "application/json", `{"stok":1}`, 400, "invalid", []string{"stok"}},
		{"patch id", "PATCH", item, "application/json", `{"id":"` + uuid.NewString() + `"}`, 400, "invalid", []string{"id"}},
		{"patch null", "PATCH", item, "application/json", `{"description":null}`, 400, "invalid", []string{"description"}},
		{"patch negative stock", "PATCH", item, "application/json", `{"stock":-1}`, 400, "invalid", []string{"stock"}},
		{"patch empty name", "PATCH", item, "application/json", `{"name":""}`, 400, "invalid", []string{"name"}},
		{"patch duplicate key", "PATCH", item, "application/json", `{"stock":1,"stock":2}`, 400, "invalid", []string{"stock"}},
		{"patch lone surrogate", "PATCH", item, "application/json", `{"name":"\ud800"}`, 400, "invalid", []string{"name"}},
		{"patch non-JSON", "PATCH", item, "application/json", `stock=1`, 400, "invalid", nil},
		{"patch null body", "PATCH", item, "application/json", `null`, 400, "invalid", nil},
		{"patch no body", "PATCH", item, "application/json", ``, 400, "invalid", nil},

		{"limit 100000", "GET", base + "?limit=100000", "", "", 400, "invalid", []string{"limit"}},
		{"limit 101", "GET", base + "?limit=101", "", "", 400, "invalid", []string{"limit"}},
		{"limit 0", "GET", base + "?limit=0", "", "", 400, "invalid", []string{"limit"}},
		{"limit negative", "GET", base + "?limit=-1", "", "", 400, "invalid", []string{"limit"}},
		{"limit not a number", "GET", base + "?limit=ten", "", "", 400, "invalid", []string{"limit"}},
		{"limit empty", "GET", base + "?limit=", "", "", 400, "invalid", []string{"limit"}},
		{"limit overflow", "GET", base + "?limit=99999999999999999999999", "", "", 400, "invalid", []string{"limit"}},
		{"limit twice", "GET", base + "?limit=1&limit=2", "", "", 400, "invalid", []string{"limit"}},
		{"bad page token", "GET", base + "?page_token=garbage", "", "", 400, "invalid", []string{"page_token"}},
		{"forged page token", "GET", base + "?page_token=" + url.QueryEscape("djE6JyBPUiAxPTE"), "", "", 400, "invalid", []string{"page_token"}},
		{"q too long", "GET", base + "?q=" + strings.Repeat("x", 201), "", "", 400, "invalid", []string{"q"}},
		{"q malformed escape", "GET", base + "?q=%zz", "", "", 400, "invalid", []string{"q"}},
		{"limit malformed escape", "GET", base + "?limit=5%", "", "", 400, "invalid", []string{"limit"}},
		{"page token malformed escape", "GET", base + "?page_token=%g0", "", "", 400, "invalid", []string{"page_token"}},
		{"q not UTF-8", "GET", base + "?q=%FF", "", "", 400, "invalid", []string{"q"}},
		{"q with NUL", "GET", base + "?q=%00", "", "", 400, "invalid", []string{"q"}},

		{"method not allowed", "PUT", item, "application/json", validBody, 405, "invalid", nil},
		{"unknown path", "GET", srv.URL + "/api/v1/nothing", "", "", 404, "not_found", nil},
		{"trailing slash", "GET", base + "/", "", "", 404, "not_found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The admin's token, so that each request fails for the reason the
			// case is about.
			r := do(t, who.admin, tt.method, tt.url, tt.contentType, tt.body)
			p := decodeProblem(t, r, tt.wantStatus)
			if p.Kind != tt.wantKind {
				t.Errorf("kind = %q, want %q", p.Kind, tt.wantKind)
			}
			if p.Detail == "" {
				t.Error("problem has no detail")
			}
			if tt.wantFields != nil && !slices.Equal(problemFields(p), tt.wantFields) {
				t.Errorf("fields = %v, want %v (problem %+v)", problemFields(p), tt.wantFields, p)
			}
			if len(r.body) > 4096 {
				t.Errorf("problem body of %d bytes echoes the input", len(r.body))
			}
		})
	}

	// None of that changed the product.
	r := do(t, "", http.MethodGet, item, "", "")
	var got product.Product
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Stock != 12 || got.Name != "Espresso beans" || got.Description != "Dark roast" {
		t.Errorf("product changed by rejected requests: %+v", got)
	}
}

// TestHTTPAuthorization checks the catalog's rules on the service's own
// port, as a client that bypasses the gateway meets them: reads are open,
// writes need an admin's valid token, and nothing else stands in for one.
func TestHTTPAuthorization(t *testing.T) {
	srv, who := newHTTPServer(t)
	base := srv.URL + product.CollectionPath
	existing := doJSON(t, who.admin, http.MethodPost, base, validBody)
	if existing.status != http.StatusCreated {
		t.Fatalf("creating fixture: %d %s", existing.status, existing.body)
	}
	item := srv.URL + existing.header.Get("Location")

	const (
		challenge        = `Bearer realm="kitshop"`
		invalidChallenge = `Bearer realm="kitshop", error="invalid_token"`
	)
	bearer := func(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
	type caller struct {
		name          string
		header        http.Header
		wantStatus    int
		wantKind      string
		wantChallenge string // WWW-Authenticate of a 401
	}
	cases := []caller{
		{"no credentials", nil, 401, "unauthenticated", challenge},
		{"identity in plain headers", http.Header{"X-User-Id": {adminID}, "X-Roles": {"admin"}, "X-Forwarded-User": {"admin"}}, 401, "unauthenticated", challenge},
		{"basic auth", http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}}, 401, "unauthenticated", challenge},
		{"bearer without a token", http.Header{"Authorization": {"Bearer "}}, 401, "unauthenticated", invalidChallenge},
		{"two bearer tokens", http.Header{"Authorization": {"Bearer " + who.admin, "Bearer " + who.customer}}, 401, "unauthenticated", invalidChallenge},
		{"customer", bearer(who.customer), 403, "forbidden", ""},
	}
	for _, f := range forgedTokens(t, who.signer) {
		cases = append(cases, caller{"forged: " + f.name, bearer(f.token), 401, "unauthenticated", invalidChallenge})
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writes := []struct{ method, url, body string }{
				{http.MethodPost, base, strings.Replace(validBody, "cof-001", fmt.Sprintf("auth-%03d", i), 1)},
				{http.MethodPatch, item, `{"stock":99}`},
				{http.MethodDelete, item, ""},
				// The token does not move into the query string.
				{http.MethodDelete, item + "?access_token=" + url.QueryEscape(who.admin), ""},
			}
			for _, w := range writes {
				header := http.Header{"Content-Type": {"application/json"}}
				for k, vs := range c.header {
					header[k] = vs
				}
				r := send(t, w.method, w.url, header, w.body)
				p := decodeProblem(t, r, c.wantStatus)
				if p.Kind != c.wantKind {
					t.Errorf("%s %s: kind %q, want %q", w.method, w.url, p.Kind, c.wantKind)
				}
				if got := r.header.Get("WWW-Authenticate"); got != c.wantChallenge {
					t.Errorf("%s %s: WWW-Authenticate %q, want %q", w.method, w.url, got, c.wantChallenge)
				}
			}
			// Reading looks at no token, good or bad.
			for _, u := range []string{base, item} {
				if r := send(t, http.MethodGet, u, c.header, ""); r.status != http.StatusOK {
					t.Errorf("GET %s: %d %s, want 200", u, r.status, r.body)
				}
			}
		})
	}

	// Nothing of that reached the catalog.
	r := do(t, "", http.MethodGet, base, "", "")
	if r.status != http.StatusOK || strings.Count(string(r.body), `"id":`) != 1 || !strings.Contains(string(r.body), `"stock":12`) {
		t.Errorf("catalog after refused writes: %d %s, want the one fixture, unchanged", r.status, r.body)
	}
	// The admin may.
	if r := doJSON(t, who.admin, http.MethodPatch, item, `{"stock":99}`); r.status != http.StatusOK {
		t.Errorf("admin PATCH: %d %s", r.status, r.body)
	}
	if r := do(t, who.admin, http.MethodDelete, item, "", ""); r.status != http.StatusNoContent {
		t.Errorf("admin DELETE: %d %s", r.status, r.body)
	}
}
