package outbox

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/postgres"
)

// gaugeEvery bounds how often the backlog gauges are computed: a relay
// under load makes hundreds of passes a second.
const gaugeEvery = 500 * time.Millisecond

// standBy is how long a relay that found the lock taken ignores the
// commits' notifications before it tries again. Every relay of a database
// hears every commit; without the pause, each of them would spend a
// transaction per commit finding the lock taken. The lock is held only
// during a pass, so a relay whose process is stopped (SIGSTOP) between
// passes holds up the others for at most this long, and one that dies
// mid-pass for as long as Postgres takes to see its connection close.
const standBy = 250 * time.Millisecond

// pruneEvery is how often a relay deletes events older than the retention,
// and pruneBatch how many at most at a time, so that a large first prune
// does not hold locks for long.
const (
	pruneEvery = time.Minute
	pruneBatch = 10000
)

// loop makes passes: when woken by a commit; after finding the lock taken,
// none for standBy; and at every poll.
func (r *Relay) loop(ctx context.Context, g *gauges) {
	var listening sync.WaitGroup
	defer listening.Wait()
	listening.Go(func() { r.listen(ctx) })
	tick := time.NewTicker(r.opts.poll)
	defer tick.Stop()
	var (
		conn              *pgx.Conn
		lastGauge, pruned time.Time
	)
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for ctx.Err() == nil {
		var (
			n      int
			locked bool
			err    error
		)
		if conn == nil || conn.IsClosed() {
			conn, err = pgx.ConnectConfig(ctx, relayConnConfig(r.pool))
			if err != nil {
				conn, err = nil, fmt.Errorf("outbox: connect: %w", err)
			}
		}
		if conn != nil {
			n, locked, err = r.pass(ctx, conn)
			// Pruning does not need the broker: it goes on while it is down.
			if locked && r.opts.retention > 0 && !conn.IsClosed() && time.Since(pruned) >= pruneEvery {
				pruned = time.Now()
				if perr := prune(ctx, conn, r.opts.retention); err == nil {
					err = perr
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			r.opts.logger.Log("msg", "outbox relay pass failed", "published", n, "err", err)
		}
		if g != nil {
			g.published.Add(float64(n))
			if time.Since(lastGauge) >= gaugeEvery {
				g.update(ctx, r.pool)
				lastGauge = time.Now()
			}
		}
		switch {
		case conn != nil && err == nil && !locked:
			sleep(ctx, standBy)
			drain(r.wake) // what woke it meanwhile, the next pass sees
			continue
		case err == nil && n == r.opts.batch:
			continue // probably more waiting
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// relayConnConfig is pool's connection configuration with the settings
// that keep the relay's statements on their indexes.
//
// Custom plans only: the statements run hundreds of times a second from
// the moment the outbox is created, empty, and a generic plan made then (a
// sequential scan, right for a table of a few rows) would be kept as the
// table grows with the events kept for the retention, until autovacuum's
// next ANALYZE: the mark of a pass then read the whole table.
//
// No bitmap scans: the claim must walk the index of unpublished events in
// seq order. A bitmap scan, which a custom plan picks for the few rows it
// expects, visits every event published since the last vacuum (their index
// entries stay until then) on every pass, where an index scan learns to
// skip them (it marks the entries dead as it goes).
func relayConnConfig(pool *pgxpool.Pool) *pgx.ConnConfig {
	cfg := pool.Config().ConnConfig.Copy()
	params := make(map[string]string, len(cfg.RuntimeParams)+2)
	maps.Copy(params, cfg.RuntimeParams)
	params["plan_cache_mode"] = "force_custom_plan"
	params["enable_bitmapscan"] = "off"
	cfg.RuntimeParams = params
	return cfg
}

// listen wakes the relay on every commit that adds events, until ctx ends.
func (r *Relay) listen(ctx context.Context) {
	_ = postgres.Listen(ctx, r.pool, Channel, postgres.ListenHandler{
		Notify:    func(string) { r.poke() },
		Connected: r.poke, // rows may have come while we were not listening
	})
}

// prune deletes published events older than retention, a batch at a time.
func prune(ctx context.Context, conn *pgx.Conn, retention time.Duration) error {
	_, err := conn.Exec(ctx, `
		DELETE FROM outbox WHERE seq IN (
			SELECT seq FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)`,
		retention.Seconds(), pruneBatch)
	if err != nil {
		return fmt.Errorf("outbox: prune: %w", err)
	}
	return nil
}

func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
