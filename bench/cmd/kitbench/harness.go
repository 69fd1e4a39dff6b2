package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kitshop/kitshop/bench"
)

// harness runs one measurement session against an environment.
type harness struct {
	o   options
	env *environment
	log io.Writer

	productID string      // what every target reads or orders; set by targets
	customer  *tokenCache // the bench customer's token; set by targets
}

// target is one row of the table.
type target struct {
	key  string
	name string
	// na, when set, is why the target is not measured.
	na string
	// run loads the target for d. sample says what a request answered
	// while the load ran (a failed one's error, for the gRPC loop), for a
	// note when the round had errors.
	run func(ctx context.Context, d time.Duration) (m bench.Measurement, sample string, err error)
}

// measure sets up the fixtures, measures every target in rounds, then the
// half-rate latency and memory, and returns the finished report.
func (h *harness) measure(ctx context.Context) (*bench.Report, error) {
	rep := &bench.Report{
		Date: time.Now(),
		Machine: bench.Machine{
			NProc:     runtime.NumCPU(),
			CPU:       bench.CPUModel(),
			GoVersion: goVersion(),
			LoadAvg:   bench.LoadAvg(),
		},
		Settings: bench.Settings{
			Stack:       h.env.stack,
			Duration:    h.o.duration.String(),
			Rounds:      h.o.rounds,
			Threads:     h.o.threads,
			Connections: h.o.connections,
			GRPCWorkers: h.o.grpcWorkers,
		},
	}
	if h.env.own == nil {
		a := api{base: h.env.gatewayURL, client: &http.Client{Timeout: setupCallTimout}}
		if n := a.rateLimitedAfter(ctx, 500); n >= 0 {
			msg := fmt.Sprintf("the running gateway answered 429 after %d requests: its rate limits will cut into every gateway row; "+
				"restart it with GATEWAY_RATE_LIMIT=0 GATEWAY_USER_RATE_LIMIT=0, or run kitbench -new-stack", n)
			fmt.Fprintf(h.log, "kitbench: WARNING: %s\n", msg)
			rep.Notes = append(rep.Notes, msg)
			time.Sleep(3 * time.Second) // let the bucket refill a little
		}
	}
	// Idle memory is read before the fixtures (a thousand products, orders)
	// fill the caches: what each process holds once started and ready.
	procs, problems := h.env.processes(ctx)
	rep.Notes = append(rep.Notes, problems...)
	time.Sleep(time.Second) // let the readiness checks' requests settle
	idle := readRSS(procs)

	targets, closeTargets, err := h.targets(ctx, rep)
	if err != nil {
		return nil, err
	}
	defer closeTargets()
	var live []target
	for _, t := range targets {
		if !h.selected(t.key) {
			continue
		}
		row := bench.Row{Key: t.key, Target: t.name, NA: t.na, Baseline: t.key == "bare"}
		rep.Rows = append(rep.Rows, row)
		if t.na == "" {
			live = append(live, t)
		}
	}
	settle := newSettler(ctx, h.env.natsURL, h.env.productDB, h.log)
	defer settle.Close()
	if settle.na == "" {
		rep.Notes = append(rep.Notes, "every measurement starts once the outboxes are relayed and every JetStream consumer has caught up "+
			"(kitbench waits up to "+settleMax.String()+"), so no row pays for the event backlog of the row before it")
	} else {
		rep.Notes = append(rep.Notes, "the measurements did not wait for event backlogs to drain: "+settle.na)
	}
	fmt.Fprintf(h.log, "kitbench: %d targets × %d rounds × %s (about %s)\n",
		len(live), h.o.rounds, h.o.duration, estimate(h.o, len(live)).Round(time.Second))

	if h.o.warmup > 0 {
		for _, t := range live {
			fmt.Fprintf(h.log, "warm-up   %-14s %s\n", t.key, h.o.warmup)
			if _, _, err := t.run(ctx, h.o.warmup); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				fmt.Fprintf(h.log, "warm-up   %-14s FAILED: %v\n", t.key, err)
			}
		}
	}

	explained := map[string]bool{}
	for r := range h.o.rounds {
		for i := range live {
			t := live[(i+r)%len(live)]
			settle.wait(ctx, fmt.Sprintf("round %d/%d %s", r+1, h.o.rounds, t.key))
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			m, sample, err := t.run(ctx, h.o.duration)
			row, _ := rep.Row(t.key)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				// One target failing (an instance gone, wrk unable to
				// connect) must not throw away the other measurements.
				msg := firstLine(err.Error())
				fmt.Fprintf(h.log, "round %d/%d %-14s FAILED: %v\n", r+1, h.o.rounds, t.key, err)
				row.Notes = append(row.Notes, fmt.Sprintf("round %d failed: %s", r+1, msg))
				continue
			}
			fmt.Fprintf(h.log, "round %d/%d %-14s %10s req/s  p50 %-9s p99 %-9s errors %s\n",
				r+1, h.o.rounds, t.key, bench.FormatCount(m.RPS), m.P50, m.P99, bench.FormatCount(float64(m.Errors)))
			row.Rounds = append(row.Rounds, m)
			if m.Errors > 0 && sample != "" && !explained[t.key] {
				explained[t.key] = true
				row.Notes = append(row.Notes, sample)
			}
		}
	}
	rep.Finish()

	if h.o.halfRate > 0 {
		settle.wait(ctx, "the half-rate measurement")
		rep.HalfRate = h.halfRate(ctx, rep)
		fmt.Fprintf(h.log, "half rate: %s\n", rep.HalfRateLine())
	}

	if h.o.eventRate > 0 && h.selected(eventsKey) {
		settle.wait(ctx, "the event measurement")
		fmt.Fprintf(h.log, "events: %d/s for %s through kit/outbox, JetStream and kit/subscriber\n", h.o.eventRate, h.o.duration)
		rep.Events = eventLatency(ctx, h.env.productDB, h.env.natsURL, h.o.eventRate, h.o.duration)
		fmt.Fprintf(h.log, "events: %s\n", rep.Events.Line())
	}
	if h.o.eventRate > 0 && h.selected(pipelineKey) {
		settle.wait(ctx, "the order pipeline")
		a := api{base: h.env.gatewayURL, client: &http.Client{Timeout: setupCallTimout}}
		fmt.Fprintf(h.log, "order pipeline: %d clients for %s, then until every order is paid\n", pipelineClients, h.o.duration)
		// The order rows sign the customer up; -only may have left them out.
		if err := a.ensureCustomer(ctx); err != nil {
			rep.Orders = &bench.OrderPipeline{NA: "cannot sign up a customer: " + err.Error()}
		} else {
			rep.Orders = orderPipeline(ctx, a, h.customer, h.productID, databaseURL(h.env.productDB, "order"), pipelineClients, h.o.duration)
		}
		fmt.Fprintf(h.log, "order pipeline: %s\n", rep.Orders.Line())
	}

	// Idle again: connections closed, and long enough for kit/server's
	// release of idle memory (a check every 10 s) to have run twice.
	settle.wait(ctx, "the memory reading")
	time.Sleep(afterLoadIdle)
	after := readRSS(procs)
	for i, p := range procs {
		rep.Memory = append(rep.Memory, bench.ProcessMemory{
			Name: p.name, PID: p.pid, Note: p.note,
			IdleKiB: idle[i].RSS, IdleAnonKiB: idle[i].Anon, AfterKiB: after[i].RSS, AfterAnonKiB: after[i].Anon,
		})
	}
	return rep, nil
}

