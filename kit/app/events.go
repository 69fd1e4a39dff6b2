package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/log/level"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/subscriber"
	"github.com/kitshop/kitshop/kit/tracing"
)

// MaxDeliver is how many deliveries a consumer gives a failing event before
// it dead-letters it: with kit/subscriber's default backoff (1 s doubling
// to 1 min) about four minutes, long enough to ride out a database restart
// or a redeploy.
const MaxDeliver = 10

// connectNATS connects without waiting for the broker: a service keeps
// serving while the broker is down, its events waiting in the outbox.
func (a *App) connectNATS() error {
	logger := a.Log("nats")
	nc, err := nats.Connect(a.Options.NATSURL,
		nats.Name(a.Options.InstanceID),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			level.Warn(logger).Log("msg", "disconnected from the broker", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			level.Info(logger).Log("msg", "reconnected to the broker", "url", c.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	a.Defer(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	a.NATS, a.JetStream = nc, js
	return nil
}

// Publish starts the outbox relay that publishes the service's outbox
// (kit/outbox, in a.Pool) to JetStream, and creates stream for it once the
// broker answers. The replicas come from -stream-replicas.
func (a *App) Publish(stream events.StreamConfig) error {
	if a.JetStream == nil || a.Pool == nil {
		return fmt.Errorf("app: Publish needs Spec.Events and Spec.Schema")
	}
	stream.Replicas = a.Options.StreamReplicas
	a.retry("stream "+stream.Name, func(ctx context.Context) (func(), error) {
		return func() {}, events.EnsureStream(ctx, a.JetStream, stream)
	})
	relay, err := outbox.Start(a.Pool, a.JetStream, outbox.WithTracer(tracing.PublishEvent),
		outbox.WithLogger(a.Log("outbox")), outbox.WithRegisterer(a.Metrics.Registry()))
	if err != nil {
		return err
	}
	a.Defer(relay.Stop)
	return nil
}

// SubscriberOptions are what every consumer of the service wants: dead
// letters to events.DeadLetterSubject(durable) after MaxDeliver
// deliveries, the service's logger and its metrics, and a span per
// delivery (kit/tracing.ConsumeEvent). Options after them
// override them.
func (a *App) SubscriberOptions(durable string) []subscriber.Option {
	return []subscriber.Option{
		subscriber.MaxDeliver(MaxDeliver),
		subscriber.DeadLetter(a.JetStream, events.DeadLetterSubject(durable)),
		subscriber.Logger(a.Log("subscriber")),
		subscriber.Metrics(a.Metrics.Registry()),
		subscriber.Span(tracing.ConsumeEvent(durable)),
	}
}

// Subscribe consumes stream through the durable consumer cfg with handle
// (a kit/subscriber's Handle). The stream, the dead-letter stream and the
// consumer are created once the broker answers, retried until it does;
// Run's shutdown stops the consumption before it closes the pool.
func (a *App) Subscribe(stream events.StreamConfig, cfg events.ConsumerConfig, handle jetstream.MessageHandler) {
	stream.Replicas = a.Options.StreamReplicas
	cfg.Stream = stream.Name
	a.retry("consumer "+cfg.Durable, func(ctx context.Context) (func(), error) {
		if err := events.EnsureStream(ctx, a.JetStream, stream); err != nil {
			return nil, err
		}
		if err := events.EnsureStream(ctx, a.JetStream, events.DeadLetterStreamConfig(a.Options.StreamReplicas)); err != nil {
			return nil, err
		}
		cc, err := events.Consume(ctx, a.JetStream, cfg, handle)
		if err != nil {
			return nil, err
		}
		return cc.Stop, nil
	})
}

// retry runs setup in the background until it succeeds, with a growing
// pause (at most 5 s), and defers the stop function it returns. The closer
// also ends the retries.
func (a *App) retry(what string, setup func(ctx context.Context) (stop func(), err error)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan func(), 1)
	go func() {
		logger := a.Log("events")
		wait := 100 * time.Millisecond
		for attempt := 1; ; attempt++ {
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			stop, err := setup(sctx)
			scancel()
			if err == nil {
				done <- stop
				return
			}
			if attempt == 1 || attempt%10 == 0 {
				level.Warn(logger).Log("msg", "broker not ready; retrying", "what", what, "attempt", attempt, "err", err)
			}
			select {
			case <-ctx.Done():
				done <- func() {}
				return
			case <-time.After(wait):
			}
			wait = min(wait*2, 5*time.Second)
		}
	}()
	a.Defer(func() {
		cancel()
		(<-done)()
	})
}
