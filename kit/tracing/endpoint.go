package tracing

import (
	"context"
	"errors"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitshop/kitshop/kit/errs"
)

// EndpointMiddleware gives each call of a go-kit endpoint a span named
// name (such as "order.PlaceOrder"), a child of the transport's span. A
// call whose transport span is not recorded gets none: under the
// parent-based sampler it would not be recorded either, and skipping it
// saves the span.
func EndpointMiddleware(name string) endpoint.Middleware {
	t := tracer()
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (response any, err error) {
			if !trace.SpanFromContext(ctx).IsRecording() {
				return next(ctx, request)
			}
			ctx, span := t.Start(ctx, name)
			defer func() {
				Fail(span, err)
				span.End()
			}()
			return next(ctx, request)
		}
	}
}

// Fail marks span with err's kind (kit/errs) as "error.type". Errors of
// a business kind (not found, invalid input, …) leave the span's status
// unset, as a 4xx does: the call worked, the caller was answered no. Other
// errors set it to Error with the error's client-safe message, never its
// cause. A nil err changes nothing.
func Fail(span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	kind := errs.KindOf(err)
	if errors.Is(err, context.Canceled) {
		span.SetAttributes(attribute.String("error.type", "canceled"))
		return
	}
	span.SetAttributes(attribute.String("error.type", kind.String()))
	if !kind.Business() {
		span.SetStatus(codes.Error, errs.Message(err))
	}
}
