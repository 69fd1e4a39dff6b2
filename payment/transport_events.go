package payment

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/subscriber"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

// NewSubscriber serves the event handlers on the order events: a
// kit/subscriber whose Handle goes to a consumer of OrderStream
// (OrderConsumer). It decodes order.confirmed and order.cancelled and runs
// the handler of each; a message that is not one of them, or whose order
// the service could never store (ValidateOrderEvent), is poison and is
// dead-lettered at once.
//
// It settles messages as kit/subscriber does: acked once handled, nak'ed
// with a backoff after an error a retry may cure (a charge in flight, the
// provider or the database out), dead-lettered on the MaxDeliver-th
// failure. opts come after its defaults (Timeout HandlerTimeout,
// MaxDeliver MaxDeliver), so they win; add the service's dead letters,
// logger and metrics (app.SubscriberOptions).
func NewSubscriber(eps EventEndpoints, opts ...subscriber.Option) *subscriber.Subscriber {
	defaults := []subscriber.Option{subscriber.Timeout(HandlerTimeout), subscriber.MaxDeliver(MaxDeliver)}
	return subscriber.New(eps.dispatch, decodeOrderEvent, append(defaults, opts...)...)
}

// orderMessage is a decoded order event and the subject it came on.
type orderMessage struct {
	subject string
	event   OrderEvent
}

// dispatch runs the handler of the message's subject.
func (e EventEndpoints) dispatch(ctx context.Context, request any) (any, error) {
	m, ok := request.(orderMessage)
	if !ok {
		return nil, errs.Wrap(fmt.Errorf("unexpected request type %T", request), errs.Internal, "")
	}
	if m.subject == orderv1.SubjectCancelled {
		return e.OrderCancelled(ctx, m.event)
	}
	return e.OrderConfirmed(ctx, m.event)
}

// decodeOrderEvent is the subscriber's DecodeFunc: the envelope
// (events.Decode), then the order event its subject announces.
func decodeOrderEvent(ctx context.Context, msg jetstream.Msg) (any, error) {
	decoded, err := events.Decode(ctx, msg)
	if err != nil {
		return nil, err
	}
	m := decoded.(events.Message)
	if m.Type != msg.Subject() {
		return nil, fmt.Errorf("payment: event %s of type %s on subject %s", m.ID, m.Type, msg.Subject())
	}
	var o *orderv1.Order
	switch data := m.Data.(type) {
	case *orderv1.OrderConfirmed:
		if m.Type == orderv1.SubjectConfirmed {
			o = data.GetOrder()
		}
	case *orderv1.OrderCancelled:
		if m.Type == orderv1.SubjectCancelled {
			o = data.GetOrder()
		}
	}
	if o == nil {
		return nil, fmt.Errorf("payment: event %s: %s without an order (%T)", m.ID, m.Type, m.Data)
	}
	ev, err := ValidateOrderEvent(OrderEvent{EventID: m.ID, Order: Order{
		ID: o.GetId(), UserID: o.GetUserId(), TotalMinor: o.GetTotalMinor(),
		Currency: o.GetCurrency(), PaymentMethod: o.GetPaymentMethod(),
	}})
	if err != nil {
		return nil, fmt.Errorf("payment: event %s: %w", m.ID, err)
	}
	return orderMessage{subject: m.Type, event: ev}, nil
}
