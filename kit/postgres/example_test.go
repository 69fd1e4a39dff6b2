package postgres_test

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

// A repository method: one transaction per service call, and the schema's
// constraints turned into errors the client can act on.
func ExampleInTx() {
	createItem := func(ctx context.Context, pool *pgxpool.Pool, sku string, priceCents int64) error {
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO items (sku, price_cents) VALUES ($1, $2)", sku, priceCents)
			return err
		})
		if c, ok := postgres.UniqueViolation(err); ok && c == "items_sku_key" {
			return errs.Errorf(errs.Conflict, "sku %q already exists", sku)
		}
		if c, ok := postgres.CheckViolation(err); ok && c == "items_price_positive" {
			return errs.InvalidFields(errs.FieldError{Field: "price_cents", Message: "must be positive"})
		}
		if err != nil {
			return errs.Wrap(err, errs.Internal, "")
		}
		return nil
	}
	_ = createItem
}

// Startup in a service's main: wait for the database, then migrate.
func ExampleOpen() {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, "postgres://kitshop:kitshop@127.0.0.1:5432/product?sslmode=disable")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool, migrations); err != nil {
		panic(err)
	}
}

// In main: a pool whose calls fail fast (errs.Unavailable, 503 with
// Retry-After) while the database does not answer, with bounded waits, and
// a readiness check that reads the guard.
func ExampleGuard() {
	open := func(ctx context.Context, url string) (*pgxpool.Pool, *postgres.Guard, error) {
		guard := postgres.NewGuard(postgres.GuardOptions{})
		pool, err := postgres.Open(ctx, url,
			postgres.WithGuard(guard),
			postgres.WithConnectTimeout(2*time.Second),
			postgres.WithStatementTimeout(5*time.Second),
			postgres.WithLockTimeout(2*time.Second))
		if err != nil {
			return nil, nil, err
		}
		// Register guard.HealthCheck(nil) with kit/health; at shutdown,
		// guard.Stop() then pool.Close().
		return pool, guard, nil
	}
	_ = open
}
