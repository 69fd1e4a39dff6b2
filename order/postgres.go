package order

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/outbox"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/subscriber"
)

// Postgres is the Repository on a Postgres database migrated with
// migrations.For("order").
//
// An order and its items are written in one transaction. Status changes
// are single conditional UPDATEs (WHERE status = ANY(from)), which Postgres
// runs atomically: of two actors moving the same order, the second finds it
// moved and changes nothing.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns a Repository using pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool}
}

var _ Repository = (*Postgres)(nil)

const orderColumns = `id::text, user_id::text, status, total_minor, currency, payment_method, coalesce(cancel_reason, ''), created_at, updated_at`

// CreatePending implements Repository. The order and its lines go in with
// one statement (data-modifying CTEs), and its order.placed event into the
// outbox in the same transaction.
func (r *Postgres) CreatePending(ctx context.Context, o Order, key IdempotencyKey) (Order, error) {
	var keyArg *string
	var hashArg []byte
	if key.Key != "" {
		keyArg, hashArg = &key.Key, key.RequestHash
	}
	// unnest WITH ORDINALITY keeps the lines in the request's order.
	var (
		productIDs, skus, names []string
		prices, quantities      []int64
		totals                  []int64
	)
	for _, it := range o.Items {
		productIDs = append(productIDs, it.ProductID)
		skus = append(skus, it.SKU)
		names = append(names, it.Name)
		prices = append(prices, it.UnitPriceMinor)
		quantities = append(quantities, it.Quantity)
		totals = append(totals, it.LineTotalMinor)
	}
	// Two round trips (kit/postgres.Pipeline): BEGIN with the insert, whose
	// returned row the event is built from; then the event with COMMIT.
	var stored Order
	err := pipelined(ctx, r.pool, func(p *postgres.Pipeline) error {
		err := p.Send(ctx, func(b *pgx.Batch) {
			b.Queue(`
		WITH o AS (
			INSERT INTO orders (id, user_id, status, total_minor, currency, payment_method, idempotency_key, request_hash)
			VALUES ($1, $2, 'pending', $3, $4, $13, $5, $6)
			RETURNING `+orderColumns+`
		), items AS (
			INSERT INTO order_items (order_id, line_no, product_id, sku, name, unit_price_minor, quantity, line_total_minor)
			SELECT $1, l.ord, l.product_id, l.sku, l.name, l.price, l.quantity, l.total
			FROM unnest($7::uuid[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[])
			     WITH ORDINALITY AS l(product_id, sku, name, price, quantity, total, ord)
		)
		SELECT * FROM o`,
				o.ID, o.UserID, o.TotalMinor, o.Currency, keyArg, hashArg,
				productIDs, skus, names, prices, quantities, totals, cmp.Or(o.PaymentMethod, DefaultPaymentMethod)).QueryRow(func(row pgx.Row) error {
				var err error
				stored, err = scanOrder(row)
				return err
			})
		})
		if err != nil {
			return err
		}
		stored.Items = append([]Item(nil), o.Items...)
		placed, err := PlacedEvent(ctx, stored)
		if err != nil {
			return err
		}
		return commitWith(ctx, p, placed)
	})
	if err != nil {
		if constraint, ok := postgres.UniqueViolation(err); ok && constraint == "orders_idempotency_key_key" {
			return Order{}, errs.Wrap(ErrDuplicateKey, errs.Conflict, "idempotency key already used")
		}
		return Order{}, dbError(err, "creating order")
	}
	return stored, nil
}

// ByIdempotencyKey implements Repository.
func (r *Postgres) ByIdempotencyKey(ctx context.Context, userID, key string) (Order, []byte, error) {
	var hash []byte
	row := r.pool.QueryRow(ctx, `
		SELECT `+orderColumns+`, request_hash
		FROM orders WHERE user_id = $1 AND idempotency_key = $2`,
		userID, key)
	o, err := scanOrder(row, &hash)
	if err != nil {
		return Order{}, nil, dbError(err, "finding order by idempotency key")
	}
	if err := r.loadItems(ctx, []*Order{&o}); err != nil {
		return Order{}, nil, err
	}
	return o, hash, nil
}

// Get implements Repository.
func (r *Postgres) Get(ctx context.Context, id string) (Order, error) {
	o, err := scanOrder(r.pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id))
	if err != nil {
		return Order{}, dbError(err, "getting order")
	}
	if err := r.loadItems(ctx, []*Order{&o}); err != nil {
		return Order{}, err
	}
	return o, nil
}

// Rejection implements Repository.
func (r *Postgres) Rejection(ctx context.Context, id string) ([]errs.FieldError, error) {
	var raw []byte
	if err := r.pool.QueryRow(ctx, `SELECT rejection FROM orders WHERE id = $1`, id).Scan(&raw); err != nil {
		return nil, dbError(err, "getting rejection")
	}
	var fields []errs.FieldError
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, errs.Wrap(err, errs.Internal, "")
		}
	}
	return fields, nil
}

