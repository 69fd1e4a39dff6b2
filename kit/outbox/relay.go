package outbox

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/postgres"
)

// Publisher is the part of jetstream.JetStream the relay uses.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Relay copies committed outbox rows to JetStream. Start it once per
// process; Stop ends it.
type Relay struct {
	pool *pgxpool.Pool
	pub  Publisher
	opts options

	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type options struct {
	batch          int
	poll           time.Duration
	publishTimeout time.Duration
	logger         log.Logger
	reg            prometheus.Registerer
	trace          PublishTracer
}

// PublishTracer starts a span around the publish of one event's message,
// which it may change (to add a trace header), and returns the function
// that ends it with the publish's error, such as kit/tracing.PublishEvent.
type PublishTracer func(context.Context, *nats.Msg) (context.Context, func(error))

// WithTracer traces each publish with t.
func WithTracer(t PublishTracer) Option { return func(o *options) { o.trace = t } }

// Option configures a Relay.
type Option func(*options)

// WithBatch sets how many events one transaction claims (default 100).
func WithBatch(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.batch = n
		}
	}
}

// WithPollInterval sets how often the relay looks for events without being
// notified (default 1 s): after a lost notification, and while the broker
// is down, this is the retry interval.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.poll = d
		}
	}
}

// WithPublishTimeout bounds the wait for one JetStream acknowledgement
// (default 5 s).
func WithPublishTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.publishTimeout = d
		}
	}
}

// WithLogger logs failed passes (broker or database unreachable).
func WithLogger(l log.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegisterer exports the backlog as kitshop_outbox_backlog_events and
// kitshop_outbox_oldest_unpublished_seconds, updated after every pass, and
// the publish rate as kitshop_outbox_published_total.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// relayLock is the advisory lock key that lets one relay of a database work
// at a time; the others stand by.
const relayLock = "kitshop.outbox.relay"

// Start starts a relay that publishes pool's outbox through pub, usually a
// jetstream.JetStream. It registers its gauges first, and fails only if
// that fails.
func Start(pool *pgxpool.Pool, pub Publisher, opts ...Option) (*Relay, error) {
	o := options{batch: 100, poll: time.Second, publishTimeout: 5 * time.Second, logger: log.NewNopLogger()}
	for _, opt := range opts {
		opt(&o)
	}
	r := &Relay{pool: pool, pub: pub, opts: o, wake: make(chan struct{}, 1)}
	var g *gauges
	if o.reg != nil {
		var err error
		if g, err = newGauges(o.reg); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		_ = postgres.Listen(ctx, pool, Channel, postgres.ListenHandler{
			Notify:    func(string) { r.poke() },
			Connected: r.poke, // rows may have come while we were not listening
		})
	}()
	go func() {
		defer r.wg.Done()
		r.loop(ctx, g)
	}()
	return r, nil
}

// Stop ends the relay and waits for it; a batch in flight is rolled back,
// and its events are published again by the next relay (JetStream drops
// the repeats).
func (r *Relay) Stop() {
	r.cancel()
	r.wg.Wait()
}

func (r *Relay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Relay) loop(ctx context.Context, g *gauges) {
	tick := time.NewTicker(r.opts.poll)
	defer tick.Stop()
	for ctx.Err() == nil {
		n, err := r.pass(ctx)
		if err != nil && ctx.Err() == nil {
			r.opts.logger.Log("msg", "outbox relay pass failed", "published", n, "err", err)
		}
		if g != nil {
			g.published.Add(float64(n))
			g.update(ctx, r.pool)
		}
		if err == nil && n == r.opts.batch {
			continue // probably more waiting
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-tick.C:
		}
	}
}

type row struct {
	id                      uuid.UUID
	aggregate, subject, typ string
	payload                 []byte
}

// pass claims up to a batch of unpublished events in seq order, publishes
// them until one fails, and marks the published ones. It returns how many
// were published. Another relay holding the lock is not an error: this one
// stands by.
func (r *Relay) pass(ctx context.Context) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1))`, relayLock).Scan(&locked); err != nil {
		return 0, fmt.Errorf("outbox: lock: %w", err)
	}
	if !locked {
		return 0, nil
	}
	// SKIP LOCKED: rows a writer is still inserting are not ours yet, and
	// waiting for them would hold up everything behind.
	rows, err := tx.Query(ctx, `
		SELECT id, aggregate, subject, type, payload FROM outbox
		WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, r.opts.batch)
	if err != nil {
		return 0, fmt.Errorf("outbox: claim: %w", err)
	}
	batch, err := pgx.CollectRows(rows, func(rs pgx.CollectableRow) (row, error) {
		var e row
		err := rs.Scan(&e.id, &e.aggregate, &e.subject, &e.typ, &e.payload)
		return e, err
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: claim: %w", err)
	}
	published := make([]uuid.UUID, 0, len(batch))
	var pubErr error
	for _, e := range batch {
		if pubErr = r.publish(ctx, e); pubErr != nil {
			break // the rest waits, so no event overtakes an earlier one
		}
		published = append(published, e.id)
	}
	if len(published) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = ANY($1)`, published); err != nil {
			return 0, fmt.Errorf("outbox: mark published: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, fmt.Errorf("outbox: commit: %w", err)
		}
	}
	return len(published), pubErr
}

func (r *Relay) publish(ctx context.Context, e row) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.publishTimeout)
	defer cancel()
	msg := nats.NewMsg(e.subject)
	msg.Data = e.payload
	msg.Header.Set(TypeHeader, e.typ)
	msg.Header.Set(AggregateHeader, e.aggregate)
	end := func(error) {}
	if r.opts.trace != nil {
		ctx, end = r.opts.trace(ctx, msg)
	}
	_, err := r.pub.PublishMsg(ctx, msg, jetstream.WithMsgID(e.id.String()))
	end(err)
	if err != nil {
		return fmt.Errorf("outbox: publish %s on %s: %w", e.id, e.subject, err)
	}
	return nil
}

// Backlog returns how many events wait to be published and how long the
// oldest of them has waited (0 when none does).
func Backlog(ctx context.Context, pool *pgxpool.Pool) (count int, oldest time.Duration, err error) {
	var age float64
	err = pool.QueryRow(ctx, `
		SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
		FROM outbox WHERE published_at IS NULL`).Scan(&count, &age)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: backlog: %w", err)
	}
	return count, time.Duration(age * float64(time.Second)), nil
}

// Backlog is Backlog on the relay's pool.
func (r *Relay) Backlog(ctx context.Context) (count int, oldest time.Duration, err error) {
	return Backlog(ctx, r.pool)
}

type gauges struct {
	events, oldest prometheus.Gauge
	published      prometheus.Counter
}

func newGauges(reg prometheus.Registerer) (*gauges, error) {
	g := &gauges{
		events: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Name: "outbox_backlog_events",
			Help: "Events committed to the outbox and not yet acknowledged by JetStream.",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Name: "outbox_oldest_unpublished_seconds",
			Help: "How long the oldest unpublished outbox event has waited.",
		}),
	}
	g.published = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "outbox_published_total",
		Help: "Events the relay published and JetStream acknowledged.",
	})
	for _, c := range []prometheus.Collector{g.events, g.oldest, g.published} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("outbox: register metrics: %w", err)
		}
	}
	return g, nil
}

// update sets the gauges; a failed query leaves the last values.
func (g *gauges) update(ctx context.Context, pool *pgxpool.Pool) {
	n, age, err := Backlog(ctx, pool)
	if err != nil {
		return
	}
	g.events.Set(float64(n))
	g.oldest.Set(age.Seconds())
}
