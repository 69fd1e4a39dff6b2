package local_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	local "github.com/kitshop/kitshop/deploy/local"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/tracing/tracefile"
)

// traceTimeout bounds the wait for every span of the order's trace: the
// processes write their spans every second, and the consumers run after
// the relay has published.
const traceTimeout = 30 * time.Second

// TestTracing places an order through the gateway with a client's
// traceparent and finds one trace, read from the stack's trace files
// (kit/tracing's file exporter, as with make run), holding every hop:
//
//	client span (the test's traceparent)
//	└─ gateway  server span
//	   └─ gateway  client span (the attempt)
//	      └─ order  HTTP server span "POST /api/v1/orders"
//	         └─ order.CreateOrder  endpoint span
//	            ├─ order  SQL spans
//	            ├─ order  gRPC client span …/ReserveStock
//	            │  └─ product  gRPC server span …/ReserveStock
//	            │     └─ product.ReserveStock  endpoint span
//	            │        └─ product  SQL spans
//	            └─ order  "publish kitshop.order.v1.confirmed" (the outbox relay)
//	               ├─ payment  "process kitshop.order.v1.confirmed"
//	               └─ notification  "process kitshop.order.v1.confirmed"
//
// The relay's span is a child of the span that stored the event (the
// envelope's context); each consumer's span is a child of a relay span,
// through the message's traceparent header, and links to the producer's
// span. The trace goes on through the payment's outcome back to order.
// Then every process on the path has logged a line with the trace id, and
// the response carries it in Trace-Id.
func TestTracing(t *testing.T) {
	cfg := e2eConfig(t)
	cfg.BinDir = buildBinaries(t, cfg.Services)
	stack := startStack(t, cfg)
	c := newGatewayClient(t, stack.GatewayURL())
	sec := &secrets{}
	sec.add(cfg.AdminPassword, cfg.ServiceSecret)
	admin := login(t, c, sec, cfg.AdminEmail, cfg.AdminPassword).AccessToken
	e := newOrderEnv(t, stack, c, sec, admin, 1)
	cust := e.customers[0]
	p := e.product(t, "Traced mug", 450, "EUR", 100)

	traceID, clientSpan := strings.ToLower(randomHex(t, 16)), strings.ToLower(randomHex(t, 8))
	hdr := orderHeader(cust.token, "")
	hdr.Set("Traceparent", "00-"+traceID+"-"+clientSpan+"-01")
	body := mustJSON(t, map[string]any{"items": []line{{ProductID: p.ID, Quantity: 1}}})
	r := c.do(t, http.MethodPost, "/api/v1/orders", hdr, body)
	var o placedOrder
	decodeJSON(t, "place a traced order", r, http.StatusCreated, &o)
	if got := r.Header.Get(tracing.TraceIDHeader); got != traceID {
		t.Errorf("%s = %q, want the traceparent's trace id %q", tracing.TraceIDHeader, got, traceID)
	}
	awaitStatus(t, e, []string{o.ID}, "paid", paidTimeout)
	awaitNotification(t, e, o.ID, "order_paid")

	tr := awaitTrace(t, stack.TraceDir(), traceID)
	tr.check(t, clientSpan)
	if t.Failed() {
		var b strings.Builder
		_ = tracefile.WriteText(&b, tr.spans)
		t.Logf("the trace:\n%s", b.String())
	}
	checkLogsHaveTrace(t, stack, traceID, "gateway", "order", "product", "payment", "notification")
}

// trace is the spans of one trace, by id.
type trace struct {
	spans []tracefile.Span
	byID  map[string]tracefile.Span
}