// selected reports whether -only picks the target or measurement key (no
// -only picks all).
func (h *harness) selected(key string) bool {
	return len(h.o.only) == 0 || slices.Contains(h.o.only, key)
}

// afterLoadIdle is how long the services rest after the load before their
// memory is read again.
const afterLoadIdle = 22 * time.Second

// readRSS returns each process's resident memory (zero when it cannot be
// read).
func readRSS(procs []namedPID) []bench.Resident {
	out := make([]bench.Resident, len(procs))
	for i, p := range procs {
		out[i], _ = bench.ReadResident(p.pid)
	}
	return out
}

// targets sets up the fixtures and returns the table's targets in table
// order, and a function releasing what they hold.
func (h *harness) targets(ctx context.Context, rep *bench.Report) ([]target, func(), error) {
	a := api{base: h.env.gatewayURL, client: &http.Client{Timeout: setupCallTimout}}
	admin := &tokenCache{login: func(ctx context.Context) (string, error) {
		return a.login(ctx, h.o.adminEmail, h.o.adminPassword)
	}}
	customer := &tokenCache{login: func(ctx context.Context) (string, error) {
		return a.login(ctx, benchUserEmail, benchUserPass)
	}}
	h.customer = customer

	// The product everything reads and orders: kitbench's own, with a
	// stock no run can exhaust, or any product when there is no admin.
	var productID, noAdmin string
	adminToken, err := admin.get(ctx)
	if err == nil {
		productID, err = a.ensureProduct(ctx, adminToken)
		if err != nil {
			return nil, nil, err
		}
	} else {
		noAdmin = "no admin token: " + err.Error()
		rep.Notes = append(rep.Notes, noAdmin+"; reading the first product of the catalog instead of kitbench's own")
		if productID, err = a.firstProduct(ctx); err != nil {
			return nil, nil, err
		}
	}
	h.productID = productID
	// The distinct products are made only when their row is measured:
	// a thousand creations take a while.
	var manyIDs []string
	manyNA := ""
	if noAdmin == "" && h.selected("order-many") {
		fmt.Fprintf(h.log, "kitbench: creating or finding %d products for the distinct-products order row\n", manyProducts)
		if manyIDs, err = a.ensureProducts(ctx, adminToken, manyProducts); err != nil {
			manyNA = "cannot create its products: " + err.Error()
		}
	}
	itemPath := "/api/v1/products/" + productID
	fmt.Fprintf(h.log, "kitbench: product %s\n", productID)

	products, err := h.env.instances(ctx, "product")
	if err != nil {
		return nil, nil, err
	}
	if len(products) == 0 {
		return nil, nil, fmt.Errorf("no passing product instance in Consul at %s", h.env.consulURL)
	}
	direct := products[0]

	// Same table, same columns, same JSON: the bodies must match byte for
	// byte, or the comparison is not fair.
	_, bareBody, err1 := a.get(ctx, h.env.bareURL+itemPath)
	_, svcBody, err2 := a.get(ctx, "http://"+direct.HTTPAddr+itemPath)
	switch {
	case err1 != nil || err2 != nil:
		return nil, nil, fmt.Errorf("fetching the product: bare: %v, product: %v", err1, err2)
	default:
		rep.Notes = append(rep.Notes, bodyNote("the product service", bareBody, svcBody))
	}

	get := func(key, name, url string) target {
		return h.wrkTarget(a, key, name, url, func(context.Context) (bench.Request, error) { return bench.Request{}, nil })
	}
	targets := []target{
		get("bare", "bare handler: GET /api/v1/products/{id}", h.env.bareURL+itemPath),
		h.gozeroTarget(ctx, a, rep, get, itemPath, bareBody),
		get("product", "product instance (HTTP): GET /api/v1/products/{id}", "http://"+direct.HTTPAddr+itemPath),
		h.uncachedTarget(get, itemPath),
		get("gateway-get", "gateway, cache on: GET /api/v1/products/{id}", h.env.gatewayURL+itemPath),
		get("gateway-list", "gateway, cache on: GET /api/v1/products (first page)", h.env.gatewayURL+"/api/v1/products"),
		h.storefrontTarget(ctx),
		h.orderTarget(ctx, a, customer, "order", "gateway: POST /api/v1/orders, one hot product (1 line, new order each)", []string{productID}, noAdmin),
		h.orderTarget(ctx, a, customer, "order-many", "gateway: POST /api/v1/orders over 1,000 distinct products (1 line each)", manyIDs, cmp.Or(noAdmin, manyNA)),
	}
	targets = append(targets, h.gatewayTargets(ctx, a, itemPath)...)
	order := targetKeys()
	slices.SortStableFunc(targets, func(x, y target) int { return slices.Index(order, x.key) - slices.Index(order, y.key) })

	closer := func() {}
	gt := target{key: "grpc", name: "product gRPC (direct): ReserveStock"}
	switch {
	case direct.GRPCAddr == "":
		gt.na = "no gRPC port in the product instance's registration"
	default:
		g, err := newGRPCTarget(ctx, direct.GRPCAddr, productID, admin.get)
		if err != nil {
			gt.na = err.Error()
			break
		}
		closer = func() { g.Close() }
		gt.name = "product gRPC (direct): " + g.rpc
		if g.fallback != "" {
			gt.name += " (ReserveStock not available)"
			rep.Notes = append(rep.Notes, "gRPC row uses "+g.rpc+": "+g.fallback)
		}
		workers := h.o.grpcWorkers
		gt.run = func(ctx context.Context, d time.Duration) (bench.Measurement, string, error) {
			res := bench.ClosedLoop(ctx, workers, d, 10*time.Second, g.call)
			return res.Measurement(), "the first failed call: " + res.FirstError, nil
		}
	}
	targets = append(targets, gt)
	return targets, closer, nil
}

