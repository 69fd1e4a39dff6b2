package logging

import (
	"context"
	"encoding/hex"

	"github.com/go-kit/log"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/requestid"
)

// Keys of the ids that place a line in its request and its trace.
const (
	RequestIDKey = "request_id"
	TraceIDKey   = "trace_id"
	SpanIDKey    = "span_id"
)

// AppendRequest appends to kv the ids of the request ctx is serving:
// request_id (kit/requestid), trace_id and span_id (the OpenTelemetry span
// on ctx), each when ctx has it.
func AppendRequest(kv []any, ctx context.Context) []any {
	if id := requestid.FromContext(ctx); id != "" {
		kv = append(kv, RequestIDKey, id)
	}
	return AppendTrace(kv, ctx)
}

// AppendTrace appends trace_id and span_id to kv when ctx carries a span
// context, recorded or not: an unsampled request's ids still join its
// lines across services.
//
// The ids are appended as values that format themselves (fmt.Stringer,
// encoding.TextMarshaler) when a logger writes the line, not as strings:
// one small allocation per line instead of four, and none of the hex
// encoding for a line a level filter drops.
func AppendTrace(kv []any, ctx context.Context) []any {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		ids := &spanIDs{trace: sc.TraceID(), span: sc.SpanID()}
		kv = append(kv, TraceIDKey, (*traceIDValue)(ids), SpanIDKey, (*spanIDValue)(ids))
	}
	return kv
}

// spanIDs holds the ids of a span context for the two values of a line:
// *traceIDValue and *spanIDValue point into the same allocation.
type spanIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

// traceIDValue is the trace_id of a line, written as 32 hex digits.
type traceIDValue spanIDs

func (v *traceIDValue) String() string { return v.trace.String() }

// MarshalText is what go-logfmt and encoding/json write.
func (v *traceIDValue) MarshalText() ([]byte, error) { return v.appendText(nil), nil }

func (v *traceIDValue) appendText(b []byte) []byte { return hex.AppendEncode(b, v.trace[:]) }

// spanIDValue is the span_id of a line, written as 16 hex digits.
type spanIDValue spanIDs

func (v *spanIDValue) String() string { return v.span.String() }

// MarshalText is what go-logfmt and encoding/json write.
func (v *spanIDValue) MarshalText() ([]byte, error) { return v.appendText(nil), nil }

func (v *spanIDValue) appendText(b []byte) []byte { return hex.AppendEncode(b, v.span[:]) }

// WithRequest returns logger with the ids of the request ctx is serving
// (AppendRequest), for the lines a request writes outside the endpoint
// log: failures, panics, retries.
func WithRequest(logger log.Logger, ctx context.Context) log.Logger {
	kv := AppendRequest(make([]any, 0, 6), ctx)
	if len(kv) == 0 {
		return logger
	}
	return log.With(logger, kv...)
}
