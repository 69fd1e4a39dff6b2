package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kitshop/kitshop/internal/devenv"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/outbox"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// setup returns a pool on a fresh database holding the outbox table, and
// a JetStream client with a stream named after the test capturing
// "<stream>.>".
func setup(t *testing.T, broker *devenv.NATS) (*pgxpool.Pool, jetstream.JetStream, jetstream.Stream, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, outbox.Schema); err != nil {
		t.Fatalf("schema: %v", err)
	}
	nc, err := nats.Connect(broker.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("T%d", time.Now().UnixNano())
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return pool, js, stream, name
}

// addEvents commits (or rolls back) one transaction adding n events of
// aggregate agg, and returns their ids.
func addEvents(t *testing.T, pool *pgxpool.Pool, subject, agg string, n int, commit bool) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var ids []uuid.UUID
	for i := range n {
		e := outbox.Event{
			ID: uuid.New(), Aggregate: agg, Subject: subject, Type: "thing.changed",
			Payload: fmt.Appendf(nil, "%s#%d", agg, i),
		}
		if err := outbox.Add(ctx, tx, e); err != nil {
			t.Fatalf("Add: %v", err)
		}
		ids = append(ids, e.ID)
	}
	if commit {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// waitMsgs waits until the stream holds want messages and returns them in
// stream order.
func waitMsgs(t *testing.T, stream jetstream.Stream, want int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		info, err := stream.Info(ctx)
		if err == nil && info.State.Msgs >= uint64(want) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("stream has %v messages (%v), want %d", info, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= uint64(want); seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("GetMsg(%d): %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func TestRelayPublishesCommittedEventsInOrder(t *testing.T) {
	pool, js, stream, subj := setup(t, testenv.NATS(t))
	reg := prometheus.NewRegistry()
	relay, err := outbox.Start(pool, js, outbox.WithBatch(3), outbox.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()

	a := addEvents(t, pool, subj+".a", "a", 4, true)
	addEvents(t, pool, subj+".x", "x", 2, false) // rolled back: never published
	b := addEvents(t, pool, subj+".b", "b", 3, true)
	want := append(a, b...)

	msgs := waitMsgs(t, stream, len(want))
	for i, m := range msgs {
		if got := m.Header.Get(jetstream.MsgIDHeader); got != want[i].String() {
			t.Errorf("message %d: Nats-Msg-Id = %s, want %s", i, got, want[i])
		}
		if got := m.Header.Get(outbox.TypeHeader); got != "thing.changed" {
			t.Errorf("message %d: %s = %q", i, outbox.TypeHeader, got)
		}
	}
	if string(msgs[0].Data) != "a#0" || string(msgs[3].Data) != "a#3" || string(msgs[4].Data) != "b#0" {
		t.Errorf("payloads out of order: %q, %q, %q", msgs[0].Data, msgs[3].Data, msgs[4].Data)
	}

	// Give the relay a moment to publish anything it should not have (the
	// rolled-back events), then check the stream holds exactly these.
	time.Sleep(300 * time.Millisecond)
	if info, err := stream.Info(context.Background()); err != nil || info.State.Msgs != uint64(len(want)) {
		t.Errorf("stream = %+v, %v; want %d messages", info.State, err, len(want))
	}
	var left int
	for ctx := context.Background(); ; time.Sleep(20 * time.Millisecond) {
		// published_at is set just after the acknowledgement.
		if left, _, err = relay.Backlog(ctx); err != nil || left == 0 {
			break
		}
	}
	if err != nil || left != 0 {
		t.Errorf("Backlog = %d, %v; want 0", left, err)
	}
}

func TestTwoRelaysPublishEachEventOnce(t *testing.T) {
	pool, js, stream, subj := setup(t, testenv.NATS(t))
	for range 2 {
		r, err := outbox.Start(pool, js, outbox.WithBatch(5), outbox.WithPollInterval(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Stop()
	}
	var want []uuid.UUID
	for i := range 10 {
		want = append(want, addEvents(t, pool, subj+".e", fmt.Sprint("agg", i%3), 5, true)...)
	}
	msgs := waitMsgs(t, stream, len(want))
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
	info, err := stream.Info(context.Background())
	if err != nil || info.State.Msgs != uint64(len(want)) {
		t.Fatalf("stream = %+v, %v; want %d messages, each event once", info.State, err, len(want))
	}
	for i, m := range msgs {
		if got := m.Header.Get(jetstream.MsgIDHeader); got != want[i].String() {
			t.Fatalf("message %d: Nats-Msg-Id = %s, want %s (seq order)", i, got, want[i])
		}
	}
}

func TestBrokerDownBacklogGrowsThenDrains(t *testing.T) {
	broker := testenv.OwnNATS(t)
	pool, js, stream, subj := setup(t, broker)
	relay, err := outbox.Start(pool, js,
		outbox.WithPollInterval(50*time.Millisecond), outbox.WithPublishTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()

	first := addEvents(t, pool, subj+".e", "a", 2, true)
	waitMsgs(t, stream, len(first))

	if err := broker.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	later := addEvents(t, pool, subj+".e", "a", 3, true) // Add does not need the broker
	later = append(later, addEvents(t, pool, subj+".e", "b", 2, true)...)
	ctx := context.Background()
	n, oldest, err := relay.Backlog(ctx)
	if err != nil || n != len(later) || oldest <= 0 {
		t.Fatalf("Backlog with the broker down = %d, %v, %v; want %d events waiting", n, oldest, err, len(later))
	}

	if err := broker.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	want := append(first, later...)
	msgs := waitMsgs(t, stream, len(want))
	for i, m := range msgs {
		if got := m.Header.Get(jetstream.MsgIDHeader); got != want[i].String() {
			t.Fatalf("message %d: Nats-Msg-Id = %s, want %s", i, got, want[i])
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for n > 0 && time.Now().Before(deadline) {
		n, _, err = relay.Backlog(ctx)
		time.Sleep(20 * time.Millisecond)
	}
	if n != 0 || err != nil {
		t.Errorf("Backlog after restart = %d, %v; want 0", n, err)
	}
	time.Sleep(300 * time.Millisecond)
	if info, err := stream.Info(ctx); err != nil || info.State.Msgs != uint64(len(want)) {
		t.Errorf("stream = %+v, %v; want %d messages, each event once", info.State, err, len(want))
	}
}

func TestAddRejectsIncompleteEvents(t *testing.T) {
	pool, _, _, _ := setup(t, testenv.NATS(t))
	ok := outbox.Event{ID: uuid.New(), Aggregate: "a", Subject: "s", Type: "t"}
	tests := []struct {
		name string
		edit func(*outbox.Event)
	}{
		{"no id", func(e *outbox.Event) { e.ID = uuid.Nil }},
		{"no aggregate", func(e *outbox.Event) { e.Aggregate = "" }},
		{"no subject", func(e *outbox.Event) { e.Subject = "" }},
		{"no type", func(e *outbox.Event) { e.Type = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.edit(&e)
			err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
				return outbox.Add(context.Background(), tx, e)
			})
			if err == nil {
				t.Error("Add accepted an incomplete event")
			}
		})
	}
}

func TestBacklogGauges(t *testing.T) {
	pool, _, _, subj := setup(t, testenv.NATS(t))
	reg := prometheus.NewRegistry()
	// A publisher that always fails keeps the events in the outbox.
	relay, err := outbox.Start(pool, failing{}, outbox.WithRegisterer(reg), outbox.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()
	addEvents(t, pool, subj+".e", "a", 3, true)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if mfs, err := reg.Gather(); err == nil && gaugeValue(mfs, "kitshop_outbox_backlog_events") == 3 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	mfs, _ := reg.Gather()
	t.Errorf("kitshop_outbox_backlog_events = %v, want 3", gaugeValue(mfs, "kitshop_outbox_backlog_events"))
}

type failing struct{}

func (failing) PublishMsg(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return nil, errors.New("broker unreachable")
}

func gaugeValue(mfs []*dto.MetricFamily, name string) float64 {
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// failOnce fails the publish of one event, the first time only.
type failOnce struct {
	outbox.Publisher
	id     string
	failed atomic.Bool
}

func (f *failOnce) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if m.Header.Get(outbox.AggregateHeader) != "" && string(m.Data) == f.id && f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("broker hiccup")
	}
	return f.Publisher.PublishMsg(ctx, m, opts...)
}

// TestFailedPublishStopsTheBatch: when one event fails to publish, the
// events after it wait for it rather than overtake it.
func TestFailedPublishStopsTheBatch(t *testing.T) {
	pool, js, stream, subj := setup(t, testenv.NATS(t))
	want := addEvents(t, pool, subj+".e", "a", 5, true)
	pub := &failOnce{Publisher: js, id: "a#1"} // the second event
	relay, err := outbox.Start(pool, pub, outbox.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()
	msgs := waitMsgs(t, stream, len(want))
	for i, m := range msgs {
		if got := m.Header.Get(jetstream.MsgIDHeader); got != want[i].String() {
			t.Fatalf("message %d: Nats-Msg-Id = %s, want %s (seq order)", i, got, want[i])
		}
	}
	if !pub.failed.Load() {
		t.Error("the publish of a#1 never failed; the test tested nothing")
	}
}

// failOnceAsync refuses the nth async publish of an aggregate's events,
// once; everything else goes to JetStream, many publishes in flight.
type failOnceAsync struct {
	jetstream.JetStream
	aggregate string
	nth       int64
	seen      atomic.Int64
	failed    atomic.Bool
}

func (f *failOnceAsync) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if m.Header.Get(outbox.AggregateHeader) == f.aggregate && f.seen.Add(1) == f.nth && f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("broker hiccup")
	}
	return f.JetStream.PublishMsgAsync(m, opts...)
}

// TestFailedAsyncPublishKeepsEachAggregatesOrder: events of two aggregates
// go out in waves; when one fails, nothing of its aggregate after it is
// published before it, and every event arrives once.
func TestFailedAsyncPublishKeepsEachAggregatesOrder(t *testing.T) {
	pool, js, stream, subj := setup(t, testenv.NATS(t))
	var want []uuid.UUID
	for range 3 { // a#0 b#0 a#0 b#0 …: each transaction adds one event of its aggregate
		want = append(want, addEvents(t, pool, subj+".a", "a", 1, true)...)
		want = append(want, addEvents(t, pool, subj+".b", "b", 1, true)...)
	}
	// b's second event fails in the second wave, after a's went out.
	pub := &failOnceAsync{JetStream: js, aggregate: "b", nth: 2}
	relay, err := outbox.Start(pool, pub, outbox.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()
	msgs := waitMsgs(t, stream, len(want))
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
	if info, err := stream.Info(context.Background()); err != nil || info.State.Msgs != uint64(len(want)) {
		t.Fatalf("stream = %+v, %v; want %d messages, each event once", info.State, err, len(want))
	}
	pos := map[string]int{}
	for i, m := range msgs {
		pos[m.Header.Get(jetstream.MsgIDHeader)] = i
	}
	for i := 2; i < len(want); i++ { // want[i-2] is the same aggregate's previous event
		if pos[want[i-2].String()] > pos[want[i].String()] {
			t.Errorf("event %d of aggregate %s published before its predecessor", i/2, []string{"a", "b"}[i%2])
		}
	}
	if !pub.failed.Load() {
		t.Error("no publish failed; the test tested nothing")
	}
}
