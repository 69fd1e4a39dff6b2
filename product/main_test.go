package product_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/product"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// newPool returns a pool on a fresh, migrated database of the shared test
// Postgres; the pool is closed when the test ends.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatalf("opening database: %v", err)
	}
	t.Cleanup(pool.Close)
	fsys, err := migrations.For("product")
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, fsys); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return pool
}

// newPostgresService returns the real service on a fresh database.
func newPostgresService(t *testing.T) (product.Service, *product.Postgres, *pgxpool.Pool) {
	t.Helper()
	pool := newPool(t)
	repo := product.NewPostgres(pool)
	return product.NewService(repo), repo, pool
}
