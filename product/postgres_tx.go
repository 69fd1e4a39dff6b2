package product

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/outbox"
)

// pipelinedTx is a transaction whose statements go to the database in
// batches, BEGIN with the first batch and COMMIT, with the outbox events,
// in the last one.
//
// Every write of the catalog changes rows and adds the events built from
// what the change returned to the outbox, in one transaction. With a
// pgx.Tx that is four round trips at least (BEGIN, the change, the events,
// COMMIT), and the changed rows stay locked for the last two, which is
// what bounds the reservations per second of a popular product. Sent this
// way, a change and its events take two round trips, and the rows stay
// locked for one.
//
// Use it as
//
//	t, err := r.begin(ctx)
//	if err != nil { … }
//	defer t.end(ctx)
//	err = t.send(ctx, func(b *pgx.Batch) { b.Queue(…).QueryRow(…) })
//	…
//	err = t.commit(ctx, nil, events)
//
// end rolls back whatever was not committed, so a failed send or commit,
// an early return or a panic never leaves the connection in a transaction.
type pipelinedTx struct {
	conn  *pgxpool.Conn
	begun bool
}

// errCommitRolledBack is commit's error when Postgres answered COMMIT with
// ROLLBACK: the transaction had failed without saying so, a bug.
var errCommitRolledBack = errs.Wrap(errors.New("commit unexpectedly resulted in rollback"), errs.Internal, "committing")

// begin acquires a connection for a pipelinedTx; BEGIN goes with the
// first send.
func (r *Postgres) begin(ctx context.Context) (*pipelinedTx, error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pipelinedTx{conn: conn}, nil
}

// send runs the statements queue queues, after BEGIN on the first call, in
// one round trip, calling their QueuedQuery callbacks. It returns the first
// error of a statement or a callback; the transaction is then failed.
func (t *pipelinedTx) send(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := t.batch()
	queue(b)
	return t.conn.SendBatch(ctx, b).Close()
}

// commit runs the statements queue queues (if queue is not nil), adds
// events to the outbox and commits, in one round trip.
func (t *pipelinedTx) commit(ctx context.Context, queue func(b *pgx.Batch), events []outbox.Event) error {
	b := t.batch()
	if queue != nil {
		queue(b)
	}
	if err := outbox.Add(ctx, queuedTx{b: b}, events...); err != nil {
		return err
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return errCommitRolledBack
		}
		return nil
	})
	return t.conn.SendBatch(ctx, b).Close()
}

// rollback ends the transaction and then runs the statements queue queues
// outside it, in one round trip: a read that explains why the transaction
// could not go on, once it no longer holds anything.
func (t *pipelinedTx) rollback(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	b.Queue("ROLLBACK")
	queue(b)
	return t.conn.SendBatch(ctx, b).Close()
}

// end rolls back a transaction still open (after a failure, or when the
// caller returned early) and releases the connection.
func (t *pipelinedTx) end(ctx context.Context) {
	if c := t.conn.Conn(); !c.IsClosed() && c.PgConn().TxStatus() != 'I' {
		// Not canceled, as in kit/postgres.InTx: a canceled request still
		// releases its locks at once. A failed rollback closes the
		// connection, and the pool drops it.
		if _, err := c.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
			_ = c.Close(context.WithoutCancel(ctx))
		}
	}
	t.conn.Release()
}

// batch returns a new batch, opened with BEGIN if the transaction has not
// begun yet.
func (t *pipelinedTx) batch() *pgx.Batch {
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue("BEGIN")
		t.begun = true
	}
	return b
}

// queuedTx is the pgx.Tx that outbox.Add writes to in commit: Exec queues
// the statement on the batch, which reports its errors when it is sent.
// outbox.Add calls nothing else; the other methods are the nil interface's
// and would panic, which every event test would show.
type queuedTx struct {
	pgx.Tx
	b *pgx.Batch
}

func (q queuedTx) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}
