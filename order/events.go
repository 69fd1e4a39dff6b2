package order

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

// Source names the order service in its events' envelopes.
const Source = "order"

// EventStream is the stream the order service publishes its events on.
var EventStream = events.StreamConfig{Name: orderv1.Stream, Subjects: []string{orderv1.StreamSubjects}}

// PlacedEvent is the event of a newly placed (pending) order.
func PlacedEvent(ctx context.Context, o Order) (outbox.Event, error) {
	return newEvent(ctx, o, orderv1.SubjectPlaced, &orderv1.OrderPlaced{Order: ToProto(o)})
}

// EventFor returns the event reporting that o moved from prev by t, and
// false for a change that reports none (a failed order: it was never
// confirmed, and its owner was told at once).
func EventFor(ctx context.Context, prev Status, o Order, t Transition) (outbox.Event, bool, error) {
	var (
		subject string
		data    proto.Message
		m       = ToProto(o)
	)
	switch {
	case t.To == StatusConfirmed:
		subject, data = orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: m}
	case t.To == StatusRejected:
		reason := "short stock"
		if len(t.Rejection) > 0 {
			reason = t.Rejection[0].Field + ": " + t.Rejection[0].Message
		}
		subject, data = orderv1.SubjectRejected, &orderv1.OrderRejected{Order: m, Reason: reason}
	case t.To == StatusPaid:
		subject, data = orderv1.SubjectPaid, &orderv1.OrderPaid{Order: m, PaymentId: t.Payment.ID}
	case t.To == StatusCancelled && t.CancelReason == CancelledPaymentDenied:
		subject, data = orderv1.SubjectPaymentFailed, &orderv1.OrderPaymentFailed{
			Order: m, PaymentId: t.Payment.ID, DeclineCode: t.Payment.DeclineCode, Message: t.Payment.Message,
		}
	case t.To == StatusCancelled:
		subject, data = orderv1.SubjectCancelled, &orderv1.OrderCancelled{
			Order: m, PreviousStatus: string(prev), Reason: t.CancelReason,
		}
	default:
		return outbox.Event{}, false, nil
	}
	e, err := newEvent(ctx, o, subject, data)
	return e, err == nil, err
}

func newEvent(ctx context.Context, o Order, subject string, data proto.Message) (outbox.Event, error) {
	return events.New(ctx, Source, subject, "order/"+o.ID, data)
}
