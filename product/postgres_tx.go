package product

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/postgres"
)

// pipelinedTx is a kit/postgres.Pipeline whose commit also writes the
// outbox events of the change.
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
type pipelinedTx struct {
	p *postgres.Pipeline
}

// errCommitRolledBack is commit's error when Postgres answered COMMIT with
// ROLLBACK: the transaction had failed without saying so, a bug.
var errCommitRolledBack = errs.Wrap(postgres.ErrCommitRolledBack, errs.Internal, "committing")

// begin acquires a connection for a pipelinedTx; BEGIN goes with the
// first send.
func (r *Postgres) begin(ctx context.Context) (*pipelinedTx, error) {
	p, err := postgres.BeginPipeline(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	return &pipelinedTx{p: p}, nil
}

// send runs the statements queue queues in one round trip (Pipeline.Send).
func (t *pipelinedTx) send(ctx context.Context, queue func(b *pgx.Batch)) error {
	return t.p.Send(ctx, queue)
}

// commit runs the statements queue queues (if queue is not nil), adds
// events to the outbox and commits, in one round trip.
func (t *pipelinedTx) commit(ctx context.Context, queue func(b *pgx.Batch), events []outbox.Event) error {
	// The events are checked before anything is sent: COMMIT goes in the
	// same batch.
	evs := &pgx.Batch{}
	if err := outbox.Queue(evs, events...); err != nil {
		return err
	}
	err := t.p.Commit(ctx, func(b *pgx.Batch) {
		if queue != nil {
			queue(b)
		}
		b.QueuedQueries = append(b.QueuedQueries, evs.QueuedQueries...)
	})
	if errors.Is(err, postgres.ErrCommitRolledBack) {
		return errCommitRolledBack
	}
	return err
}

// rollback ends the transaction and then runs the statements queue queues
// outside it, in one round trip (Pipeline.Rollback).
func (t *pipelinedTx) rollback(ctx context.Context, queue func(b *pgx.Batch)) error {
	return t.p.Rollback(ctx, queue)
}

// end rolls back a transaction still open and releases the connection.
func (t *pipelinedTx) end(ctx context.Context) { t.p.End(ctx) }
