package outbox

import (
	"context"
	"errors"
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
	retention      time.Duration
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

// WithBatch sets how many events one transaction claims (default 256).
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

// WithRetention sets how long published events stay in the outbox before
// the relay deletes them (default 24 h; 0 keeps them for ever). They are
// kept a while so that an operator can see what went out, and the table
// stays small so that nothing reading it slows down as it ages.
func WithRetention(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.retention = d
		}
	}
}

// WithLogger logs failed passes (broker or database unreachable).
func WithLogger(l log.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegisterer exports the backlog as kitshop_outbox_backlog_events and
// kitshop_outbox_oldest_unpublished_seconds, updated after a pass, at most
// twice a second, and the publish rate as kitshop_outbox_published_total.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// relayLock is the advisory lock key that lets one relay of a database work
// at a time; the others stand by (see loop).
const relayLock = "kitshop.outbox.relay"

// Start starts a relay that publishes pool's outbox through pub, usually a
// jetstream.JetStream. It registers its gauges first, and fails only if
// that fails.
//
// The relay works on a connection of its own, configured like pool's but
// outside it: a pool that the service's requests exhaust must not hold up
// the events, and a busy relay must not take connections from requests.
func Start(pool *pgxpool.Pool, pub Publisher, opts ...Option) (*Relay, error) {
	o := options{batch: 256, poll: time.Second, publishTimeout: 5 * time.Second,
		retention: 24 * time.Hour, logger: log.NewNopLogger()}
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
	r.wg.Add(1)
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

type row struct {
	id                      uuid.UUID
	aggregate, subject, typ string
	payload                 []byte
}

// claim locks up to n unpublished events in seq order, once this relay
// holds the advisory lock; the lock is an InitPlan, taken before any row is
// read, so a relay standing by locks no row (a row it locked would be
// skipped by the working relay, and a later event of its aggregate
// published first). SKIP LOCKED is then only a safeguard.
const claim = `
	SELECT id, aggregate, subject, type, payload FROM outbox
	WHERE published_at IS NULL AND (SELECT pg_try_advisory_xact_lock(hashtext($1)))
	ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`

// pass claims up to a batch of unpublished events in seq order, publishes
// them, and marks the published ones, in two round trips to the database:
// BEGIN with the lock and the claim, and the mark with COMMIT. It returns
// how many were published and whether it had the lock. Another relay
// holding the lock is not an error: this one finds no rows and stands by.
func (r *Relay) pass(ctx context.Context, conn *pgx.Conn) (n int, locked bool, err error) {
	// A failure leaves the connection in a transaction or broken: roll
	// back, and close it if that fails too, so the next pass reconnects.
	defer func() {
		if !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
			if _, err := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
				_ = conn.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// Taken here too, to tell the caller; the claim's own attempt then
	// finds it held by this transaction.
	b.Queue(`SELECT pg_try_advisory_xact_lock(hashtext($1))`, relayLock).QueryRow(func(row pgx.Row) error {
		return row.Scan(&locked)
	})
	var batch []row
	b.Queue(claim, relayLock, r.opts.batch).Query(func(rows pgx.Rows) error {
		var err error
		batch, err = pgx.CollectRows(rows, func(rs pgx.CollectableRow) (row, error) {
			var e row
			err := rs.Scan(&e.id, &e.aggregate, &e.subject, &e.typ, &e.payload)
			return e, err
		})
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return 0, false, fmt.Errorf("outbox: claim: %w", err)
	}
	published, pubErr := r.publishAll(ctx, batch)
	b = &pgx.Batch{}
	if len(published) > 0 {
		b.Queue(`UPDATE outbox SET published_at = now() WHERE id = ANY($1)`, published)
		b.Queue("COMMIT")
	} else {
		b.Queue("ROLLBACK")
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return 0, locked, fmt.Errorf("outbox: mark published: %w", err)
	}
	return len(published), locked, pubErr
}

// AsyncPublisher is the part of jetstream.JetStream that lets the relay
// have many publishes in flight; a Publisher without it publishes one
// event at a time.
type AsyncPublisher interface {
	PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
}

// publishAll publishes batch in waves: a wave is the longest run of events
// of distinct aggregates, published without waiting, in seq order on one
// connection, which JetStream stores in that order; then every
// acknowledgement of the wave is awaited. The next event of an aggregate
// thus goes out only once the previous one is stored, so a failed publish
// (a lost connection, say, after which later messages may still get
// through) can never let a later event of its aggregate overtake it. The
// first failed wave ends the batch; it returns the ids published.
func (r *Relay) publishAll(ctx context.Context, batch []row) ([]uuid.UUID, error) {
	published := make([]uuid.UUID, 0, len(batch))
	async, ok := r.pub.(AsyncPublisher)
	if !ok {
		for _, e := range batch {
			if err := r.publish(ctx, e); err != nil {
				return published, err // the rest waits, so no event overtakes an earlier one
			}
			published = append(published, e.id)
		}
		return published, nil
	}
	inWave := make(map[string]bool)
	var wave []row
	for i := 0; i < len(batch); {
		clear(inWave)
		wave = wave[:0]
		for ; i < len(batch) && !inWave[batch[i].aggregate]; i++ {
			inWave[batch[i].aggregate] = true
			wave = append(wave, batch[i])
		}
		ok, err := r.publishWave(ctx, async, wave)
		published = append(published, ok...)
		if err != nil {
			return published, err
		}
	}
	return published, nil
}

// publishWave publishes events of distinct aggregates at once and waits
// for their acknowledgements, each for at most the publish timeout. It
// returns those acknowledged and the first error.
func (r *Relay) publishWave(ctx context.Context, pub AsyncPublisher, wave []row) ([]uuid.UUID, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(wave))
	ends := make([]func(error), 0, len(wave)) // the spans, ended with each acknowledgement
	var firstErr error
	for _, e := range wave {
		msg := message(e)
		end := r.traceMsg(ctx, msg)
		f, err := pub.PublishMsgAsync(msg, jetstream.WithMsgID(e.id.String()))
		if err != nil {
			end(err)
			firstErr = fmt.Errorf("outbox: publish %s on %s: %w", e.id, e.subject, err)
			break
		}
		futures = append(futures, f)
		ends = append(ends, end)
	}
	timer := time.NewTimer(r.opts.publishTimeout)
	defer timer.Stop()
	expired := false
	acked := make([]uuid.UUID, 0, len(futures))
	for i, f := range futures {
		var err error
		if expired { // the others have had their time: take what is there
			select {
			case <-f.Ok():
				acked = append(acked, wave[i].id)
				ends[i](nil)
				continue
			case err = <-f.Err():
			default:
				err = errNoAck
			}
		} else {
			select {
			case <-f.Ok():
				acked = append(acked, wave[i].id)
				ends[i](nil)
				continue
			case err = <-f.Err():
			case <-timer.C:
				err, expired = errNoAck, true
			case <-ctx.Done():
				err, expired = ctx.Err(), true
			}
		}
		ends[i](err)
		if firstErr == nil {
			firstErr = fmt.Errorf("outbox: publish %s on %s: %w", wave[i].id, wave[i].subject, err)
		}
	}
	return acked, firstErr
}

var errNoAck = errors.New("no acknowledgement within the publish timeout")

// traceMsg starts the publish's span (WithTracer), which may add a trace
// header to msg, and returns the function that ends it.
func (r *Relay) traceMsg(ctx context.Context, msg *nats.Msg) func(error) {
	if r.opts.trace == nil {
		return func(error) {}
	}
	_, end := r.opts.trace(ctx, msg)
	return end
}

func message(e row) *nats.Msg {
	msg := nats.NewMsg(e.subject)
	msg.Data = e.payload
	msg.Header.Set(TypeHeader, e.typ)
	msg.Header.Set(AggregateHeader, e.aggregate)
	return msg
}

func (r *Relay) publish(ctx context.Context, e row) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.publishTimeout)
	defer cancel()
	msg := message(e)
	end := r.traceMsg(ctx, msg)
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
