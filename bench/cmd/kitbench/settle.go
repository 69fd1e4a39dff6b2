package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/kit/outbox"
)

// Bounds of the wait for a quiet stack between measurements.
const (
	settleEvery = 100 * time.Millisecond
	// settleStuck is how long a backlog may stay the same before it
	// counts as nobody's work (a consumer without a subscriber, say)
	// rather than work in progress.
	settleStuck = 2 * time.Second
	// settleMax bounds the whole wait.
	settleMax = 90 * time.Second
	// settleReport is the shortest wait worth a line in the log.
	settleReport = time.Second
)

// outboxDatabases are the databases whose services publish through
// kit/outbox.
var outboxDatabases = []string{"user", "product", "order", "payment"}

// settler waits until the work a measurement left behind is done: every
// outbox relayed and every JetStream consumer caught up. An order row
// places orders faster than payment and notification follow them, and
// on a slow machine its events take seconds more to drain; without the wait
// the next row (or the half-rate measurement) would compete with that
// backlog for the same two cores, and its figure would depend on the
// rotation.
type settler struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	pools []*pgxpool.Pool
	log   io.Writer
	// every, stuck and max are settleEvery, settleStuck and settleMax,
	// shorter in tests.
	every, stuck, max time.Duration
	// na says why nothing is waited for (no broker, say); empty when it
	// waits.
	na string
}

// newSettler connects to the stack's broker and databases. A stack it
// cannot reach gives a settler that does not wait, and says so.
func newSettler(ctx context.Context, natsURL, productDB string, log io.Writer) *settler {
	s := &settler{log: log, every: settleEvery, stuck: settleStuck, max: settleMax}
	nc, err := nats.Connect(natsURL, nats.Name("kitbench-settle"))
	if err != nil {
		s.na = "nats: " + err.Error()
		fmt.Fprintf(log, "kitbench: measurements do not wait for event backlogs to drain (%s)\n", s.na)
		return s
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		s.na = "jetstream: " + err.Error()
		fmt.Fprintf(log, "kitbench: measurements do not wait for event backlogs to drain (%s)\n", s.na)
		return s
	}
	s.nc, s.js = nc, js
	for _, db := range outboxDatabases {
		if productDB == "" {
			break
		}
		cfg, err := pgxpool.ParseConfig(databaseURL(productDB, db))
		if err != nil {
			continue
		}
		cfg.MaxConns = 1
		if pool, err := pgxpool.NewWithConfig(ctx, cfg); err == nil {
			s.pools = append(s.pools, pool)
		}
	}
	return s
}

// Close releases the connections.
func (s *settler) Close() {
	for _, p := range s.pools {
		p.Close()
	}
	if s.nc != nil {
		s.nc.Close()
	}
}

// wait returns once nothing is left to relay or consume, or the backlog
// has stopped moving, or s.max has passed; before is what comes next,
// for the log.
func (s *settler) wait(ctx context.Context, before string) {
	if s.na != "" {
		return
	}
	start := time.Now()
	last, since, first := -1, start, -1
	for {
		n := s.backlog(ctx)
		if first < 0 {
			first = n
		}
		switch {
		case n == 0:
			s.report(before, first, time.Since(start), "")
			return
		case ctx.Err() != nil:
			return
		case n != last:
			last, since = n, time.Now()
		case time.Since(since) >= s.stuck:
			s.report(before, first, time.Since(start), fmt.Sprintf(", %d left that nobody consumes", n))
			return
		}
		if time.Since(start) >= s.max {
			s.report(before, first, time.Since(start), fmt.Sprintf(", %d still left (gave up)", n))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.every):
		}
	}
}

func (s *settler) report(before string, backlog int, took time.Duration, rest string) {
	if took >= settleReport || rest != "" {
		fmt.Fprintf(s.log, "          waited %s for a backlog of %d events to drain before %s%s\n",
			took.Round(100*time.Millisecond), backlog, before, rest)
	}
}

// backlog counts the events not yet relayed plus the messages not yet
// acknowledged by every durable consumer. What it cannot read counts as
// nothing: the wait is a courtesy to the next row, not a check.
func (s *settler) backlog(ctx context.Context) int {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n := 0
	for _, p := range s.pools {
		if count, _, err := outbox.Backlog(cctx, p); err == nil {
			n += count
		}
	}
	names := s.js.StreamNames(cctx)
	for name := range names.Name() {
		stream, err := s.js.Stream(cctx, name)
		if err != nil {
			continue
		}
		consumers := stream.ListConsumers(cctx)
		for ci := range consumers.Info() {
			n += int(ci.NumPending) + ci.NumAckPending
		}
	}
	return n
}
