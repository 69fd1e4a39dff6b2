package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/bench"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/subscriber"
)

// The pipeline measurement's own database and stream, made afresh each run.
const (
	eventsDB      = "kitbench_events"
	eventsStream  = "KITBENCH_EVENTS"
	eventsSubject = "kitbench.events.tick"
)

// pipelineClients is how many closed-loop clients place orders in the
// order pipeline measurement: enough to keep the order service busy.
const pipelineClients = 32

// databaseURL returns rawURL with its database replaced by db.
func databaseURL(rawURL, db string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	u.Path = "/" + db
	return u.String()
}

// eventLatency measures kit/outbox → JetStream → kit/subscriber on the
// stack's Postgres and NATS: rate events a second for d, each committed in
// a transaction of its own, and the time from each commit to the commit of
// its effect (an inbox row and an effect row, as a service's consumer
// makes them). Both instants are taken in this process, on one clock.
func eventLatency(ctx context.Context, adminDB, natsURL string, rate int, d time.Duration) *bench.EventLatency {
	res := &bench.EventLatency{OfferedPerSec: float64(rate), Duration: d.String()}
	if natsURL == "" {
		res.NA = "no NATS URL"
		return res
	}
	// The producer and the consumer have pools of their own, as they would
	// in two services: neither waits for a connection the other holds.
	pool, consumerPool, cleanup, err := eventsDatabase(ctx, adminDB)
	if err != nil {
		res.NA = err.Error()
		return res
	}
	defer cleanup()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		res.NA = "nats: " + err.Error()
		return res
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	_ = js.DeleteStream(ctx, eventsStream)
	if err := events.EnsureStream(ctx, js, events.StreamConfig{Name: eventsStream, Subjects: []string{eventsSubject}}); err != nil {
		res.NA = err.Error()
		return res
	}
	defer js.DeleteStream(context.WithoutCancel(ctx), eventsStream)

	relay, err := outbox.Start(pool, js)
	if err != nil {
		res.NA = err.Error()
		return res
	}
	defer relay.Stop()

	var (
		mu        sync.Mutex
		committed = map[string]time.Time{}
		stored    = map[string]time.Time{}
		effected  = map[string]time.Time{}
		dups      int
	)
	type delivery struct {
		id     string
		stored time.Time
	}
	effect := func(ctx context.Context, req any) (any, error) {
		d := req.(delivery)
		id := d.id
		// As the order service follows payments (kit/postgres.Pipeline):
		// BEGIN with the inbox row, then the effect with COMMIT.
		var first bool
		p, err := postgres.BeginPipeline(ctx, consumerPool)
		if err != nil {
			return nil, err
		}
		defer p.End(ctx)
		if err := p.Send(ctx, func(b *pgx.Batch) { subscriber.QueueOnce(b, "kitbench", id, &first) }); err != nil {
			return nil, err
		}
		if !first {
			err = p.Rollback(ctx, nil)
		} else {
			err = p.Commit(ctx, func(b *pgx.Batch) { b.Queue(`INSERT INTO effects (event_id) VALUES ($1)`, id) })
		}
		if err != nil {
			return nil, err
		}
		now := time.Now()
		mu.Lock()
		if _, seen := effected[id]; seen || !first {
			dups++
		} else {
			effected[id], stored[id] = now, d.stored
		}
		mu.Unlock()
		return nil, nil
	}
	sub := subscriber.New(effect, func(_ context.Context, m jetstream.Msg) (any, error) {
		d := delivery{id: subscriber.EventID(m)}
		if md, err := m.Metadata(); err == nil {
			d.stored = md.Timestamp
		}
		return d, nil
	})
	consumption, err := events.Consume(ctx, js, events.ConsumerConfig{Stream: eventsStream, Durable: "kitbench", Workers: 32}, sub.Handle)
	if err != nil {
		res.NA = err.Error()
		return res
	}
	defer consumption.Stop()

	// Open loop: one event every 1/rate, each in a goroutine of its own, so
	// a slow commit does not hold back the next.
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	var errCount int
	for now := range tick.C {
		if now.After(end) || ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uuid.New()
			// The change and its event in one round trip, as a service
			// whose event needs nothing the change returns.
			err := func() error {
				p, err := postgres.BeginPipeline(ctx, pool)
				if err != nil {
					return err
				}
				defer p.End(ctx)
				evs := &pgx.Batch{}
				if err := outbox.Queue(evs, outbox.Event{ID: id, Aggregate: "tick/" + id.String(), Subject: eventsSubject, Type: "tick"}); err != nil {
					return err
				}
				return p.Commit(ctx, func(b *pgx.Batch) { b.QueuedQueries = append(b.QueuedQueries, evs.QueuedQueries...) })
			}()
			at := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errCount++
				return
			}
			committed[id.String()] = at
		}()
	}
	wg.Wait()
	// Wait for the stragglers, a bounded time.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		done := len(effected) >= len(committed)
		mu.Unlock()
		if done {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var lat, pub []time.Duration
	for id, at := range committed {
		if e, ok := effected[id]; ok {
			lat = append(lat, max(e.Sub(at), 0))
			pub = append(pub, max(stored[id].Sub(at), 0))
		}
	}
	slices.Sort(lat)
	slices.Sort(pub)
	if len(pub) > 0 {
		res.StoredP50, res.StoredP99 = pub[len(pub)/2], pub[len(pub)*99/100]
	}
	res.Events, res.Effects, res.Duplicates, res.Errors = len(committed), len(lat), dups, errCount
	if len(lat) > 0 {
		res.P50, res.P99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return res
}

// eventsDatabase creates the measurement's database afresh on the server
// of adminDB (a URL of any database there) and returns two pools on it,
// the producer's and the consumer's.
func eventsDatabase(ctx context.Context, adminDB string) (producer, consumer *pgxpool.Pool, cleanup func(), err error) {
	cfg, err := pgx.ParseConfig(adminDB)
	if err != nil {
		return nil, nil, nil, err
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("postgres: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+eventsDB+` WITH (FORCE)`); err != nil {
		return nil, nil, nil, err
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+eventsDB); err != nil {
		return nil, nil, nil, err
	}
	pcfg, err := pgxpool.ParseConfig(adminDB)
	if err != nil {
		return nil, nil, nil, err
	}
	pcfg.ConnConfig.Database = eventsDB
	pcfg.MaxConns = 32
	if producer, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, nil, nil, err
	}
	if consumer, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		producer.Close()
		return nil, nil, nil, err
	}
	cleanup = func() { producer.Close(); consumer.Close() }
	schema := outbox.Schema + subscriber.InboxSchema + `CREATE TABLE effects (event_id text PRIMARY KEY);`
	if _, err := producer.Exec(ctx, schema); err != nil {
		cleanup()
		return nil, nil, nil, errors.Join(errors.New("schema"), err)
	}
	return producer, consumer, cleanup, nil
}

