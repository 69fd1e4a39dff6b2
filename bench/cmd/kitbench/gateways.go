package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/kitshop/kitshop/bench"
	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/internal/devenv"
)

// extraGateways are gateway instances beside the stack's, on the same
// Consul, for the rows that need another setting: the response cache off
// (round robin, as shipped), and the cache off with power of two choices.
type extraGateways struct {
	noCache, p2c       *devenv.Process
	noCacheURL, p2cURL string
}

// startGateways starts the extra gateways of a stack kitbench started.
func (env *environment) startGateways(ctx context.Context, o options, log io.Writer) error {
	env.extra = &extraGateways{}
	start := func(name string, args ...string) (*devenv.Process, string, error) {
		port, err := devenv.FreePort()
		if err != nil {
			return nil, "", err
		}
		metricsPort, err := devenv.FreePort()
		if err != nil {
			return nil, "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		consul := env.consulURL[len("http://"):]
		proc, err := startHelper(ctx, o, name, "gateway", "/readyz",
			append([]string{"-http-addr", addr, "-consul-addr", consul,
				"-metrics-addr", "127.0.0.1:" + strconv.Itoa(metricsPort), "-cache-max-bytes", "0"}, args...),
			[]string{"GATEWAY_RATE_LIMIT=0", "GATEWAY_USER_RATE_LIMIT=0"},
			addr)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(log, "kitbench: %s ready on %s\n", name, addr)
		return proc, "http://" + addr, nil
	}
	var err error
	if env.extra.noCache, env.extra.noCacheURL, err = start("gateway-nocache"); err != nil {
		return err
	}
	env.extra.p2c, env.extra.p2cURL, err = start("gateway-p2c", "-balance-default", "p2c")
	return err
}

func (x *extraGateways) stop() []error {
	var errs []error
	for _, p := range []*devenv.Process{x.noCache, x.p2c} {
		if p != nil {
			errs = append(errs, p.Stop(10*time.Second))
		}
	}
	return errs
}

// Duty cycle of the slowed product instance: stopped for slowStop out of
// every slowStop+slowRun, like an instance starved of CPU by a neighbour.
const (
	slowStop = 10 * time.Millisecond
	slowRun  = 10 * time.Millisecond
)

// gatewayTargets are the gateway rows beyond GET and list with the cache
// on: GET with it off, the order composite, and GET with the cache off
// while one of the two product instances is slowed, round robin against
// power of two choices.
func (h *harness) gatewayTargets(ctx context.Context, a api, itemPath string) []target {
	get := func(key, name, url string) target {
		return h.wrkTarget(a, key, name, url, func(context.Context) (bench.Request, error) { return bench.Request{}, nil })
	}
	const ownOnly = "only in a stack kitbench starts (-new-stack)"
	x := h.env.extra
	noCache := target{key: "gateway-get-nocache", name: "gateway, cache off: GET /api/v1/products/{id}", na: ownOnly}
	rr := target{key: "gateway-slow-rr", name: "gateway, cache off, one product instance slowed: round robin", na: ownOnly}
	p2c := target{key: "gateway-slow-p2c", name: "gateway, cache off, one product instance slowed: p2c", na: ownOnly}
	if x != nil {
		noCache = get(noCache.key, noCache.name, x.noCacheURL+itemPath)
		rr = h.slowed(get(rr.key, rr.name, x.noCacheURL+itemPath))
		p2c = h.slowed(get(p2c.key, p2c.name, x.p2cURL+itemPath))
	}
	return []target{noCache, h.expandTarget(ctx, a), rr, p2c}
}

// slowed runs t while the first product instance of the stack is stopped
// and continued in turn (slowStop, slowRun).
func (h *harness) slowed(t target) target {
	run := t.run
	t.run = func(ctx context.Context, d time.Duration) (bench.Measurement, string, error) {
		procs := h.env.own.Instances("product")
		if len(procs) < 2 {
			return bench.Measurement{}, "", fmt.Errorf("want two product instances, have %d", len(procs))
		}
		pid := procs[0].Process.Pid()
		done := make(chan struct{})
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			defer syscall.Kill(-pid, syscall.SIGCONT)
			for {
				syscall.Kill(-pid, syscall.SIGSTOP)
				select {
				case <-done:
					return
				case <-time.After(slowStop):
				}
				syscall.Kill(-pid, syscall.SIGCONT)
				select {
				case <-done:
					return
				case <-time.After(slowRun):
				}
			}
		}()
		defer func() { close(done); <-stopped }()
		return run(ctx, d)
	}
	return t
}

// expandTarget is the order composite through the gateway: an order of the
// bench customer with two lines, expanded with its products and payment.
func (h *harness) expandTarget(ctx context.Context, a api) target {
	t := target{key: "gateway-expand", name: "gateway: GET /api/v1/orders/{id}?expand=products,payment"}
	if h.productID == "" || h.customer == nil {
		t.na = "no bench product or customer"
		return t
	}
	if err := a.ensureCustomer(ctx); err != nil {
		t.na = "cannot sign up a customer: " + err.Error()
		return t
	}
	token, err := h.customer.get(ctx)
	if err != nil {
		t.na = "cannot log in as a customer: " + err.Error()
		return t
	}
	var order struct {
		ID string `json:"id"`
	}
	status, err := a.call(ctx, http.MethodPost, "/api/v1/orders", token, map[string]any{
		"items": []map[string]any{{"product_id": h.productID, "quantity": 1}},
	}, &order)
	if err != nil || status != http.StatusCreated {
		t.na = fmt.Sprintf("cannot place the order to expand: %v (status %d)", err, status)
		return t
	}
	url := h.env.gatewayURL + "/api/v1/orders/" + order.ID + "?expand=products,payment"
	// Every part must answer, or the row measures failures: the payment
	// service knows the order once it has heard of it (an event), a
	// moment after it was placed.
	var report string
	deadline := time.Now().Add(15 * time.Second)
	for {
		var probe struct {
			Expanded map[string]gateway.PartReport `json:"expanded"`
		}
		status, err := a.call(ctx, http.MethodGet, "/api/v1/orders/"+order.ID+"?expand=products,payment", token, nil, &probe)
		b, _ := json.Marshal(probe.Expanded)
		report = fmt.Sprintf("%d %s %v", status, b, err)
		if err == nil && status == http.StatusOK && probe.Expanded["products"].Status == "ok" && probe.Expanded["payment"].Status == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.na = "a part did not answer within 15 s: " + report
			return t
		}
		time.Sleep(250 * time.Millisecond)
	}
	return h.wrkTarget(a, t.key, t.name, url, func(ctx context.Context) (bench.Request, error) {
		tok, err := h.customer.get(ctx)
		if err != nil {
			return bench.Request{}, err
		}
		return bench.Request{Headers: map[string]string{"Authorization": "Bearer " + tok}}, nil
	})
}
