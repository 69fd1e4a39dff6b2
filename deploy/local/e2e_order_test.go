package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/requestid"
)

// Limits of the order tests. The recovery figures assume the test stack's
// -recovery-age 2s and -recovery-interval 1s (orderTestArgs).
const (
	// maxOutageLatency is what a 503 may take while the catalog is down:
	// the order service must fail fast, not wait for its timeouts to add up.
	maxOutageLatency = 3 * time.Second
	// settleTimeout bounds the wait for the recovery loop to finish every
	// order a crash or an outage left half-done.
	settleTimeout = 30 * time.Second
	// recoverTimeout bounds the wait for a restarted service to take
	// requests through the gateway again.
	recoverTimeout = 30 * time.Second
	// dbTimeout bounds one consistency query.
	dbTimeout = 10 * time.Second
)

// orderTestArgs make the order service's recovery loop quick enough for the
// test: by default it waits 30 s before it touches a pending order.
var orderTestArgs = []string{"-recovery-age", "2s", "-recovery-interval", "1s"}

// gatewayTestEnv lifts the gateway's per-client and per-user rate limits:
// every request of the test comes from 127.0.0.1, and the concurrency test
// sends over a hundred orders at once on purpose.
var gatewayTestEnv = []string{
	"GATEWAY_RATE_LIMIT=5000", "GATEWAY_RATE_BURST=5000",
	"GATEWAY_USER_RATE_LIMIT=5000", "GATEWAY_USER_RATE_BURST=5000",
}

// withArgs returns services with args appended to the named service's flags.
func withArgs(t *testing.T, services []local.ServiceSpec, name string, args ...string) []local.ServiceSpec {
	t.Helper()
	out := slices.Clone(services)
	i := slices.IndexFunc(out, func(s local.ServiceSpec) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("no service %q in the stack", name)
	}
	out[i].Args = slices.Concat(out[i].Args, args)
	return out
}

// orderItem is a line of an order as the API shows it.
type orderItem struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
	Quantity       int64  `json:"quantity"`
	LineTotalMinor int64  `json:"line_total_minor"`
}

