package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/tracing/tracefile"
)

// record installs a provider that samples per the ratio and records every
// finished span, for the test's duration.
func record(t *testing.T, ratio float64) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(tracing.Sampler(ratio)), sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	// Setup also installs the propagator; do it without an exporter.
	if _, err := tracing.Setup(context.Background(), tracing.Config{Service: "test", Ratio: ratio}); err != nil {
		t.Fatal(err)
	}
	otel.SetTracerProvider(tp)
	return rec
}

const (
	parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpan  = "00f067aa0ba902b7"
)

func TestHTTPHandler(t *testing.T) {
	tests := []struct {
		name        string
		traceparent string
		ratio       float64
		status      int
		wantSpan    bool
		wantParent  string
		wantError   bool
		wantType    string
	}{
		{"sampled parent", "00-" + parentTrace + "-" + parentSpan + "-01", 0, http.StatusOK, true, parentSpan, false, ""},
		{"unsampled parent", "00-" + parentTrace + "-" + parentSpan + "-00", 1, http.StatusOK, false, "", false, ""},
		{"new trace at ratio 1", "", 1, http.StatusCreated, true, "", false, ""},
		{"new trace at ratio 0", "", 0, http.StatusOK, false, "", false, ""},
		{"server error", "", 1, http.StatusBadGateway, true, "", true, "unavailable"},
		{"client error is no failure", "", 1, http.StatusNotFound, true, "", false, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(t, tt.ratio)
			var inner trace.SpanContext
			h := tracing.HTTPHandler(tracing.Route("POST /things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inner = trace.SpanContextFromContext(r.Context())
				w.WriteHeader(tt.status)
			})))
			req := httptest.NewRequest(http.MethodPost, "/things/1?token=secret", nil)
			if tt.traceparent != "" {
				req.Header.Set("Traceparent", tt.traceparent)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)

			spans := rec.Ended()
			if !tt.wantSpan {
				if len(spans) != 0 || w.Header().Get(tracing.TraceIDHeader) != "" {
					t.Fatalf("%d spans and Trace-Id %q, want none", len(spans), w.Header().Get(tracing.TraceIDHeader))
				}
				if tt.traceparent != "" && inner.TraceID().String() != parentTrace {
					t.Errorf("handler's trace = %s, want the caller's %s even unsampled", inner.TraceID(), parentTrace)
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if got := w.Header().Get(tracing.TraceIDHeader); got != s.SpanContext().TraceID().String() {
				t.Errorf("Trace-Id = %q, want %s", got, s.SpanContext().TraceID())
			}
			if got := s.Parent().SpanID(); tt.wantParent != "" && got.String() != tt.wantParent {
				t.Errorf("parent = %s, want %s", got, tt.wantParent)
			}
			if s.Name() != "POST /things/{id}" || s.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q of kind %s, want the route, server", s.Name(), s.SpanKind())
			}
			if (s.Status().Code == codes.Error) != tt.wantError {
				t.Errorf("status %v, want error %v", s.Status(), tt.wantError)
			}
			gotType := ""
			for _, kv := range s.Attributes() {
				if kv.Key == "error.type" {
					gotType = kv.Value.AsString()
				}
			}
			if gotType != tt.wantType {
				t.Errorf("error.type %q, want %q", gotType, tt.wantType)
			}
			for _, kv := range s.Attributes() {
				if v := kv.Value.Emit(); kv.Key == "url.query" || v == "/things/1?token=secret" {
					t.Errorf("attribute %s = %q: the query must not be recorded", kv.Key, v)
				}
			}
		})
	}
}

func TestTransport(t *testing.T) {
	rec := record(t, 1)
	var got http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set(tracing.TraceIDHeader, parentTrace)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer upstream.Close()

	ctx, parent := otel.Tracer("test").Start(context.Background(), "parent")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, upstream.URL, nil)
	req.Header.Set("Traceparent", "00-"+parentTrace+"-"+parentSpan+"-01") // the client's, to be replaced
	resp, err := (&http.Client{Transport: tracing.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()
	if resp.Header.Get(tracing.TraceIDHeader) != "" {
		t.Error("the upstream's Trace-Id passed through: the proxy's server span sets its own")
	}

	if req.Header.Get("Traceparent") != "00-"+parentTrace+"-"+parentSpan+"-01" {
		t.Error("the transport changed its caller's request")
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the client span and its parent", len(spans))
	}
	client := spans[0]
	want := "00-" + client.SpanContext().TraceID().String() + "-" + client.SpanContext().SpanID().String() + "-01"
	if got.Get("Traceparent") != want {
		t.Errorf("upstream saw traceparent %q, want the client span's %q", got.Get("Traceparent"), want)
	}
	if client.Parent().SpanID() != parent.SpanContext().SpanID() || client.SpanKind() != trace.SpanKindClient {
		t.Errorf("client span: parent %s kind %s", client.Parent().SpanID(), client.SpanKind())
	}
	if client.Status().Code != codes.Error {
		t.Errorf("a 503 should fail the client span, got %v", client.Status())
	}
}

func TestTransportWithoutTrace(t *testing.T) {
	rec := record(t, 1)
	var got string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("Traceparent") }))
	defer upstream.Close()
	resp, err := (&http.Client{Transport: tracing.Transport(nil)}).Get(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "" || len(rec.Ended()) != 0 {
		t.Errorf("traceparent %q and %d spans, want none without a trace on the context", got, len(rec.Ended()))
	}
}