// orderPipeline places orders through the gateway with clients closed-loop
// clients for d, then waits (at most a minute) for the payment service to
// pay them all, reading their status in the order database.
func orderPipeline(ctx context.Context, a api, customer *tokenCache, productID, orderDB string, clients int, d time.Duration) *bench.OrderPipeline {
	res := &bench.OrderPipeline{Clients: clients, Duration: d.String()}
	if productID == "" || orderDB == "" {
		res.NA = "no bench product or order database"
		return res
	}
	pool, err := pgxpool.New(ctx, orderDB)
	if err != nil {
		res.NA = err.Error()
		return res
	}
	defer pool.Close()
	body := map[string]any{"items": []map[string]any{{"product_id": productID, "quantity": 1}}}
	var (
		mu   sync.Mutex
		ids  []string
		errN int
		wg   sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				tok, err := customer.get(ctx)
				var out struct {
					ID string `json:"id"`
				}
				status := 0
				if err == nil {
					status, err = a.call(ctx, "POST", "/api/v1/orders", tok, body, &out)
				}
				mu.Lock()
				if err != nil || status != 201 || out.ID == "" {
					errN++
				} else {
					ids = append(ids, out.ID)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Placed, res.Errors = len(ids), errN
	var (
		paid     int
		lastPaid time.Time
		p50, p99 float64
	)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		err := pool.QueryRow(ctx, `
			SELECT count(*), COALESCE(max(updated_at), now()),
			       COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)), 0),
			       COALESCE(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)), 0)
			FROM orders WHERE id = ANY($1::uuid[]) AND status = 'paid'`, ids).Scan(&paid, &lastPaid, &p50, &p99)
		if err != nil {
			res.NA = err.Error()
			return res
		}
		if paid >= len(ids) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
	}
	res.Paid = paid
	res.P50, res.P99 = time.Duration(p50*float64(time.Second)), time.Duration(p99*float64(time.Second))
	if span := lastPaid.Sub(start); span > 0 {
		res.PerSec = float64(paid) / span.Seconds()
	}
	return res
}
