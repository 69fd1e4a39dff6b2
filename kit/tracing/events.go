package tracing

import (
	"context"
	"net/http"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// The envelope's fields that carry the producer's trace context
// (proto/events/v1/envelope.proto).
const (
	envelopeTraceparent protowire.Number = 6
	envelopeTracestate  protowire.Number = 7
)

// EnvelopeContext returns the trace context stored in an event envelope
// (kitshop.events.v1.Envelope, marshalled) by events.New: the span that
// produced the event. It reads only those two fields, without decoding
// the event. The context is invalid when the envelope has none.
func EnvelopeContext(envelope []byte) trace.SpanContext {
	var parent, state string
	b := envelope
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return trace.SpanContext{}
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == envelopeTraceparent || num == envelopeTracestate) {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return trace.SpanContext{}
			}
			if num == envelopeTraceparent {
				parent = string(v)
			} else {
				state = string(v)
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return trace.SpanContext{}
		}
		b = b[m:]
	}
	if parent == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": parent}
	if state != "" {
		carrier["tracestate"] = state
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
}

var (
	producerStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	noEnd         = func(error) {}
)

// PublishEvent is a kit/outbox publish tracer: it starts the relay's span
// for one event, "publish <subject>", a child of the producer's context
// in the envelope, and puts the span's context in the message's
// traceparent header for the consumers. An event without a trace context
// (made while tracing was off) gets no span.
func PublishEvent(ctx context.Context, msg *nats.Msg) (context.Context, func(error)) {
	producer := EnvelopeContext(msg.Data)
	if !producer.IsValid() {
		return ctx, noEnd
	}
	ctx, span := tracer().Start(trace.ContextWithRemoteSpanContext(ctx, producer), "publish "+msg.Subject, producerStart...)
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(http.Header(msg.Header)))
	if !span.IsRecording() {
		span.End()
		return ctx, noEnd
	}
	span.SetAttributes(
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", msg.Subject),
	)
	return ctx, func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, "publish failed")
			span.SetAttributes(attribute.String("error.type", "unavailable"))
		}
		span.End()
	}
}

var consumerStart = trace.WithSpanKind(trace.SpanKindConsumer)

// ConsumeEvent returns a kit/subscriber span function for the durable
// consumer: it starts "process <subject>" around one delivery's handling,
// a child of the relay's span (the message's traceparent header) and
// linked to the producer's span (the envelope's context), which is also
// its parent when the message has no header. An event with neither gets
// no span.
func ConsumeEvent(consumer string) func(context.Context, jetstream.Msg) (context.Context, func(error)) {
	t := tracer()
	return func(ctx context.Context, msg jetstream.Msg) (context.Context, func(error)) {
		producer := EnvelopeContext(msg.Data())
		parent := producer
		if h := msg.Headers(); h != nil {
			if sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(http.Header(h)))); sc.IsValid() {
				parent = sc
			}
		}
		if !parent.IsValid() {
			return ctx, noEnd
		}
		opts := []trace.SpanStartOption{consumerStart}
		if producer.IsValid() && producer.SpanID() != parent.SpanID() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: producer}))
		}
		ctx, span := t.Start(trace.ContextWithRemoteSpanContext(ctx, parent), "process "+msg.Subject(), opts...)
		if !span.IsRecording() {
			span.End()
			return ctx, noEnd
		}
		attrs := []attribute.KeyValue{
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", msg.Subject()),
			attribute.String("messaging.consumer.group.name", consumer),
		}
		if h := msg.Headers(); h != nil {
			if id := h.Get(jetstream.MsgIDHeader); id != "" {
				attrs = append(attrs, attribute.String("messaging.message.id", id))
			}
		}
		if md, err := msg.Metadata(); err == nil {
			attrs = append(attrs, attribute.String("messaging.nats.delivered", strconv.FormatUint(md.NumDelivered, 10)))
		}
		span.SetAttributes(attrs...)
		return ctx, func(err error) {
			Fail(span, err)
			span.End()
		}
	}
}
