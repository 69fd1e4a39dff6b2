package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The stream of dead letters: kit/subscriber copies a message there, under
// DeadLetterSubject(consumer), when it gives up on it.
const (
	DeadLetterStream   = "KITSHOP_DEADLETTER"
	deadLetterSubjects = "kitshop.deadletter.>"
)

// DeadLetterSubject is where the durable consumer durable's dead letters go.
func DeadLetterSubject(durable string) string { return "kitshop.deadletter." + durable }

// DeadLetterStreamConfig describes the dead-letter stream, which keeps its
// messages for 30 days.
func DeadLetterStreamConfig(replicas int) StreamConfig {
	return StreamConfig{Name: DeadLetterStream, Subjects: []string{deadLetterSubjects}, Replicas: replicas, MaxAge: 30 * 24 * time.Hour}
}

// StreamConfig describes one source's stream.
type StreamConfig struct {
	Name     string
	Subjects []string
	// Replicas is 1 on a single server and 3 on a three-node cluster;
	// 0 means 1.
	Replicas int
	// MaxAge bounds how long messages stay; 0 means 7 days.
	MaxAge time.Duration
}

// DuplicateWindow is how long JetStream remembers a message id to drop a
// repeated publish of it: the relay's retries fall well inside it.
const DuplicateWindow = 2 * time.Minute

// EnsureStream creates the stream, or updates it to cfg. Producers and
// consumers of a stream both call it, so neither depends on the other
// starting first; they must agree on cfg.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	if cfg.Name == "" || len(cfg.Subjects) == 0 {
		return errors.New("events: a stream needs a name and subjects")
	}
	sc := jetstream.StreamConfig{
		Name:       cfg.Name,
		Subjects:   cfg.Subjects,
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardOld,
		MaxAge:     cfg.MaxAge,
		Replicas:   max(cfg.Replicas, 1),
		Duplicates: DuplicateWindow,
	}
	if sc.MaxAge == 0 {
		sc.MaxAge = 7 * 24 * time.Hour
	}
	if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("events: stream %s: %w", cfg.Name, err)
	}
	return nil
}

// ConsumerConfig describes a durable consumer: one per consuming service,
// shared by its instances, which split the messages between them.
type ConsumerConfig struct {
	// Stream is the stream to read, Durable the consumer's name (the
	// consuming service's name, or service-purpose).
	Stream, Durable string
	// Subjects filters the stream; empty means all of it.
	Subjects []string
	// AckWait is how long a delivered message may stay unacknowledged
	// before JetStream delivers it again, to another instance if this one
	// died; keep it above the subscriber's Timeout. 0 means 30 s.
	AckWait time.Duration
	// MaxAckPending bounds the messages in hand at once; 0 means 1000.
	MaxAckPending int
	// Workers is how many messages are handled at once; 0 means 16. A
	// slow message (a payment that takes seconds) then holds up one
	// worker, not the consumer. Messages of one entity may be handled out
	// of order, as they may anyway once several instances share the
	// consumer: handlers check the entity's state, not the arrival order.
	Workers int
}

// Consumption is a running durable consumer.
type Consumption struct {
	cc      jetstream.ConsumeContext
	workers chan struct{}
	wg      sync.WaitGroup
}

// Stop stops fetching and waits for the messages in hand; unacknowledged
// ones go to another instance after AckWait.
func (c *Consumption) Stop() {
	c.cc.Drain()
	<-c.cc.Closed()
	c.wg.Wait()
}

func (c *Consumption) run(handle jetstream.MessageHandler) jetstream.MessageHandler {
	return func(msg jetstream.Msg) {
		c.workers <- struct{}{} // back pressure: the consume loop waits for a free worker
		c.wg.Add(1)
		go func() {
			defer func() { <-c.workers; c.wg.Done() }()
			handle(msg)
		}()
	}
}

// Consume creates (or updates) the durable consumer and hands its messages
// to handle, usually a kit/subscriber's Handle. The consumer acknowledges
// explicitly and redelivers without limit: kit/subscriber decides when a
// message is dead.
func Consume(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, handle jetstream.MessageHandler) (*Consumption, error) {
	if cfg.Stream == "" || cfg.Durable == "" {
		return nil, errors.New("events: a consumer needs a stream and a durable name")
	}
	cc := jetstream.ConsumerConfig{
		Durable:        cfg.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxDeliver:     -1,
		AckWait:        cfg.AckWait,
		MaxAckPending:  cfg.MaxAckPending,
		FilterSubjects: cfg.Subjects,
	}
	if cc.AckWait == 0 {
		cc.AckWait = 30 * time.Second
	}
	if cc.MaxAckPending == 0 {
		cc.MaxAckPending = 1000
	}
	c, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("events: consumer %s on %s: %w", cfg.Durable, cfg.Stream, err)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = 16
	}
	run := &Consumption{workers: make(chan struct{}, workers)}
	if run.cc, err = c.Consume(run.run(handle)); err != nil {
		return nil, fmt.Errorf("events: consume %s on %s: %w", cfg.Durable, cfg.Stream, err)
	}
	return run, nil
}
