package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
)

// Bounds of the gateway cache tests.
const (
	// visibleWithin is how soon after a PATCH has answered its change is
	// visible through every gateway instance (the contract).
	visibleWithin = 100 * time.Millisecond
	// failFastWithin bounds a write's 503 while the catalog is stopped.
	failFastWithin = 100 * time.Millisecond
	// hungWithin bounds how soon after the SIGSTOP the gateway, probing
	// the instances itself, answers a write with a fast 503.
	hungWithin = 2 * time.Second
	// noticeTimeout bounds the wait for the gateways to hear of things:
	// the change events (going live) and Consul failing stopped instances.
	noticeTimeout = 20 * time.Second
)

// TestGatewayCache runs the real stack with a second gateway instance and
// checks the response cache, the degradation and the aggregation: a PATCH
// through one gateway is visible through the other within 100 ms; users
// never share cached answers; the order composite reports a stopped
// payment service as a failed part; and with both product instances
// stopped (SIGSTOP), catalog reads answer from the cache marked as stale
// while writes get a fast 503.
func TestGatewayCache(t *testing.T) {
	cfg := e2eConfig(t)
	cfg.BinDir = buildBinaries(t, cfg.Services)
	stack := startStack(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	second, secondURL, err := stack.StartGateway(ctx, "gateway-2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Stop(10 * time.Second) })

	gw1, gw2 := newGatewayClient(t, stack.GatewayURL()), newGatewayClient(t, secondURL)
	sec := &secrets{}
	sec.add(cfg.AdminPassword, cfg.ServiceSecret)
	admin := login(t, gw1, sec, cfg.AdminEmail, cfg.AdminPassword).AccessToken
	e := newOrderEnv(t, stack, gw1, sec, admin, 2)

	t.Run("a change is visible through every gateway", func(t *testing.T) { testCacheVisible(t, e, gw1, gw2) })
	t.Run("users never share cached answers", func(t *testing.T) { testCacheUsersApart(t, e, gw2) })
	t.Run("aggregation reports a stopped payment service", func(t *testing.T) { testAggregatePaymentDown(t, e, stack) })
	t.Run("catalog stopped: stale reads, fast failing writes", func(t *testing.T) { testCatalogStopped(t, e, stack, gw2) })
}

// awaitHit reads path through c until the gateway answers it from its
// cache: once it follows the change events.
func awaitHit(t *testing.T, c *client, path string) response {
	t.Helper()
	deadline := time.Now().Add(noticeTimeout)
	for {
		r := c.do(t, http.MethodGet, path, nil, nil)
		if strings.Contains(r.Header.Get("Cache-Status"), "; hit") {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s through %s: no cache hit within %v (last Cache-Status %q)", path, c.base, noticeTimeout, r.Header.Get("Cache-Status"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testCacheVisible(t *testing.T, e *orderEnv, gw1, gw2 *client) {
	p := e.product(t, "Cached mug", 1000, "EUR", 10)
	path := "/api/v1/products/" + p.ID
	list := "/api/v1/products?q=" + p.SKU
	for _, c := range []*client{gw1, gw2} {
		awaitHit(t, c, path)
		awaitHit(t, c, list)
	}
	for i, price := range []int64{1100, 1200, 1300} {
		r := gw1.do(t, http.MethodPatch, path, bearer(e.admin), mustJSON(t, map[string]any{"price_minor": price}))
		if r.Status != http.StatusOK {
			t.Fatalf("PATCH %d: %d %s", i, r.Status, truncate(r.Body))
		}
		patched := time.Now()
		want := fmt.Sprintf(`"price_minor":%d`, price)
		for _, c := range []*client{gw2, gw1} {
			for _, get := range []string{path, list} {
				for {
					got := c.do(t, http.MethodGet, get, nil, nil)
					if got.Status == http.StatusOK && strings.Contains(string(got.Body), want) {
						break
					}
					if since := time.Since(patched); since > visibleWithin {
						t.Fatalf("GET %s through %s %v after the PATCH: %s (Cache-Status %q), want %s", get, c.base, since, truncate(got.Body), got.Header.Get("Cache-Status"), want)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}
	}
	// And the new answer is cached again.
	awaitHit(t, gw2, path)
}

func testCacheUsersApart(t *testing.T, e *orderEnv, c *client) {
	a, b := e.customers[0], e.customers[1]
	for range 3 {
		for _, u := range []customer{a, b} {
			r := c.do(t, http.MethodGet, "/api/v1/users/me", bearer(u.token), nil)
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), u.email) {
				t.Fatalf("%s: /users/me answered %d %s", u.email, r.Status, truncate(r.Body))
			}
			if cs := r.Header.Get("Cache-Status"); cs != "" {
				t.Errorf("%s: a protected answer with Cache-Status %q", u.email, cs)
			}
			// A public read with credentials passes the cache by.
			r = c.do(t, http.MethodGet, "/api/v1/products?limit=2", bearer(u.token), nil)
			if cs := r.Header.Get("Cache-Status"); r.Status != http.StatusOK || !strings.Contains(cs, "fwd=bypass") {
				t.Errorf("%s: public read with a token: %d, Cache-Status %q; want fwd=bypass", u.email, r.Status, cs)
			}
		}
	}
}

func testAggregatePaymentDown(t *testing.T, e *orderEnv, stack *local.Stack) {
	cust := e.customers[0]
	p1, p2 := e.product(t, "Expanded mug", 700, "EUR", 10), e.product(t, "Expanded cup", 300, "EUR", 10)
	r := e.post(t, cust.token, "", orderBody(t, line{p1.ID, 1}, line{p2.ID, 2}))
	var o struct {
		ID string `json:"id"`
	}
	decodeJSON(t, "place an order", r, http.StatusCreated, &o)
	path := "/api/v1/orders/" + o.ID + "?expand=products,payment"

	type composite struct {
		Items []struct {
			ProductID string   `json:"product_id"`
			Product   *product `json:"product"`
		} `json:"items"`
		Payment  *json.RawMessage `json:"payment"`
		Expanded map[string]struct {
			Status string `json:"status"`
		} `json:"expanded"`
	}
	// The payment is made from the order's event, a few milliseconds after
	// the order is placed: until then its part is a failed lookup.
	var whole composite
	for deadline := time.Now().Add(noticeTimeout); ; {
		whole = composite{}
		decodeJSON(t, "the expanded order", e.c.do(t, http.MethodGet, path, bearer(cust.token), nil), http.StatusOK, &whole)
		if whole.Expanded["products"].Status == "ok" && whole.Expanded["payment"].Status == "ok" && whole.Payment != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expanded order: %+v, want both parts ok within %v", whole.Expanded, noticeTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, it := range whole.Items {
		if it.Product == nil || it.Product.ID != it.ProductID {
			t.Errorf("item %s: product %+v, want its catalog entry", it.ProductID, it.Product)
		}
	}

	payments := stack.Instances("payment")
	for _, in := range payments {
		if err := syscall.Kill(-in.Process.Pid(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, in := range payments {
			syscall.Kill(-in.Process.Pid(), syscall.SIGCONT)
		}
	}()
	var partial composite
	decodeJSON(t, "the expanded order, payment stopped", e.c.do(t, http.MethodGet, path, bearer(cust.token), nil), http.StatusOK, &partial)
	if s := partial.Expanded["payment"].Status; s != "timeout" && s != "failed" || partial.Payment != nil {
		t.Errorf("payment part %q with payment %v, want it failed or timed out, without a payment", s, partial.Payment)
	}
	if partial.Expanded["products"].Status != "ok" || partial.Items[0].Product == nil {
		t.Errorf("products part %+v, want the products all the same", partial.Expanded["products"])
	}
}

func testCatalogStopped(t *testing.T, e *orderEnv, stack *local.Stack, c *client) {
	p := e.product(t, "Outage mug", 900, "EUR", 10)
	paths := []string{"/api/v1/products/" + p.ID, "/api/v1/products?q=" + p.SKU}
	for _, path := range paths {
		awaitHit(t, c, path)
	}
	products := stack.Instances("product")
	for _, in := range products {
		if err := syscall.Kill(-in.Process.Pid(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	stopped := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			for _, in := range products {
				syscall.Kill(-in.Process.Pid(), syscall.SIGCONT)
			}
		}
	}
	defer resume()

	// The gateway finds the stopped instances itself, long before Consul
	// fails them: within hungWithin, a write gets a fast 503 and reads the
	// cached answers marked as stale. A write sent before then may wait
	// for it, but gets a 503 too.
	for {
		start := time.Now()
		r, err := c.send(http.MethodPatch, paths[0], bearer(e.admin), mustJSON(t, map[string]any{"stock": 1}))
		took := time.Since(start)
		if err != nil || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("PATCH %v after the SIGSTOP: %v %d (Retry-After %q) after %v, want 503 with Retry-After",
				start.Sub(stopped), err, r.Status, r.Header.Get("Retry-After"), took)
		}
		if took < failFastWithin {
			t.Logf("PATCH %v after the SIGSTOP: 503 in %v", start.Sub(stopped), took)
			break
		}
		t.Logf("PATCH %v after the SIGSTOP: 503 in %v (caught on a stopped instance)", start.Sub(stopped), took)
		if time.Since(stopped) > hungWithin {
			t.Fatalf("no fast 503 within %v of the SIGSTOP", hungWithin)
		}
	}
	for _, path := range paths {
		r, err := c.send(http.MethodGet, path, nil, nil)
		if err != nil || r.Status != http.StatusOK || !strings.Contains(string(r.Body), p.ID) {
			t.Fatalf("GET %s with the catalog stopped: %v %d %s, want the cached answer", path, err, r.Status, truncate(r.Body))
		}
		if cs := r.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=stale-service-unavailable") || !strings.HasPrefix(r.Header.Get("Warning"), "110") {
			t.Errorf("GET %s %v after the SIGSTOP: Cache-Status %q, Warning %q; want stale-service-unavailable, marked as stale",
				path, time.Since(stopped), cs, r.Header.Get("Warning"))
		}
	}
	if time.Since(stopped) > hungWithin {
		t.Errorf("the gateway took %v after the SIGSTOP to answer from the stale cache, want < %v", time.Since(stopped), hungWithin)
	}

	// Every read answers from the cache: fresh, or marked as stale once
	// it has been invalidated or the instances do not answer; and once
	// Consul has failed the instances, marked as stale with the service
	// known to be unavailable.
	deadline := time.Now().Add(noticeTimeout)
	for known := false; !known; {
		known = true
		for _, path := range paths {
			r, err := c.send(http.MethodGet, path, nil, nil)
			if err != nil || r.Status != http.StatusOK || !strings.Contains(string(r.Body), p.ID) {
				t.Fatalf("GET %s with the catalog stopped: %v %d %s, want the cached answer", path, err, r.Status, truncate(r.Body))
			}
			cs := r.Header.Get("Cache-Status")
			if !strings.Contains(cs, "hit") {
				t.Fatalf("GET %s with the catalog stopped: Cache-Status %q, want a hit", path, cs)
			}
			if strings.Contains(cs, "detail=") != strings.HasPrefix(r.Header.Get("Warning"), "110") {
				t.Errorf("GET %s: Cache-Status %q with Warning %q: a stale answer must be marked as such", path, cs, r.Header.Get("Warning"))
			}
			known = known && strings.Contains(cs, "detail=stale-service-unavailable")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not learn that the catalog is down within %v", noticeTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for range 3 {
		start := time.Now()
		r, err := c.send(http.MethodPatch, paths[0], bearer(e.admin), mustJSON(t, map[string]any{"stock": 1}))
		took := time.Since(start)
		if err != nil || r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("PATCH with the catalog stopped: %v %d (Retry-After %q), want 503 with Retry-After", err, r.Status, r.Header.Get("Retry-After"))
		}
		if took > failFastWithin {
			t.Errorf("PATCH with the catalog stopped took %v, want a 503 within %v", took, failFastWithin)
		}
	}

	resume()
	deadline = time.Now().Add(noticeTimeout)
	for {
		r := c.do(t, http.MethodGet, paths[0], nil, nil)
		if r.Header.Get("Warning") == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still stale %v after the catalog came back", noticeTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
