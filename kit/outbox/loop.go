package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kitshop/kitshop/kit/postgres"
)

// gaugeEvery bounds how often the backlog gauges are computed: a relay
// under load makes hundreds of passes a second.
const gaugeEvery = 500 * time.Millisecond

// pruneEvery is how often the leading relay deletes events older than the
// retention, and pruneBatch how many at most at a time, so that a large
// first prune does not hold locks for long.
const (
	pruneEvery = time.Minute
	pruneBatch = 10000
)

// loop runs the relay: it leads or stands by (lead), and while it leads it
// listens for commits and makes passes, at most one per pace.
func (r *Relay) loop(ctx context.Context, g *gauges) {
	tick := time.NewTicker(r.opts.poll)
	defer tick.Stop()
	var (
		conn                        *pgx.Conn
		leading                     bool
		stopListen                  = func() {}
		lastGauge, lastPass, pruned time.Time
	)
	defer func() {
		stopListen()
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for ctx.Err() == nil {
		var (
			n   int
			err error
		)
		if conn == nil || conn.IsClosed() {
			if leading { // the lock went with the connection
				leading = false
				stopListen()
			}
			conn, err = pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
			if err != nil {
				conn, err = nil, fmt.Errorf("outbox: connect: %w", err)
			}
		}
		if conn != nil && !leading {
			if leading, err = lead(ctx, conn); leading {
				stopListen = r.listen(ctx)
			}
		}
		if leading {
			if wait := r.opts.pace - time.Since(lastPass); wait > 0 {
				sleep(ctx, wait) // let the commits of the pace join this claim
			}
			lastPass = time.Now()
			n, err = r.pass(ctx, conn)
			// Pruning does not need the broker: it goes on while it is down.
			if r.opts.retention > 0 && !conn.IsClosed() && time.Since(pruned) >= pruneEvery {
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
			g.setLeading(leading)
			if time.Since(lastGauge) >= gaugeEvery {
				g.update(ctx, r.pool)
				lastGauge = time.Now()
			}
		}
		if leading && err == nil && n == r.opts.batch {
			continue // probably more waiting
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// lead tries to take the relay's session-level advisory lock on conn. The
// relay holding it is the one that works; the others stand by, trying again
// at every poll, without listening or claiming: a standby woken by every
// commit would only find the lock taken, a transaction each time. The lock
// goes with the leader's connection, so when its process dies a standby
// takes over within a poll interval. The claim's transaction-level lock on
// the same key stays as a safeguard against relays that do not lead.
func lead(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, relayLock).Scan(&ok); err != nil {
		return false, fmt.Errorf("outbox: lead: %w", err)
	}
	return ok, nil
}

// listen wakes the relay on every commit that adds events until the
// returned function is called.
func (r *Relay) listen(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = postgres.Listen(ctx, r.pool, Channel, postgres.ListenHandler{
			Notify:    func(string) { r.poke() },
			Connected: r.poke, // rows may have come while we were not listening
		})
	}()
	r.poke() // and rows may be waiting already
	return func() { cancel(); <-done }
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

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
