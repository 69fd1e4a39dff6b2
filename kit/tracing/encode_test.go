package tracing_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/tracing/tracefile"
)

// TestAppendSpan checks the file exporter's hand-written JSON against
// encoding/json's encoding of the same record.
func TestAppendSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(resource.NewSchemaless(
		attribute.String("service.name", "order"), attribute.String("service.instance.id", "order-\"1\""))))
	tr := tp.Tracer("test")
	ctx, parent := tr.Start(context.Background(), "parent")
	_, s := tr.Start(ctx, "SQL \"SELECT\"\n\t\x01 é \xff 日本", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: parent.SpanContext()}))
	s.SetAttributes(
		attribute.String("db.query.text", `SELECT * FROM t WHERE a = $1 AND b = '\'`),
		attribute.Int64("rows", -42),
		attribute.Float64("ratio", 0.125),
		attribute.Bool("ok", true),
		attribute.StringSlice("tags", []string{"a", "b"}),
	)
	s.SetStatus(codes.Error, "service temporarily unavailable <&>")
	s.End()
	parent.End()

	for _, ro := range rec.Ended() {
		t.Run(ro.Name(), func(t *testing.T) {
			line := tracing.AppendSpan(nil, ro)
			if line[len(line)-1] != '\n' {
				t.Fatal("no newline at the end")
			}
			var got, want tracefile.Span
			if err := json.Unmarshal(line, &got); err != nil {
				t.Fatalf("%v in %s", err, line)
			}
			std, err := json.Marshal(tracing.Record(ro))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(std, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v\nline %s", got, want, line)
			}
		})
	}
}
