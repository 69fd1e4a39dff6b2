package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/go-kit/log"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/logging"
)

// TestAppendTraceWritesIDs checks that the ids AppendTrace adds are written
// as the span context's hex ids by every logger a process may use, sampled
// or not, and that a context without a span adds nothing.
func TestAppendTraceWritesIDs(t *testing.T) {
	tid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	sid := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	const wantTrace, wantSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	sampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	unsampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	loggers := []struct {
		name string
		new  func(*bytes.Buffer) log.Logger
	}{
		{"logfmt", func(b *bytes.Buffer) log.Logger { return logging.NewLogfmt(b) }},
		{"go-kit logfmt", func(b *bytes.Buffer) log.Logger { return log.NewLogfmtLogger(b) }},
		{"json", func(b *bytes.Buffer) log.Logger { return log.NewJSONLogger(b) }},
	}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"sampled", sampled, true},
		{"unsampled", unsampled, true},
		{"no span", context.Background(), false},
	} {
		for _, l := range loggers {
			t.Run(tt.name+"/"+l.name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := l.new(&buf).Log(logging.AppendTrace([]any{"msg", "m"}, tt.ctx)...); err != nil {
					t.Fatal(err)
				}
				var want string
				switch {
				case !tt.want && l.name == "json":
					want = `{"msg":"m"}` + "\n"
				case !tt.want:
					want = "msg=m\n"
				case l.name == "json":
					want = fmt.Sprintf(`{"msg":"m","span_id":%q,"trace_id":%q}`+"\n", wantSpan, wantTrace)
				default:
					want = fmt.Sprintf("msg=m trace_id=%s span_id=%s\n", wantTrace, wantSpan)
				}
				if buf.String() != want {
					t.Errorf("line = %q, want %q", buf.String(), want)
				}
				if l.name == "json" && !json.Valid(buf.Bytes()) {
					t.Errorf("not JSON: %s", buf.String())
				}
			})
		}
	}
	kv := logging.AppendTrace(nil, sampled)
	if got := fmt.Sprint(kv[1], " ", kv[3]); got != wantTrace+" "+wantSpan {
		t.Errorf("fmt.Sprint of the ids = %q", got)
	}
}

// BenchmarkAppendTrace is the cost of a line's trace ids before any logger
// formats them.
func BenchmarkAppendTrace(b *testing.B) {
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}}))
	kv := make([]any, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		kv = logging.AppendTrace(kv[:0], ctx)
	}
}
