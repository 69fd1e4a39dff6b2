package gateway

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/metrics"
)

func TestRouteInstruments(t *testing.T) {
	m := metrics.New("gateway")
	ri := newRouteInstruments(m)
	r := ri.route("/api/v1/orders", "order")
	if again := ri.route("/api/v1/orders", "order"); again != r {
		t.Error("route built the same route twice")
	}
	if ri.route("/api/v1/orders", "order2") == r {
		t.Error("route returned another upstream's route")
	}
	for _, code := range []int{201, 201, 0, 499, 999, -1} {
		r.request(context.Background(), code, 20*time.Millisecond)
	}
	wantLines(t, m,
		`kitshop_gateway_requests_total{code="201",route="/api/v1/orders",upstream="order"} 2`,
		`kitshop_gateway_requests_total{code="0",route="/api/v1/orders",upstream="order"} 1`,
		`kitshop_gateway_requests_total{code="499",route="/api/v1/orders",upstream="order"} 1`,
		`kitshop_gateway_requests_total{code="999",route="/api/v1/orders",upstream="order"} 1`,
		`kitshop_gateway_requests_total{code="-1",route="/api/v1/orders",upstream="order"} 1`,
		`kitshop_gateway_request_duration_seconds_count{route="/api/v1/orders",upstream="order"} 6`,
	)
}

// TestRouteInstrumentsExemplars: a request of a sampled trace leaves its
// trace id on its latency bucket; an unsampled one leaves none.
func TestRouteInstrumentsExemplars(t *testing.T) {
	tid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	span := func(flags trace.TraceFlags) context.Context {
		return trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: flags,
		}))
	}
	tests := []struct {
		name string
		ctx  context.Context
		want string // the exemplar's trace id; "" for none
	}{
		{"sampled", span(trace.FlagsSampled), tid.String()},
		{"not sampled", span(0), ""},
		{"no trace", context.Background(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New("gateway")
			newRouteInstruments(m).route("/api/v1/products", "product").request(tt.ctx, 200, 3*time.Millisecond)
			got := exemplarTraceIDs(t, m)
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("exemplars %v, want none", got)
			case tt.want != "" && (len(got) != 1 || got[0] != tt.want):
				t.Errorf("exemplars %v, want one with trace_id %s", got, tt.want)
			}
		})
	}
}

// TestRouteInstrumentsExemplarPace: a latency bucket takes one exemplar a
// second at most; another bucket takes its own meanwhile.
func TestRouteInstrumentsExemplarPace(t *testing.T) {
	sampled := func(id byte) context.Context {
		return trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{id}, SpanID: trace.SpanID{id}, TraceFlags: trace.FlagsSampled,
		}))
	}
	m := metrics.New("gateway")
	r := newRouteInstruments(m).route("/api/v1/products", "product")
	r.request(sampled(1), 200, 3*time.Millisecond)
	r.request(sampled(2), 200, 3*time.Millisecond) // same bucket, within the second
	r.request(sampled(3), 200, 9*time.Second)      // another bucket
	got := exemplarTraceIDs(t, m)
	want := []string{trace.TraceID{1}.String(), trace.TraceID{3}.String()}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("exemplars %v, want %v", got, want)
	}
}

// exemplarTraceIDs returns the trace ids of the exemplars of the gateway's
// latency histogram in m, bucket by bucket.
func exemplarTraceIDs(t *testing.T, m *metrics.Metrics) []string {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range families {
		if f.GetName() != "kitshop_gateway_request_duration_seconds" {
			continue
		}
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			for _, l := range b.GetExemplar().GetLabel() {
				if l.GetName() == "trace_id" {
					ids = append(ids, l.GetValue())
				}
			}
		}
	}
	return ids
}

// wantLines fails unless the exposition of m has every line of want.
func wantLines(t *testing.T, m *metrics.Metrics, want ...string) {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range want {
		if !strings.Contains(buf.String(), line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}