// List implements Repository. The keyset (created_at, id) < (…) rides on
// the (user_id, created_at DESC, id DESC) and (created_at DESC, id DESC)
// indexes, so every page costs the same however deep it is.
func (r *Postgres) List(ctx context.Context, f Filter) ([]Order, error) {
	var (
		conds []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.UserID != "" {
		conds = append(conds, "user_id = "+arg(f.UserID))
	}
	if f.Before != nil {
		conds = append(conds, "(created_at, id) < ("+arg(f.Before.CreatedAt)+", "+arg(f.Before.ID)+"::uuid)")
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := r.pool.Query(ctx, `
		SELECT `+orderColumns+` FROM orders `+where+`
		ORDER BY created_at DESC, id DESC
		LIMIT `+arg(f.Limit), args...)
	if err != nil {
		return nil, dbError(err, "listing orders")
	}
	orders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) { return scanOrder(row) })
	if err != nil {
		return nil, dbError(err, "listing orders")
	}
	ptrs := make([]*Order, len(orders))
	for i := range orders {
		ptrs[i] = &orders[i]
	}
	if err := r.loadItems(ctx, ptrs); err != nil {
		return nil, err
	}
	return orders, nil
}

// Transition implements Repository.
func (r *Postgres) Transition(ctx context.Context, id string, from []Status, t Transition) (Order, bool, error) {
	var rejection []byte
	if len(t.Rejection) > 0 {
		var err error
		if rejection, err = json.Marshal(t.Rejection); err != nil {
			return Order{}, false, errs.Wrap(err, errs.Internal, "")
		}
	}
	fromText := make([]string, len(from))
	for i, s := range from {
		fromText[i] = string(s)
	}
	var (
		o    Order
		prev string
	)
	// Two round trips (kit/postgres.Pipeline): BEGIN with the inbox row (if
	// any), the update and the read of the lines the event is built from;
	// then the event with COMMIT. The update goes with the inbox row, whose
	// outcome is known only once both have run: an event handled before
	// rolls both back.
	err := pipelined(ctx, r.pool, func(p *postgres.Pipeline) error {
		first := true
		// Their snapshots differ, but lines never change after the insert.
		// prev locks the row first, to report the status it left.
		err := p.Send(ctx, func(b *pgx.Batch) {
			if t.Inbox != "" {
				subscriber.QueueOnce(b, InboxConsumer, t.Inbox, &first)
			}
			b.Queue(`
		WITH prev AS (
			SELECT status FROM orders WHERE id = $1 AND status = ANY ($2) FOR UPDATE
		)
		UPDATE orders SET
			status          = $3,
			release_pending = release_pending OR $4,
			idempotency_key = CASE WHEN $5 THEN NULL ELSE idempotency_key END,
			request_hash    = CASE WHEN $5 THEN NULL ELSE request_hash END,
			rejection       = COALESCE($6, rejection),
			cancel_reason   = $7,
			updated_at      = now()
		FROM prev
		WHERE id = $1
		RETURNING `+updatedColumns+`, prev.status`,
				id, fromText, string(t.To), t.ReleasePending, t.DropIdempotencyKey, rejection, nullIfEmpty(t.CancelReason)).QueryRow(func(row pgx.Row) error {
				var err error
				o, err = scanOrder(row, &prev)
				return err
			})
			b.Queue(orderItemsQuery, id).Query(func(rows pgx.Rows) error {
				return readItems(rows, []*Order{&o})
			})
		})
		if err == nil && !first {
			return errAlreadyHandled
		}
		if err != nil {
			return err
		}
		ev, ok, err := EventFor(ctx, Status(prev), o, t)
		if err != nil {
			return err
		}
		if !ok {
			return commitWith(ctx, p)
		}
		return commitWith(ctx, p, ev)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.Is(err, errAlreadyHandled):
		// Not in a status it may leave (or no such order), or the event
		// that asks for it was handled before: report it as it is.
		cur, err := r.Get(ctx, id)
		return cur, false, err
	case err != nil:
		return Order{}, false, dbError(err, "changing order status")
	}
	return o, true, nil
}

// pipelined runs fn on a kit/postgres.Pipeline and ends it.
func pipelined(ctx context.Context, pool *pgxpool.Pool, fn func(p *postgres.Pipeline) error) error {
	p, err := postgres.BeginPipeline(ctx, pool)
	if err != nil {
		return err
	}
	defer p.End(ctx)
	return fn(p)
}

// commitWith writes events to the outbox and commits, in one round trip.
// The events are checked before anything is sent.
func commitWith(ctx context.Context, p *postgres.Pipeline, events ...outbox.Event) error {
	evs := &pgx.Batch{}
	if err := outbox.Queue(evs, events...); err != nil {
		return err
	}
	return p.Commit(ctx, func(b *pgx.Batch) {
		b.QueuedQueries = append(b.QueuedQueries, evs.QueuedQueries...)
	})
}

// InboxConsumer names the order service in its inbox (kit/subscriber).
const InboxConsumer = "order"

// errAlreadyHandled ends a transition whose event is in the inbox.
var errAlreadyHandled = errors.New("event already handled")

// updatedColumns are orderColumns qualified with the table, which an
// UPDATE ... FROM needs where prev has a column of the same name.
const updatedColumns = `orders.id::text, user_id::text, orders.status, total_minor, currency, payment_method, coalesce(cancel_reason, ''), created_at, updated_at`

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ClearReleasePending implements Repository.
func (r *Postgres) ClearReleasePending(ctx context.Context, id string) error {
	if _, err := r.pool.Exec(ctx, `UPDATE orders SET release_pending = false WHERE id = $1 AND release_pending`, id); err != nil {
		return dbError(err, "clearing release flag")
	}
	return nil
}

// StalePending implements Repository.
func (r *Postgres) StalePending(ctx context.Context, olderThan time.Time, limit int) ([]Order, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT `+orderColumns+` FROM orders
		WHERE status = 'pending' AND created_at < $1
		ORDER BY created_at
		LIMIT $2`,
		olderThan, limit)
	if err != nil {
		return nil, dbError(err, "listing pending orders")
	}
	orders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) { return scanOrder(row) })
	if err != nil {
		return nil, dbError(err, "listing pending orders")
	}
	ptrs := make([]*Order, len(orders))
	for i := range orders {
		ptrs[i] = &orders[i]
	}
	if err := r.loadItems(ctx, ptrs); err != nil {
		return nil, err
	}
	return orders, nil
}

// ReleasePending implements Repository.
func (r *Postgres) ReleasePending(ctx context.Context, limit int) ([]string, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT id::text FROM orders WHERE release_pending ORDER BY updated_at LIMIT $1`, limit)
	if err != nil {
		return nil, dbError(err, "listing owed releases")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbError(err, "listing owed releases")
	}
	return ids, nil
}

