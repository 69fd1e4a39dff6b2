package local_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	local "github.com/kitshop/kitshop/deploy/local"
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
