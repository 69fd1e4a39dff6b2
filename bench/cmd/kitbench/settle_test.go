package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/internal/testlog"
)

// TestSettlerWaits checks the wait between measurements against a real
// broker: it lasts while a consumer works through its backlog, ends when
// the backlog is gone, and gives up on a backlog nobody consumes.
func TestSettlerWaits(t *testing.T) {
	srv := testenv.OwnNATS(t)
	ctx := context.Background()
	_, js := testenv.JetStream(t, srv.URL())
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SETTLE", Subjects: []string{"settle.>"}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(n int) {
		for i := range n {
			if _, err := js.Publish(ctx, "settle.x", []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
	}

	var log testlog.Buffer
	s := newSettler(ctx, srv.URL(), "", &log)
	defer s.Close()
	s.every, s.stuck, s.max = 20*time.Millisecond, 500*time.Millisecond, 10*time.Second

	// Nothing pending: no wait, no line.
	start := time.Now()
	s.wait(ctx, "idle")
	if took := time.Since(start); took > time.Second || log.String() != "" {
		t.Fatalf("wait with nothing pending took %v and logged %q", took, log.String())
	}

	// A backlog consumed slowly: the wait lasts until the last ack.
	publish(30)
	acked := make(chan time.Time, 1)
	go func() {
		for range 30 {
			m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				return
			}
			time.Sleep(40 * time.Millisecond)
			_ = m.DoubleAck(ctx)
		}
		acked <- time.Now()
	}()
	s.wait(ctx, "slow")
	done := time.Now()
	select {
	case last := <-acked:
		if done.Before(last) {
			t.Errorf("wait ended %v before the last ack", last.Sub(done))
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("wait ended while the consumer was still working:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "before slow") {
		t.Errorf("a wait of over a second was not logged:\n%s", log.String())
	}

	// A backlog nobody consumes: given up after s.stuck, and said so.
	publish(5)
	start = time.Now()
	s.wait(ctx, "stuck")
	if took := time.Since(start); took < s.stuck || took > s.max {
		t.Errorf("wait on a stuck backlog took %v, want about %v", took, s.stuck)
	}
	if !strings.Contains(log.String(), "5 events to drain before stuck, 5 left that nobody consumes") {
		t.Errorf("the stuck backlog was not reported:\n%s", log.String())
	}
}

// TestSettlerWithoutBroker checks that a stack without a reachable broker
// gives a settler that does not wait and says why.
func TestSettlerWithoutBroker(t *testing.T) {
	var log testlog.Buffer
	s := newSettler(context.Background(), "nats://127.0.0.1:1", "", &log)
	defer s.Close()
	if s.na == "" || !strings.Contains(log.String(), "do not wait") {
		t.Fatalf("na %q, log %q; want the reason", s.na, log.String())
	}
	start := time.Now()
	s.wait(context.Background(), "anything")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("wait without a broker took %v", took)
	}
}
