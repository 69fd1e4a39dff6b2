package product

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

var _ StockRepository = (*Postgres)(nil)

// ProductsByID implements StockRepository.
func (r *Postgres) ProductsByID(ctx context.Context, ids []string) ([]Product, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+productColumns+` FROM products WHERE id = ANY ($1::uuid[]) ORDER BY sku`, ids)
	if err != nil {
		return nil, dbError(err, "getting products")
	}
	products, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Product, error) { return scanProduct(row) })
	if err != nil {
		return nil, dbError(err, "getting products")
	}
	return products, nil
}

// Reserve implements StockRepository, in one transaction:
//
//  1. insert the reservation row; if the order has one already, its status
//     is the answer (reserved: success, nothing more to do; released: the
//     tombstone refuses);
//  2. for each item, in product id order (so that concurrent reservations
//     lock rows in the same order and cannot deadlock), take the quantity
//     with a conditional UPDATE … WHERE stock >= quantity. Under READ
//     COMMITTED a concurrent writer's update is waited for and the condition
//     re-checked on the new row, so stock can never be oversold; the CHECK
//     (stock >= 0) backs this up;
//  3. any miss: roll everything back (the reservation row too) and read
//     what is left of each short product; otherwise record the items and
//     add a CHANGE_STOCK event per product, with the row the UPDATE returned.
//
// Each step is one round trip (pipelinedTx), whatever the number of items:
// three in all, where a statement per item took four plus one per item.
// A single item, by far the most common order, takes reserveOne's shorter
// way to the same result.
func (r *Postgres) Reserve(ctx context.Context, orderID string, items []StockItem) ([]Shortage, error) {
	reserve := r.reserveMany
	if len(items) == 1 {
		reserve = r.reserveOne
	}
	shortages, err := reserve(ctx, orderID, items)
	var classified *errs.Error
	switch {
	case errors.As(err, &classified):
		return nil, err // the tombstone's Conflict
	case err != nil:
		return nil, dbError(err, "reserving stock")
	}
	return shortages, nil
}

// errReleased is the Conflict of a reservation for a released order.
func errReleased() error {
	return errs.Wrap(ErrReservationReleased, errs.Conflict, "stock reservation already released")
}

func (r *Postgres) reserveMany(ctx context.Context, orderID string, items []StockItem) ([]Shortage, error) {
	t, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer t.end(ctx)
	var (
		fresh  bool
		status string
	)
	err = t.send(ctx, func(b *pgx.Batch) {
		b.Queue(`
			INSERT INTO stock_reservations (order_id, status) VALUES ($1, 'reserved')
			ON CONFLICT (order_id) DO NOTHING`, orderID).Exec(func(tag pgconn.CommandTag) error {
			fresh = tag.RowsAffected() == 1
			return nil
		})
		b.Queue(`SELECT status FROM stock_reservations WHERE order_id = $1`, orderID).QueryRow(func(row pgx.Row) error {
			return row.Scan(&status)
		})
	})
	switch {
	case err != nil:
		return nil, err
	case !fresh && status == "released":
		return nil, errReleased()
	case !fresh:
		return nil, nil // reserved by an earlier call: idempotent success
	}

	taken := make([]changed, 0, len(items))
	var missed []string
	err = t.send(ctx, func(b *pgx.Batch) {
		for _, it := range items {
			b.Queue(`
				UPDATE products SET stock = stock - $2, updated_at = now()
				WHERE id = $1 AND stock >= $2
				RETURNING `+productColumns, it.ProductID, it.Quantity).QueryRow(func(row pgx.Row) error {
				p, err := scanProduct(row)
				switch {
				case err == nil:
					taken = append(taken, changed{productv1.ProductChanged_CHANGE_STOCK, p})
				case errors.Is(err, pgx.ErrNoRows):
					missed = append(missed, it.ProductID)
				default:
					return err
				}
				return nil
			})
		}
	})
	if err != nil {
		return nil, err
	}
	if len(missed) > 0 {
		return shortages(ctx, t, missed)
	}

	evs, err := changedEvents(ctx, taken)
	if err != nil {
		return nil, err
	}
	productIDs := make([]string, len(items))
	quantities := make([]int64, len(items))
	for i, it := range items {
		productIDs[i], quantities[i] = it.ProductID, it.Quantity
	}
	return nil, t.commit(ctx, func(b *pgx.Batch) {
		b.Queue(`
			INSERT INTO stock_reservation_items (order_id, product_id, quantity)
			SELECT $1, p, q FROM unnest($2::uuid[], $3::bigint[]) AS i(p, q)`,
			orderID, productIDs, quantities)
	}, evs)
}

