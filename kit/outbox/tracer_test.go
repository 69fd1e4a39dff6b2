package outbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/outbox"
)

// TestTracerWrapsEachPublish checks that the relay hands every event's
// message to its tracer before publishing it, so a header the tracer adds
// reaches the stream, and ends each span with the publish's outcome.
func TestTracerWrapsEachPublish(t *testing.T) {
	pool, js, stream, subj := setup(t, testenv.NATS(t))
	var (
		mu    sync.Mutex
		ended []error
	)
	tracer := func(ctx context.Context, msg *nats.Msg) (context.Context, func(error)) {
		msg.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		return ctx, func(err error) {
			mu.Lock()
			ended = append(ended, err)
			mu.Unlock()
		}
	}
	relay, err := outbox.Start(pool, js, outbox.WithTracer(tracer), outbox.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()

	want := addEvents(t, pool, subj+".e", "agg", 3, true)
	for i, m := range waitMsgs(t, stream, len(want)) {
		if got := m.Header.Get("Traceparent"); got == "" {
			t.Errorf("message %d has no traceparent: the tracer's header did not reach the stream", i)
		}
	}
	// A span ends once JetStream's acknowledgement is back, which may be
	// after the message shows in the stream.
	deadline := time.Now().Add(10 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	for len(ended) < len(want) && time.Now().Before(deadline) {
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
	}
	if len(ended) != len(want) {
		t.Fatalf("%d spans ended, want %d", len(ended), len(want))
	}
	for i, err := range ended {
		if err != nil {
			t.Errorf("span %d ended with %v, want a successful publish", i, err)
		}
	}
}
