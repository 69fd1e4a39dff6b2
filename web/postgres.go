package web

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

// Postgres is the Repository on a Postgres database migrated with
// migrations.For("web").
//
// Every method is a single SQL statement, which Postgres runs atomically in
// its own transaction. Uniqueness and value ranges are enforced by the
// schema too, so a concurrent writer cannot slip past a check made in Go.
// A method that needs several statements runs them in one transaction with
// postgres.InTx.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns a Repository using pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool}
}

var _ Repository = (*Postgres)(nil)

const itemColumns = `id::text, name, description, quantity, created_at, updated_at`

// List implements Repository. The keyset (name > $1) rides on the unique
// index on name, so every page costs the same however deep it is, and an
// item inserted between two pages neither shifts nor repeats the others.
func (r *Postgres) List(ctx context.Context, f Filter) ([]Item, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT `+itemColumns+`
		FROM items
		WHERE name > $1
		ORDER BY name
		LIMIT $2`,
		f.AfterName, f.Limit)
	if err != nil {
		return nil, dbError(err, "listing items")
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Item, error) { return scanItem(row) })
	if err != nil {
		return nil, dbError(err, "listing items")
	}
	return items, nil
}

// Get implements Repository.
func (r *Postgres) Get(ctx context.Context, id string) (Item, error) {
	it, err := scanItem(r.pool.QueryRow(ctx, `SELECT `+itemColumns+` FROM items WHERE id = $1`, id))
	if err != nil {
		return Item{}, dbError(err, "getting item")
	}
	return it, nil
}

// Create implements Repository.
func (r *Postgres) Create(ctx context.Context, it NewItem) (Item, error) {
	row := r.pool.QueryRow(ctx, `
		INSERT INTO items (name, description, quantity)
		VALUES ($1, $2, $3)
		RETURNING `+itemColumns,
		it.Name, it.Description, it.Quantity)
	created, err := scanItem(row)
	if err != nil {
		return Item{}, dbError(err, "creating item")
	}
	return created, nil
}

var errNotFound = errs.New(errs.NotFound, "item not found")

// scanItem reads the itemColumns of one row (pgx.Row or
// pgx.CollectableRow).
func scanItem(row interface{ Scan(dest ...any) error }) (Item, error) {
	var it Item
	err := row.Scan(&it.ID, &it.Name, &it.Description, &it.Quantity, &it.CreatedAt, &it.UpdatedAt)
	// pgx returns timestamps in the local zone; the API speaks UTC.
	it.CreatedAt, it.UpdatedAt = it.CreatedAt.UTC(), it.UpdatedAt.UTC()
	return it, err
}

// dbErrors classifies the database's errors (kit/postgres): a duplicate
// name is the client's doing (Conflict), as is a value the validation let
// through (Invalid); failing to reach the server is Unavailable, worth a
// retry; anything else the server reports is a bug (Internal).
var dbErrors = postgres.Classifier{
	NotFound:      errNotFound,
	Unique:        map[string]errs.FieldError{"items_name_key": {Field: "name", Message: "already exists"}},
	UniqueMessage: "an item with this name already exists",
	CheckPrefix:   "items_", CheckMessage: "is out of range",
	Unavailable: "web database unavailable",
}

func dbError(err error, op string) error { return dbErrors.Classify(err, op) }