// placedOrder is an order as the API shows it.
type placedOrder struct {
	ID         string      `json:"id"`
	UserID     string      `json:"user_id"`
	Status     string      `json:"status"`
	Items      []orderItem `json:"items"`
	TotalMinor int64       `json:"total_minor"`
	Currency   string      `json:"currency"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// orderPage is one page of GET /api/v1/orders.
type orderPage struct {
	Orders        []placedOrder `json:"orders"`
	NextPageToken string        `json:"next_page_token"`
}

// line is a line of an order request.
type line struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// customer is a customer account with a valid access token.
type customer struct {
	id, email, token string
}

// orderEnv is what the order tests share: the stack, a client, the admin,
// a few customers, and the initial stock of every product they created,
// for the consistency check.
type orderEnv struct {
	stack     *local.Stack
	c         *client
	sec       *secrets
	admin     string
	customers []customer

	mu      sync.Mutex
	initial map[string]int64 // product id -> stock at creation
}

func newOrderEnv(t *testing.T, stack *local.Stack, c *client, sec *secrets, admin string, customers int) *orderEnv {
	t.Helper()
	e := &orderEnv{stack: stack, c: c, sec: sec, admin: admin, initial: map[string]int64{}}
	for range customers {
		e.customers = append(e.customers, e.newCustomer(t))
	}
	return e
}

// newCustomer signs up and logs in a new customer.
func (e *orderEnv) newCustomer(t *testing.T) customer {
	t.Helper()
	email, password := signUp(t, e.c, e.sec)
	token := login(t, e.c, e.sec, email, password).AccessToken
	return customer{id: me(t, e.c, "me as "+email, token).ID, email: email, token: token}
}

// product creates a product as the admin and remembers its stock.
func (e *orderEnv) product(t *testing.T, name string, priceMinor int64, currency string, stock int64) product {
	t.Helper()
	in := map[string]any{
		"sku": "E2E-ORD-" + randomHex(t, 4), "name": name, "price_minor": priceMinor, "currency": currency, "stock": stock,
	}
	var p product
	decodeJSON(t, "create "+name, e.c.do(t, http.MethodPost, "/api/v1/products", bearer(e.admin), mustJSON(t, in)), http.StatusCreated, &p)
	e.mu.Lock()
	e.initial[p.ID] = stock
	e.mu.Unlock()
	return p
}

// stock returns a product's stock as the database holds it, once every
// product instance shows the same: an instance hears of a change it did not
// make itself through a Postgres notification (its read cache), a moment
// after the commit, so the catalog is allowed that moment to catch up, and
// no more than 2 s.
func (e *orderEnv) stock(t *testing.T, id string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.stack.Postgres().URL("product"))
	if err != nil {
		t.Fatalf("stock of %s: %v", id, err)
	}
	defer conn.Close(ctx)
	var want int64
	if err := conn.QueryRow(ctx, `SELECT stock FROM products WHERE id = $1`, id).Scan(&want); err != nil {
		t.Fatalf("stock of %s in the database: %v", id, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, inst := range e.stack.Instances("product") {
		for {
			var p product
			direct := &client{base: "http://" + inst.HTTPAddr, http: e.c.http}
			r := direct.do(t, http.MethodGet, "/api/v1/products/"+id, nil, nil)
			decodeJSON(t, "get product "+id+" from "+inst.ID, r, http.StatusOK, &p)
			if p.Stock == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s shows stock %d for %s 2 s after the database holds %d", inst.ID, p.Stock, id, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return want
}

// post places an order through the gateway; key is the Idempotency-Key
// ("" for none).
func (e *orderEnv) post(t *testing.T, token, key string, body []byte) response {
	t.Helper()
	return e.c.do(t, http.MethodPost, "/api/v1/orders", orderHeader(token, key), body)
}

func orderHeader(token, key string) http.Header {
	h := bearer(token)
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	return h
}

// orderBody is the JSON of an order request.
func orderBody(t *testing.T, lines ...line) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{"items": lines})
}

// itemOf is the line an order should show for quantity units of p.
func itemOf(p product, quantity int64) orderItem {
	return orderItem{ProductID: p.ID, SKU: p.SKU, Name: p.Name, UnitPriceMinor: p.PriceMinor, Quantity: quantity, LineTotalMinor: p.PriceMinor * quantity}
}

// checkOrder compares an order with what it should be. A confirmed order
// may be paid already: the payment service charges it as soon as it hears
// of it.
func checkOrder(t *testing.T, what string, got placedOrder, userID, status, currency string, items ...orderItem) {
	t.Helper()
	var total int64
	for _, it := range items {
		total += it.LineTotalMinor
	}
	statusOK := got.Status == status || status == "confirmed" && got.Status == "paid" // paid a moment later
	if uuid.Validate(got.ID) != nil || got.UserID != userID || !statusOK || got.Currency != currency ||
		got.TotalMinor != total || !slices.Equal(got.Items, items) || got.CreatedAt.IsZero() || got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("%s: order %+v,\nwant user %s, status %s, %d %s in all, items %+v", what, got, userID, status, total, currency, items)
	}
}

// list returns one page of the caller's orders.
func (e *orderEnv) list(t *testing.T, token, query string) orderPage {
	t.Helper()
	var p orderPage
	decodeJSON(t, "list orders"+query, e.c.do(t, http.MethodGet, "/api/v1/orders"+query, bearer(token), nil), http.StatusOK, &p)
	return p
}

func ids(orders []placedOrder) []string {
	out := make([]string, len(orders))
	for i, o := range orders {
		out[i] = o.ID
	}
	return out
}

// testServiceSecret checks that the order service's account secret reached
// the user and order services through their environment, and no command
// line.
func testServiceSecret(t *testing.T, stack *local.Stack, secret string) {
	for _, p := range stack.Processes() {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/cmdline")
		if err != nil {
			t.Errorf("command line of %s: %v", p.Name(), err)
			continue
		}
		if strings.Contains(string(cmdline), secret) {
			t.Errorf("the service secret is on the command line of %s, visible to every user of the machine", p.Name())
		}
	}
	for _, tt := range []struct{ service, want string }{
		{"user", "USER_SERVICE_ACCOUNTS=" + local.OrderServiceAccount + ":" + secret},
		{"order", "ORDER_SERVICE_SECRET=" + secret},
	} {
		insts := stack.Instances(tt.service)
		if len(insts) == 0 {
			t.Fatalf("no %s instance", tt.service)
		}
		environ, err := os.ReadFile("/proc/" + strconv.Itoa(insts[0].Process.Pid()) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Split(string(environ), "\x00"), tt.want) {
			name, _, _ := strings.Cut(tt.want, "=")
			t.Errorf("%s is not in the %s service's environment with the configured secret", name, tt.service)
		}
	}
}

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

// dbOrder is an order as the order service's database holds it.
type dbOrder struct {
	status         string
	releasePending bool
	userID         string
	items          map[string]int64 // product id -> quantity
}

// dbReservation is a reservation as the catalog's database holds it.
type dbReservation struct {
	status string
	items  map[string]int64
}

// holdsStock reports whether an order in status keeps its stock reserved:
// confirmed, and paid once the payment service has charged it.
func holdsStock(status string) bool { return status == "confirmed" || status == "paid" }

// queryDB runs fn on a connection to one of the stack's databases.
func queryDB(t *testing.T, stack *local.Stack, db string, fn func(ctx context.Context, conn *pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, stack.Postgres().URL(db))
	if err != nil {
		t.Fatalf("connect to the %s database: %v", db, err)
	}
	defer conn.Close(context.Background())
	if err := fn(ctx, conn); err != nil {
		t.Fatalf("query the %s database: %v", db, err)
	}
}

// dbOrders reads every order of the order database.
func dbOrders(t *testing.T, stack *local.Stack) map[string]*dbOrder {
	t.Helper()
	orders := map[string]*dbOrder{}
	queryDB(t, stack, "order", func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `
			SELECT o.id::text, o.status, o.release_pending, o.user_id::text, i.product_id::text, i.quantity
			FROM orders o JOIN order_items i ON i.order_id = o.id`)
		if err != nil {
			return err
		}
		var (
			id, status, user, productID string
			releasePending              bool
			quantity                    int64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &status, &releasePending, &user, &productID, &quantity}, func() error {
			o := orders[id]
			if o == nil {
				o = &dbOrder{status: status, releasePending: releasePending, userID: user, items: map[string]int64{}}
				orders[id] = o
			}
			o.items[productID] = quantity
			return nil
		})
		return err
	})
	return orders
}

// dbReservations reads every reservation of the product database.
func dbReservations(t *testing.T, stack *local.Stack) map[string]*dbReservation {
	t.Helper()
	res := map[string]*dbReservation{}
	queryDB(t, stack, "product", func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `
			SELECT r.order_id::text, r.status, i.product_id::text, i.quantity
			FROM stock_reservations r LEFT JOIN stock_reservation_items i USING (order_id)`)
		if err != nil {
			return err
		}
		var (
			id, status string
			productID  *string
			quantity   *int64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &status, &productID, &quantity}, func() error {
			r := res[id]
			if r == nil {
				r = &dbReservation{status: status, items: map[string]int64{}}
				res[id] = r
			}
			if productID != nil && quantity != nil {
				r.items[*productID] = *quantity
			}
			return nil
		})
		return err
	})
	return res
}

// reservedQuantities returns the units held by live reservations, per
// product.
func reservedQuantities(t *testing.T, stack *local.Stack) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, r := range dbReservations(t, stack) {
		if r.status == "reserved" {
			for p, q := range r.items {
				out[p] += q
			}
		}
	}
	return out
}

// dbStock returns the stock of the given products, read from the product
// database.
func dbStock(t *testing.T, stack *local.Stack, productIDs []string) map[string]int64 {
	t.Helper()
	stock := map[string]int64{}
	queryDB(t, stack, "product", func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT id::text, stock FROM products WHERE id = ANY ($1::uuid[])`, productIDs)
		if err != nil {
			return err
		}
		var (
			id string
			n  int64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
			stock[id] = n
			return nil
		})
		return err
	})
	return stock
}

