package product_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/product"
)

// roundTrips counts what a connection sends: a statement or a batch of
// them is one round trip, once its statements are prepared on the
// connection.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (*roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (*roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (*roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestWriteRoundTrips pins the round trips of every write, events
// included: a reservation is on the hot path of every order.
func TestWriteRoundTrips(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := testenv.Database(t)
	migrated, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	fsys, _ := migrations.For("product")
	if err := postgres.Migrate(ctx, migrated, fsys); err != nil {
		t.Fatal(err)
	}
	migrated.Close()
	// One connection, so that a pass finds the statements of the pass
	// before it prepared.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	counter := &roundTrips{}
	cfg.MaxConns, cfg.ConnConfig.Tracer = 1, counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	repo := product.NewPostgres(pool)
	svc, stock := product.NewService(repo), product.NewStock(repo)

	short := func(err error) error { // the answer expected
		if errs.Is(err, errs.Conflict) {
			return nil
		}
		return fmt.Errorf("%v, want a conflict", err)
	}
	for pass := range 2 {
		add := func(stock int64) string {
			p, err := svc.Create(ctx, product.NewProduct{SKU: "RT-" + uuid.NewString()[:8], Name: "Trip", PriceMinor: 1, Currency: "EUR", Stock: stock})
			if err != nil {
				t.Fatal(err)
			}
			return p.ID
		}
		a, b := add(10), add(10)
		one, two := uuid.NewString(), uuid.NewString()
		for _, tt := range []struct {
			name string
			do   func() error
			want int64 // the comment says how many before the events
		}{
			{"create", func() error { _, err := svc.Create(ctx, newProduct("RT-C-"+uuid.NewString()[:4])); return err }, 2},     // 1
			{"update", func() error { _, err := svc.Update(ctx, a, product.Patch{Name: ptr("Trip " + one)}); return err }, 2},   // 1
			{"reserve one", func() error { return stock.Reserve(ctx, one, items(a, 1)) }, 2},                                    // 1
			{"reserve one, short", func() error { return short(stock.Reserve(ctx, uuid.NewString(), items(a, 100))) }, 2},       // 2
			{"reserve one again", func() error { return stock.Reserve(ctx, one, items(a, 1)) }, 2},                              // 2
			{"reserve two", func() error { return stock.Reserve(ctx, two, items(a, 1, b, 1)) }, 3},                              // 6
			{"reserve two, short", func() error { return short(stock.Reserve(ctx, uuid.NewString(), items(a, 1, b, 100))) }, 3}, // 6
			{"reserve two again", func() error { return stock.Reserve(ctx, two, items(a, 1, b, 1)) }, 2},                        // 4
			{"release two", func() error { return stock.Release(ctx, two) }, 3},                                                 // 8
			{"release again", func() error { return stock.Release(ctx, two) }, 2},                                               // 4
			{"release, nothing reserved", func() error { return stock.Release(ctx, uuid.NewString()) }, 2},                      // 3
			{"delete", func() error { return svc.Delete(ctx, b) }, 2},                                                           // 1
		} {
			counter.n.Store(0)
			if err := tt.do(); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := counter.n.Load(); pass == 1 && got != tt.want {
				t.Errorf("%s: %d round trips, want %d", tt.name, got, tt.want)
			}
		}
	}
}
