package payment_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/payment"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

func TestOrderConfirmedCharges(t *testing.T) {
	tests := []struct {
		method     string
		wantEffect payment.Effect
		wantStatus payment.Status
		wantCode   string
	}{
		{payment.TestCardVisa, payment.EffectCharged, payment.StatusSucceeded, ""},
		{payment.TestCardDeclined, payment.EffectDeclined, payment.StatusFailed, "card_declined"},
		{"pm_card_unknown", payment.EffectDeclined, payment.StatusFailed, "invalid_payment_method"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			f := newFixture(t)
			o := newOrder(tt.method)
			got, err := f.svc.OrderConfirmed(context.Background(), event(o))
			if err != nil {
				t.Fatal(err)
			}
			p := got.Payment
			if got.Effect != tt.wantEffect || p.Status != tt.wantStatus || p.DeclineCode != tt.wantCode ||
				p.OrderID != o.ID || p.UserID != o.UserID || p.AmountMinor != 2500 || p.Currency != "EUR" || p.Method != tt.method {
				t.Fatalf("result %+v", got)
			}
			// The provider was asked once, with the payment's id as key.
			if l := f.provider.Ledger(); len(l) != 1 || l[p.ID].Charge.AmountMinor != 2500 {
				t.Errorf("ledger = %+v", l)
			}
			evs := outboxEvents(t, f.pool)
			if len(evs) != 1 || evs[0].Aggregate != "payment/"+o.ID || evs[0].Message.Source != "payment" {
				t.Fatalf("outbox = %+v, want one event of payment/%s", evs, o.ID)
			}
			switch tt.wantStatus {
			case payment.StatusSucceeded:
				want := &paymentv1.PaymentSucceeded{PaymentId: p.ID, OrderId: o.ID, UserId: o.UserID, AmountMinor: 2500, Currency: "EUR", Method: tt.method}
				if evs[0].Subject != paymentv1.SubjectSucceeded || !protoEqual(evs[0].Message.Data, want) {
					t.Errorf("event %s %v, want %v", evs[0].Subject, evs[0].Message.Data, want)
				}
			case payment.StatusFailed:
				want := &paymentv1.PaymentFailed{PaymentId: p.ID, OrderId: o.ID, UserId: o.UserID, AmountMinor: 2500, Currency: "EUR",
					Method: tt.method, DeclineCode: tt.wantCode, Message: p.Message}
				if evs[0].Subject != paymentv1.SubjectFailed || !protoEqual(evs[0].Message.Data, want) || p.Message == "" {
					t.Errorf("event %s %v, want %v", evs[0].Subject, evs[0].Message.Data, want)
				}
			}
		})
	}
}

// TestOrderConfirmedOnce delivers one order's confirmation in every way
// JetStream and the order service might: the same event again, the same
// event concurrently, and another event for the same order. One charge,
// one payment, one event.
func TestOrderConfirmedOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	o := newOrder(payment.TestCardVisa)
	e := event(o)

	var (
		wg      sync.WaitGroup
		charged atomic.Int32
	)
	for range 8 {
		wg.Go(func() {
			r, err := f.svc.OrderConfirmed(ctx, e)
			if err != nil {
				t.Errorf("OrderConfirmed: %v", err)
			}
			if r.Effect == payment.EffectCharged {
				charged.Add(1)
			}
		})
	}
	wg.Wait()
	for _, again := range []payment.OrderEvent{e, event(o)} {
		r, err := f.svc.OrderConfirmed(ctx, again)
		if err != nil || r.Effect != payment.EffectNone || r.Payment.Status != payment.StatusSucceeded {
			t.Errorf("redelivery = %+v, %v; want no effect on the succeeded payment", r, err)
		}
	}
	if n := charged.Load(); n != 1 {
		t.Errorf("%d deliveries charged, want 1", n)
	}
	if n := len(f.provider.Ledger()); n != 1 {
		t.Errorf("%d charges at the provider, want 1", n)
	}
	if n := count(t, f.pool, `SELECT count(*) FROM payments`); n != 1 {
		t.Errorf("%d payments, want 1", n)
	}
	if evs := outboxEvents(t, f.pool); len(evs) != 1 {
		t.Errorf("%d events, want 1", len(evs))
	}
	if n := count(t, f.pool, `SELECT count(*) FROM inbox`); n != 2 {
		t.Errorf("%d inbox rows, want 2 (one per event id)", n)
	}
}

