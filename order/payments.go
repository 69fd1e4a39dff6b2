package order

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

// PaymentStream is the payment service's stream, whose outcomes the order
// service follows, and PaymentSubjects the events it reads from it.
var (
	PaymentStream   = events.StreamConfig{Name: paymentv1.Stream, Subjects: []string{paymentv1.StreamSubjects}}
	PaymentSubjects = []string{paymentv1.SubjectSucceeded, paymentv1.SubjectFailed}
)

// PaymentFollower moves orders along with their payments, the last step
// of the saga: a confirmed order whose payment succeeded becomes paid; one
// whose payment was declined is cancelled (payment_declined) and its stock
// released, the compensation. Each step is one transaction with the
// event's inbox row and the order's own event, so a redelivered payment
// event changes nothing.
//
// A payment that succeeds for an order cancelled meanwhile changes
// nothing here: the payment service refunds it when it sees the
// cancellation.
type PaymentFollower struct {
	saga
	releaseTimeout time.Duration
}

// NewPaymentFollower returns a follower storing in repo and releasing
// stock in catalog.
func NewPaymentFollower(repo Repository, catalog Catalog) *PaymentFollower {
	return &PaymentFollower{saga: saga{repo: repo, catalog: catalog}, releaseTimeout: 2 * time.Second}
}

// Apply handles one event of the payment service. An event about an
// unknown or malformed order is a business error (kit/subscriber acks and
// counts it); a database failure is retried by redelivery.
func (f *PaymentFollower) Apply(ctx context.Context, m events.Message) error {
	switch ev := m.Data.(type) {
	case *paymentv1.PaymentSucceeded:
		id, err := ParseID(ev.GetOrderId())
		if err != nil {
			return err
		}
		_, _, err = f.repo.Transition(ctx, id, []Status{StatusConfirmed},
			Transition{To: StatusPaid, Inbox: m.ID, Payment: PaymentOutcome{ID: ev.GetPaymentId()}})
		return err

	case *paymentv1.PaymentFailed:
		id, err := ParseID(ev.GetOrderId())
		if err != nil {
			return err
		}
		_, ok, err := f.repo.Transition(ctx, id, []Status{StatusConfirmed}, Transition{
			To: StatusCancelled, ReleasePending: true, CancelReason: CancelledPaymentDenied, Inbox: m.ID,
			Payment: PaymentOutcome{ID: ev.GetPaymentId(), DeclineCode: ev.GetDeclineCode(), Message: ev.GetMessage()},
		})
		if err != nil || !ok {
			return err
		}
		// Best effort: the recovery loop releases what fails here.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.releaseTimeout)
		defer cancel()
		_ = f.release(rctx, id)
		return nil

	default:
		return errs.New(errs.Invalid, fmt.Sprintf("order: unexpected event %s (%T)", m.Type, m.Data))
	}
}

// MakePaymentEventsEndpoint is the endpoint kit/subscriber runs on the
// payment service's events (decoded by events.Decode).
func MakePaymentEventsEndpoint(f *PaymentFollower) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		m, ok := request.(events.Message)
		if !ok {
			return nil, errs.New(errs.Invalid, fmt.Sprintf("order: unexpected request %T", request))
		}
		return nil, f.Apply(ctx, m)
	}
}
