package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
)

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