// awaitTrace waits until the trace has a span of every hop check looks at:
// each process writes its spans a second at most after they end, so the
// last hop to end is not always the last to be written.
func awaitTrace(t *testing.T, dir, traceID string) *trace {
	t.Helper()
	deadline := time.Now().Add(traceTimeout)
	for {
		spans, err := tracefile.Load(dir, traceID)
		if err != nil && !errors.Is(err, tracefile.ErrNotFound) {
			t.Fatalf("load the trace: %v", err)
		}
		tr := &trace{spans: spans, byID: map[string]tracefile.Span{}}
		for _, s := range spans {
			tr.byID[s.SpanID] = s
		}
		if tr.complete() {
			return tr
		}
		if time.Now().After(deadline) {
			return tr // check says what is missing
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// hops are the spans check needs: service, kind and name prefix.
var hops = [][3]string{
	{"gateway", "server", ""},
	{"gateway", "client", ""},
	{"order", "server", "POST /api/v1/orders"},
	{"order", "internal", "order.CreateOrder"},
	{"order", "client", "kitshop.product.v1.ProductService/ReserveStock"},
	{"product", "server", "kitshop.product.v1.ProductService/ReserveStock"},
	{"product", "internal", "product.ReserveStock"},
	{"product", "client", "SQL "},
	{"order", "producer", "publish kitshop.order.v1.confirmed"},
	{"payment", "consumer", "process kitshop.order.v1.confirmed"},
	{"notification", "consumer", "process kitshop.order.v1.confirmed"},
}

// complete reports whether the trace has a span of every hop, and the
// parent of every consumer span found so far: each process writes its
// spans when its exporter flushes, so a consumer's span can be on disk
// before the relay span it descends from.
func (tr *trace) complete() bool {
	for _, h := range hops {
		if len(tr.find(h[0], h[1], h[2])) == 0 {
			return false
		}
	}
	for _, s := range tr.spans {
		if s.Kind == "consumer" {
			if _, ok := tr.byID[s.ParentID]; !ok {
				return false
			}
		}
	}
	return true
}

// find returns the spans of service with kind whose name has prefix.
func (tr *trace) find(service, kind, prefix string) []tracefile.Span {
	var out []tracefile.Span
	for _, s := range tr.spans {
		if s.Service == service && (kind == "" || s.Kind == kind) && strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// one returns the single span find finds, failing otherwise.
func (tr *trace) one(t *testing.T, service, kind, prefix string) (tracefile.Span, bool) {
	t.Helper()
	found := tr.find(service, kind, prefix)
	if len(found) != 1 {
		t.Errorf("%d %s spans of %s named %q…, want 1", len(found), kind, service, prefix)
		return tracefile.Span{}, false
	}
	return found[0], true
}

// descends reports whether s is a descendant of ancestor.
func (tr *trace) descends(s tracefile.Span, ancestor string) bool {
	for range len(tr.spans) {
		if s.ParentID == ancestor {
			return true
		}
		parent, ok := tr.byID[s.ParentID]
		if !ok {
			return false
		}
		s = parent
	}
	return false
}

// check asserts the structure in TestTracing's comment.
func (tr *trace) check(t *testing.T, clientSpan string) {
	t.Helper()
	parent := func(child tracefile.Span, want tracefile.Span, what string) {
		t.Helper()
		if child.ParentID != want.SpanID {
			t.Errorf("%s: parent %s, want %s (%s %q)", what, child.ParentID, want.SpanID, want.Service, want.Name)
		}
	}
	under := func(child tracefile.Span, ancestor tracefile.Span, what string) {
		t.Helper()
		if !tr.descends(child, ancestor.SpanID) {
			t.Errorf("%s: not under %s %q", what, ancestor.Service, ancestor.Name)
		}
	}
	gw, ok := tr.one(t, "gateway", "server", "")
	if !ok {
		return
	}
	if gw.ParentID != clientSpan {
		t.Errorf("gateway server span: parent %s, want the client's %s", gw.ParentID, clientSpan)
	}
	attempt, ok1 := tr.one(t, "gateway", "client", "")
	orderHTTP, ok2 := tr.one(t, "order", "server", "POST /api/v1/orders")
	orderEP, ok3 := tr.one(t, "order", "internal", "order.CreateOrder")
	orderRPC, ok4 := tr.one(t, "order", "client", "kitshop.product.v1.ProductService/ReserveStock")
	productRPC, ok5 := tr.one(t, "product", "server", "kitshop.product.v1.ProductService/ReserveStock")
	productEP, ok6 := tr.one(t, "product", "internal", "product.ReserveStock")
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return
	}
	parent(attempt, gw, "gateway attempt")
	parent(orderHTTP, attempt, "order HTTP server span")
	parent(orderEP, orderHTTP, "order endpoint span")
	under(orderRPC, orderEP, "order gRPC client span")
	parent(productRPC, orderRPC, "product gRPC server span")
	parent(productEP, productRPC, "product endpoint span")
	if n := tr.countUnder(tr.find("product", "client", "SQL "), productEP); n == 0 {
		t.Error("no SQL span under the product's endpoint span")
	}
	if n := tr.countUnder(tr.find("order", "client", "SQL "), orderEP); n == 0 {
		t.Error("no SQL span under the order's endpoint span")
	}

	// The relay publishes the order's confirmation; the relays' spans of
	// every service are the parents the consumers may have.
	confirmed, ok := tr.one(t, "order", "producer", "publish kitshop.order.v1.confirmed")
	if ok {
		under(confirmed, orderEP, "relay span "+confirmed.Name)
	}
	relayByID := map[string]tracefile.Span{}
	for _, s := range tr.spans {
		if s.Kind == "producer" {
			relayByID[s.SpanID] = s
		}
	}
	for _, svc := range []string{"payment", "notification"} {
		consumers := tr.find(svc, "consumer", "process ")
		if n := len(tr.find(svc, "consumer", "process kitshop.order.v1.confirmed")); n != 1 {
			t.Errorf("%d spans of %s consuming the confirmation, want 1", n, svc)
		}
		for _, s := range consumers {
			relay, ok := relayByID[s.ParentID]
			if !ok {
				t.Errorf("%s consumer span %q: parent %s is no relay span", svc, s.Name, s.ParentID)
				continue
			}
			if len(s.Links) != 1 || s.Links[0].SpanID != relay.ParentID {
				t.Errorf("%s consumer span %q: links %v, want the producer's span %s", svc, s.Name, s.Links, relay.ParentID)
			}
		}
	}
}

// countUnder returns how many of spans descend from ancestor.
func (tr *trace) countUnder(spans []tracefile.Span, ancestor tracefile.Span) int {
	n := 0
	for _, s := range spans {
		if tr.descends(s, ancestor.SpanID) {
			n++
		}
	}
	return n
}

// checkLogsHaveTrace checks that the log of at least one instance of each
// service has a line with the trace id.
func checkLogsHaveTrace(t *testing.T, stack *local.Stack, traceID string, services ...string) {
	t.Helper()
	for _, svc := range services {
		logs, err := filepath.Glob(filepath.Join(stack.LogDir(), svc+"*.log"))
		if err != nil || len(logs) == 0 {
			t.Errorf("no log of %s in %s", svc, stack.LogDir())
			continue
		}
		found := false
		for _, path := range logs {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "trace_id="+traceID) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line of %s's logs (%s) has trace_id=%s", svc, strings.Join(logs, ", "), traceID)
		}
	}
}
