package logging

import (
	"context"

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
func AppendTrace(kv []any, ctx context.Context) []any {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		kv = append(kv, TraceIDKey, sc.TraceID().String(), SpanIDKey, sc.SpanID().String())
	}
	return kv
}

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
