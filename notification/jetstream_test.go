package notification_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/metrics/metricstest"
	"github.com/kitshop/kitshop/kit/subscriber"
	"github.com/kitshop/kitshop/notification"
	eventsv1 "github.com/kitshop/kitshop/proto/events/v1"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
)

// broker is a test's own NATS server (the streams have fixed names) with
// the service's streams, and the consumers of `instances` service
// instances on them, as cmd/notification wires them.
type broker struct {
	js  jetstream.JetStream
	reg *prometheus.Registry
}

func startBroker(t *testing.T, h *notification.EventHandler, instances int) *broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(testenv.OwnNATS(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{js: js, reg: prometheus.NewRegistry()}
	if err := events.EnsureStream(ctx, js, events.DeadLetterStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	for range instances {
		sub := subscriber.New(notification.NewEventEndpoint(h), events.Decode,
			subscriber.DeadLetter(js, events.DeadLetterSubject(notification.Consumer)),
			subscriber.MaxDeliver(3), subscriber.Backoff(func(int) time.Duration { return 10 * time.Millisecond }),
			subscriber.Metrics(b.reg))
		for _, s := range notification.Subscriptions() {
			if err := events.EnsureStream(ctx, js, s.Stream); err != nil {
				t.Fatal(err)
			}
			s.Consumer.Stream = s.Stream.Name
			cc, err := events.Consume(ctx, js, s.Consumer, sub.Handle)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cc.Stop)
		}
	}
	return b
}

// publish publishes body on subject, with id as its Nats-Msg-Id unless id
// is "" (then JetStream keeps every copy: a way to deliver an event twice).
func (b *broker) publish(t *testing.T, subject, id string, body []byte) {
	t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = body
	if id != "" {
		msg.Header.Set(jetstream.MsgIDHeader, id)
	}
	if _, err := b.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("publish on %s: %v", subject, err)
	}
}

// publishEvent publishes data as an event of its producer would be
// (kit/events), and returns the event id; copies > 1 publishes it that many
// times without a Nats-Msg-Id, so JetStream delivers every copy.
func (b *broker) publishEvent(t *testing.T, subject string, data proto.Message, copies int) string {
	t.Helper()
	ev, err := events.New(context.Background(), "test", subject, "test/1", data)
	if err != nil {
		t.Fatal(err)
	}
	if copies == 1 {
		b.publish(t, subject, ev.ID.String(), ev.Payload)
		return ev.ID.String()
	}
	for range copies {
		b.publish(t, subject, "", ev.Payload)
	}
	return ev.ID.String()
}

// settle waits until the service's consumers have handled every message.
func (b *broker) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range notification.Subscriptions() {
		for {
			c, err := b.js.Consumer(ctx, s.Stream.Name, notification.Consumer)
			var info *jetstream.ConsumerInfo
			if err == nil {
				info, err = c.Info(ctx)
			}
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("consumer on %s never settled: %+v, %v", s.Stream.Name, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestJetStreamDeliversEachEventOnce publishes every event type three times
// (JetStream keeps each copy) to two instances sharing the durable
// consumers: each event makes one notification.
func TestJetStreamDeliversEachEventOnce(t *testing.T) {
	store, pool := newStore(t)
	b := startBroker(t, newHandler(t, store, notification.WithEmails(nil)), 2)
	userID := uuid.NewString()
	var ids []string
	for i, s := range samples(userID) {
		ids = append(ids, b.publishEvent(t, s.subject, s.data, 3))
		if i == 0 {
			// The registration, first on its own: the streams are not
			// ordered with each other, and the emails need the address.
			b.settle(t)
		}
	}
	b.settle(t)
	for i, id := range ids {
		if n := count(t, pool, `SELECT count(*) FROM notifications WHERE event_id = $1`, id); n != 1 {
			t.Errorf("event %d (%s): %d notifications, want 1", i, id, n)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM notifications`); n != len(ids) {
		t.Errorf("%d notifications for %d events", n, len(ids))
	}
	if n := count(t, pool, `SELECT count(*) FROM emails`); n != len(ids) {
		t.Errorf("%d emails for %d events", n, len(ids))
	}
	if n := count(t, pool, `SELECT count(*) FROM recipients WHERE user_id = $1`, userID); n != 1 {
		t.Error("the recipient was not stored")
	}
}

// TestJetStreamRejectsAndDeadLetters follows kit/subscriber's rules: what
// cannot be decoded is dead-lettered at once; what decodes but breaks its
// contract is rejected (acknowledged, counted, never retried).
func TestJetStreamRejectsAndDeadLetters(t *testing.T) {
	store, pool := newStore(t)
	b := startBroker(t, newHandler(t, store), 1)
	ctx := context.Background()

	// Poison: not an envelope; an envelope whose data no one knows.
	b.publish(t, orderv1.SubjectPaid, uuid.NewString(), []byte("\xff\xffnot protobuf"))
	unknownID := uuid.NewString()
	body, err := proto.Marshal(&eventsv1.Envelope{Id: unknownID, Type: orderv1.SubjectPaid,
		Data: &anypb.Any{TypeUrl: "type.googleapis.com/kitshop.order.v2.OrderPaid"}})
	if err != nil {
		t.Fatal(err)
	}
	b.publish(t, orderv1.SubjectPaid, unknownID, body)
	// Rejected: a payment for a service account.
	o := order("service:order")
	b.publishEvent(t, orderv1.SubjectPaid, &orderv1.OrderPaid{Order: o}, 1)
	b.settle(t)

	dead, err := b.js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := dead.Info(ctx)
		if err == nil && info.State.Msgs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters: %+v, %v; want 2", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := dead.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != events.DeadLetterSubject(notification.Consumer) || m.Header.Get(subscriber.SubjectHeader) != orderv1.SubjectPaid ||
			!strings.Contains(m.Header.Get(subscriber.ErrorHeader), "decode") {
			t.Errorf("dead letter %d: subject %s, headers %v", seq, m.Subject, m.Header)
		}
	}
	metricsSrv := httptest.NewServer(promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	defer metricsSrv.Close()
	scrape := metricstest.Scrape(t, metricsSrv.URL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"kitshop_subscriber_consumed_total", map[string]string{"stream": orderv1.Stream, "outcome": "rejected"}, 1},
		{"kitshop_subscriber_dead_letters_total", map[string]string{"stream": orderv1.Stream}, 2},
	} {
		if v, _ := scrape.Value(c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	for _, table := range []string{"inbox", "notifications"} {
		if n := count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s", n, table)
		}
	}
}
