package events_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/events"
	eventsv1 "github.com/kitshop/kitshop/proto/events/v1"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestNewAndUnmarshal(t *testing.T) {
	data := &orderv1.OrderConfirmed{Order: &orderv1.Order{Id: "o1", TotalMinor: 1250, PaymentMethod: "pm_card_visa"}}
	ev, err := events.New(context.Background(), "order", orderv1.SubjectConfirmed, "order/o1", data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Subject != orderv1.SubjectConfirmed || ev.Type != orderv1.SubjectConfirmed || ev.Aggregate != "order/o1" {
		t.Fatalf("event = %+v", ev)
	}
	m, err := events.Unmarshal(ev.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != ev.ID.String() || m.Source != "order" || m.Type != orderv1.SubjectConfirmed || m.Subject != "order/o1" {
		t.Errorf("message = %+v", m)
	}
	if time.Since(m.Time) > time.Minute || m.Time.After(time.Now()) {
		t.Errorf("time = %v", m.Time)
	}
	if !proto.Equal(m.Data, data) {
		t.Errorf("data = %v, want %v", m.Data, data)
	}
}

func TestNewRefusesIncompleteEvents(t *testing.T) {
	data := &orderv1.OrderPaid{}
	for _, tc := range []struct{ source, subject, aggregate string }{
		{"", "s", "a"}, {"src", "", "a"}, {"src", "s", ""},
	} {
		if _, err := events.New(context.Background(), tc.source, tc.subject, tc.aggregate, data); err == nil {
			t.Errorf("New(%q, %q, %q) = nil error", tc.source, tc.subject, tc.aggregate)
		}
	}
}

func TestUnmarshalRefusesBadEnvelopes(t *testing.T) {
	good, _ := anypb.New(&orderv1.OrderPaid{})
	unknown := &anypb.Any{TypeUrl: "type.googleapis.com/kitshop.nope.v1.Nope", Value: []byte{}}
	for name, body := range map[string][]byte{
		"not protobuf": []byte("{\"id\":1}\xff\xff"),
		"no id":        mustMarshal(t, &eventsv1.Envelope{Type: "t", Data: good}),
		"bad id":       mustMarshal(t, &eventsv1.Envelope{Id: "42", Type: "t", Data: good}),
		"no type":      mustMarshal(t, &eventsv1.Envelope{Id: "0b7e9d3c-8a44-4b8f-9f4e-3c2b1a0d9e8f", Data: good}),
		"no data":      mustMarshal(t, &eventsv1.Envelope{Id: "0b7e9d3c-8a44-4b8f-9f4e-3c2b1a0d9e8f", Type: "t"}),
		"unknown type": mustMarshal(t, &eventsv1.Envelope{Id: "0b7e9d3c-8a44-4b8f-9f4e-3c2b1a0d9e8f", Type: "t", Data: unknown}),
	} {
		if _, err := events.Unmarshal(body); err == nil {
			t.Errorf("%s: Unmarshal = nil error", name)
		}
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStreamAndConsumer runs an event through a real JetStream: the stream
// drops a repeated publish of one id, and the durable consumer decodes what
// was published; a body whose id differs from its Nats-Msg-Id fails Decode.
func TestStreamAndConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(testenv.NATS(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	name := fmt.Sprintf("T%d", time.Now().UnixNano())
	stream := events.StreamConfig{Name: name, Subjects: []string{name + ".>"}}
	for range 2 { // idempotent
		if err := events.EnsureStream(ctx, js, stream); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := events.New(ctx, "order", name+".paid", "order/o1", &orderv1.OrderPaid{PaymentId: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		msg := nats.NewMsg(ev.Subject)
		msg.Data = ev.Payload
		msg.Header.Set(jetstream.MsgIDHeader, ev.ID.String())
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	forged := nats.NewMsg(name + ".paid")
	forged.Data = ev.Payload
	forged.Header.Set(jetstream.MsgIDHeader, "7d1c9a52-5d1e-4f0e-9c55-2f1c8b0e6a11")
	if _, err := js.PublishMsg(ctx, forged); err != nil {
		t.Fatal(err)
	}

	type result struct {
		m   any
		err error
	}
	got := make(chan result, 10)
	cc, err := events.Consume(ctx, js, events.ConsumerConfig{Stream: name, Durable: "test", Workers: 1}, func(msg jetstream.Msg) {
		m, err := events.Decode(ctx, msg)
		got <- result{m, err}
		_ = msg.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	first := <-got
	if first.err != nil {
		t.Fatalf("Decode: %v", first.err)
	}
	m := first.m.(events.Message)
	if m.ID != ev.ID.String() || m.Data.(*orderv1.OrderPaid).GetPaymentId() != "p1" {
		t.Errorf("message = %+v", m)
	}
	second := <-got // the repeat was dropped: next is the forged one (one worker keeps the order)
	if second.err == nil || !strings.Contains(second.err.Error(), "differs") {
		t.Errorf("forged message: err = %v, want an id mismatch", second.err)
	}
	select {
	case r := <-got:
		t.Errorf("unexpected extra message: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
}
