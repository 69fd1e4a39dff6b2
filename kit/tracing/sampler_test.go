package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/tracing"
)

// setup installs tracing as a process does, its spans written to a
// temporary directory and recorded for the test, until the test ends.
func setup(t *testing.T, cfg tracing.Config) (*tracing.Provider, *tracetest.SpanRecorder) {
	t.Helper()
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	cfg.Service, cfg.Dir = "test", t.TempDir()
	p, err := tracing.Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	rec := tracetest.NewSpanRecorder()
	tracing.RegisterSpanProcessor(p, rec)
	return p, rec
}

// TestSamplerInForce checks that the line a process logs when tracing is
// on states the sampler in force, -trace-ratio's or the one the OTEL_*
// environment puts in its place, and that new traces are recorded as that
// sampler says.
func TestSamplerInForce(t *testing.T) {
	const (
		all = iota
		none
		some
	)
	tests := []struct {
		name         string
		ratio        float64
		sampler, arg string
		want         string // the line's pairs, before dir
		wantErr      string // in the tracing error line, "" for none
		record       int
	}{
		{"flag", 0.1, "", "", "sampler=parentbased_traceidratio ratio=0.1", "", some},
		{"flag at 1", 1, "", "", "sampler=parentbased_traceidratio ratio=1", "", all},
		{"environment ratio", 0.1, "parentbased_traceidratio", "0.25", "sampler=parentbased_traceidratio ratio=0.25", "", some},
		{"environment ratio without argument", 0.1, "parentbased_traceidratio", "", "sampler=parentbased_traceidratio ratio=1", "", all},
		{"always on", 0.1, "always_on", "", "sampler=always_on", "", all},
		{"parent-based always off", 0.1, "parentbased_always_off", "", "sampler=parentbased_always_off", "", none},
		{"always off, argument ignored", 1, "always_off", "0.5", "sampler=always_off", "", none},
		{"case and spaces", 0.1, " TraceIDRatio ", " 0.5 ", "sampler=traceidratio ratio=0.5", "", some},
		{"ratio zero", 0.1, "traceidratio", "0", "sampler=traceidratio ratio=0", "", none},
		{"bad argument", 0.1, "traceidratio", "half", "sampler=traceidratio ratio=1", `OTEL_TRACES_SAMPLER_ARG \"half\"`, all},
		{"argument above 1", 0.1, "parentbased_traceidratio", "1.5", "sampler=parentbased_traceidratio ratio=1", `OTEL_TRACES_SAMPLER_ARG \"1.5\"`, all},
		{"unknown sampler", 0.1, "jaeger_remote", "", "sampler=parentbased_always_on", `OTEL_TRACES_SAMPLER \"jaeger_remote\"`, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tt.arg)
			var errLine strings.Builder
			p, _ := setup(t, tracing.Config{Ratio: tt.ratio, Logger: log.NewLogfmtLogger(&errLine)})
			var line strings.Builder
			_ = log.NewLogfmtLogger(&line).Log(p.Keyvals()...)
			got, _, _ := strings.Cut(strings.TrimSpace(line.String()), " dir=")
			if got != tt.want {
				t.Errorf("line %q, want %q", got, tt.want)
			}
			if tt.wantErr == "" && errLine.Len() > 0 || !strings.Contains(errLine.String(), tt.wantErr) {
				t.Errorf("error line %q, want one with %q", errLine.String(), tt.wantErr)
			}

			h := tracing.HTTPHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			recorded := 0
			for range 200 {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
				if w.Header().Get(tracing.TraceIDHeader) != "" {
					recorded++
				}
			}
			switch {
			case tt.record == all && recorded != 200,
				tt.record == none && recorded != 0,
				tt.record == some && (recorded == 0 || recorded == 200):
				t.Errorf("%d of 200 new traces recorded", recorded)
			}
		})
	}
}

// TestNewTraceSampling checks the requests that come without a
// traceparent: each gets a valid span context, the handler's, sampled
// exactly when its server span is recorded, under the trace id the span
// was recorded with; about the ratio of them are recorded.
func TestNewTraceSampling(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	_, rec := setup(t, tracing.Config{Ratio: 0.5})
	var inner trace.SpanContext
	h := tracing.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
	}))
	sampled := map[trace.TraceID]bool{}
	for range 400 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		if !inner.IsValid() {
			t.Fatal("a request without a span context")
		}
		if got := w.Header().Get(tracing.TraceIDHeader); inner.IsSampled() != (got != "") || got != "" && got != inner.TraceID().String() {
			t.Fatalf("sampled %v, Trace-Id %q, trace %s", inner.IsSampled(), got, inner.TraceID())
		}
		if inner.IsSampled() {
			sampled[inner.TraceID()] = true
		}
	}
	spans := rec.Ended()
	if len(spans) != len(sampled) {
		t.Fatalf("%d spans for %d sampled requests", len(spans), len(sampled))
	}
	for _, s := range spans {
		if !sampled[s.SpanContext().TraceID()] || s.Parent().IsValid() || s.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %s (parent %v, kind %s): want the root server span of a sampled request", s.SpanContext().TraceID(), s.Parent().IsValid(), s.SpanKind())
		}
	}
	// 400 draws at 1/2: more than 8 standard deviations from either bound.
	if n := len(sampled); n < 120 || n > 280 {
		t.Errorf("%d of 400 new traces recorded at ratio 0.5", n)
	}
}

// TestUnsampledHop checks what an unsampled request passes on: its trace
// id, unsampled, to the upstream, and no span. With a sampler that is not
// parent-based the client span is still started, as the sampler may
// record it.
func TestUnsampledHop(t *testing.T) {
	for _, tt := range []struct {
		sampler     string
		wantRecords bool
	}{
		{"", false},
		{"traceidratio", true}, // ratio 1: records the child of an unsampled parent
	} {
		t.Run("sampler="+tt.sampler, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			_, rec := setup(t, tracing.Config{Ratio: 1})
			var got string
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get("Traceparent")
				w.Header().Set(tracing.TraceIDHeader, parentTrace)
			}))
			defer upstream.Close()
			ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: mustTraceID(t, parentTrace), SpanID: mustSpanID(t, parentSpan)}))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, upstream.URL, nil)
			resp, err := (&http.Client{Transport: tracing.Transport(nil)}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Header.Get(tracing.TraceIDHeader) != "" {
				t.Error("the upstream's Trace-Id passed through")
			}
			if recorded := len(rec.Ended()) > 0; recorded != tt.wantRecords {
				t.Fatalf("client span recorded %v, want %v", recorded, tt.wantRecords)
			}
			if !tt.wantRecords && got != "00-"+parentTrace+"-"+parentSpan+"-00" {
				t.Errorf("upstream saw traceparent %q, want the caller's, unsampled", got)
			}
			if tt.wantRecords && !strings.HasPrefix(got, "00-"+parentTrace+"-") {
				t.Errorf("upstream saw traceparent %q, want the caller's trace", got)
			}
		})
	}
}

// TestUnsampledRequestAllocations bounds what a new trace the sampler
// drops costs: its span context on the request's context and the request
// that carries it.
func TestUnsampledRequestAllocations(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	setup(t, tracing.Config{Ratio: 0})
	h := tracing.HTTPHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	var w discard
	if allocs := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) }); allocs > 3 {
		t.Errorf("%v allocations per unsampled request, want at most 3", allocs)
	}
}

func mustTraceID(t *testing.T, s string) trace.TraceID {
	t.Helper()
	id, err := trace.TraceIDFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustSpanID(t *testing.T, s string) trace.SpanID {
	t.Helper()
	id, err := trace.SpanIDFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
