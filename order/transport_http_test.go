package order_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/order"
)

// httpFixture serves the real service (fake catalog) over HTTP.
type httpFixture struct {
	*fixture
	srv    *httptest.Server
	signer *authtest.Signer
}

func newHTTPFixture(t *testing.T) *httpFixture {
	t.Helper()
	f := newFixture(t)
	signer := authtest.NewSigner(t)
	h := order.NewHTTPHandler(order.NewEndpoints(f.svc, signer.Verifier()), log.NewNopLogger())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &httpFixture{fixture: f, srv: srv, signer: signer}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with an optional bearer token and extra headers
// ("Name: value").
func (f *httpFixture) do(t *testing.T, method, path, token, body string, headers ...string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Add(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestHTTPCreateAndReplay(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.catalog.product("MUG-1", 1250, 10, "EUR")
	user := uuid.NewString()
	token := f.signer.Token(user, auth.RoleCustomer)
	body := `{"items":[{"product_id":"` + p.ID + `","quantity":2}]}`

	first := f.do(t, http.MethodPost, "/api/v1/orders", token, body, "Idempotency-Key: abc-1")
	if first.status != http.StatusCreated {
		t.Fatalf("create = %d %s, want 201", first.status, first.body)
	}
	o := decode[order.Order](t, first.body)
	if o.Status != order.StatusConfirmed || o.TotalMinor != 2500 || o.UserID != user || len(o.Items) != 1 || o.Items[0].Name != "Product MUG-1" {
		t.Errorf("created %+v", o)
	}
	if loc := first.header.Get("Location"); loc != "/api/v1/orders/"+o.ID {
		t.Errorf("Location %q", loc)
	}

	again := f.do(t, http.MethodPost, "/api/v1/orders", token, body, "Idempotency-Key: abc-1")
	if again.status != http.StatusOK || again.header.Get(order.ReplayedHeader) != "true" {
		t.Fatalf("replay = %d %v %s, want 200 with %s", again.status, again.header, again.body, order.ReplayedHeader)
	}
	if got := decode[order.Order](t, again.body); got.ID != o.ID {
		t.Errorf("replayed order %s, want %s", got.ID, o.ID)
	}
	other := f.do(t, http.MethodPost, "/api/v1/orders", token, `{"items":[{"product_id":"`+p.ID+`","quantity":3}]}`, "Idempotency-Key: abc-1")
	if other.status != http.StatusConflict {
		t.Errorf("same key, other body = %d %s, want 409", other.status, other.body)
	}

	got := f.do(t, http.MethodGet, "/api/v1/orders/"+o.ID, token, "")
	if got.status != http.StatusOK || decode[order.Order](t, got.body).ID != o.ID {
		t.Errorf("get = %d %s", got.status, got.body)
	}
	list := f.do(t, http.MethodGet, "/api/v1/orders?limit=10", token, "")
	if lr := decode[order.ListResponse](t, list.body); list.status != http.StatusOK || len(lr.Orders) != 1 {
		t.Errorf("list = %d %s", list.status, list.body)
	}
	cancel := f.do(t, http.MethodPost, "/api/v1/orders/"+o.ID+"/cancel", token, "")
	if cancel.status != http.StatusOK || decode[order.Order](t, cancel.body).Status != order.StatusCancelled {
		t.Errorf("cancel = %d %s", cancel.status, cancel.body)
	}
	if again := f.do(t, http.MethodPost, "/api/v1/orders/"+o.ID+"/cancel", token, ""); again.status != http.StatusConflict {
		t.Errorf("second cancel = %d %s, want 409", again.status, again.body)
	}
}

func TestHTTPRejections(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.catalog.product("MUG-1", 1250, 1, "EUR")
	user := uuid.NewString()
	token := f.signer.Token(user, auth.RoleCustomer)
	item := func(qty string) string { return `{"items":[{"product_id":"` + p.ID + `","quantity":` + qty + `}]}` }
	placed := decode[order.Order](t, f.do(t, http.MethodPost, "/api/v1/orders", f.signer.Token(uuid.NewString(), auth.RoleCustomer), item("1")).body)

	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		body       string
		headers    []string
		wantStatus int
		wantFields []string
	}{
		{name: "no token", method: "POST", path: "/api/v1/orders", body: item("1"), wantStatus: 401},
		{name: "bad token", method: "GET", path: "/api/v1/orders", token: "not-a-jwt", wantStatus: 401},
		{name: "empty body", method: "POST", path: "/api/v1/orders", token: token, wantStatus: 400},
		{name: "not JSON", method: "POST", path: "/api/v1/orders", token: token, body: "items=1", wantStatus: 400},
		{name: "unknown member", method: "POST", path: "/api/v1/orders", token: token, body: `{"items":[],"price":1}`, wantStatus: 400},
		{name: "items missing", method: "POST", path: "/api/v1/orders", token: token, body: `{}`, wantStatus: 400, wantFields: []string{"items"}},
		{name: "items null", method: "POST", path: "/api/v1/orders", token: token, body: `{"items":null}`, wantStatus: 400, wantFields: []string{"items"}},
		{name: "no lines", method: "POST", path: "/api/v1/orders", token: token, body: `{"items":[]}`, wantStatus: 400, wantFields: []string{"items"}},
		{name: "line without quantity", method: "POST", path: "/api/v1/orders", token: token, body: `{"items":[{"product_id":"` + p.ID + `"}]}`, wantStatus: 400, wantFields: []string{"items[0].quantity"}},
		{name: "fractional quantity", method: "POST", path: "/api/v1/orders", token: token, body: item("1.5"), wantStatus: 400},
		{name: "huge quantity", method: "POST", path: "/api/v1/orders", token: token, body: item("99999999999999999999"), wantStatus: 400},
		{name: "zero quantity", method: "POST", path: "/api/v1/orders", token: token, body: item("0"), wantStatus: 400, wantFields: []string{"items[0].quantity"}},
		{name: "malformed product id", method: "POST", path: "/api/v1/orders", token: token, body: `{"items":[{"product_id":"x","quantity":1}]}`, wantStatus: 400, wantFields: []string{"items[0].product_id"}},
		{name: "duplicate key in a line", method: "POST", path: "/api/v1/orders", token: token, body: `{"items":[{"product_id":"` + p.ID + `","quantity":1,"quantity":5}]}`, wantStatus: 400, wantFields: []string{"items[0].quantity"}},
		{name: "duplicate items", method: "POST", path: "/api/v1/orders", token: token, body: `{"items":[],"items":[{"product_id":"` + p.ID + `","quantity":1}]}`, wantStatus: 400, wantFields: []string{"items"}},
		{name: "product id not UTF-8", method: "POST", path: "/api/v1/orders", token: token, body: "{\"items\":[{\"product_id\":\"\xed\xa0\x80\",\"quantity\":1}]}", wantStatus: 400, wantFields: []string{"items[0].product_id"}},
		{name: "client sends a price", method: "POST", path: "/api/v1/orders", token: token, body: `{"items":[{"product_id":"` + p.ID + `","quantity":1,"unit_price_minor":1}]}`, wantStatus: 400},
		{name: "two idempotency keys", method: "POST", path: "/api/v1/orders", token: token, body: item("1"), headers: []string{"Idempotency-Key: a", "Idempotency-Key: b"}, wantStatus: 400, wantFields: []string{"Idempotency-Key"}},
		{name: "bad idempotency key", method: "POST", path: "/api/v1/orders", token: token, body: item("1"), headers: []string{"Idempotency-Key: " + strings.Repeat("k", 256)}, wantStatus: 400, wantFields: []string{"Idempotency-Key"}},
		{name: "short stock", method: "POST", path: "/api/v1/orders", token: token, body: item("2"), wantStatus: 409, wantFields: []string{"items[0].quantity"}},
		{name: "bad limit", method: "GET", path: "/api/v1/orders?limit=x", token: token, wantStatus: 400, wantFields: []string{"limit"}},
		{name: "limit zero", method: "GET", path: "/api/v1/orders?limit=0", token: token, wantStatus: 400, wantFields: []string{"limit"}},
		{name: "limit malformed escape", method: "GET", path: "/api/v1/orders?limit=%zz", token: token, wantStatus: 400, wantFields: []string{"limit"}},
		{name: "page token malformed escape", method: "GET", path: "/api/v1/orders?page_token=%", token: token, wantStatus: 400, wantFields: []string{"page_token"}},
		{name: "bad all", method: "GET", path: "/api/v1/orders?all=maybe", token: token, wantStatus: 400, wantFields: []string{"all"}},
		{name: "all for a customer", method: "GET", path: "/api/v1/orders?all=true", token: token, wantStatus: 403},
		{name: "bad page token", method: "GET", path: "/api/v1/orders?page_token=zz", token: token, wantStatus: 400, wantFields: []string{"page_token"}},
		{name: "malformed id", method: "GET", path: "/api/v1/orders/abc", token: token, wantStatus: 400, wantFields: []string{"id"}},
		{name: "someone else's order", method: "GET", path: "/api/v1/orders/" + placed.ID, token: token, wantStatus: 404},
		{name: "cancel someone else's order", method: "POST", path: "/api/v1/orders/" + placed.ID + "/cancel", token: token, wantStatus: 404},
		{name: "wrong method", method: "DELETE", path: "/api/v1/orders/" + placed.ID, token: token, wantStatus: 405},
		{name: "unknown path", method: "GET", path: "/api/v1/orders/" + placed.ID + "/items", token: token, wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.method, tt.path, tt.token, tt.body, tt.headers...)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			if ct := r.header.Get("Content-Type"); ct != httpx.ProblemContentType {
				t.Errorf("Content-Type %q, want %s", ct, httpx.ProblemContentType)
			}
			p := decode[httpx.Problem](t, r.body)
			if p.Status != tt.wantStatus || p.Kind == "" {
				t.Errorf("problem %+v", p)
			}
			if tt.wantFields != nil {
				var names []string
				for _, fe := range p.Errors {
					names = append(names, fe.Field)
				}
				if !slices.Equal(names, tt.wantFields) {
					t.Errorf("fields %v, want %v", names, tt.wantFields)
				}
			}
		})
	}
	if got := f.catalog.stock(p.ID); got != 0 {
		t.Errorf("stock %d, want 0 (only the first order reserved)", got)
	}
}

func TestHTTPAdminListsAll(t *testing.T) {
	f := newHTTPFixture(t)
	p := f.catalog.product("MUG-1", 100, 10, "EUR")
	for range 3 {
		r := f.do(t, http.MethodPost, "/api/v1/orders", f.signer.Token(uuid.NewString(), auth.RoleCustomer), `{"items":[{"product_id":"`+p.ID+`","quantity":1}]}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create = %d %s", r.status, r.body)
		}
	}
	admin := f.signer.Token(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin)
	r := f.do(t, http.MethodGet, "/api/v1/orders?all=true&limit=2", admin, "")
	lr := decode[order.ListResponse](t, r.body)
	if r.status != http.StatusOK || len(lr.Orders) != 2 || lr.NextPageToken == "" {
		t.Fatalf("page 1 = %d %s", r.status, r.body)
	}
	r = f.do(t, http.MethodGet, "/api/v1/orders?all=true&limit=2&page_token="+lr.NextPageToken, admin, "")
	if lr := decode[order.ListResponse](t, r.body); r.status != http.StatusOK || len(lr.Orders) != 1 || lr.NextPageToken != "" {
		t.Errorf("page 2 = %d %s", r.status, r.body)
	}
}
