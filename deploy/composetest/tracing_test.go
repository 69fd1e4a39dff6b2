//go:build composetest

package composetest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// traceServices are the services an order's trace must reach: the gateway
// takes the request, order stores it and reserves the stock at product, and
// payment and notification consume the order.confirmed event.
var traceServices = []string{"gateway", "order", "product", "payment", "notification"}

// jaegerTrace is the part of Jaeger's /api/traces/{id} answer the checks
// read.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			TraceID string `json:"traceID"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		ProcessID string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// testTrace places an order through the gateway with a sampled traceparent
// of its own and waits until Jaeger holds the whole trace: spans of every
// service in traceServices, each span's parent in the trace but for the
// gateway's server span, whose parent is the traceparent's. A request with
// an unsampled traceparent must not be recorded. Jaeger missing from the
// stack fails the test: docker-compose.yml has it, and so has offline.yml.
func testTrace(t *testing.T, s *stack, adminPassword string) {
	t.Run("an order's trace in Jaeger", func(t *testing.T) {
		if !slices.Contains(s.services, "jaeger") {
			t.Fatal("the stack runs no jaeger")
		}
		c := &client{base: s.gateway, http: &http.Client{Timeout: 5 * time.Second}}
		admin := c.login(t, "admin@kitshop.local", adminPassword)
		customer := c.newCustomer(t, "trace", "Trace")
		st, body := c.do("POST", "/api/v1/products", admin, map[string]any{
			"sku": "TRACE-" + strings.ToUpper(randomHex(t, 3)), "name": "Trace mug", "price_minor": 900, "currency": "EUR", "stock": 5,
		})
		var p struct{ ID string }
		if st != 201 || json.Unmarshal(body, &p) != nil || p.ID == "" {
			t.Fatalf("create product: %d %s", st, body)
		}

		// An unsampled request first: parent-based sampling must follow it.
		unsampledID, unsampledParent := traceIDs(t)
		unsampled := c.with("Traceparent", "00-"+unsampledID+"-"+unsampledParent+"-00")
		st, body, hdr := unsampled.doHeader("GET", "/api/v1/products/"+p.ID, "", nil)
		if st != 200 {
			t.Fatalf("get the product: %d %s", st, body)
		}
		if got := hdr.Get("Trace-Id"); got != "" {
			t.Errorf("a request with an unsampled traceparent was recorded: Trace-Id %s", got)
		}

		traceID, parent := traceIDs(t)
		traced := c.with("Traceparent", "00-"+traceID+"-"+parent+"-01")
		st, body, hdr = traced.doHeader("POST", "/api/v1/orders", customer, map[string]any{
			"items": []map[string]any{{"product_id": p.ID, "quantity": 1}}, "payment_method": "pm_card_visa",
		})
		if st != 201 {
			t.Fatalf("place an order: %d %s", st, body)
		}
		placed := time.Now()
		if got := hdr.Get("Trace-Id"); got != traceID {
			t.Fatalf("order response Trace-Id = %q, want %s: the sampled traceparent was not followed", got, traceID)
		}

		var last jaegerTrace
		err := poll(eventsTimeout, func() error {
			tr, err := fetchTrace(s.jaeger, traceID)
			if err != nil {
				return err
			}
			last = tr
			return checkTrace(tr, parent)
		})
		if err != nil {
			t.Fatalf("trace %s in Jaeger: %v\n%s", traceID, err, summary(last))
		}
		t.Logf("trace %s whole in Jaeger %s after the order (%s/trace/%s):\n%s",
			traceID, time.Since(placed).Round(100*time.Millisecond), s.jaeger, traceID, summary(last))

		var svcs struct{ Data []string }
		getJSON(t, s.jaeger+"/api/services", &svcs)
		for _, want := range traceServices {
			if !slices.Contains(svcs.Data, want) {
				t.Errorf("Jaeger /api/services = %v, want %s among them", svcs.Data, want)
			}
		}
		// By now the unsampled request's spans, had any been exported,
		// would have arrived (the services export every second).
		if st := status(t, s.jaeger+"/api/traces/"+unsampledID); st != http.StatusNotFound {
			t.Errorf("Jaeger /api/traces/%s (unsampled) = %d, want 404", unsampledID, st)
		}
	})
}

// traceIDs returns a new trace id and span id in W3C form, neither with a
// leading zero byte, so Jaeger spells them the same way.
func traceIDs(t *testing.T) (trace, span string) {
	t.Helper()
	return "a" + randomHex(t, 16)[1:], "b" + randomHex(t, 8)[1:]
}

// fetchTrace reads a trace from Jaeger's query API.
func fetchTrace(base, id string) (jaegerTrace, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/api/traces/" + id)
	if err != nil {
		return jaegerTrace{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return jaegerTrace{}, fmt.Errorf("GET /api/traces/%s: %s", id, resp.Status)
	}
	var out struct{ Data []jaegerTrace }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return jaegerTrace{}, fmt.Errorf("GET /api/traces/%s: %w", id, err)
	}
	if len(out.Data) != 1 {
		return jaegerTrace{}, fmt.Errorf("GET /api/traces/%s: %d traces, want 1", id, len(out.Data))
	}
	return out.Data[0], nil
}

// checkTrace reports what the trace lacks: a service of traceServices, or a
// span's parent. Exactly one span, the root, may have a parent outside the
// trace, and that parent must be rootParent (the client's traceparent).
func checkTrace(tr jaegerTrace, rootParent string) error {
	ids := map[string]bool{}
	seen := map[string]bool{}
	for _, sp := range tr.Spans {
		ids[sp.SpanID] = true
		seen[tr.Processes[sp.ProcessID].ServiceName] = true
	}
	var missing []string
	for _, svc := range traceServices {
		if !seen[svc] {
			missing = append(missing, svc)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d spans, none from %v", len(tr.Spans), missing)
	}
	var roots []string
	for _, sp := range tr.Spans {
		parent := ""
		for _, ref := range sp.References {
			if ref.RefType == "CHILD_OF" {
				parent = ref.SpanID
			}
		}
		svc := tr.Processes[sp.ProcessID].ServiceName
		switch {
		case parent == "":
			return fmt.Errorf("span %s %q (%s) has no parent; the root's parent is the traceparent's %s", sp.SpanID, sp.OperationName, svc, rootParent)
		case ids[parent]:
		case strings.TrimLeft(parent, "0") == strings.TrimLeft(rootParent, "0"):
			roots = append(roots, svc+" "+sp.OperationName)
		default:
			return fmt.Errorf("span %s %q (%s): parent %s not in the trace", sp.SpanID, sp.OperationName, svc, parent)
		}
	}
	if len(roots) != 1 || !strings.HasPrefix(roots[0], "gateway ") {
		return fmt.Errorf("spans whose parent is the traceparent's: %v, want the gateway's server span alone", roots)
	}
	return nil
}

// summary counts a trace's spans per service and operation.
func summary(tr jaegerTrace) string {
	counts := map[string]int{}
	for _, sp := range tr.Spans {
		counts[tr.Processes[sp.ProcessID].ServiceName+"  "+sp.OperationName]++
	}
	lines := make([]string, 0, len(counts))
	for k, n := range counts {
		lines = append(lines, fmt.Sprintf("  %3d  %s", n, k))
	}
	sort.Strings(lines)
	return fmt.Sprintf("%d spans\n%s", len(tr.Spans), strings.Join(lines, "\n"))
}

// poll calls cond every second until it returns nil or timeout passes, and
// returns its last error then.
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Second)
	}
}
