package product

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

// Postgres is the Repository on a Postgres database migrated with
// migrations.For("product").
//
// Every method is a single SQL statement, which Postgres runs atomically in
// its own transaction; an explicit transaction would add round trips and no
// safety. Uniqueness and value ranges are enforced by the schema too, so a
// concurrent writer cannot slip past a check made in Go.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns a Repository using pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool}
}

var _ Repository = (*Postgres)(nil)

const productColumns = `id::text, sku, name, description, price_minor, currency, stock, created_at, updated_at`

// List implements Repository. The keyset (sku > $1) rides on the unique
// index on sku, so every page costs the same however deep it is, and a
// product inserted or deleted between two pages neither shifts nor repeats
// the others.
func (r *Postgres) List(ctx context.Context, f Filter) ([]Product, error) {
	// Two statements rather than one with "$q = '' OR …": a prepared
	// statement's generic plan could not use the trigram indexes for the
	// filter nor skip it when there is none.
	var (
		rows pgx.Rows
		err  error
	)
	if f.Q == "" {
		rows, err = r.pool.Query(ctx, `
			SELECT `+productColumns+`
			FROM products
			WHERE sku > $1
			ORDER BY sku
			LIMIT $2`,
			f.AfterSKU, f.Limit)
	} else {
		// ILIKE with the wildcards escaped, so q matches as plain text.
		rows, err = r.pool.Query(ctx, `
			SELECT `+productColumns+`
			FROM products
			WHERE sku > $1
			  AND (sku ILIKE $2 ESCAPE '\' OR name ILIKE $2 ESCAPE '\' OR description ILIKE $2 ESCAPE '\')
			ORDER BY sku
			LIMIT $3`,
			f.AfterSKU, "%"+escapeLike(f.Q)+"%", f.Limit)
	}
	if err != nil {
		return nil, dbError(err, "listing products")
	}
	products, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Product, error) { return scanProduct(row) })
	if err != nil {
		return nil, dbError(err, "listing products")
	}
	return products, nil
}

// Get implements Repository.
func (r *Postgres) Get(ctx context.Context, id string) (Product, error) {
	row := r.pool.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id)
	p, err := scanProduct(row)
	if err != nil {
		return Product{}, dbError(err, "getting product")
	}
	return p, nil
}

