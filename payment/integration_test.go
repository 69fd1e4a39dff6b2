package payment_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/subscriber"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/payment"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

// pipeline is the service's event path on a broker of the test's own (the
// streams have fixed names): the order stream and its durable consumer
// with the service's subscriber, the outbox relay and the payment stream.
type pipeline struct {
	*fixture
	js  jetstream.JetStream
	reg *prometheus.Registry
}

// newPipeline wires the pipeline as cmd/payment does, with a quick backoff.
func newPipeline(t *testing.T, o payment.SimulatedOptions) *pipeline {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	broker := testenv.OwnNATS(t)
	nc, err := nats.Connect(broker.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{fixture: newFixtureWith(t, o, nil), js: js, reg: prometheus.NewRegistry()}
	for _, s := range []events.StreamConfig{payment.OrderStream(), payment.Stream(), events.DeadLetterStreamConfig(1)} {
		if err := events.EnsureStream(ctx, js, s); err != nil {
			t.Fatal(err)
		}
	}
	relay, err := outbox.Start(p.pool, js)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(relay.Stop)
	sub := payment.NewSubscriber(payment.NewEventEndpoints(p.svc),
		subscriber.DeadLetter(js, events.DeadLetterSubject(payment.Consumer)),
		subscriber.Metrics(p.reg),
		subscriber.Backoff(func(int) time.Duration { return 200 * time.Millisecond }))
	cfg := payment.OrderConsumer()
	cfg.Stream = orderv1.Stream
	cc, err := events.Consume(ctx, js, cfg, sub.Handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return p
}

// publish publishes an order event as the order service's relay does,
// with its id as Nats-Msg-Id; without the header when redelivered is set,
// as a copy JetStream keeps (a publish repeated after the duplicate window).
func (p *pipeline) publish(t *testing.T, subject string, data proto.Message, orderID string, redelivered bool) outbox.Event {
	t.Helper()
	ev, err := events.New(context.Background(), "order", subject, "order/"+orderID, data)
	if err != nil {
		t.Fatal(err)
	}
	p.publishEvent(t, ev, redelivered)
	return ev
}

func (p *pipeline) publishEvent(t *testing.T, ev outbox.Event, redelivered bool) {
	t.Helper()
	msg := nats.NewMsg(ev.Subject)
	msg.Data = ev.Payload
	if !redelivered {
		msg.Header.Set(jetstream.MsgIDHeader, ev.ID.String())
	}
	if _, err := p.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// orderProto is the order o as the order service's events carry it.
func orderProto(o payment.Order) *orderv1.Order {
	return &orderv1.Order{Id: o.ID, UserId: o.UserID, TotalMinor: o.TotalMinor, Currency: o.Currency,
		PaymentMethod: o.PaymentMethod, Status: orderv1.OrderStatus_ORDER_STATUS_CONFIRMED}
}

// waitFor polls cond until it holds, for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until the consumer has settled every message of the order
// stream and the relay has published the whole outbox.
func (p *pipeline) settle(t *testing.T) {
	t.Helper()
	waitFor(t, "the consumer and the relay to settle", func() bool {
		ctx := context.Background()
		c, err := p.js.Consumer(ctx, orderv1.Stream, payment.Consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		if err != nil {
			return false
		}
		s, err := p.js.Stream(ctx, orderv1.Stream)
		if err != nil {
			return false
		}
		sinfo, err := s.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 &&
			info.AckFloor.Stream == sinfo.State.LastSeq &&
			count(t, p.pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`) == 0
	})
}

// streamMsgs returns the messages of stream, in order.
func (p *pipeline) streamMsgs(t *testing.T, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := p.js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("GetMsg(%d): %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// paymentEvents returns the payment stream's events, decoded.
func (p *pipeline) paymentEvents(t *testing.T) []events.Message {
	t.Helper()
	var out []events.Message
	for _, m := range p.streamMsgs(t, paymentv1.Stream) {
		msg, err := events.Unmarshal(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != msg.Type || m.Header.Get(jetstream.MsgIDHeader) != msg.ID {
			t.Errorf("message on %s with id %s carries %+v", m.Subject, m.Header.Get(jetstream.MsgIDHeader), msg)
		}
		out = append(out, msg)
	}
	return out
}

// types lists the events' types.
func types(evs []events.Message) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// status returns the status of the order's payment, "" if it has none.
func (p *pipeline) status(orderID string) payment.Status {
	pay, err := p.repo.ByOrder(context.Background(), orderID)
	if err != nil {
		return ""
	}
	return pay.Status
}

// TestEventsConfirmedOnce delivers one order.confirmed four times, three
// of them at once: one charge, one payment, one payment.succeeded.
func TestEventsConfirmedOnce(t *testing.T) {
	p := newPipeline(t, payment.SimulatedOptions{SlowDelay: 200 * time.Millisecond})
	o := newOrder(payment.TestCardSlow)
	ev := p.publish(t, orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: orderProto(o)}, o.ID, false)
	for range 3 {
		p.publishEvent(t, ev, true)
	}
	p.settle(t)

	evs := p.paymentEvents(t)
	if len(evs) != 1 || evs[0].Type != paymentv1.SubjectSucceeded || evs[0].Subject != "payment/"+o.ID {
		t.Fatalf("payment events %v, want one %s", types(evs), paymentv1.SubjectSucceeded)
	}
	got := evs[0].Data.(*paymentv1.PaymentSucceeded)
	if got.GetOrderId() != o.ID || got.GetUserId() != o.UserID || got.GetAmountMinor() != 2500 || got.GetMethod() != payment.TestCardSlow {
		t.Errorf("event data %v", got)
	}
	if n := count(t, p.pool, `SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'succeeded'`, o.ID); n != 1 {
		t.Errorf("%d succeeded payments, want 1", n)
	}
	if n := len(p.provider.Ledger()); n != 1 {
		t.Errorf("%d charges at the provider, want 1", n)
	}
}

func TestEventsDeclined(t *testing.T) {
	p := newPipeline(t, payment.SimulatedOptions{})
	o := newOrder(payment.TestCardDeclined)
	p.publish(t, orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: orderProto(o)}, o.ID, false)
	p.settle(t)
	evs := p.paymentEvents(t)
	if len(evs) != 1 || evs[0].Type != paymentv1.SubjectFailed {
		t.Fatalf("payment events %v, want one %s", types(evs), paymentv1.SubjectFailed)
	}
	if got := evs[0].Data.(*paymentv1.PaymentFailed); got.GetDeclineCode() != "card_declined" || got.GetMessage() != "Your card was declined." {
		t.Errorf("event data %v", got)
	}
}

func TestEventsCancelledAfterSuccessRefunds(t *testing.T) {
	p := newPipeline(t, payment.SimulatedOptions{})
	o := newOrder(payment.TestCardVisa)
	p.publish(t, orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: orderProto(o)}, o.ID, false)
	waitFor(t, "the charge", func() bool { return p.status(o.ID) == payment.StatusSucceeded })
	p.publish(t, orderv1.SubjectCancelled, &orderv1.OrderCancelled{Order: orderProto(o), PreviousStatus: "paid", Reason: "customer"}, o.ID, false)
	p.settle(t)

	evs := p.paymentEvents(t)
	if got := types(evs); len(got) != 2 || got[0] != paymentv1.SubjectSucceeded || got[1] != paymentv1.SubjectRefunded {
		t.Fatalf("payment events %v, want succeeded then refunded", got)
	}
	if p.status(o.ID) != payment.StatusRefunded {
		t.Errorf("status %s, want refunded", p.status(o.ID))
	}
	var refunded int
	for _, e := range p.provider.Ledger() {
		if e.Refunded {
			refunded++
		}
	}
	if refunded != 1 {
		t.Errorf("%d refunds at the provider, want 1", refunded)
	}
}

func TestEventsCancelledBeforeConfirmedVoids(t *testing.T) {
	p := newPipeline(t, payment.SimulatedOptions{})
	o := newOrder(payment.TestCardVisa)
	p.publish(t, orderv1.SubjectCancelled, &orderv1.OrderCancelled{Order: orderProto(o), PreviousStatus: "confirmed", Reason: "customer"}, o.ID, false)
	waitFor(t, "the void", func() bool { return p.status(o.ID) == payment.StatusVoided })
	p.publish(t, orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: orderProto(o)}, o.ID, false)
	p.settle(t)

	if p.status(o.ID) != payment.StatusVoided {
		t.Errorf("status %s, want voided", p.status(o.ID))
	}
	if l := p.provider.Ledger(); len(l) != 0 {
		t.Errorf("ledger %+v, want no charge", l)
	}
	if evs := p.paymentEvents(t); len(evs) != 0 {
		t.Errorf("payment events %v, want none", types(evs))
	}
}

// TestEventsCancelledWhileCharging: the cancellation arrives while the
// charge is at the provider. It is nak'ed until the charge is settled, then
// refunded.
func TestEventsCancelledWhileCharging(t *testing.T) {
	p := newPipeline(t, payment.SimulatedOptions{SlowDelay: time.Second})
	o := newOrder(payment.TestCardSlow)
	p.publish(t, orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: orderProto(o)}, o.ID, false)
	waitFor(t, "the pending payment", func() bool { return p.status(o.ID) == payment.StatusPending })
	p.publish(t, orderv1.SubjectCancelled, &orderv1.OrderCancelled{Order: orderProto(o), PreviousStatus: "confirmed", Reason: "customer"}, o.ID, false)
	p.settle(t)

	if got := types(p.paymentEvents(t)); len(got) != 2 || got[0] != paymentv1.SubjectSucceeded || got[1] != paymentv1.SubjectRefunded {
		t.Fatalf("payment events %v, want succeeded then refunded", got)
	}
	if v := counterValue(t, p.reg, "kitshop_subscriber_redeliveries_total"); v < 1 {
		t.Errorf("%v redeliveries, want the cancellation nak'ed at least once", v)
	}
	if n := len(p.streamMsgs(t, events.DeadLetterStream)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// TestEventsPoisonIsDeadLettered: what can never be handled goes to the
// dead letters at once, and nothing is stored.
func TestEventsPoisonIsDeadLettered(t *testing.T) {
	p := newPipeline(t, payment.SimulatedOptions{})
	bad := newOrder(payment.TestCardVisa)
	bad.Currency = "euro"
	p.publish(t, orderv1.SubjectConfirmed, &orderv1.OrderConfirmed{Order: orderProto(bad)}, bad.ID, false)
	wrong := newOrder(payment.TestCardVisa)
	p.publish(t, orderv1.SubjectConfirmed, &orderv1.OrderCancelled{Order: orderProto(wrong)}, wrong.ID, false)
	p.publish(t, orderv1.SubjectCancelled, &orderv1.OrderCancelled{}, uuid.NewString(), false)
	garbage := nats.NewMsg(orderv1.SubjectConfirmed)
	garbage.Data = []byte("not an envelope")
	if _, err := p.js.PublishMsg(context.Background(), garbage); err != nil {
		t.Fatal(err)
	}
	p.settle(t)

	dead := p.streamMsgs(t, events.DeadLetterStream)
	if len(dead) != 4 {
		t.Fatalf("%d dead letters, want 4", len(dead))
	}
	for _, m := range dead {
		if m.Subject != events.DeadLetterSubject(payment.Consumer) || m.Header.Get(subscriber.ErrorHeader) == "" ||
			m.Header.Get(subscriber.DeliveriesHeader) != "1" {
			t.Errorf("dead letter on %s with headers %v", m.Subject, m.Header)
		}
	}
	if n := count(t, p.pool, `SELECT count(*) FROM payments`); n != 0 {
		t.Errorf("%d payments stored from poison", n)
	}
}

// counterValue sums the counter name over its labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestEventsOfTheOrderService feeds the pipeline the events exactly as the
// order service builds them (order.EventFor), so a change of the contract
// on either side shows here: a paid order, then its cancellation, is
// charged once and refunded once.
func TestEventsOfTheOrderService(t *testing.T) {
	p := newPipeline(t, payment.SimulatedOptions{})
	ctx := context.Background()
	o := order.Order{ID: uuid.NewString(), UserID: uuid.NewString(), Status: order.StatusConfirmed, TotalMinor: 1800,
		Currency: "EUR", PaymentMethod: order.PaymentCardVisa, Items: []order.Item{}}
	confirmed, ok, err := order.EventFor(ctx, order.StatusPending, o, order.Transition{To: order.StatusConfirmed})
	if err != nil || !ok {
		t.Fatalf("EventFor(confirmed) = %v, %v", ok, err)
	}
	p.publishEvent(t, confirmed, false)
	waitFor(t, "the charge", func() bool { return p.status(o.ID) == payment.StatusSucceeded })

	o.Status = order.StatusCancelled
	cancelled, ok, err := order.EventFor(ctx, order.StatusPaid, o, order.Transition{To: order.StatusCancelled, CancelReason: order.CancelledByCustomer})
	if err != nil || !ok || cancelled.Subject != orderv1.SubjectCancelled {
		t.Fatalf("EventFor(cancelled) = %+v, %v, %v", cancelled, ok, err)
	}
	p.publishEvent(t, cancelled, false)
	p.settle(t)

	evs := p.paymentEvents(t)
	if got := types(evs); len(got) != 2 || got[0] != paymentv1.SubjectSucceeded || got[1] != paymentv1.SubjectRefunded {
		t.Fatalf("payment events %v, want succeeded then refunded", got)
	}
	if got := evs[0].Data.(*paymentv1.PaymentSucceeded); got.GetOrderId() != o.ID || got.GetUserId() != o.UserID ||
		got.GetAmountMinor() != 1800 || got.GetMethod() != order.PaymentCardVisa {
		t.Errorf("payment.succeeded %v", got)
	}
}