// wrkTarget is a target that wrk drives; req builds the request anew for
// each run (tokens expire).
func (h *harness) wrkTarget(a api, key, name, url string, req func(context.Context) (bench.Request, error)) target {
	cfg := bench.WrkConfig{
		Path:        h.o.wrk,
		URL:         url,
		Threads:     h.o.threads,
		Connections: h.o.connections,
		Timeout:     h.o.wrkTimeout,
	}
	return target{
		key:  key,
		name: name,
		run: func(ctx context.Context, d time.Duration) (bench.Measurement, string, error) {
			r, err := req(ctx)
			if err != nil {
				return bench.Measurement{}, "", err
			}
			c := cfg
			c.Duration, c.Request = d, r
			// wrk counts failed requests but does not say why; one request
			// of our own in the middle of the load, when a limiter is
			// exhausted or a server overloaded, usually does.
			probe := make(chan string, 1)
			probeCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-time.After(d / 2):
					probe <- "a request sent mid-run answered: " + a.send(probeCtx, cmp.Or(r.Method, http.MethodGet), url, r.Headers, r.Body)
				case <-probeCtx.Done():
					probe <- ""
				}
			}()
			res, err := bench.RunWrk(ctx, c)
			cancel()
			sample := <-probe
			if err != nil {
				return bench.Measurement{}, "", err
			}
			return res.Measurement(), sample, nil
		},
	}
}