// TestOrderConfirmedAfterCrash: an instance inserted the payment and
// charged it, then died before settling it. The redelivered event settles
// it without a second charge.
func TestOrderConfirmedAfterCrash(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	o := newOrder(payment.TestCardVisa)
	p, err := f.repo.CreatePending(ctx, payment.Payment{ID: uuid.NewString(), OrderID: o.ID, UserID: o.UserID,
		AmountMinor: o.TotalMinor, Currency: o.Currency, Method: o.PaymentMethod})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.provider.Charge(ctx, payment.ChargeRequest{IdempotencyKey: p.ID, AmountMinor: p.AmountMinor, Currency: p.Currency, Method: p.Method}); err != nil {
		t.Fatal(err)
	}

	r, err := f.svc.OrderConfirmed(ctx, event(o))
	if err != nil || r.Effect != payment.EffectCharged || r.Payment.ID != p.ID {
		t.Fatalf("OrderConfirmed = %+v, %v; want payment %s settled", r, err, p.ID)
	}
	if n := len(f.provider.Ledger()); n != 1 {
		t.Errorf("%d charges at the provider, want 1", n)
	}
}

// failingProvider fails the first n calls of each kind, as an unreachable
// provider would.
type failingProvider struct {
	payment.Provider
	charges, refunds atomic.Int32
}

var errProviderDown = errors.New("connection refused")

func (p *failingProvider) Charge(ctx context.Context, req payment.ChargeRequest) (payment.ChargeResult, error) {
	if p.charges.Add(-1) >= 0 {
		return payment.ChargeResult{}, errProviderDown
	}
	return p.Provider.Charge(ctx, req)
}

func (p *failingProvider) Refund(ctx context.Context, req payment.RefundRequest) error {
	if p.refunds.Add(-1) >= 0 {
		return errProviderDown
	}
	return p.Provider.Refund(ctx, req)
}

func TestProviderOutageIsRetried(t *testing.T) {
	failing := &failingProvider{}
	failing.charges.Store(1)
	failing.refunds.Store(1)
	f := newFixtureWith(t, payment.SimulatedOptions{SlowDelay: -1}, func(p payment.Provider) payment.Provider {
		failing.Provider = p
		return failing
	})
	ctx := context.Background()
	confirmed := event(newOrder(payment.TestCardVisa))

	// The failure is retryable (a nak, not an ack), and leaves the payment
	// pending with nothing published.
	_, err := f.svc.OrderConfirmed(ctx, confirmed)
	if !errors.Is(err, errProviderDown) || errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("OrderConfirmed = %v, want Unavailable caused by the outage", err)
	}
	if p, _ := f.repo.ByOrder(ctx, confirmed.Order.ID); p.Status != payment.StatusPending {
		t.Errorf("status %s, want pending", p.Status)
	}
	if r, err := f.svc.OrderConfirmed(ctx, confirmed); err != nil || r.Effect != payment.EffectCharged {
		t.Fatalf("redelivery = %+v, %v; want charged", r, err)
	}

	cancelled := payment.OrderEvent{EventID: uuid.NewString(), Order: confirmed.Order}
	if _, err := f.svc.OrderCancelled(ctx, cancelled); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("OrderCancelled = %v, want Unavailable", err)
	}
	if r, err := f.svc.OrderCancelled(ctx, cancelled); err != nil || r.Effect != payment.EffectRefunded {
		t.Fatalf("redelivery = %+v, %v; want refunded", r, err)
	}
	if n := len(outboxEvents(t, f.pool)); n != 2 {
		t.Errorf("%d events, want 2 (succeeded, refunded)", n)
	}
}

