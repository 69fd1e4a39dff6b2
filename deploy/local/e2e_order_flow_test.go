package local_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/requestid"
)

// testOrderFlow goes through an order's life through the gateway: place
// (prices and names from the catalog, stock reserved), replay with the same
// Idempotency-Key, list newest first with pages, get, the privacy of other
// users' orders, cancel (stock back), and who may list everyone's.
func testOrderFlow(t *testing.T, e *orderEnv) {
	alice, bob := e.customers[0], e.customers[1]
	mug := e.product(t, "Order flow mug", 1250, "EUR", 10)
	beans := e.product(t, "Order flow beans", 399, "EUR", 50)

	key := "e2e-flow-" + randomHex(t, 8)
	body := orderBody(t, line{mug.ID, 2}, line{beans.ID, 3})
	r := e.post(t, alice.token, key, body)
	var first placedOrder
	decodeJSON(t, "place an order", r, http.StatusCreated, &first)
	checkOrder(t, "placed", first, alice.id, "confirmed", "EUR", itemOf(mug, 2), itemOf(beans, 3))
	if first.TotalMinor != 2*1250+3*399 {
		t.Errorf("total_minor %d, want %d", first.TotalMinor, 2*1250+3*399)
	}
	if loc := r.Header.Get("Location"); loc != "/api/v1/orders/"+first.ID {
		t.Errorf("Location %q, want /api/v1/orders/%s", loc, first.ID)
	}
	if got := e.stock(t, mug.ID); got != 8 {
		t.Errorf("mug stock after ordering 2 of 10: %d, want 8", got)
	}
	if got := e.stock(t, beans.ID); got != 47 {
		t.Errorf("beans stock after ordering 3 of 50: %d, want 47", got)
	}

	// Replays: the same request, and the same order spelt with a split
	// line, return the first order and reserve nothing more.
	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"same body", body},
		{"same lines, one split in two", orderBody(t, line{mug.ID, 1}, line{beans.ID, 3}, line{mug.ID, 1})},
	} {
		r := e.post(t, alice.token, key, tt.body)
		var again placedOrder
		decodeJSON(t, "replay: "+tt.name, r, http.StatusOK, &again)
		if again.ID != first.ID || !holdsStock(again.Status) || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay (%s): order %s (%s), Idempotent-Replayed %q; want %s, confirmed or paid, true",
				tt.name, again.ID, again.Status, r.Header.Get("Idempotent-Replayed"), first.ID)
		}
	}
	checkProblem(t, "same key, another body", e.post(t, alice.token, key, orderBody(t, line{mug.ID, 1})), http.StatusConflict, "conflict", "")
	if got := e.stock(t, mug.ID); got != 8 {
		t.Errorf("mug stock after the replays: %d, want still 8", got)
	}

	// Keys belong to their user: bob's request with alice's key is his own
	// new order.
	var bobs placedOrder
	decodeJSON(t, "bob with alice's key", e.post(t, bob.token, key, body), http.StatusCreated, &bobs)
	if bobs.ID == first.ID || bobs.UserID != bob.id {
		t.Errorf("bob's order with alice's key: %+v, want a new order of his", bobs)
	}

	var second placedOrder
	decodeJSON(t, "second order", e.post(t, alice.token, "", orderBody(t, line{beans.ID, 1})), http.StatusCreated, &second)
	checkOrder(t, "second order", second, alice.id, "confirmed", "EUR", itemOf(beans, 1))

	// Newest first, also across pages.
	if got, want := ids(e.list(t, alice.token, "").Orders), []string{second.ID, first.ID}; !slices.Equal(got, want) {
		t.Errorf("alice's orders %v, want %v (newest first)", got, want)
	}
	p1 := e.list(t, alice.token, "?limit=1")
	if len(p1.Orders) != 1 || p1.Orders[0].ID != second.ID || p1.NextPageToken == "" {
		t.Fatalf("first page of 1: %v, token %q; want [%s] and a next page", ids(p1.Orders), p1.NextPageToken, second.ID)
	}
	p2 := e.list(t, alice.token, "?limit=1&page_token="+p1.NextPageToken)
	if len(p2.Orders) != 1 || p2.Orders[0].ID != first.ID || p2.NextPageToken != "" {
		t.Errorf("second page of 1: %v, token %q; want [%s] and no next page", ids(p2.Orders), p2.NextPageToken, first.ID)
	}

	var got placedOrder
	decodeJSON(t, "get", e.c.do(t, http.MethodGet, "/api/v1/orders/"+first.ID, bearer(alice.token), nil), http.StatusOK, &got)
	checkOrder(t, "get", got, alice.id, "confirmed", "EUR", itemOf(mug, 2), itemOf(beans, 3))

	// Other people's orders do not exist, as far as anyone can tell.
	checkProblem(t, "bob gets alice's order", e.c.do(t, http.MethodGet, "/api/v1/orders/"+first.ID, bearer(bob.token), nil), http.StatusNotFound, "not_found", "")
	checkProblem(t, "bob cancels alice's order", e.c.do(t, http.MethodPost, "/api/v1/orders/"+first.ID+"/cancel", bearer(bob.token), nil), http.StatusNotFound, "not_found", "")
	if got := ids(e.list(t, bob.token, "").Orders); !slices.Equal(got, []string{bobs.ID}) {
		t.Errorf("bob's orders %v, want only his own %s", got, bobs.ID)
	}
	checkProblem(t, "list without a token", e.c.do(t, http.MethodGet, "/api/v1/orders", nil, nil), http.StatusUnauthorized, "unauthenticated", "")
	checkProblem(t, "everyone's orders as a customer", e.c.do(t, http.MethodGet, "/api/v1/orders?all=true", bearer(alice.token), nil), http.StatusForbidden, "forbidden", "")
	all := e.list(t, e.admin, "?all=true&limit=100")
	for _, id := range []string{first.ID, second.ID, bobs.ID} {
		if !slices.Contains(ids(all.Orders), id) {
			t.Errorf("the admin's list of everyone's orders lacks %s", id)
		}
	}
	decodeJSON(t, "the admin gets alice's order", e.c.do(t, http.MethodGet, "/api/v1/orders/"+first.ID, bearer(e.admin), nil), http.StatusOK, &got)

	// Cancel: the stock goes back to the catalog; a second cancel is a
	// conflict.
	for _, o := range []struct {
		token, id string
	}{{bob.token, bobs.ID}, {alice.token, first.ID}} {
		var cancelled placedOrder
		decodeJSON(t, "cancel", e.c.do(t, http.MethodPost, "/api/v1/orders/"+o.id+"/cancel", bearer(o.token), nil), http.StatusOK, &cancelled)
		if cancelled.ID != o.id || cancelled.Status != "cancelled" {
			t.Errorf("cancel %s: %s is %s, want cancelled", o.id, cancelled.ID, cancelled.Status)
		}
	}
	checkProblem(t, "cancel twice", e.c.do(t, http.MethodPost, "/api/v1/orders/"+first.ID+"/cancel", bearer(alice.token), nil), http.StatusConflict, "conflict", "")
	decodeJSON(t, "get after cancel", e.c.do(t, http.MethodGet, "/api/v1/orders/"+first.ID, bearer(alice.token), nil), http.StatusOK, &got)
	if got.Status != "cancelled" {
		t.Errorf("status after cancel %q, want cancelled", got.Status)
	}
	if got := e.stock(t, mug.ID); got != 10 {
		t.Errorf("mug stock after both orders were cancelled: %d, want 10 again", got)
	}
	if got := e.stock(t, beans.ID); got != 49 {
		t.Errorf("beans stock with one unit still ordered: %d, want 49", got)
	}
}

