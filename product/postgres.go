package product

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// Postgres is the Repository on a Postgres database migrated with
// migrations.For("product").
//
// Reads are single statements. Every write is one transaction that makes
// the change and adds its product.changed events (events.go) to the
// outbox, built from the rows the change returns: the events are published
// if and only if the change commits. The transactions are pipelined
// (postgres_tx.go): two round trips for a change and its events.
// Uniqueness and value ranges are enforced by the schema too, so a
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

// Create implements Repository; its event is CHANGE_CREATED.
func (r *Postgres) Create(ctx context.Context, np NewProduct) (Product, error) {
	var p Product
	err := r.write(ctx, func(b *pgx.Batch) {
		b.Queue(`
			INSERT INTO products (sku, name, description, price_minor, currency, stock)
			VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING `+productColumns,
			np.SKU, np.Name, np.Description, np.PriceMinor, np.Currency, np.Stock).QueryRow(func(row pgx.Row) error {
			var err error
			p, err = scanProduct(row)
			return err
		})
	}, func() []changed { return []changed{{productv1.ProductChanged_CHANGE_CREATED, p}} })
	if err != nil {
		return Product{}, dbError(err, "creating product")
	}
	return p, nil
}

// Update implements Repository. Absent fields are NULL parameters and keep
// their value (COALESCE). updated_at moves only when a value actually
// changes, so a retried or redundant PATCH does not look like an edit, and
// it has no event either. The event is CHANGE_STOCK when only the stock
// changed, CHANGE_UPDATED when anything else did. old reads the row FOR
// UPDATE, so it holds the values this update changes whatever runs
// concurrently.
func (r *Postgres) Update(ctx context.Context, id string, patch Patch) (Product, error) {
	var (
		p                    Product
		edited, stockChanged bool
	)
	err := r.write(ctx, func(b *pgx.Batch) {
		b.Queue(`
			WITH old AS (
				SELECT id, sku, name, description, price_minor, currency, stock
				FROM products WHERE id = $1 FOR UPDATE
			)
			UPDATE products p SET
				sku         = COALESCE($2, p.sku),
				name        = COALESCE($3, p.name),
				description = COALESCE($4, p.description),
				price_minor = COALESCE($5, p.price_minor),
				currency    = COALESCE($6, p.currency),
				stock       = COALESCE($7, p.stock),
				updated_at  = CASE
					WHEN (p.sku, p.name, p.description, p.price_minor, p.currency, p.stock) IS DISTINCT FROM
					     (COALESCE($2, p.sku), COALESCE($3, p.name), COALESCE($4, p.description),
					      COALESCE($5, p.price_minor), COALESCE($6, p.currency), COALESCE($7, p.stock))
					THEN now() ELSE p.updated_at END
			FROM old
			WHERE p.id = old.id
			RETURNING p.id::text, p.sku, p.name, p.description, p.price_minor, p.currency, p.stock,
				p.created_at, p.updated_at, -- productColumns, of the new row
				(old.sku, old.name, old.description, old.price_minor, old.currency) IS DISTINCT FROM
				(p.sku, p.name, p.description, p.price_minor, p.currency),
				old.stock <> p.stock`,
			id, patch.SKU, patch.Name, patch.Description, patch.PriceMinor, patch.Currency, patch.Stock).QueryRow(func(row pgx.Row) error {
			var err error
			p, err = scanProduct(row, &edited, &stockChanged)
			return err
		})
	}, func() []changed {
		switch {
		case edited:
			return []changed{{productv1.ProductChanged_CHANGE_UPDATED, p}}
		case stockChanged:
			return []changed{{productv1.ProductChanged_CHANGE_STOCK, p}}
		}
		return nil
	})
	if err != nil {
		return Product{}, dbError(err, "updating product")
	}
	return p, nil
}

// Delete implements Repository; its event is CHANGE_DELETED.
func (r *Postgres) Delete(ctx context.Context, id string) error {
	err := r.write(ctx, func(b *pgx.Batch) {
		b.Queue(`DELETE FROM products WHERE id = $1 RETURNING id::text`, id).QueryRow(func(row pgx.Row) error {
			return row.Scan(&id)
		})
	}, func() []changed { return []changed{{productv1.ProductChanged_CHANGE_DELETED, Product{ID: id}}} })
	if err != nil {
		return dbError(err, "deleting product")
	}
	return nil
}

// write runs a write of the catalog as a pipelinedTx: the statements
// change queues, then the events changes returns (once the statements'
// callbacks have run) with COMMIT.
func (r *Postgres) write(ctx context.Context, change func(b *pgx.Batch), changes func() []changed) error {
	t, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer t.end(ctx)
	if err := t.send(ctx, change); err != nil {
		return err
	}
	evs, err := changedEvents(ctx, changes())
	if err != nil {
		return err
	}
	return t.commit(ctx, nil, evs)
}

var errNotFound = errs.New(errs.NotFound, "product not found")

// scanProduct reads the productColumns of one row (pgx.Row or
// pgx.CollectableRow), and then the columns after them into more.
func scanProduct(row interface{ Scan(dest ...any) error }, more ...any) (Product, error) {
	var p Product
	err := row.Scan(append([]any{&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceMinor, &p.Currency, &p.Stock, &p.CreatedAt, &p.UpdatedAt}, more...)...)
	// pgx returns timestamps in the local zone; the API speaks UTC.
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// likeEscaper makes a user's text match literally in LIKE: the escape
// character first, then the two wildcards.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func escapeLike(s string) string { return likeEscaper.Replace(s) }

// dbErrors classifies the catalog's database errors (kit/postgres).
var dbErrors = postgres.Classifier{
	NotFound:      errNotFound,
	Unique:        map[string]errs.FieldError{"products_sku_key": {Field: "sku", Message: "already exists"}},
	UniqueMessage: "a product with this SKU already exists",
	CheckPrefix:   "products_", CheckMessage: "is out of range",
	Unavailable: "product database unavailable",
}

func dbError(err error, op string) error { return dbErrors.Classify(err, op) }