func TestOrderCancelled(t *testing.T) {
	ctx := context.Background()
	t.Run("after success: refunded", func(t *testing.T) {
		f := newFixture(t)
		o := newOrder(payment.TestCardVisa)
		charged, err := f.svc.OrderConfirmed(ctx, event(o))
		if err != nil {
			t.Fatal(err)
		}
		e := event(o)
		r, err := f.svc.OrderCancelled(ctx, e)
		if err != nil || r.Effect != payment.EffectRefunded || r.Payment.Status != payment.StatusRefunded {
			t.Fatalf("OrderCancelled = %+v, %v", r, err)
		}
		if again, err := f.svc.OrderCancelled(ctx, e); err != nil || again.Effect != payment.EffectNone {
			t.Errorf("redelivery = %+v, %v; want no effect", again, err)
		}
		if !f.provider.Ledger()[charged.Payment.ID].Refunded {
			t.Error("the provider refunded nothing")
		}
		evs := outboxEvents(t, f.pool)
		want := &paymentv1.PaymentRefunded{PaymentId: charged.Payment.ID, OrderId: o.ID, UserId: o.UserID, AmountMinor: 2500, Currency: "EUR"}
		if len(evs) != 2 || evs[0].Subject != paymentv1.SubjectSucceeded || evs[1].Subject != paymentv1.SubjectRefunded ||
			evs[1].Aggregate != "payment/"+o.ID || !protoEqual(evs[1].Message.Data, want) {
			t.Errorf("outbox = %+v, want succeeded then %v", evs, want)
		}
	})

	t.Run("before confirmed: voided, never charged", func(t *testing.T) {
		f := newFixture(t)
		o := newOrder(payment.TestCardVisa)
		e := event(o)
		r, err := f.svc.OrderCancelled(ctx, e)
		if err != nil || r.Effect != payment.EffectVoided || r.Payment.Status != payment.StatusVoided {
			t.Fatalf("OrderCancelled = %+v, %v", r, err)
		}
		if again, err := f.svc.OrderCancelled(ctx, e); err != nil || again.Effect != payment.EffectNone {
			t.Errorf("redelivery = %+v, %v; want no effect", again, err)
		}
		if late, err := f.svc.OrderConfirmed(ctx, event(o)); err != nil || late.Effect != payment.EffectNone || late.Payment.Status != payment.StatusVoided {
			t.Errorf("late OrderConfirmed = %+v, %v; want the voided payment left alone", late, err)
		}
		if l := f.provider.Ledger(); len(l) != 0 {
			t.Errorf("ledger = %+v, want no charge", l)
		}
		if evs := outboxEvents(t, f.pool); len(evs) != 0 {
			t.Errorf("outbox = %+v, want nothing published", evs)
		}
	})

	t.Run("while pending: retried, then refunded", func(t *testing.T) {
		f := newFixture(t)
		o := newOrder(payment.TestCardVisa)
		// A charge in flight on another instance.
		if _, err := f.repo.CreatePending(ctx, payment.Payment{ID: uuid.NewString(), OrderID: o.ID, UserID: o.UserID,
			AmountMinor: o.TotalMinor, Currency: o.Currency, Method: o.PaymentMethod}); err != nil {
			t.Fatal(err)
		}
		cancelled := event(o)
		_, err := f.svc.OrderCancelled(ctx, cancelled)
		if !errors.Is(err, payment.ErrChargeInFlight) || errs.KindOf(err).Business() {
			t.Fatalf("OrderCancelled = %v, want a retryable ErrChargeInFlight", err)
		}
		if n := count(t, f.pool, `SELECT count(*) FROM inbox`); n != 0 {
			t.Errorf("%d inbox rows, want none: the event is not handled yet", n)
		}
		if _, err := f.svc.OrderConfirmed(ctx, event(o)); err != nil {
			t.Fatal(err)
		}
		if r, err := f.svc.OrderCancelled(ctx, cancelled); err != nil || r.Effect != payment.EffectRefunded {
			t.Errorf("redelivery = %+v, %v; want refunded", r, err)
		}
	})

	t.Run("after decline: nothing", func(t *testing.T) {
		f := newFixture(t)
		o := newOrder(payment.TestCardDeclined)
		if _, err := f.svc.OrderConfirmed(ctx, event(o)); err != nil {
			t.Fatal(err)
		}
		r, err := f.svc.OrderCancelled(ctx, event(o))
		if err != nil || r.Effect != payment.EffectNone || r.Payment.Status != payment.StatusFailed {
			t.Errorf("OrderCancelled = %+v, %v; want the failed payment left alone", r, err)
		}
		if evs := outboxEvents(t, f.pool); len(evs) != 1 {
			t.Errorf("%d events, want only payment.failed", len(evs))
		}
	})
}

func TestOrderEventsAreValidated(t *testing.T) {
	f := newFixture(t)
	valid := event(newOrder(payment.TestCardVisa))
	tests := []struct {
		name   string
		change func(*payment.OrderEvent)
		field  string
	}{
		{"no event id", func(e *payment.OrderEvent) { e.EventID = "" }, "event_id"},
		{"bad order id", func(e *payment.OrderEvent) { e.Order.ID = "42" }, "order.id"},
		{"bad user id", func(e *payment.OrderEvent) { e.Order.UserID = "" }, "order.user_id"},
		{"negative total", func(e *payment.OrderEvent) { e.Order.TotalMinor = -1 }, "order.total_minor"},
		{"bad currency", func(e *payment.OrderEvent) { e.Order.Currency = "eur" }, "order.currency"},
		{"control characters in method", func(e *payment.OrderEvent) { e.Order.PaymentMethod = "pm\x00" }, "order.payment_method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid
			tt.change(&e)
			for name, handle := range map[string]func(context.Context, payment.OrderEvent) (payment.Result, error){
				"OrderConfirmed": f.svc.OrderConfirmed, "OrderCancelled": f.svc.OrderCancelled,
			} {
				_, err := handle(context.Background(), e)
				var ee *errs.Error
				if !errors.As(err, &ee) || ee.Kind != errs.Invalid || len(ee.Fields) != 1 || ee.Fields[0].Field != tt.field {
					t.Errorf("%s = %v, want Invalid naming %s", name, err, tt.field)
				}
			}
		})
	}
	if n := count(t, f.pool, `SELECT count(*) FROM payments`); n != 0 {
		t.Errorf("%d payments stored from invalid events", n)
	}
}
