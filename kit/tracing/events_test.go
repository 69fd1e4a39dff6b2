package tracing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/tracing"
)

// TestEventSpans carries a trace through a real broker as kitshop does:
// events.New stores the producer's context in the envelope, PublishEvent
// (the relay) publishes under a span of its own, and ConsumeEvent starts
// the consumer's span as a child of the relay's, linked to the producer's.
func TestEventSpans(t *testing.T) {
	rec := record(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := testenv.JetStream(t, testenv.NATS(t).URL())
	name := fmt.Sprintf("T%d", time.Now().UnixNano())
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	defer js.DeleteStream(context.Background(), name)

	// The producer: an endpoint's span stores the event.
	pctx, producer := otel.Tracer("test").Start(ctx, "order.CreateOrder")
	ev, err := events.New(pctx, "order", name+".confirmed", "order/1", wrapperspb.String("o-1"))
	if err != nil {
		t.Fatal(err)
	}
	producer.End()
	if got := tracing.EnvelopeContext(ev.Payload); got.SpanID() != producer.SpanContext().SpanID() {
		t.Fatalf("EnvelopeContext = %s, want the producer's span %s", got.SpanID(), producer.SpanContext().SpanID())
	}

	// The relay, with no span of its own on its context.
	msg := nats.NewMsg(ev.Subject)
	msg.Data = ev.Payload
	rctx, end := tracing.PublishEvent(context.Background(), msg)
	_, err = js.PublishMsg(rctx, msg, jetstream.WithMsgID(ev.ID.String()))
	end(err)
	if err != nil {
		t.Fatal(err)
	}

	// The consumer.
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got jetstream.Msg
	for m := range batch.Messages() {
		got = m
	}
	if got == nil {
		t.Fatal("no message")
	}
	cctx, done := tracing.ConsumeEvent("payment")(context.Background(), got)
	consumerCtx := trace.SpanContextFromContext(cctx)
	done(nil)

	spans := map[string]trace.SpanContext{}
	var relayParent, consumerParent trace.SpanID
	var links []sdktrace.Link
	for _, s := range rec.Ended() {
		spans[s.Name()] = s.SpanContext()
		switch s.SpanKind() {
		case trace.SpanKindProducer:
			relayParent = s.Parent().SpanID()
		case trace.SpanKindConsumer:
			consumerParent = s.Parent().SpanID()
			links = s.Links()
		}
	}
	relay, ok := spans["publish "+name+".confirmed"]
	if !ok {
		t.Fatalf("no relay span among %v", spans)
	}
	if relayParent != producer.SpanContext().SpanID() {
		t.Errorf("relay span's parent %s, want the producer %s", relayParent, producer.SpanContext().SpanID())
	}
	if _, ok := spans["process "+name+".confirmed"]; !ok || consumerParent != relay.SpanID() {
		t.Errorf("consumer span's parent %s, want the relay's %s", consumerParent, relay.SpanID())
	}
	if len(links) != 1 || links[0].SpanContext.SpanID() != producer.SpanContext().SpanID() {
		t.Errorf("consumer span's links %v, want the producer's span", links)
	}
	if consumerCtx.TraceID() != producer.SpanContext().TraceID() {
		t.Errorf("the consumer's context is in trace %s, want the producer's %s", consumerCtx.TraceID(), producer.SpanContext().TraceID())
	}
}