// testOrderBadInput sends broken orders: each must be the right 4xx problem
// document, and none may order or reserve anything.
func testOrderBadInput(t *testing.T, e *orderEnv) {
	cust := e.newCustomer(t)
	eur := e.product(t, "Bad order mug", 900, "EUR", 7)
	usd := e.product(t, "Bad order book", 2500, "USD", 7)
	good := func(extra string) []byte {
		return []byte(`{"items":[{"product_id":"` + eur.ID + `","quantity":1` + extra + `}]}`)
	}
	tooMany := make([]line, 51)
	for i := range tooMany {
		tooMany[i] = line{uuid.NewString(), 1}
	}
	someID := uuid.NewString()
	tests := []struct {
		name        string
		method      string
		path        string
		key         string
		contentType string
		body        []byte
		wantStatus  int
		wantKind    string
		wantField   string
	}{
		{"no items", "POST", "/api/v1/orders", "", "", []byte(`{"items":[]}`), 400, "invalid", "items"},
		{"items missing", "POST", "/api/v1/orders", "", "", []byte(`{}`), 400, "invalid", "items"},
		{"items null", "POST", "/api/v1/orders", "", "", []byte(`{"items":null}`), 400, "invalid", "items"},
		{"quantity 0", "POST", "/api/v1/orders", "", "", orderBody(t, line{eur.ID, 0}), 400, "invalid", "items[0].quantity"},
		{"negative quantity", "POST", "/api/v1/orders", "", "", orderBody(t, line{eur.ID, -1}), 400, "invalid", "items[0].quantity"},
		{"quantity 1001", "POST", "/api/v1/orders", "", "", orderBody(t, line{eur.ID, 1001}), 400, "invalid", "items[0].quantity"},
		{"split lines over 1000", "POST", "/api/v1/orders", "", "", orderBody(t, line{eur.ID, 600}, line{eur.ID, 600}), 400, "invalid", "items[1].quantity"},
		{"quantity missing", "POST", "/api/v1/orders", "", "", []byte(`{"items":[{"product_id":"` + eur.ID + `"}]}`), 400, "invalid", "items[0].quantity"},
		{"quantity not a number", "POST", "/api/v1/orders", "", "", []byte(`{"items":[{"product_id":"` + eur.ID + `","quantity":"1"}]}`), 400, "invalid", ""},
		{"unknown product", "POST", "/api/v1/orders", "", "", orderBody(t, line{eur.ID, 1}, line{someID, 1}), 400, "invalid", "items[1].product_id"},
		{"malformed product id", "POST", "/api/v1/orders", "", "", orderBody(t, line{"not-a-uuid", 1}), 400, "invalid", "items[0].product_id"},
		{"too many items", "POST", "/api/v1/orders", "", "", orderBody(t, tooMany...), 400, "invalid", "items"},
		{"mixed currencies", "POST", "/api/v1/orders", "", "", orderBody(t, line{eur.ID, 1}, line{usd.ID, 1}), 400, "invalid", "items[1].product_id"},
		{"malformed JSON", "POST", "/api/v1/orders", "", "", []byte(`{"items":[{"product_id":`), 400, "invalid", ""},
		{"not JSON", "POST", "/api/v1/orders", "", "", []byte(`two mugs please`), 400, "invalid", ""},
		{"trailing data", "POST", "/api/v1/orders", "", "", append(good(""), `{}`...), 400, "invalid", ""},
		{"unknown field", "POST", "/api/v1/orders", "", "", []byte(`{"items":[{"product_id":"` + eur.ID + `","quantity":1}],"coupon":"FREE"}`), 400, "invalid", "coupon"},
		{"a price from the client", "POST", "/api/v1/orders", "", "", good(`,"unit_price_minor":1`), 400, "invalid", "unit_price_minor"},
		{"empty body", "POST", "/api/v1/orders", "", "", nil, 400, "invalid", ""},
		{"text/plain body", "POST", "/api/v1/orders", "", "text/plain", good(""), 400, "invalid", ""},
		{"Idempotency-Key too long", "POST", "/api/v1/orders", strings.Repeat("k", 256), "", good(""), 400, "invalid", "Idempotency-Key"},
		{"Idempotency-Key not ASCII", "POST", "/api/v1/orders", "clé-1", "", good(""), 400, "invalid", "Idempotency-Key"},
		{"malformed order id", "GET", "/api/v1/orders/not-a-uuid", "", "", nil, 400, "invalid", "id"},
		{"unknown order id", "GET", "/api/v1/orders/" + someID, "", "", nil, 404, "not_found", ""},
		{"cancel a malformed id", "POST", "/api/v1/orders/42/cancel", "", "", nil, 400, "invalid", "id"},
		{"cancel an unknown id", "POST", "/api/v1/orders/" + someID + "/cancel", "", "", nil, 404, "not_found", ""},
		{"limit=0", "GET", "/api/v1/orders?limit=0", "", "", nil, 400, "invalid", "limit"},
		{"limit=101", "GET", "/api/v1/orders?limit=101", "", "", nil, 400, "invalid", "limit"},
		{"bad page_token", "GET", "/api/v1/orders?page_token=not-a-token", "", "", nil, 400, "invalid", "page_token"},
		{"all=maybe", "GET", "/api/v1/orders?all=maybe", "", "", nil, 400, "invalid", "all"},
		{"wrong method on an order", "DELETE", "/api/v1/orders/" + someID, "", "", nil, 405, "invalid", ""},
		{"wrong method on the collection", "PUT", "/api/v1/orders", "", "", good(""), 405, "invalid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := orderHeader(cust.token, tt.key)
			if tt.contentType != "" {
				hdr.Set("Content-Type", tt.contentType)
			}
			checkProblem(t, tt.method+" "+tt.path, e.c.do(t, tt.method, tt.path, hdr, tt.body), tt.wantStatus, tt.wantKind, tt.wantField)
		})
	}
	if got := e.list(t, cust.token, "").Orders; len(got) != 0 {
		t.Errorf("bad requests left %d orders: %v", len(got), ids(got))
	}
	for _, p := range []product{eur, usd} {
		if got := e.stock(t, p.ID); got != 7 {
			t.Errorf("%s stock after bad requests: %d, want 7", p.Name, got)
		}
	}
}

