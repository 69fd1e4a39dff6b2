package subscriber_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/subscriber"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one test's broker side: a stream capturing "<name>.>", a dead
// letter stream capturing "<name>_dead", and a JetStream client.
type env struct {
	js        jetstream.JetStream
	stream    jetstream.Stream
	dead      jetstream.Stream
	name, dlq string
	reg       *prometheus.Registry
	consumer  jetstream.Consumer
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(testenv.NATS(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{js: js, name: fmt.Sprintf("T%d", time.Now().UnixNano()), reg: prometheus.NewRegistry()}
	e.dlq = e.name + "_dead"
	if e.stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: e.name, Subjects: []string{e.name + ".>"}, Storage: jetstream.MemoryStorage,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if e.dead, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: e.dlq, Subjects: []string{e.dlq}, Storage: jetstream.MemoryStorage,
	}); err != nil {
		t.Fatalf("create dead letter stream: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = js.DeleteStream(ctx, e.name)
		_ = js.DeleteStream(ctx, e.dlq)
	})
	if e.consumer, err = e.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: -1,
	}); err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	return e
}

// run consumes with a subscriber of ep and dec, with tiny backoffs, a
// MaxDeliver of 3 and the env's dead letter subject and registry.
func (e *env) run(t *testing.T, ep endpoint.Endpoint, dec subscriber.DecodeFunc) {
	t.Helper()
	sub := subscriber.New(ep, dec,
		subscriber.MaxDeliver(3),
		subscriber.Backoff(func(int) time.Duration { return 10 * time.Millisecond }),
		subscriber.DeadLetter(e.js, e.dlq),
		subscriber.Metrics(e.reg))
	cc, err := e.consumer.Consume(sub.Handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
}

// publish publishes data on "<name>.<suffix>" as event id.
func (e *env) publish(t *testing.T, suffix, id, data string) {
	t.Helper()
	if _, err := e.js.Publish(context.Background(), e.name+"."+suffix, []byte(data), jetstream.WithMsgID(id)); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// waitSettled waits until the consumer has delivered every message and
// holds no ack pending.
func (e *env) waitSettled(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := e.consumer.Info(context.Background())
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 &&
			info.Delivered.Stream > 0 {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer never settled: %+v, %v", info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadMsgs waits until the dead letter stream holds want messages and
// returns them.
func (e *env) deadMsgs(t *testing.T, want int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := e.dead.Info(ctx)
		if err == nil && info.State.Msgs >= uint64(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letter stream: %+v, %v; want %d messages", info, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= uint64(want); seq++ {
		m, err := e.dead.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("GetMsg(%d): %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func (e *env) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// decodeString decodes the body as the request; a body "poison" does not
// decode.
func decodeString(_ context.Context, msg jetstream.Msg) (any, error) {
	if string(msg.Data()) == "poison" {
		return nil, errors.New("not a valid body")
	}
	return string(msg.Data()), nil
}

func TestHandledMessageIsAcked(t *testing.T) {
	e := setup(t)
	got := make(chan string, 10)
	var afterResp atomic.Value
	sub := subscriber.New(
		func(_ context.Context, req any) (any, error) { got <- req.(string); return "done", nil },
		decodeString,
		subscriber.Before(func(ctx context.Context, msg jetstream.Msg) context.Context {
			return context.WithValue(ctx, ctxKey{}, subscriber.EventID(msg))
		}),
		subscriber.After(func(ctx context.Context, _ jetstream.Msg, resp any) {
			afterResp.Store(fmt.Sprint(ctx.Value(ctxKey{}), "/", resp))
		}),
		subscriber.Metrics(e.reg))
	cc, err := e.consumer.Consume(sub.Handle)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()

	e.publish(t, "a", "ev-1", "hello")
	select {
	case req := <-got:
		if req != "hello" {
			t.Errorf("endpoint got %q, want hello", req)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("endpoint never ran")
	}
	info := e.waitSettled(t)
	if info.Delivered.Consumer != 1 {
		t.Errorf("delivered %d times, want once", info.Delivered.Consumer)
	}
	if v, _ := afterResp.Load().(string); v != "ev-1/done" {
		t.Errorf("After saw %q, want ev-1/done (Before's context, the response)", v)
	}
	if n := e.counter(t, "kitshop_subscriber_consumed_total", "outcome", "ok"); n != 1 {
		t.Errorf("consumed ok = %v, want 1", n)
	}
}

type ctxKey struct{}

// TestRedeliveryHasOneEffect: the effect commits but the delivery fails
// afterwards (as when the ack is lost); the redelivery finds the inbox row
// and adds no second effect.
func TestRedeliveryHasOneEffect(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, subscriber.InboxSchema+`CREATE TABLE effects (event_id text NOT NULL, body text NOT NULL);`); err != nil {
		t.Fatalf("schema: %v", err)
	}
	var calls atomic.Int32
	e.run(t, func(ctx context.Context, req any) (any, error) {
		m := req.(idMsg)
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			first, err := subscriber.Once(ctx, tx, "test", m.id)
			if err != nil || !first {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO effects (event_id, body) VALUES ($1, $2)`, m.id, m.body)
			return err
		})
		if err == nil && calls.Add(1) == 1 {
			return nil, errs.New(errs.Unavailable, "lost the ack") // committed, yet redelivered
		}
		return nil, err
	}, func(_ context.Context, msg jetstream.Msg) (any, error) {
		return idMsg{id: subscriber.EventID(msg), body: string(msg.Data())}, nil
	})

	e.publish(t, "a", "ev-1", "charge 10")
	info := e.waitSettled(t)
	if calls.Load() != 2 || info.Delivered.Consumer != 2 {
		t.Fatalf("endpoint ran %d times over %d deliveries, want 2 (one redelivery)", calls.Load(), info.Delivered.Consumer)
	}
	var effects, inbox int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM effects), (SELECT count(*) FROM inbox WHERE event_id = 'ev-1' AND consumer = 'test')`).Scan(&effects, &inbox); err != nil {
		t.Fatal(err)
	}
	if effects != 1 || inbox != 1 {
		t.Errorf("effects = %d, inbox rows = %d; want 1 and 1", effects, inbox)
	}
	if n := e.counter(t, "kitshop_subscriber_redeliveries_total"); n != 1 {
		t.Errorf("redeliveries = %v, want 1", n)
	}
}

type idMsg struct{ id, body string }

func TestFailingMessageIsDeadLetteredAfterMaxDeliver(t *testing.T) {
	e := setup(t)
	var calls atomic.Int32
	e.run(t, func(context.Context, any) (any, error) {
		calls.Add(1)
		return nil, errs.New(errs.Unavailable, "payment provider down")
	}, decodeString)

	e.publish(t, "pay", "ev-9", "charge 10")
	dead := e.deadMsgs(t, 1)[0]
	e.waitSettled(t)
	if calls.Load() != 3 {
		t.Errorf("endpoint ran %d times, want 3 (MaxDeliver)", calls.Load())
	}
	checkDead(t, dead, e.name+".pay", "ev-9", "charge 10", "3", "payment provider down")
	if n := e.counter(t, "kitshop_subscriber_dead_letters_total", "stream", e.name); n != 1 {
		t.Errorf("dead letters = %v, want 1", n)
	}
	if n := e.counter(t, "kitshop_subscriber_redeliveries_total"); n != 2 {
		t.Errorf("redeliveries = %v, want 2", n)
	}
}

func TestPoisonMessageIsDeadLetteredAtOnce(t *testing.T) {
	e := setup(t)
	var calls atomic.Int32
	e.run(t, func(context.Context, any) (any, error) { calls.Add(1); return nil, nil }, decodeString)

	e.publish(t, "pay", "ev-p", "poison")
	dead := e.deadMsgs(t, 1)[0]
	info := e.waitSettled(t)
	if calls.Load() != 0 || info.Delivered.Consumer != 1 {
		t.Errorf("endpoint ran %d times over %d deliveries; want 0 over 1", calls.Load(), info.Delivered.Consumer)
	}
	checkDead(t, dead, e.name+".pay", "ev-p", "poison", "1", "not a valid body")
	if n := e.counter(t, "kitshop_subscriber_dead_letters_total"); n != 1 {
		t.Errorf("dead letters = %v, want 1", n)
	}
}

func checkDead(t *testing.T, m *jetstream.RawStreamMsg, subject, id, body, deliveries, errText string) {
	t.Helper()
	if string(m.Data) != body {
		t.Errorf("dead letter body = %q, want %q", m.Data, body)
	}
	for h, want := range map[string]string{
		subscriber.MsgIDHeader:      id,
		subscriber.SubjectHeader:    subject,
		subscriber.StreamSeqHeader:  "1",
		subscriber.DeliveriesHeader: deliveries,
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("dead letter %s = %q, want %q", h, got, want)
		}
	}
	if got := m.Header.Get(subscriber.ErrorHeader); !strings.Contains(got, errText) {
		t.Errorf("dead letter %s = %q, want it to say %q", subscriber.ErrorHeader, got, errText)
	}
}

func TestBusinessRejectionIsAckedWithoutRedelivery(t *testing.T) {
	e := setup(t)
	var calls atomic.Int32
	e.run(t, func(context.Context, any) (any, error) {
		calls.Add(1)
		return nil, errs.New(errs.Conflict, "order already cancelled")
	}, decodeString)

	e.publish(t, "pay", "ev-r", "charge 10")
	info := e.waitSettled(t)
	if calls.Load() != 1 || info.Delivered.Consumer != 1 {
		t.Errorf("endpoint ran %d times over %d deliveries; want once", calls.Load(), info.Delivered.Consumer)
	}
	if n := e.counter(t, "kitshop_subscriber_consumed_total", "outcome", "rejected"); n != 1 {
		t.Errorf("consumed rejected = %v, want 1", n)
	}
	if info, err := e.dead.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Errorf("dead letter stream = %+v, %v; want empty", info, err)
	}
}