// Create implements Repository.
func (r *Postgres) Create(ctx context.Context, np NewProduct) (Product, error) {
	row := r.pool.QueryRow(ctx, `
		INSERT INTO products (sku, name, description, price_minor, currency, stock)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+productColumns,
		np.SKU, np.Name, np.Description, np.PriceMinor, np.Currency, np.Stock)
	p, err := scanProduct(row)
	if err != nil {
		return Product{}, dbError(err, "creating product")
	}
	return p, nil
}

// Update implements Repository. Absent fields are NULL parameters and keep
// their value (COALESCE). updated_at moves only when a value actually
// changes, so a retried or redundant PATCH does not look like an edit.
func (r *Postgres) Update(ctx context.Context, id string, patch Patch) (Product, error) {
	row := r.pool.QueryRow(ctx, `
		UPDATE products SET
			sku         = COALESCE($2, sku),
			name        = COALESCE($3, name),
			description = COALESCE($4, description),
			price_minor = COALESCE($5, price_minor),
			currency    = COALESCE($6, currency),
			stock       = COALESCE($7, stock),
			updated_at  = CASE
				WHEN (sku, name, description, price_minor, currency, stock) IS DISTINCT FROM
				     (COALESCE($2, sku), COALESCE($3, name), COALESCE($4, description),
				      COALESCE($5, price_minor), COALESCE($6, currency), COALESCE($7, stock))
				THEN now() ELSE updated_at END
		WHERE id = $1
		RETURNING `+productColumns,
		id, patch.SKU, patch.Name, patch.Description, patch.PriceMinor, patch.Currency, patch.Stock)
	p, err := scanProduct(row)
	if err != nil {
		return Product{}, dbError(err, "updating product")
	}
	return p, nil
}

// Delete implements Repository.
func (r *Postgres) Delete(ctx context.Context, id string) error {
	tag, err := r.pool.Exec(ctx, `DELETE FROM products WHERE id = $1`, id)
	if err != nil {
		return dbError(err, "deleting product")
	}
	if tag.RowsAffected() == 0 {
		return errNotFound
	}
	return nil
}

var errNotFound = errs.New(errs.NotFound, "product not found")

// scanProduct reads the productColumns of one row (pgx.Row or
// pgx.CollectableRow).
func scanProduct(row interface{ Scan(dest ...any) error }) (Product, error) {
	var p Product
	err := row.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceMinor, &p.Currency, &p.Stock, &p.CreatedAt, &p.UpdatedAt)
	// pgx returns timestamps in the local zone; the API speaks UTC.
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// likeEscaper makes a user's text match literally in LIKE: the escape
// character first, then the two wildcards.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func escapeLike(s string) string { return likeEscaper.Replace(s) }

// dbError classifies a database error. Constraint violations are the
// client's doing (a duplicate SKU, or a value the service's validation let
// through); errors the server reports otherwise are bugs (Internal); failing
// to reach the server at all is Unavailable, worth a retry.
func dbError(err error, op string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound
	}
	if constraint, ok := postgres.UniqueViolation(err); ok {
		if constraint == "products_sku_key" {
			return &errs.Error{
				Kind:    errs.Conflict,
				Message: "a product with this SKU already exists",
				Fields:  []errs.FieldError{{Field: "sku", Message: "already exists"}},
				Err:     err,
			}
		}
		return errs.Wrap(err, errs.Conflict, "product conflicts with an existing one")
	}
	if constraint, ok := postgres.CheckViolation(err); ok {
		field := strings.TrimSuffix(strings.TrimPrefix(constraint, "products_"), "_check")
		return &errs.Error{
			Kind:    errs.Invalid,
			Message: "invalid input",
			Fields:  []errs.FieldError{{Field: field, Message: "is out of range"}},
			Err:     err,
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return errs.Wrap(err, errs.Internal, op)
	}
	return postgres.Unreachable(err, "product database unavailable")
}

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
//  3. any miss: read what is left of each short product and roll
//     everything back (the reservation row too); otherwise record the items.
//
// A single item, by far the most common order, takes reserveOne's shorter
// way to the same result.
func (r *Postgres) Reserve(ctx context.Context, orderID string, items []StockItem) ([]Shortage, error) {
	if len(items) == 1 {
		return r.reserveOne(ctx, orderID, items[0])
	}
	var shortages []Shortage
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO stock_reservations (order_id, status) VALUES ($1, 'reserved')
			ON CONFLICT (order_id) DO NOTHING`, orderID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var status string
			if err := tx.QueryRow(ctx, `SELECT status FROM stock_reservations WHERE order_id = $1`, orderID).Scan(&status); err != nil {
				return err
			}
			if status == "released" {
				return errs.Wrap(ErrReservationReleased, errs.Conflict, "stock reservation already released")
			}
			return nil // reserved by an earlier call: idempotent success
		}
		for _, it := range items {
			var left int64
			err := tx.QueryRow(ctx, `
				UPDATE products SET stock = stock - $2, updated_at = now()
				WHERE id = $1 AND stock >= $2
				RETURNING stock`, it.ProductID, it.Quantity).Scan(&left)
			if err == nil {
				continue
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			sh := Shortage{ProductID: it.ProductID}
			switch err := tx.QueryRow(ctx, `SELECT stock FROM products WHERE id = $1`, it.ProductID).Scan(&sh.Available); {
			case errors.Is(err, pgx.ErrNoRows):
				sh.Missing = true
			case err != nil:
				return err
			}
			shortages = append(shortages, sh)
		}
		if len(shortages) > 0 {
			return errRollback
		}
		productIDs := make([]string, len(items))
		quantities := make([]int64, len(items))
		for i, it := range items {
			productIDs[i], quantities[i] = it.ProductID, it.Quantity
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO stock_reservation_items (order_id, product_id, quantity)
			SELECT $1, p, q FROM unnest($2::uuid[], $3::bigint[]) AS i(p, q)`,
			orderID, productIDs, quantities)
		return err
	})
	var classified *errs.Error
	switch {
	case errors.Is(err, errRollback):
		return shortages, nil
	case errors.As(err, &classified):
		return nil, err // the tombstone's Conflict, or InTx's Unavailable
	case err != nil:
		return nil, dbError(err, "reserving stock")
	}
	return nil, nil
}

// reserveOne is Reserve for a single item in one statement, so one round
// trip when the stock is there: take the quantity, insert the reservation and
// its item, all or nothing, committed at once. The multi-statement
// transaction Reserve runs otherwise costs five round trips, and the
// product's row stays locked from its UPDATE to the COMMIT, two round trips
// later, which is what limits the orders per second on a popular product.
//
// The UPDATE takes nothing when the order has a reservation already (or a
// tombstone), when the stock is short or when the product does not exist; a
// second query then says which, as Reserve's answers require. Two concurrent
// calls for the same order cannot both take the stock: the later one's
// INSERT of the reservation violates its primary key, which fails its whole
// statement, UPDATE included; it then finds the earlier one's reservation,
// like any retry.
func (r *Postgres) reserveOne(ctx context.Context, orderID string, it StockItem) ([]Shortage, error) {
	var taken int
	err := r.pool.QueryRow(ctx, `
		WITH taken AS (
			UPDATE products SET stock = stock - $3, updated_at = now()
			WHERE id = $2 AND stock >= $3
			  AND NOT EXISTS (SELECT 1 FROM stock_reservations WHERE order_id = $1)
			RETURNING id
		), reservation AS (
			INSERT INTO stock_reservations (order_id, status) SELECT $1, 'reserved' FROM taken
		), item AS (
			INSERT INTO stock_reservation_items (order_id, product_id, quantity) SELECT $1, id, $3 FROM taken
		)
		SELECT count(*) FROM taken`,
		orderID, it.ProductID, it.Quantity).Scan(&taken)
	if err != nil {
		if constraint, ok := postgres.UniqueViolation(err); !ok ||
			(constraint != "stock_reservations_pkey" && constraint != "stock_reservation_items_pkey") {
			return nil, dbError(err, "reserving stock")
		}
		// A concurrent call for the same order got there first: both passed
		// NOT EXISTS, the second waited for the product row, and one of its
		// inserts (in no set order) met the first's rows. The statement was
		// rolled back whole, its stock update included.
	} else if taken == 1 {
		return nil, nil
	}
	var (
		status    *string
		available *int64
	)
	err = r.pool.QueryRow(ctx, `
		SELECT (SELECT status FROM stock_reservations WHERE order_id = $1),
		       (SELECT stock FROM products WHERE id = $2)`,
		orderID, it.ProductID).Scan(&status, &available)
	switch {
	case err != nil:
		return nil, dbError(err, "reserving stock")
	case status != nil && *status == "released":
		return nil, errs.Wrap(ErrReservationReleased, errs.Conflict, "stock reservation already released")
	case status != nil:
		return nil, nil // reserved by an earlier call: idempotent success
	case available == nil:
		return []Shortage{{ProductID: it.ProductID, Missing: true}}, nil
	}
	return []Shortage{{ProductID: it.ProductID, Available: *available}}, nil
}

// errRollback makes InTx roll back a transaction that found short stock.
var errRollback = errors.New("rollback")

// Release implements StockRepository, in one transaction: a tombstone is
// inserted if the order has no reservation row (a release that overtook its
// reservation); otherwise the row is locked, and if still reserved its
// quantities go back, in product id order like Reserve, and it is marked
// released. A product deleted meanwhile has no stock to give back to (its
// items went with it). Stock given back is capped at MaxStock, so a
// release never fails on the stock range check.
func (r *Postgres) Release(ctx context.Context, orderID string) error {
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO stock_reservations (order_id, status, released_at) VALUES ($1, 'released', now())
			ON CONFLICT (order_id) DO NOTHING`, orderID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil // tombstone: nothing was reserved, nothing ever will be
		}
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM stock_reservations WHERE order_id = $1 FOR UPDATE`, orderID).Scan(&status); err != nil {
			return err
		}
		if status == "released" {
			return nil
		}
		rows, err := tx.Query(ctx, `
			SELECT product_id::text, quantity FROM stock_reservation_items
			WHERE order_id = $1 ORDER BY product_id`, orderID)
		if err != nil {
			return err
		}
		items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StockItem, error) {
			var it StockItem
			err := row.Scan(&it.ProductID, &it.Quantity)
			return it, err
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			if _, err := tx.Exec(ctx, `
				UPDATE products SET stock = LEAST(stock + $2, $3), updated_at = now()
				WHERE id = $1`, it.ProductID, it.Quantity, int64(MaxStock)); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE stock_reservations SET status = 'released', released_at = now()
			WHERE order_id = $1`, orderID)
		return err
	})
	if err != nil {
		return dbError(err, "releasing stock")
	}
	return nil
}