// orderTarget is order creation through the gateway by a logged-in
// customer: one line, one unit of a product, a new order each time; with
// several products, each wrk thread orders them in turn.
func (h *harness) orderTarget(ctx context.Context, a api, customer *tokenCache, key, name string, productIDs []string, noAdmin string) target {
	t := target{key: key, name: name}
	if !h.selected(key) {
		return t
	}
	if noAdmin != "" {
		t.na = "no bench products with ample stock: " + noAdmin
		return t
	}
	if err := a.ensureCustomer(ctx); err != nil {
		t.na = "cannot sign up a customer: " + err.Error()
		return t
	}
	token, err := customer.get(ctx)
	if err != nil {
		t.na = "cannot log in as a customer: " + err.Error()
		return t
	}
	status, err := a.call(ctx, http.MethodGet, "/api/v1/orders", token, nil, nil)
	switch {
	case err != nil:
		t.na = "order service not available: " + err.Error()
		return t
	case status == http.StatusNotFound || status == http.StatusBadGateway || status == http.StatusServiceUnavailable:
		t.na = "order service not available"
		return t
	case status != http.StatusOK:
		t.na = fmt.Sprintf("order service not available: GET /api/v1/orders answered %d", status)
		return t
	}
	bodies := make([]string, len(productIDs))
	for i, id := range productIDs {
		b, _ := json.Marshal(map[string]any{"items": []map[string]any{{"product_id": id, "quantity": 1}}})
		bodies[i] = string(b)
	}
	return h.wrkTarget(a, t.key, t.name, h.env.gatewayURL+"/api/v1/orders", func(ctx context.Context) (bench.Request, error) {
		tok, err := customer.get(ctx)
		if err != nil {
			return bench.Request{}, err
		}
		r := bench.Request{
			Method: http.MethodPost,
			Headers: map[string]string{
				"Content-Type":  "application/json",
				"Authorization": "Bearer " + tok,
			},
			Body: bodies[0], // also the mid-run probe's
		}
		if len(bodies) > 1 {
			r.Bodies = bodies
		}
		return r, nil
	})
}