func TestEndpointMiddleware(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantType   string
		wantStatus codes.Code
	}{
		{"success", nil, "", codes.Unset},
		{"business error", errs.New(errs.NotFound, "no such order"), "not_found", codes.Unset},
		{"failure", errs.Wrap(errors.New("dial tcp: refused; password=hunter2"), errs.Unavailable, "catalog unavailable"), "unavailable", codes.Error},
		{"canceled", context.Canceled, "canceled", codes.Unset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(t, 1)
			ctx, parent := otel.Tracer("test").Start(context.Background(), "transport")
			ep := tracing.EndpointMiddleware("order.CreateOrder")(func(context.Context, any) (any, error) { return nil, tt.err })
			_, _ = ep(ctx, nil)
			parent.End()
			s := rec.Ended()[0]
			if s.Name() != "order.CreateOrder" || s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Fatalf("span %q parent %s, want the endpoint under the transport's span", s.Name(), s.Parent().SpanID())
			}
			gotType := ""
			for _, kv := range s.Attributes() {
				if kv.Key == "error.type" {
					gotType = kv.Value.AsString()
				}
			}
			if gotType != tt.wantType || s.Status().Code != tt.wantStatus {
				t.Errorf("error.type %q status %v, want %q %v", gotType, s.Status().Code, tt.wantType, tt.wantStatus)
			}
			if s.Status().Description != "" && s.Status().Description != errs.Message(tt.err) {
				t.Errorf("status %q: want the client-safe message, not the cause", s.Status().Description)
			}
		})
	}
}

func TestEndpointMiddlewareUnsampled(t *testing.T) {
	rec := record(t, 0)
	ctx, parent := otel.Tracer("test").Start(context.Background(), "transport")
	ep := tracing.EndpointMiddleware("order.CreateOrder")(func(context.Context, any) (any, error) { return nil, nil })
	if allocs := testing.AllocsPerRun(100, func() { _, _ = ep(ctx, nil) }); allocs != 0 {
		t.Errorf("%v allocations per unsampled call, want 0", allocs)
	}
	parent.End()
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans, want none", n)
	}
}

func TestSetup(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	tests := []struct {
		name        string
		cfg         tracing.Config
		env         map[string]string
		wantEnabled bool
		wantErr     bool
	}{
		{"no exporter: off", tracing.Config{Service: "s", Ratio: 1}, nil, false, false},
		{"file exporter", tracing.Config{Service: "s", Ratio: 1, Dir: t.TempDir()}, nil, true, false},
		{"disabled by the environment", tracing.Config{Service: "s", Ratio: 1, Dir: t.TempDir()}, map[string]string{"OTEL_SDK_DISABLED": "true"}, false, false},
		{"ratio above 1", tracing.Config{Service: "s", Ratio: 1.5}, nil, false, true},
		{"unknown OTLP protocol", tracing.Config{Service: "s", Ratio: 1}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			p, err := tracing.Setup(context.Background(), tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer p.Shutdown(context.Background())
			if p.Enabled() != tt.wantEnabled || tracing.Enabled() != tt.wantEnabled {
				t.Errorf("enabled %v (global %v), want %v", p.Enabled(), tracing.Enabled(), tt.wantEnabled)
			}
		})
	}
}

// TestFileRoundTrip writes a request's spans through Setup's file exporter
// and reads them back with tracefile.
func TestFileRoundTrip(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	dir := t.TempDir()
	p, err := tracing.Setup(context.Background(), tracing.Config{Service: "order", Instance: "order-1", Ratio: 1, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	h := tracing.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := tracing.EndpointMiddleware("order.GetOrder")(func(context.Context, any) (any, error) {
			return nil, errs.New(errs.Internal, "")
		})
		_, _ = ep(r.Context(), nil)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/orders/1", nil))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := w.Header().Get(tracing.TraceIDHeader)
	spans, err := tracefile.Load(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	server, ep := spans[0], spans[1]
	if ep.ParentID != server.SpanID || server.Service != "order" || server.Instance != "order-1" || server.Kind != "server" {
		t.Errorf("server %+v\nendpoint %+v", server, ep)
	}
	if ep.Status != "error" || ep.Attributes["error.type"] != "internal" {
		t.Errorf("endpoint span status %q error.type %v, want error, internal", ep.Status, ep.Attributes["error.type"])
	}
}

func TestErrorsThrottled(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	var b strings.Builder
	if _, err := tracing.Setup(context.Background(), tracing.Config{Service: "s", Ratio: 1, Logger: log.NewLogfmtLogger(&b)}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		otel.Handle(errors.New("traces export: connection refused"))
	}
	if n := strings.Count(b.String(), "tracing error"); n != 1 {
		t.Errorf("%d lines for 3 errors within a minute, want 1:\n%s", n, b.String())
	}
}