// testOrderConcurrency sends a hundred orders of one unit for a product with
// little stock, all at once, from a few customers through the gateway:
// exactly the stock is sold, everyone else gets 409, and the stock ends at
// zero.
//
// A hundred, not more: an order instance lets at most
// breaker.DefaultMaxConcurrent catalog calls be in flight and sheds the rest
// with 503 (measured: 2 to 5 of 120 simultaneous orders), which is right
// under a burst but not what this test is about. Each order has at most one
// catalog call in flight, so a hundred orders never meet that limit.
func testOrderConcurrency(t *testing.T, e *orderEnv) {
	const stock = 5
	p := e.product(t, "Limited edition mug", 4200, "EUR", stock)
	body := orderBody(t, line{p.ID, 1})
	n := breaker.DefaultMaxConcurrent

	type result struct {
		resp response
		err  error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		token := e.customers[i%len(e.customers)].token
		wg.Go(func() {
			<-start
			r, err := e.c.send(http.MethodPost, "/api/v1/orders", bearer(token), body)
			results[i] = result{r, err}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)

	var (
		confirmed, conflicts int
		others               = map[string]int{}
		otherIDs             []string // request ids of the unexpected answers
	)
	for _, r := range results {
		if r.err == nil && r.resp.Status != http.StatusCreated && r.resp.Status != http.StatusConflict {
			otherIDs = append(otherIDs, r.resp.Header.Get(requestid.Header))
		}
		switch {
		case r.err != nil:
			others[r.err.Error()]++
		case r.resp.Status == http.StatusCreated:
			var o placedOrder
			decodeJSON(t, "a winning order", r.resp, http.StatusCreated, &o)
			if o.Status != "confirmed" {
				t.Errorf("201 with status %q, want confirmed", o.Status)
			}
			confirmed++
		case r.resp.Status == http.StatusConflict:
			checkProblem(t, "a losing order", r.resp, http.StatusConflict, "conflict", "items[0].quantity")
			conflicts++
		default:
			others[fmt.Sprintf("status %d: %s", r.resp.Status, truncate(r.resp.Body))]++
		}
	}
	t.Logf("concurrency: %d orders of 1 unit for a stock of %d in %s: %d confirmed, %d conflicts, others %v",
		n, stock, took.Round(time.Millisecond), confirmed, conflicts, others)
	if confirmed != stock || conflicts != n-stock || len(others) > 0 {
		t.Errorf("%d confirmed, %d conflicts, others %v; want exactly %d confirmed and %d conflicts", confirmed, conflicts, others, stock, n-stock)
		logRequests(t, e.stack, otherIDs)
	}
	if got := e.stock(t, p.ID); got != 0 {
		t.Errorf("stock after the rush: %d, want 0", got)
	}
	reserved := reservedQuantities(t, e.stack)
	if got := reserved[p.ID]; got != stock {
		t.Errorf("reserved units of the product: %d, want %d", got, stock)
	}
}