// unsettled counts orders the saga has not finished: pending ones, and
// failed or cancelled ones whose release is still owed.
func unsettled(orders map[string]*dbOrder) (pending, releaseOwed int) {
	for _, o := range orders {
		if o.status == "pending" {
			pending++
		}
		if o.releasePending {
			releaseOwed++
		}
	}
	return pending, releaseOwed
}

// awaitSettled waits until the recovery loop has finished every order and
// returns how long that took.
func awaitSettled(t *testing.T, stack *local.Stack) time.Duration {
	t.Helper()
	began := time.Now()
	deadline := began.Add(settleTimeout)
	for {
		pending, owed := unsettled(dbOrders(t, stack))
		if pending == 0 && owed == 0 {
			return time.Since(began)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d orders still pending and %d releases owed; the recovery loop did not finish them", settleTimeout, pending, owed)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkConsistency compares the two databases after the sagas have
// settled: every confirmed order holds a live reservation of exactly its
// lines; no other order does (rejected, failed and cancelled ones have none
// or a released one); no live reservation lacks a confirmed order; and for
// every product the order tests created, stock plus reserved units is the
// stock it was created with.
func checkConsistency(t *testing.T, e *orderEnv) {
	t.Helper()
	orders := dbOrders(t, e.stack)
	res := dbReservations(t, e.stack)
	byStatus := map[string]int{}
	for id, o := range orders {
		byStatus[o.status]++
		r := res[id]
		switch {
		case o.status == "pending":
			t.Errorf("order %s is still pending", id)
		case o.releasePending:
			t.Errorf("order %s (%s) still owes a release", id, o.status)
		case holdsStock(o.status) && (r == nil || r.status != "reserved"):
			t.Errorf("%s order %s has no live reservation (%+v)", o.status, id, r)
		case holdsStock(o.status) && !maps.Equal(r.items, o.items):
			t.Errorf("%s order %s has lines %v but reserves %v", o.status, id, o.items, r.items)
		case !holdsStock(o.status) && r != nil && r.status == "reserved":
			t.Errorf("%s order %s still holds a reservation of %v", o.status, id, r.items)
		}
	}
	live := 0
	for id, r := range res {
		if r.status != "reserved" {
			continue
		}
		live++
		if o := orders[id]; o == nil || !holdsStock(o.status) {
			t.Errorf("reservation %s (%v) belongs to no confirmed or paid order (%+v)", id, r.items, o)
		}
	}

	e.mu.Lock()
	initial := maps.Clone(e.initial)
	e.mu.Unlock()
	reserved := map[string]int64{}
	for _, r := range res {
		if r.status == "reserved" {
			for p, q := range r.items {
				reserved[p] += q
			}
		}
	}
	stock := dbStock(t, e.stack, slices.Collect(maps.Keys(initial)))
	for id, want := range initial {
		got, ok := stock[id]
		switch {
		case !ok:
			t.Errorf("product %s is gone", id)
		case got < 0:
			t.Errorf("product %s has negative stock %d", id, got)
		case got+reserved[id] != want:
			t.Errorf("product %s: stock %d + reserved %d = %d, want its initial %d", id, got, reserved[id], got+reserved[id], want)
		}
	}
	t.Logf("consistency: %d orders %v, %d reservations (%d live), stock of %d products adds up",
		len(orders), byStatus, len(res), live, len(initial))
}

// awaitOrdersRouted waits until an authenticated list of orders goes
// through the gateway to an order instance again, and returns how long that
// took.
func awaitOrdersRouted(t *testing.T, e *orderEnv, token string) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		r, err := e.c.send(http.MethodGet, "/api/v1/orders?limit=1", bearer(token), nil)
		if err == nil && r.Status == http.StatusOK {
			return time.Since(began)
		}
		if time.Since(began) > recoverTimeout {
			t.Fatalf("no order list through the gateway within %s (last: %v, %d %s)", recoverTimeout, err, r.Status, truncate(r.Body))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testOrderCrash SIGKILLs the order service while a stream of orders is in
// flight, restarts it, and checks that the recovery loop finishes every
// order it left half-done: the databases end consistent, with nothing
// oversold and nothing reserved for an order that is not confirmed.
func testOrderCrash(t *testing.T, e *orderEnv) {
	const (
		workers      = 6
		minPlaced    = 20                     // orders placed before the kill, so it hits a busy service
		beforeKill   = 5 * time.Second        // at most
		afterKill    = 300 * time.Millisecond // the stream keeps going against the dead instance
		streamClient = 5 * time.Second
	)
	insts := e.stack.Instances("order")
	if len(insts) != 1 {
		t.Fatalf("want one order instance, have %d", len(insts))
	}
	victim := insts[0]
	plenty := e.product(t, "Crash test beans", 150, "EUR", 1000)
	scarce := e.product(t, "Crash test grinder", 8900, "EUR", 6)
	bodies := [][]byte{
		orderBody(t, line{plenty.ID, 1}, line{scarce.ID, 1}),
		orderBody(t, line{plenty.ID, 2}),
	}

	var (
		placed, rejected, failed atomic.Int64
		wg                       sync.WaitGroup
		mu                       sync.Mutex
		placedIDs                []string
	)
	stop := make(chan struct{})
	c := newClient(e.c.base)
	c.http.Transport = e.c.http.Transport // checked against the OpenAPI document too
	c.http.Timeout = streamClient
	for w := range workers {
		token := e.customers[w%len(e.customers)].token
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.send(http.MethodPost, "/api/v1/orders", bearer(token), bodies[(w+i)%len(bodies)])
				switch {
				case err != nil:
					failed.Add(1)
				case r.Status == http.StatusCreated:
					placed.Add(1)
					var o placedOrder
					if err := json.Unmarshal(r.Body, &o); err != nil || o.Status != "confirmed" {
						t.Errorf("an order of the stream: 201 with %s, want a confirmed order", truncate(r.Body))
					}
					mu.Lock()
					placedIDs = append(placedIDs, o.ID)
					mu.Unlock()
				case r.Status == http.StatusConflict:
					rejected.Add(1)
				default:
					failed.Add(1)
				}
				if err != nil || r.Status >= 500 {
					time.Sleep(20 * time.Millisecond) // the instance is down: no busy loop
				}
			}
		})
	}
	stopStream := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
		c.http.CloseIdleConnections()
	})
	defer stopStream()

	for deadline := time.Now().Add(beforeKill); placed.Load() < minPlaced && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	placedBefore := placed.Load()
	killedAt := time.Now()
	if err := victim.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL %s: %v", victim.ID, err)
	}
	restarted := false
	defer func() {
		if !restarted { // a failure below: the later tests need the service
			if err := bringBack(e.stack, victim); err != nil {
				t.Error(err)
			}
		}
	}()
	pendingAtKill, owedAtKill := unsettled(dbOrders(t, e.stack))
	time.Sleep(afterKill)
	stopStream()
	t.Logf("crash: SIGKILLed %s after %d orders placed; it left %d pending and %d owing a release; stream: %d placed, %d rejected, %d failed",
		victim.ID, placedBefore, pendingAtKill, owedAtKill, placed.Load(), rejected.Load(), failed.Load())
	if placedBefore < minPlaced {
		t.Errorf("only %d orders placed in %s before the kill; the stream did not run", placedBefore, beforeKill)
	}

	restarted = true
	if err := bringBack(e.stack, victim); err != nil {
		t.Fatal(err)
	}
	upAfter := time.Since(killedAt)
	settled := awaitSettled(t, e.stack)
	routed := awaitOrdersRouted(t, e, e.customers[0].token)
	t.Logf("crash: %s restarted and ready %s after the kill; every order settled %s after that; the gateway routed to it again after %s",
		victim.ID, upAfter.Round(time.Millisecond), settled.Round(time.Millisecond), routed.Round(time.Millisecond))

	orders := dbOrders(t, e.stack)
	mu.Lock()
	for _, id := range placedIDs {
		if o := orders[id]; o == nil || !holdsStock(o.status) {
			t.Errorf("order %s was answered 201 but is %+v now", id, o)
		}
	}
	mu.Unlock()
	checkConsistency(t, e)
}