// halfRate sends GETs of the bench product through the gateway at a
// fraction of the gateway's measured peak, open loop, and reports the
// latency a client sees when the gateway is not saturated.
func (h *harness) halfRate(ctx context.Context, rep *bench.Report) *bench.HalfRate {
	hr := &bench.HalfRate{Target: "gateway, cache on, access log on (as shipped): GET /api/v1/products/{id}", Fraction: h.o.halfRate, Duration: h.o.duration.String()}
	row, ok := rep.Row("gateway-get")
	if !ok || len(row.Rounds) == 0 || row.Summary.RPS <= 0 {
		hr.NA = "no gateway peak measured"
		return hr
	}
	hr.OfferedRPS = row.Summary.RPS * h.o.halfRate
	// Workers enough to keep the rate through a stall of 30 ms (the
	// requests due meanwhile go out at once, each measured from when it
	// was due); each worker keeps one connection.
	workers := min(max(int(hr.OfferedRPS*0.03), 64), 1024)
	newCall, err := bench.HTTPGet(h.env.gatewayURL+"/api/v1/products/"+h.productID, nil, nil)
	if err != nil {
		hr.NA = err.Error()
		return hr
	}
	fmt.Fprintf(h.log, "half rate %s req/s for %s, open loop, %d connections\n", bench.FormatCount(hr.OfferedRPS), h.o.duration, workers)
	res := bench.OpenLoop(ctx, hr.OfferedRPS, h.o.duration, workers, 10*time.Second, newCall)
	hr.Result, hr.Late, hr.FirstError = res.Measurement(), res.Late, res.FirstError
	return hr
}

// writeResults writes latest.md and latest.json into dir.
func writeResults(dir string, rep *bench.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "latest.md"), []byte(rep.Markdown())); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "latest.json"), js)
}

// writeFile replaces path in one step (through path.tmp and a rename), so
// an interrupted run never leaves half a result behind.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// firstLine returns s up to its first newline (wrk errors carry its whole
// output after it).
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// uncachedTarget is the direct GET on the product instance whose read cache
// is off: what the layers cost when every request reads the database, like
// the bare handler does.
func (h *harness) uncachedTarget(get func(key, name, url string) target, itemPath string) target {
	const key, name = "product-nocache", "product instance, read cache off (HTTP): GET /api/v1/products/{id}"
	if h.env.uncachedURL == "" {
		return target{key: key, name: name, na: "only in a stack kitbench starts (-new-stack)"}
	}
	return get(key, name, h.env.uncachedURL+itemPath)
}