// shortages rolls t back and returns what is left of the missed products
// (in the order given), or that they do not exist.
func shortages(ctx context.Context, t *pipelinedTx, missed []string) ([]Shortage, error) {
	left := make(map[string]int64, len(missed))
	err := t.rollback(ctx, func(b *pgx.Batch) {
		b.Queue(`SELECT id::text, stock FROM products WHERE id = ANY ($1::uuid[])`, missed).Query(func(rows pgx.Rows) error {
			var (
				id    string
				stock int64
			)
			_, err := pgx.ForEachRow(rows, []any{&id, &stock}, func() error {
				left[id] = stock
				return nil
			})
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	shortages := make([]Shortage, len(missed))
	for i, id := range missed {
		available, ok := left[id]
		shortages[i] = Shortage{ProductID: id, Available: available, Missing: !ok}
	}
	return shortages, nil
}

// reserveOne is Reserve for a single item, in two round trips: BEGIN and
// one statement that takes the quantity and inserts the reservation and its
// item, all or nothing, returning the product; then its event and COMMIT.
// The product's row stays locked for the second round trip only, which is
// what bounds the orders per second on a popular product.
//
// The UPDATE takes nothing when the order has a reservation already (or a
// tombstone), when the stock is short or when the product does not exist; a
// read after the rollback then says which, as Reserve's answers require.
// Two concurrent calls for the same order cannot both take the stock: the
// later one's INSERT of the reservation violates its primary key, which
// fails its whole statement, UPDATE included; it then finds the earlier
// one's reservation, like any retry.
func (r *Postgres) reserveOne(ctx context.Context, orderID string, items []StockItem) ([]Shortage, error) {
	it := items[0]
	t, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer t.end(ctx)
	var (
		p     Product
		taken bool
	)
	err = t.send(ctx, func(b *pgx.Batch) {
		b.Queue(`
			WITH taken AS (
				UPDATE products SET stock = stock - $3, updated_at = now()
				WHERE id = $2 AND stock >= $3
				  AND NOT EXISTS (SELECT 1 FROM stock_reservations WHERE order_id = $1)
				RETURNING *
			), reservation AS (
				INSERT INTO stock_reservations (order_id, status) SELECT $1, 'reserved' FROM taken
			), item AS (
				INSERT INTO stock_reservation_items (order_id, product_id, quantity) SELECT $1, id, $3 FROM taken
			)
			SELECT `+productColumns+` FROM taken`,
			orderID, it.ProductID, it.Quantity).QueryRow(func(row pgx.Row) error {
			var err error
			p, err = scanProduct(row)
			taken = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	})
	if err == nil && taken {
		evs, err := changedEvents(ctx, []changed{{productv1.ProductChanged_CHANGE_STOCK, p}})
		if err != nil {
			return nil, err
		}
		return nil, t.commit(ctx, nil, evs)
	}
	if err != nil {
		if constraint, ok := postgres.UniqueViolation(err); !ok ||
			(constraint != "stock_reservations_pkey" && constraint != "stock_reservation_items_pkey") {
			return nil, err
		}
		// A concurrent call for the same order got there first: both passed
		// NOT EXISTS, the second waited for the product row, and one of its
		// inserts (in no set order) met the first's rows. The statement
		// failed whole, its stock update included.
	}
	var (
		status    *string
		available *int64
	)
	err = t.rollback(ctx, func(b *pgx.Batch) {
		b.Queue(`
			SELECT (SELECT status FROM stock_reservations WHERE order_id = $1),
			       (SELECT stock FROM products WHERE id = $2)`,
			orderID, it.ProductID).QueryRow(func(row pgx.Row) error {
			return row.Scan(&status, &available)
		})
	})
	switch {
	case err != nil:
		return nil, err
	case status != nil && *status == "released":
		return nil, errReleased()
	case status != nil:
		return nil, nil // reserved by an earlier call: idempotent success
	case available == nil:
		return []Shortage{{ProductID: it.ProductID, Missing: true}}, nil
	}
	return []Shortage{{ProductID: it.ProductID, Available: *available}}, nil
}

// Release implements StockRepository, in one transaction: a tombstone is
// inserted if the order has no reservation row (a release that overtook its
// reservation); otherwise a reservation still reserved is marked released
// (which locks its row: a concurrent release waits, then finds it
// released), and its quantities go back, in product id order like Reserve,
// with a CHANGE_STOCK event per product. A product deleted meanwhile has no
// stock to give back to (its items went with it). Stock given back is
// capped at MaxStock, so a release never fails on the stock range check.
//
// Three round trips (pipelinedTx): the reservation, the products, the
// events with COMMIT; two when there is nothing to give back.
func (r *Postgres) Release(ctx context.Context, orderID string) error {
	if err := r.release(ctx, orderID); err != nil {
		return dbError(err, "releasing stock")
	}
	return nil
}

func (r *Postgres) release(ctx context.Context, orderID string) error {
	t, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer t.end(ctx)
	var (
		releasing bool
		items     []StockItem
	)
	err = t.send(ctx, func(b *pgx.Batch) {
		b.Queue(`
			INSERT INTO stock_reservations (order_id, status, released_at) VALUES ($1, 'released', now())
			ON CONFLICT (order_id) DO NOTHING`, orderID)
		b.Queue(`
			UPDATE stock_reservations SET status = 'released', released_at = now()
			WHERE order_id = $1 AND status = 'reserved'`, orderID).Exec(func(tag pgconn.CommandTag) error {
			releasing = tag.RowsAffected() == 1
			return nil
		})
		b.Queue(`
			SELECT product_id::text, quantity FROM stock_reservation_items
			WHERE order_id = $1 ORDER BY product_id`, orderID).Query(func(rows pgx.Rows) error {
			var it StockItem
			_, err := pgx.ForEachRow(rows, []any{&it.ProductID, &it.Quantity}, func() error {
				items = append(items, it)
				return nil
			})
			return err
		})
	})
	if err != nil {
		return err
	}
	if !releasing || len(items) == 0 {
		return t.commit(ctx, nil, nil) // a tombstone, or nothing to do
	}
	returned := make([]changed, 0, len(items))
	err = t.send(ctx, func(b *pgx.Batch) {
		for _, it := range items {
			b.Queue(`
				UPDATE products SET stock = LEAST(stock + $2, $3), updated_at = now()
				WHERE id = $1
				RETURNING `+productColumns, it.ProductID, it.Quantity, int64(MaxStock)).QueryRow(func(row pgx.Row) error {
				p, err := scanProduct(row)
				switch {
				case err == nil:
					returned = append(returned, changed{productv1.ProductChanged_CHANGE_STOCK, p})
				case !errors.Is(err, pgx.ErrNoRows): // deleted since: nothing to give back to
					return err
				}
				return nil
			})
		}
	})
	if err != nil {
		return err
	}
	evs, err := changedEvents(ctx, returned)
	if err != nil {
		return err
	}
	return t.commit(ctx, nil, evs)
}
