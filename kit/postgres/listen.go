package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ListenHandler receives what Listen sees on its channel. Every callback is
// called from Listen's goroutine, one at a time, and should return quickly.
type ListenHandler struct {
	// Notify is called with the payload of each notification, in commit
	// order.
	Notify func(payload string)
	// Connected is called each time LISTEN takes effect: at start and after
	// every reconnection. Notifications sent while the connection was down
	// are lost for good, so state derived from them must be rebuilt here.
	Connected func()
	// Lost is called when the connection fails (or stops answering), before
	// Listen retries. Until the next Connected, notifications are missed.
	Lost func(err error)
}

// Timings of Listen: an idle connection is pinged so that one dropped
// without a TCP reset is noticed within listenPingEvery+listenPingTimeout;
// reconnections back off up to listenMaxDelay.
const (
	listenPingEvery   = 5 * time.Second
	listenPingTimeout = 2 * time.Second
	listenFirstDelay  = 100 * time.Millisecond
	listenMaxDelay    = 5 * time.Second
)

// Listen LISTENs on channel over a connection of its own (configured like
// pool's, but outside it, so it never takes a connection requests need) and
// reports to h until ctx ends, reconnecting with backoff whenever the
// connection fails. It returns nil once ctx ends; an invalid channel name is
// the only other error.
//
// Listen is how a service keeps a cache in step with writes made by other
// instances, or by anyone: a trigger calls pg_notify, which Postgres delivers
// only when the writing transaction commits.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, h ListenHandler) error {
	if channel == "" {
		return errors.New("postgres: listen: empty channel name")
	}
	ident := pgx.Identifier{channel}.Sanitize()
	delay := listenFirstDelay
	for ctx.Err() == nil {
		err := listenOnce(ctx, pool, ident, h)
		if ctx.Err() != nil {
			break
		}
		if h.Lost != nil {
			h.Lost(err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		delay = min(2*delay, listenMaxDelay)
	}
	return nil
}

// listenOnce connects, LISTENs and delivers notifications until the
// connection fails or ctx ends.
//
// The wait uses read deadlines on the socket, not a context per wait: pgx
// watches each context with a goroutine of its own, which cost more than the
// rest of handling a notification, and a busy catalog sends one per stock
// change. A timeout leaves a pgx connection usable (only other errors close
// it), which is what pgx's own context handling relies on too.
func listenOnce(ctx context.Context, pool *pgxpool.Pool, ident string, h ListenHandler) error {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("postgres: listen: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+ident); err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	if h.Connected != nil {
		h.Connected()
	}
	sock := conn.PgConn().Conn()
	// Ending ctx interrupts a wait in progress.
	stop := context.AfterFunc(ctx, func() { sock.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		if err := sock.SetReadDeadline(time.Now().Add(listenPingEvery)); err != nil {
			return fmt.Errorf("postgres: listen: %w", err)
		}
		if ctx.Err() != nil { // ended before the deadline above was set
			return ctx.Err()
		}
		n, err := conn.WaitForNotification(context.Background())
		switch {
		case err == nil:
			if h.Notify != nil {
				h.Notify(n.Payload)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case pgconn.Timeout(err) && !conn.IsClosed():
			// Quiet for a while: make sure the server is still there.
			sock.SetReadDeadline(time.Time{})
			pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("postgres: listen: ping: %w", err)
			}
		default:
			return fmt.Errorf("postgres: listen: %w", err)
		}
	}
}
