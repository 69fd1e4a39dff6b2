package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pipeline is a transaction whose statements go to the database in
// batches: BEGIN with the first batch, COMMIT with the last.
//
// A pgx.Tx takes a round trip for BEGIN, one per statement and one for
// COMMIT, and holds its connection (and the rows it changed) for all of
// them; on a busy machine each round trip waits for a CPU twice. A change
// that must read what it wrote before its last statements (an event built
// from the changed row, written to the outbox) takes two round trips this
// way, whatever the number of statements.
//
//	p, err := postgres.BeginPipeline(ctx, pool)
//	if err != nil { … }
//	defer p.End(ctx)
//	err = p.Send(ctx, func(b *pgx.Batch) { b.Queue(…).QueryRow(…) })
//	…
//	err = p.Commit(ctx, func(b *pgx.Batch) { … })
//
// End rolls back whatever was not committed, so a failed Send or Commit, an
// early return or a panic never leaves the connection in a transaction.
type Pipeline struct {
	conn  *pgxpool.Conn
	begun bool
}

// ErrCommitRolledBack is Commit's error when Postgres answered COMMIT with
// ROLLBACK: a statement of the transaction had failed without its error
// being seen.
var ErrCommitRolledBack = errors.New("postgres: commit unexpectedly resulted in rollback")

// BeginPipeline acquires a connection for a Pipeline; BEGIN goes with the
// first batch. The caller classifies a failure, like a statement's.
func BeginPipeline(ctx context.Context, pool *pgxpool.Pool) (*Pipeline, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &Pipeline{conn: conn}, nil
}

// Send runs the statements queue queues, after BEGIN on the first call, in
// one round trip, calling their QueuedQuery callbacks. It returns the first
// error of a statement or a callback; the transaction is then failed.
func (p *Pipeline) Send(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := p.batch()
	queue(b)
	return p.conn.SendBatch(ctx, b).Close()
}

// Commit runs the statements queue queues (if queue is not nil) and
// commits, in one round trip.
func (p *Pipeline) Commit(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := p.batch()
	if queue != nil {
		queue(b)
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return ErrCommitRolledBack
		}
		return nil
	})
	return p.conn.SendBatch(ctx, b).Close()
}

// Rollback ends the transaction and then runs the statements queue queues
// outside it, in one round trip (two after a failed statement): a read that
// explains why the transaction could not go on, once it no longer holds
// anything.
func (p *Pipeline) Rollback(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	if p.conn.Conn().PgConn().TxStatus() == 'E' {
		// A failed transaction refuses everything but ROLLBACK, including
		// the preparing of the batch's statements that pgx sends first.
		if _, err := p.conn.Exec(ctx, "ROLLBACK"); err != nil {
			return err
		}
	} else {
		b.Queue("ROLLBACK")
	}
	if queue != nil {
		queue(b)
	}
	if b.Len() == 0 {
		return nil
	}
	return p.conn.SendBatch(ctx, b).Close()
}

// End rolls back a transaction still open (after a failure, or when the
// caller returned early) and releases the connection.
func (p *Pipeline) End(ctx context.Context) {
	if c := p.conn.Conn(); !c.IsClosed() && c.PgConn().TxStatus() != 'I' {
		// Not canceled, as in InTx: a canceled request still releases its
		// locks at once. A failed rollback closes the connection, and the
		// pool drops it.
		if _, err := c.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
			_ = c.Close(context.WithoutCancel(ctx))
		}
	}
	p.conn.Release()
}

// batch returns a new batch, opened with BEGIN if the transaction has not
// begun yet.
func (p *Pipeline) batch() *pgx.Batch {
	b := &pgx.Batch{}
	if !p.begun {
		b.Queue("BEGIN")
		p.begun = true
	}
	return b
}
