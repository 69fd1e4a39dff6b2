//go:build composetest

package composetest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// A phase is one fault: inject breaks something, heal undoes it (nil when
// the system must heal by itself), and the phase ends once every container
// is healthy again and reads have succeeded for a while.
type phase struct {
	name   string
	inject func()
	hold   time.Duration // between inject and heal
	heal   func()
}

// tally counts the outcomes of one phase.
type tally struct {
	readsOK, readsFailed   int
	ordersOK, ordersFailed int
	lastReadFailure        time.Time
	start                  time.Time
	healthyAfter           time.Duration
}

type load struct {
	mu     sync.Mutex
	phases []*tally
	names  []string
}

func (l *load) begin(name string) *tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &tally{start: time.Now()}
	l.phases = append(l.phases, t)
	l.names = append(l.names, name)
	return t
}

func (l *load) record(read, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.phases) == 0 {
		return
	}
	p := l.phases[len(l.phases)-1]
	switch {
	case read && ok:
		p.readsOK++
	case read:
		p.readsFailed++
		p.lastReadFailure = time.Now()
	case ok:
		p.ordersOK++
	default:
		p.ordersFailed++
	}
}

// sinceLastReadFailure is how long reads have gone without a failure in the
// current phase.
func (l *load) sinceLastReadFailure() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.phases[len(l.phases)-1]
	if p.lastReadFailure.IsZero() {
		return time.Since(p.start)
	}
	return time.Since(p.lastReadFailure)
}

func testFaults(t *testing.T, s *stack, adminPassword string) {
	c := &client{base: s.gateway, http: &http.Client{Timeout: 3 * time.Second}}
	admin := c.login(t, "admin@kitshop.local", adminPassword)
	customer := c.newCustomer(t, "load", "Load")

	// Products only this test orders, so their stock can be checked
	// against the reservations exactly.
	prefix := "CHAOS-" + strings.ToUpper(randomHex(t, 3)) + "-"
	var products []string
	for i := range 3 {
		st, body := c.do("POST", "/api/v1/products", admin, map[string]any{
			"sku": fmt.Sprintf("%s%d", prefix, i), "name": "Chaos item", "price_minor": 100, "currency": "EUR", "stock": 100000,
		})
		if st != 201 {
			t.Fatalf("create product: %d %s", st, body)
		}
		var p struct{ ID string }
		_ = json.Unmarshal(body, &p)
		products = append(products, p.ID)
	}

	// The stream: four readers (about 40 reads/s, well under the gateway's
	// per-client limit of 100/s) and one customer ordering, bounded in
	// time whatever happens below.
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Minute)
	defer stop()
	l := &load{}
	l.begin("baseline")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				path := "/api/v1/products?limit=5"
				if (n+i)%2 == 1 {
					path = "/api/v1/products/" + products[n%len(products)]
				}
				st, _ := c.do("GET", path, "", nil)
				if ctx.Err() != nil {
					return
				}
				l.record(true, st == 200)
				sleep(ctx, 100*time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ctx.Err() == nil; n++ {
			st, _ := c.do("POST", "/api/v1/orders", customer, map[string]any{
				"items": []map[string]any{{"product_id": products[n%len(products)], "quantity": 1 + rand.IntN(3)}},
			})
			if ctx.Err() != nil {
				return
			}
			l.record(false, st == 201)
			sleep(ctx, 250*time.Millisecond)
		}
	}()

	network := strings.TrimSpace(s.docker("inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", s.container("product-1")))
	network = strings.Fields(network)[0]
	phases := []phase{
		{name: "kill product-2", inject: func() { s.docker("kill", s.container("product-2")) },
			hold: 10 * time.Second, heal: func() { s.docker("start", s.container("product-2")) }},
		{name: "restart consul", inject: func() { s.docker("restart", "--time", "5", s.container("consul")) }},
		// The broker away: reads and orders go on (events wait in the
		// outboxes), and the services reconnect by themselves.
		{name: "restart nats", inject: func() { s.docker("restart", "--time", "5", s.container("nats")) }},
		{name: "disconnect product-1", inject: func() { s.docker("network", "disconnect", network, s.container("product-1")) },
			hold: 10 * time.Second, heal: func() { s.docker("network", "connect", "--alias", "product-1", network, s.container("product-1")) }},
	}
	sleep(ctx, 5*time.Second)
	for _, ph := range phases {
		p := l.begin(ph.name)
		ph.inject()
		sleep(ctx, ph.hold)
		if ph.heal != nil {
			ph.heal()
		}
		// Recovered: every container healthy, and 5 s of reads without a
		// failure. Two minutes at most.
		deadline := time.Now().Add(2 * time.Minute)
		for p.healthyAfter == 0 || l.sinceLastReadFailure() < 5*time.Second {
			if p.healthyAfter == 0 && len(s.unhealthy()) == 0 {
				p.healthyAfter = time.Since(p.start)
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: not recovered after 2 minutes (unhealthy: %v, %s since the last failed read)",
					ph.name, s.unhealthy(), l.sinceLastReadFailure().Round(time.Second))
				break
			}
			sleep(ctx, time.Second)
		}
	}
	l.begin("after")
	sleep(ctx, 5*time.Second)
	stop()
	wg.Wait()
	report(t, l)

	checkConsistency(t, s, prefix)
}

func report(t *testing.T, l *load) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "phase\treads ok\treads failed\torders ok\torders failed\tlast failed read after\tall healthy after\t")
	for i, p := range l.phases {
		last, healthy := "-", "-"
		if !p.lastReadFailure.IsZero() {
			last = p.lastReadFailure.Sub(p.start).Round(100 * time.Millisecond).String()
		}
		if p.healthyAfter > 0 {
			healthy = p.healthyAfter.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t\n", l.names[i], p.readsOK, p.readsFailed, p.ordersOK, p.ordersFailed, last, healthy)
	}
	w.Flush()
	t.Logf("requests through the gateway, per phase (times from the fault):\n%s", b.String())
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

type client struct {
	base string
	http *http.Client
	// header is sent with every request (a traceparent, say).
	header http.Header
}

// with returns a copy of c that also sends the header key: value.
func (c *client) with(key, value string) *client {
	cc := *c
	cc.header = c.header.Clone()
	if cc.header == nil {
		cc.header = http.Header{}
	}
	cc.header.Set(key, value)
	return &cc
}

// do sends a JSON request and returns the status (0 when none came) and
// body.
func (c *client) do(method, path, token string, body any) (int, []byte) {
	st, b, _ := c.doHeader(method, path, token, body)
	return st, b
}

// doHeader is do, also returning the response's header (nil when none
// came).
func (c *client) doHeader(method, path, token string, body any) (int, []byte, http.Header) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return 0, nil, nil
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// newCustomer signs up a customer with a fresh address under prefix and
// returns its access token.
func (c *client) newCustomer(t *testing.T, prefix, name string) string {
	t.Helper()
	email := prefix + "-" + randomHex(t, 4) + "@example.com"
	if st, body := c.do("POST", "/api/v1/users", "", map[string]any{"email": email, "password": "correct-horse-42", "name": name}); st != 202 {
		t.Fatalf("sign up: %d %s", st, body)
	}
	return c.login(t, email, "correct-horse-42")
}

func (c *client) login(t *testing.T, email, password string) string {
	t.Helper()
	st, body := c.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("log in as %s: %d %s", email, st, body)
	}
	return tok.AccessToken
}
