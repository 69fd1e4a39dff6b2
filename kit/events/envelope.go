package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/outbox"
	eventsv1 "github.com/kitshop/kitshop/proto/events/v1"
)

// Message is a received event: the envelope's attributes and the event's
// own message.
type Message struct {
	ID      string
	Source  string
	Type    string // the subject it was published on
	Subject string // the entity it is about ("order/<id>")
	Time    time.Time
	// TraceParent and TraceState are the producer's W3C trace context.
	TraceParent, TraceState string
	// Data is the event, e.g. *orderv1.OrderConfirmed.
	Data proto.Message
}

// New builds the outbox event that publishes data on subject: an envelope
// with a new id, the source service, the time, the trace context of ctx (if
// any) and the entity it is about (aggregate, e.g. "order/<id>"), whose
// events are published in the order they are added.
func New(ctx context.Context, source, subject, aggregate string, data proto.Message) (outbox.Event, error) {
	if source == "" || subject == "" || aggregate == "" || data == nil {
		return outbox.Event{}, errors.New("events: an event needs a source, a subject, an aggregate and data")
	}
	packed, err := anypb.New(data)
	if err != nil {
		return outbox.Event{}, fmt.Errorf("events: %w", err)
	}
	id := uuid.New()
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	env := &eventsv1.Envelope{
		Id:          id.String(),
		Source:      source,
		Type:        subject,
		Time:        timestamppb.Now(),
		Subject:     aggregate,
		Traceparent: carrier.Get("traceparent"),
		Tracestate:  carrier.Get("tracestate"),
		Data:        packed,
	}
	body, err := proto.Marshal(env)
	if err != nil {
		return outbox.Event{}, fmt.Errorf("events: %w", err)
	}
	return outbox.Event{ID: id, Aggregate: aggregate, Subject: subject, Type: subject, Payload: body}, nil
}

// Unmarshal reads an envelope and unpacks its data. The data's type must be
// linked into the program (import its proto package); an unknown type is an
// error, as is an envelope without an id, a type or data.
func Unmarshal(body []byte) (Message, error) {
	var env eventsv1.Envelope
	if err := proto.Unmarshal(body, &env); err != nil {
		return Message{}, fmt.Errorf("events: envelope: %w", err)
	}
	if _, err := uuid.Parse(env.GetId()); err != nil {
		return Message{}, fmt.Errorf("events: envelope id %q: %w", env.GetId(), err)
	}
	if env.GetType() == "" || env.GetData() == nil {
		return Message{}, fmt.Errorf("events: envelope %s without a type or data", env.GetId())
	}
	data, err := env.GetData().UnmarshalNew()
	if err != nil {
		return Message{}, fmt.Errorf("events: envelope %s data: %w", env.GetId(), err)
	}
	return Message{
		ID: env.GetId(), Source: env.GetSource(), Type: env.GetType(), Subject: env.GetSubject(),
		Time: env.GetTime().AsTime(), TraceParent: env.GetTraceparent(), TraceState: env.GetTracestate(),
		Data: data,
	}, nil
}

// Decode is a kit/subscriber DecodeFunc: it returns the message's Message.
// A body that is not an envelope, or whose id differs from the message's
// Nats-Msg-Id, is an error, so the subscriber dead-letters it as poison.
func Decode(_ context.Context, msg jetstream.Msg) (any, error) {
	m, err := Unmarshal(msg.Data())
	if err != nil {
		return nil, err
	}
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" && id != m.ID {
		return nil, fmt.Errorf("events: envelope id %s differs from Nats-Msg-Id %s", m.ID, id)
	}
	return m, nil
}
