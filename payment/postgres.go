package payment

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/subscriber"
)

// Postgres is the Repository on a Postgres database migrated with
// migrations.For("payment"), which holds the payments, the outbox
// (kit/outbox) and the inbox (kit/subscriber).
//
// Every change an event makes commits with the event's inbox row, and the
// events it publishes with it, in one transaction. Status changes are
// conditional UPDATEs (WHERE status = the expected one): of two handlers
// moving one payment, the second finds it moved and changes nothing.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns a Repository using pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool}
}

var _ Repository = (*Postgres)(nil)

const paymentColumns = `id::text, order_id::text, user_id::text, status, amount_minor, currency, method,
	decline_code, message, created_at, updated_at`

// ByOrder implements Repository.
func (r *Postgres) ByOrder(ctx context.Context, orderID string) (Payment, error) {
	p, err := scanPayment(r.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE order_id = $1`, orderID))
	if err != nil {
		return Payment{}, dbError(err, "getting payment")
	}
	return p, nil
}

// CreatePending implements Repository. The insert and the read of the
// order's payment are one statement, so a concurrent insert for the same
// order cannot slip between them: ON CONFLICT waits for it, and the
// SELECT branch then sees its row.
func (r *Postgres) CreatePending(ctx context.Context, p Payment) (Payment, error) {
	row := r.pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO payments (id, order_id, user_id, status, amount_minor, currency, method)
			VALUES ($1, $2, $3, 'pending', $4, $5, $6)
			ON CONFLICT (order_id) DO NOTHING
			RETURNING `+paymentColumns+`
		)
		SELECT * FROM ins
		UNION ALL
		SELECT `+paymentColumns+` FROM payments WHERE order_id = $2 AND NOT EXISTS (SELECT FROM ins)`,
		p.ID, p.OrderID, p.UserID, p.AmountMinor, p.Currency, p.Method)
	stored, err := scanPayment(row)
	if errors.Is(err, pgx.ErrNoRows) {
		// The conflicting row committed after this statement's snapshot
		// was taken, so the SELECT branch missed it: read it now.
		return r.ByOrder(ctx, p.OrderID)
	}
	if err != nil {
		return Payment{}, dbError(err, "creating payment")
	}
	return stored, nil
}

// Void implements Repository.
func (r *Postgres) Void(ctx context.Context, eventID string, p Payment) (Payment, bool, error) {
	var (
		voided  Payment
		created bool
	)
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		if err := once(ctx, tx, eventID); err != nil {
			return err
		}
		var err error
		voided, err = scanPayment(tx.QueryRow(ctx, `
			INSERT INTO payments (id, order_id, user_id, status, amount_minor, currency, method)
			VALUES ($1, $2, $3, 'voided', $4, $5, $6)
			ON CONFLICT (order_id) DO NOTHING
			RETURNING `+paymentColumns,
			p.ID, p.OrderID, p.UserID, p.AmountMinor, p.Currency, p.Method))
		if errors.Is(err, pgx.ErrNoRows) {
			return errHasPayment // roll the inbox row back: the caller goes on
		}
		created = err == nil
		return err
	})
	switch {
	case errors.Is(err, errHasPayment):
		existing, err := r.ByOrder(ctx, p.OrderID)
		return existing, false, err
	case errors.Is(err, ErrHandled):
		return Payment{}, false, err
	case err != nil:
		return Payment{}, false, dbError(err, "voiding payment")
	}
	return voided, created, nil
}

// errHasPayment rolls Void's transaction back when the order has a payment.
var errHasPayment = errors.New("order has a payment")

// Transition implements Repository, in two round trips (kit/postgres's
// Pipeline) where a statement each took five: BEGIN with the inbox row and
// the update; then the event with COMMIT, or COMMIT alone (the inbox row)
// when the payment was not in status from. The update goes with the inbox
// row, whose outcome is known only once both have run: an event handled
// before rolls both back.
func (r *Postgres) Transition(ctx context.Context, eventID, id string, from Status, t Transition, ev outbox.Event) (Payment, bool, error) {
	var (
		cur   Payment
		moved bool
	)
	err := func() error {
		if eventID == "" {
			return errors.New("subscriber: inbox: event without an id")
		}
		p, err := postgres.BeginPipeline(ctx, r.pool)
		if err != nil {
			return err
		}
		defer p.End(ctx)
		first := false
		err = p.Send(ctx, func(b *pgx.Batch) {
			subscriber.QueueOnce(b, Consumer, eventID, &first)
			b.Queue(`
			UPDATE payments SET status = $3, decline_code = $4, message = $5, updated_at = now()
			WHERE id = $1 AND status = $2
			RETURNING `+paymentColumns,
				id, string(from), string(t.To), t.DeclineCode, t.Message).QueryRow(func(row pgx.Row) error {
				var err error
				cur, err = scanPayment(row)
				moved = err == nil
				if errors.Is(err, pgx.ErrNoRows) {
					return nil // not in status from: the inbox row commits alone
				}
				return err
			})
		})
		switch {
		case err != nil:
			return err
		case !first:
			moved = false
			return ErrHandled
		case !moved:
			return p.Commit(ctx, nil)
		}
		evs := &pgx.Batch{}
		if err := outbox.Queue(evs, ev); err != nil {
			return err
		}
		return p.Commit(ctx, func(b *pgx.Batch) {
			b.QueuedQueries = append(b.QueuedQueries, evs.QueuedQueries...)
		})
	}()
	if err != nil && !errors.Is(err, ErrHandled) {
		return Payment{}, false, dbError(err, "changing payment status")
	}
	if !moved {
		p, gerr := r.get(ctx, id)
		if gerr != nil {
			return Payment{}, false, gerr
		}
		return p, false, err
	}
	return cur, true, nil
}

// MarkHandled implements Repository.
func (r *Postgres) MarkHandled(ctx context.Context, eventID string) error {
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error { return once(ctx, tx, eventID) })
	if err != nil && !errors.Is(err, ErrHandled) {
		return dbError(err, "recording event")
	}
	return err
}

// get returns the payment with id.
func (r *Postgres) get(ctx context.Context, id string) (Payment, error) {
	p, err := scanPayment(r.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id))
	if err != nil {
		return Payment{}, dbError(err, "getting payment")
	}
	return p, nil
}

// once records eventID in the inbox, first in its transaction: ErrHandled
// if it was there.
func once(ctx context.Context, tx pgx.Tx, eventID string) error {
	first, err := subscriber.Once(ctx, tx, Consumer, eventID)
	if err != nil {
		return err
	}
	if !first {
		return ErrHandled
	}
	return nil
}

// scanPayment reads the paymentColumns of one row.
func scanPayment(row pgx.Row) (Payment, error) {
	var (
		p      Payment
		status string
	)
	err := row.Scan(&p.ID, &p.OrderID, &p.UserID, &status, &p.AmountMinor, &p.Currency, &p.Method,
		&p.DeclineCode, &p.Message, &p.CreatedAt, &p.UpdatedAt)
	p.Status = Status(status)
	// pgx returns timestamps in the local zone; the API speaks UTC.
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// dbErrors classifies the database's errors (kit/postgres). The service
// validates what it stores, so a violated constraint is a bug (Internal).
var dbErrors = postgres.Classifier{NotFound: errNotFound, Unavailable: "payment database unavailable"}

func dbError(err error, op string) error { return dbErrors.Classify(err, op) }
