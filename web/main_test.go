package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/web"
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
	fsys, err := migrations.For("web")
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, fsys); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return pool
}

// newPostgresService returns the real service on a fresh database.
func newPostgresService(t *testing.T) (web.Service, *pgxpool.Pool) {
	t.Helper()
	pool := newPool(t)
	return web.NewService(web.NewPostgres(pool)), pool
}

// callers holds a token per kind of caller, all from one signer.
type callers struct {
	signer   *authtest.Signer
	admin    string // role admin (and customer, as the user service grants)
	customer string // role customer only
}

func newCallers(t *testing.T) callers {
	t.Helper()
	s := authtest.NewSigner(t)
	return callers{
		signer:   s,
		admin:    s.Token("6f1c7d1e-0000-4000-8000-00000000ad01", auth.RoleCustomer, auth.RoleAdmin),
		customer: s.Token("6f1c7d1e-0000-4000-8000-0000000c0001", auth.RoleCustomer),
	}
}