// loadItems fills in the items of orders with one query.
func (r *Postgres) loadItems(ctx context.Context, orders []*Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	rows, err := r.pool.Query(ctx, itemsQuery, ids)
	if err != nil {
		return dbError(err, "loading order items")
	}
	return readItems(rows, orders)
}

// itemsQuery reads the lines of the orders with the ids in $1.
const itemsQuery = `
	SELECT order_id::text, product_id::text, sku, name, unit_price_minor, quantity, line_total_minor
	FROM order_items
	WHERE order_id = ANY ($1::uuid[])
	ORDER BY order_id, line_no`

// orderItemsQuery is itemsQuery for one order. Its generic plan (made on
// the fifth run, when the table may still be nearly empty, and kept)
// looks the lines up by the key, where = ANY's estimate of ten orders made
// it a sequential scan that stayed one as the table grew.
const orderItemsQuery = `
	SELECT order_id::text, product_id::text, sku, name, unit_price_minor, quantity, line_total_minor
	FROM order_items
	WHERE order_id = $1
	ORDER BY line_no`

// scanItems reads the next result of a batch that queued itemsQuery.
func scanItems(br pgx.BatchResults, orders []*Order) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	return readItems(rows, orders)
}

// readItems reads itemsQuery's rows into orders (whose Items it resets).
func readItems(rows pgx.Rows, orders []*Order) error {
	defer rows.Close()
	byID := make(map[string]*Order, len(orders))
	for _, o := range orders {
		byID[o.ID] = o
		o.Items = []Item{}
	}
	for rows.Next() {
		var (
			orderID string
			it      Item
		)
		if err := rows.Scan(&orderID, &it.ProductID, &it.SKU, &it.Name, &it.UnitPriceMinor, &it.Quantity, &it.LineTotalMinor); err != nil {
			return dbError(err, "loading order items")
		}
		if o := byID[orderID]; o != nil {
			o.Items = append(o.Items, it)
		}
	}
	if err := rows.Err(); err != nil {
		return dbError(err, "loading order items")
	}
	return nil
}

// scanOrder reads the orderColumns of one row, then extra destinations.
func scanOrder(row interface{ Scan(dest ...any) error }, extra ...any) (Order, error) {
	var (
		o      Order
		status string
	)
	dest := append([]any{&o.ID, &o.UserID, &status, &o.TotalMinor, &o.Currency, &o.PaymentMethod, &o.CancelReason, &o.CreatedAt, &o.UpdatedAt}, extra...)
	err := row.Scan(dest...)
	o.Status = Status(status)
	// pgx returns timestamps in the local zone; the API speaks UTC.
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// dbErrors classifies the order database's errors (kit/postgres).
var dbErrors = postgres.Classifier{NotFound: errNotFound, Unavailable: "order database unavailable"}

func dbError(err error, op string) error { return dbErrors.Classify(err, op) }
