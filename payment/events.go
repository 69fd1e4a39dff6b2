package payment

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

// Source is the service's name in the envelopes of its events.
const Source = "payment"

// Timing of the order events' consumption. A charge holds its message for
// as long as the provider takes (seconds for pm_card_slow), so
// HandlerTimeout bounds one delivery's handling and AckWait, above it,
// is when JetStream gives the message to another instance: one that died
// mid-charge. MaxDeliver leaves an order.cancelled that waits for a charge
// in flight (ErrChargeInFlight) time to outlast that redelivery: with
// kit/subscriber's backoff (1 s doubling to 1 min) its attempts span about
// four minutes before it is dead-lettered.
const (
	HandlerTimeout = 30 * time.Second
	AckWait        = 60 * time.Second
	MaxDeliver     = 10
)

// Stream is the stream of the service's own events, which Publish's relay
// publishes from the outbox.
func Stream() events.StreamConfig {
	return events.StreamConfig{Name: paymentv1.Stream, Subjects: []string{paymentv1.StreamSubjects}}
}

// OrderStream is the order service's stream, which the service consumes.
func OrderStream() events.StreamConfig {
	return events.StreamConfig{Name: orderv1.Stream, Subjects: []string{orderv1.StreamSubjects}}
}

// OrderConsumer is the service's durable consumer of OrderStream:
// order.confirmed and order.cancelled, shared by its instances.
func OrderConsumer() events.ConsumerConfig {
	return events.ConsumerConfig{
		Durable:  Consumer,
		Subjects: []string{orderv1.SubjectConfirmed, orderv1.SubjectCancelled},
		AckWait:  AckWait,
	}
}

// paymentEvent builds the outbox event that reports p moving to t.To.
// Events of one order's payment share the aggregate "payment/<order id>",
// so they are published in the order they happened.
func paymentEvent(ctx context.Context, p Payment, t Transition) (outbox.Event, error) {
	var (
		subject string
		data    proto.Message
	)
	switch t.To {
	case StatusSucceeded:
		subject, data = paymentv1.SubjectSucceeded, &paymentv1.PaymentSucceeded{
			PaymentId: p.ID, OrderId: p.OrderID, UserId: p.UserID,
			AmountMinor: p.AmountMinor, Currency: p.Currency, Method: p.Method,
		}
	case StatusFailed:
		subject, data = paymentv1.SubjectFailed, &paymentv1.PaymentFailed{
			PaymentId: p.ID, OrderId: p.OrderID, UserId: p.UserID,
			AmountMinor: p.AmountMinor, Currency: p.Currency, Method: p.Method,
			DeclineCode: t.DeclineCode, Message: t.Message,
		}
	case StatusRefunded:
		subject, data = paymentv1.SubjectRefunded, &paymentv1.PaymentRefunded{
			PaymentId: p.ID, OrderId: p.OrderID, UserId: p.UserID,
			AmountMinor: p.AmountMinor, Currency: p.Currency,
		}
	default:
		return outbox.Event{}, fmt.Errorf("payment: no event reports status %s", t.To)
	}
	return events.New(ctx, Source, subject, "payment/"+p.OrderID, data)
}
