package order_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox/outboxtest"
	"github.com/kitshop/kitshop/order"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

// outboxEvents returns the events of an order in the outbox, in order.
func outboxEvents(t *testing.T, pool *pgxpool.Pool, id string) []events.Message {
	t.Helper()
	var out []events.Message
	for _, e := range (&outboxtest.Reader{Pool: pool}).Next(t) {
		if e.Aggregate == "order/"+id {
			out = append(out, e.Message)
		}
	}
	return out
}

func types(ms []events.Message) []string {
	var ts []string
	for _, m := range ms {
		ts = append(ts, m.Type)
	}
	return ts
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// placeConfirmed places an order through the service and returns it.
func placeConfirmed(t *testing.T, svc order.Service, cat *fakeCatalog, user, method string) order.Order {
	t.Helper()
	p := cat.product("SKU-"+uuid.NewString()[:8], 1250, 10, "EUR")
	c, err := svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(p, 2)}, PaymentMethod: method})
	if err != nil || c.Order.Status != order.StatusConfirmed {
		t.Fatalf("create: %+v, %v", c, err)
	}
	return c.Order
}

func TestEventsFollowTheOrder(t *testing.T) {
	pool := newPool(t)
	cat := newFakeCatalog()
	repo := order.NewPostgres(pool)
	svc := order.NewService(repo, cat)
	follower := order.NewPaymentFollower(repo, cat)
	user := uuid.NewString()
	ctx := context.Background()

	t.Run("placed, confirmed, paid, cancelled", func(t *testing.T) {
		o := placeConfirmed(t, svc, cat, user, "")
		if o.PaymentMethod != order.DefaultPaymentMethod {
			t.Errorf("payment method = %q, want the default", o.PaymentMethod)
		}
		paid := events.Message{ID: uuid.NewString(), Type: paymentv1.SubjectSucceeded,
			Data: &paymentv1.PaymentSucceeded{PaymentId: "pay-1", OrderId: o.ID, UserId: user, AmountMinor: o.TotalMinor}}
		for range 3 { // redelivered: one effect
			if err := follower.Apply(ctx, paid); err != nil {
				t.Fatal(err)
			}
		}
		got, err := repo.Get(ctx, o.ID)
		if err != nil || got.Status != order.StatusPaid {
			t.Fatalf("after payment: %+v, %v", got, err)
		}
		if _, err := svc.Cancel(as(user), o.ID); err != nil {
			t.Fatal(err)
		}
		evs := outboxEvents(t, pool, o.ID)
		want := []string{orderv1.SubjectPlaced, orderv1.SubjectConfirmed, orderv1.SubjectPaid, orderv1.SubjectCancelled}
		if !equal(types(evs), want) {
			t.Fatalf("events = %v, want %v", types(evs), want)
		}
		confirmed := evs[1].Data.(*orderv1.OrderConfirmed).GetOrder()
		if confirmed.GetTotalMinor() != 2500 || confirmed.GetUserId() != user || confirmed.GetPaymentMethod() != order.DefaultPaymentMethod ||
			confirmed.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED || len(confirmed.GetItems()) != 1 {
			t.Errorf("confirmed event order = %v", confirmed)
		}
		if p := evs[2].Data.(*orderv1.OrderPaid); p.GetPaymentId() != "pay-1" {
			t.Errorf("paid event = %v", p)
		}
		c := evs[3].Data.(*orderv1.OrderCancelled)
		if c.GetPreviousStatus() != "paid" || c.GetReason() != order.CancelledByCustomer || c.GetOrder().GetCancelReason() != order.CancelledByCustomer {
			t.Errorf("cancelled event = %v", c)
		}
		for _, e := range evs {
			if e.Source != order.Source || e.Subject != "order/"+o.ID {
				t.Errorf("envelope = %+v", e)
			}
		}
	})

	t.Run("declined: cancelled, stock released", func(t *testing.T) {
		o := placeConfirmed(t, svc, cat, user, order.PaymentCardDeclined)
		failed := events.Message{ID: uuid.NewString(), Type: paymentv1.SubjectFailed,
			Data: &paymentv1.PaymentFailed{PaymentId: "pay-2", OrderId: o.ID, DeclineCode: "card_declined", Message: "Your card was declined."}}
		for range 2 {
			if err := follower.Apply(ctx, failed); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := repo.Get(ctx, o.ID)
		if got.Status != order.StatusCancelled || got.CancelReason != order.CancelledPaymentDenied {
			t.Fatalf("after decline: %+v", got)
		}
		if n := cat.stock(o.Items[0].ProductID); n != 10 {
			t.Errorf("stock after decline = %d, want 10 (released)", n)
		}
		evs := outboxEvents(t, pool, o.ID)
		want := []string{orderv1.SubjectPlaced, orderv1.SubjectConfirmed, orderv1.SubjectPaymentFailed}
		if !equal(types(evs), want) {
			t.Fatalf("events = %v, want %v", types(evs), want)
		}
		pf := evs[2].Data.(*orderv1.OrderPaymentFailed)
		if pf.GetDeclineCode() != "card_declined" || pf.GetPaymentId() != "pay-2" {
			t.Errorf("payment_failed event = %v", pf)
		}
		// A late success for the cancelled order changes nothing: the
		// payment service refunds it on order.cancelled.
		late := events.Message{ID: uuid.NewString(), Data: &paymentv1.PaymentSucceeded{OrderId: o.ID}}
		if err := follower.Apply(ctx, late); err != nil {
			t.Fatal(err)
		}
		if got, _ := repo.Get(ctx, o.ID); got.Status != order.StatusCancelled {
			t.Errorf("status after a late success = %s", got.Status)
		}
	})

	t.Run("events about no order are rejected, not retried", func(t *testing.T) {
		for name, data := range map[string]proto.Message{
			"unknown order":   &paymentv1.PaymentSucceeded{OrderId: uuid.NewString()},
			"malformed order": &paymentv1.PaymentFailed{OrderId: "nope"},
			"other event":     &orderv1.OrderPaid{},
		} {
			err := follower.Apply(ctx, events.Message{ID: uuid.NewString(), Data: data})
			if err == nil || !errs.KindOf(err).Business() {
				t.Errorf("%s: %v, want a business error", name, err)
			}
		}
	})
}

func TestCreateValidatesPaymentMethod(t *testing.T) {
	cat := newFakeCatalog()
	svc := order.NewService(order.NewPostgres(newPool(t)), cat)
	p := cat.product("SKU-PM", 100, 5, "EUR")
	_, err := svc.Create(as(uuid.NewString()), order.NewOrder{Items: []order.LineRequest{line(p, 1)}, PaymentMethod: "pm_card_amex"})
	if got := fieldNames(err); !equal(got, []string{"payment_method"}) {
		t.Errorf("fields = %v (%v), want payment_method", got, err)
	}
}