// testProductOutage takes both product instances down (SIGKILL): placing an
// order must fail fast with 503 and leave nothing behind; once the
// instances are back, the same request (same Idempotency-Key) places the
// order.
func testProductOutage(t *testing.T, e *orderEnv) {
	cust := e.newCustomer(t)
	p := e.product(t, "Outage mug", 1500, "EUR", 20)
	body := orderBody(t, line{p.ID, 3})
	key := "e2e-outage-" + randomHex(t, 8)
	products := e.stack.Instances("product")
	if len(products) == 0 {
		t.Fatal("no product instance")
	}

	for _, inst := range products {
		if err := inst.Process.Kill(); err != nil {
			t.Fatalf("SIGKILL %s: %v", inst.ID, err)
		}
	}
	killedAt := time.Now()
	restarted := false
	defer func() {
		if !restarted { // a failure below: the later tests need the catalog
			if err := bringBack(e.stack, products...); err != nil {
				t.Error(err)
			}
		}
	}()
	var latencies []time.Duration
	for i := range 3 {
		began := time.Now()
		r, err := e.c.send(http.MethodPost, "/api/v1/orders", orderHeader(cust.token, key), body)
		took := time.Since(began)
		if err != nil {
			t.Fatalf("order #%d during the outage: %v", i+1, err)
		}
		latencies = append(latencies, took)
		checkProblem(t, fmt.Sprintf("order #%d during the outage", i+1), r, http.StatusServiceUnavailable, "unavailable", "")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("order #%d during the outage: 503 without Retry-After", i+1)
		}
		if took > maxOutageLatency {
			t.Errorf("order #%d during the outage took %s, want a fast failure (< %s)", i+1, took.Round(time.Millisecond), maxOutageLatency)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("outage: 503s %v after killing every product instance", roundAll(latencies))

	// Nothing behind: no order of this customer is pending or holds stock.
	checkNothingLeft := func(when string) {
		t.Helper()
		orders := dbOrders(t, e.stack)
		res := dbReservations(t, e.stack)
		for id, o := range orders {
			if o.userID != cust.id {
				continue
			}
			if o.status == "pending" || o.status == "confirmed" {
				t.Errorf("%s: the outage left order %s %s", when, id, o.status)
			}
			if r := res[id]; r != nil && r.status == "reserved" {
				t.Errorf("%s: the outage left a reservation for order %s", when, id)
			}
		}
	}
	checkNothingLeft("during the outage")

	restarted = true
	if err := bringBack(e.stack, products...); err != nil {
		t.Fatal(err)
	}
	back := time.Now()

	// The client's retry with the same key: 503 until the order service
	// finds the catalog again (its breaker may be open for a while), then
	// the order.
	var (
		o        placedOrder
		attempts int
	)
	for {
		attempts++
		r, err := e.c.send(http.MethodPost, "/api/v1/orders", orderHeader(cust.token, key), body)
		if err != nil {
			t.Fatalf("retry after the outage: %v", err)
		}
		if r.Status == http.StatusCreated {
			decodeJSON(t, "retry after the outage", r, http.StatusCreated, &o)
			break
		}
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("retry after the outage: status %d, want 503 until the catalog is back, then 201; body %s", r.Status, truncate(r.Body))
		}
		if time.Since(back) > recoverTimeout {
			t.Fatalf("orders still fail %s after the product instances are back: %s", recoverTimeout, truncate(r.Body))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("outage: product instances back %s after the kill; orders work again %s later (%d attempts)",
		back.Sub(killedAt).Round(time.Millisecond), time.Since(back).Round(time.Millisecond), attempts)
	checkOrder(t, "the order placed after the outage", o, cust.id, "confirmed", "EUR", itemOf(p, 3))
	var replayed placedOrder
	decodeJSON(t, "replay after the outage", e.post(t, cust.token, key, body), http.StatusOK, &replayed)
	if replayed.ID != o.ID {
		t.Errorf("replay after the outage: order %s, want %s", replayed.ID, o.ID)
	}
	if got := e.stock(t, p.ID); got != 17 {
		t.Errorf("stock after the one order: %d, want 17", got)
	}

	awaitSettled(t, e.stack)
	orders := dbOrders(t, e.stack)
	for id, do := range orders {
		if do.userID == cust.id && id != o.ID && do.status != "failed" {
			t.Errorf("the outage customer has order %s %s besides the one placed after it", id, do.status)
		}
	}
	checkConsistency(t, e)
}

// bringBack restarts the given instances (Stack.Restart) one after the
// other, each until it is ready and passing in Consul.
func bringBack(stack *local.Stack, instances ...*local.Instance) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, inst := range instances {
		if _, err := stack.Restart(ctx, inst.ID); err != nil {
			return err
		}
	}
	return nil
}

// logRequests shows the log lines of every process about the given
// requests, to explain an unexpected answer.
func logRequests(t *testing.T, stack *local.Stack, requestIDs []string) {
	t.Helper()
	for _, p := range stack.Processes() {
		data, err := os.ReadFile(p.LogPath())
		if err != nil {
			continue
		}
		for l := range strings.Lines(string(data)) {
			if slices.ContainsFunc(requestIDs, func(id string) bool { return id != "" && strings.Contains(l, id) }) {
				t.Logf("%s: %s", p.Name(), strings.TrimSpace(l))
			}
		}
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
