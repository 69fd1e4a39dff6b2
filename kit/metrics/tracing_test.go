package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/metrics"
)

// scrapeAs returns the registry's exposition, in OpenMetrics when asked.
func scrapeAs(t *testing.T, m *metrics.Metrics, openMetrics bool) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if openMetrics {
		req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

func TestExemplars(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	tests := []struct {
		name  string
		flags trace.TraceFlags
		want  bool
	}{
		{"sampled trace", trace.FlagsSampled, true},
		{"unsampled trace", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New("order")
			ctx := trace.ContextWithSpanContext(context.Background(),
				trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: tt.flags}))
			ep := m.EndpointMiddleware("GetOrder")(func(context.Context, any) (any, error) { return nil, nil })
			_, _ = ep(ctx, nil)
			got := strings.Contains(scrapeAs(t, m, true), `trace_id="`+traceID+`"`)
			if got != tt.want {
				t.Errorf("exemplar with the trace id: %v, want %v", got, tt.want)
			}
			if strings.Contains(scrapeAs(t, m, false), traceID) {
				t.Error("the classic text format has no exemplars")
			}
		})
	}
}

// flappy is a breaker whose state the test sets.
type flappy struct{ open bool }

func (f *flappy) Open() bool { return f.open }

func (f *flappy) Execute(ctx context.Context, run func(context.Context) error) error {
	if f.open {
		return errors.New("circuit open")
	}
	return run(ctx)
}

func TestBreakerTransitions(t *testing.T) {
	m := metrics.New("gateway")
	f := &flappy{}
	b := m.Breaker("gateway->product/product-1", f)
	fail := func(context.Context) error { return errors.New("boom") }
	ok := func(context.Context) error { return nil }

	_ = b.Execute(context.Background(), ok)
	_ = b.Execute(context.Background(), fail)
	f.open = true // the failures tripped it
	_ = b.Execute(context.Background(), fail)
	_ = b.Execute(context.Background(), fail) // still open: no new transition
	f.open = false
	_ = b.Execute(context.Background(), ok)

	body := scrapeAs(t, m, false)
	for _, want := range []string{
		`kitshop_breaker_transitions_total{breaker="gateway->product/product-1",to="open"} 1`,
		`kitshop_breaker_transitions_total{breaker="gateway->product/product-1",to="closed"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in\n%s", want, grep(body, "transitions"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
