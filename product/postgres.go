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
	return errs.Wrap(err, errs.Unavailable, "product database unavailable")
}
