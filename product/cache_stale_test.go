package product_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/product"
)

// switchableRepo is a database that can be made unreachable: its reads then
// fail as a guarded pool's do, at once with Unavailable.
type switchableRepo struct {
	product.Repository
	down  atomic.Bool
	reads atomic.Int64
}

func (r *switchableRepo) Get(ctx context.Context, id string) (product.Product, error) {
	r.reads.Add(1)
	if r.down.Load() {
		return product.Product{}, postgres.Unreachable(postgres.ErrUnreachable, "product database unavailable")
	}
	return r.Repository.Get(ctx, id)
}

func (r *switchableRepo) List(ctx context.Context, f product.Filter) ([]product.Product, error) {
	r.reads.Add(1)
	if r.down.Load() {
		return nil, postgres.Unreachable(postgres.ErrUnreachable, "product database unavailable")
	}
	return r.Repository.List(ctx, f)
}

func (r *switchableRepo) Delete(ctx context.Context, id string) error {
	if r.down.Load() {
		return postgres.Unreachable(postgres.ErrUnreachable, "product database unavailable")
	}
	return r.Repository.Delete(ctx, id)
}

// read gets id through cache and reports whether the answer was marked
// stale.
func read(t *testing.T, cache *product.Cache, id string) (product.Product, bool, error) {
	t.Helper()
	ctx := product.WithStaleMark(context.Background())
	p, err := cache.Get(ctx, id)
	return p, product.Stale(ctx), err
}

func TestCacheServesWhatItHoldsWhileTheDatabaseIsDown(t *testing.T) {
	pool := newPool(t)
	repo := &switchableRepo{Repository: product.NewPostgres(pool)}
	cache := product.NewCache(repo, 0, 0)
	cache.ServeStale(repo.down.Load)
	cache.SetLive(true)
	p := createProduct(t, product.NewPostgres(pool), "STALE-1", 3)
	other := createProduct(t, product.NewPostgres(pool), "STALE-2", 3)
	ctx := context.Background()
	f := product.Filter{Limit: 10}
	if _, stale, err := read(t, cache, p.ID); err != nil || stale {
		t.Fatalf("first read = stale %v, %v", stale, err)
	}
	if _, err := cache.List(ctx, f); err != nil {
		t.Fatal(err)
	}
	if cache.Warm() != true {
		t.Error("Warm() = false with entries cached")
	}

	repo.down.Store(true)
	// Still listening: the entry is served at once, marked.
	if got, stale, err := read(t, cache, p.ID); err != nil || !stale || got.ID != p.ID {
		t.Errorf("read while down = %+v, stale %v, %v; want the product, stale", got, stale, err)
	}
	// What it does not hold fails as the database does.
	if _, _, err := read(t, cache, other.ID); !errs.Is(err, errs.Unavailable) {
		t.Errorf("uncached read while down = %v, want unavailable", err)
	}

	// The listening connection is lost too (its pings go unanswered): the
	// entries are kept as a fallback and still served, marked.
	cache.ListenHandler(log.NewNopLogger()).Lost(errors.New("ping: timeout"))
	if got, stale, err := read(t, cache, p.ID); err != nil || !stale || got.ID != p.ID {
		t.Errorf("read after the listener was lost = %+v, stale %v, %v; want the product, stale", got, stale, err)
	}
	lctx := product.WithStaleMark(ctx)
	if page, err := cache.List(lctx, f); err != nil || len(page) != 2 || !product.Stale(lctx) {
		t.Errorf("list after the listener was lost = %d products, stale %v, %v; want 2, stale", len(page), product.Stale(lctx), err)
	}

	// The database is back, the listener not yet: reads are the
	// database's, unmarked, even though the cache still holds the row.
	repo.down.Store(false)
	if _, err := pool.Exec(ctx, `UPDATE products SET stock = 42 WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	before := repo.reads.Load()
	if got, stale, err := read(t, cache, p.ID); err != nil || stale || got.Stock != 42 {
		t.Errorf("read with the database back = stock %d, stale %v, %v; want 42, fresh", got.Stock, stale, err)
	}
	if repo.reads.Load() == before {
		t.Error("read with the database back did not ask the database")
	}

	// Listening again empties the cache: nothing older than that is served.
	cache.SetLive(true)
	if cache.Warm() {
		t.Error("Warm() = true right after listening again")
	}
}

// A Get the cache marks stale carries the Warning header over HTTP.
func TestHTTPMarksStaleReads(t *testing.T) {
	pool := newPool(t)
	repo := &switchableRepo{Repository: product.NewPostgres(pool)}
	cache := product.NewCache(repo, 0, 0)
	cache.ServeStale(repo.down.Load)
	cache.SetLive(true)
	p := createProduct(t, product.NewPostgres(pool), "STALE-3", 3)
	who := newCallers(t)
	h := product.NewHTTPHandler(product.NewEndpoints(product.NewService(cache), who.signer.Verifier()), log.NewNopLogger())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		down       bool
		path       string
		wantStatus int
		wantStale  bool
	}{
		{"fresh", false, product.ItemURL(p.ID), http.StatusOK, false},
		{"cached while down", true, product.ItemURL(p.ID), http.StatusOK, true},
		{"uncached while down", true, product.ItemURL(uuid.NewString()), http.StatusServiceUnavailable, false},
		{"list uncached while down", true, product.CollectionPath + "?limit=3", http.StatusServiceUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo.down.Store(tt.down)
			got := send(t, http.MethodGet, srv.URL+tt.path, nil, "")
			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", got.status, tt.wantStatus, got.body)
			}
			if stale := got.header.Get(product.StaleHeader) == product.StaleWarning; stale != tt.wantStale {
				t.Errorf("%s: %q, want stale %v", product.StaleHeader, got.header.Get(product.StaleHeader), tt.wantStale)
			}
			if tt.wantStatus == http.StatusServiceUnavailable && got.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

// unreachableStock fails every stock change as a guarded pool does while
// the database is out.
type unreachableStock struct{ product.StockRepository }

func (unreachableStock) Reserve(context.Context, string, []product.StockItem) ([]product.Shortage, error) {
	return nil, postgres.Unreachable(postgres.ErrUnreachable, "product database unavailable")
}

func (unreachableStock) Release(context.Context, string) error {
	return postgres.Unreachable(postgres.ErrUnreachable, "product database unavailable")
}

// Orders keep trying to reserve (and release) the products being read
// while the database is out; their failures must not empty the cache then,
// though they still do when the database is up (a lost reply).
func TestCacheKeepsEntriesWhenWritesFailInAnOutage(t *testing.T) {
	pool := newPool(t)
	repo := &switchableRepo{Repository: product.NewPostgres(pool)}
	cache := product.NewCache(repo, 0, 0)
	cache.ServeStale(repo.down.Load)
	cache.SetLive(true)
	stock := cache.StockRepository(unreachableStock{})
	p := createProduct(t, product.NewPostgres(pool), "STALE-4", 3)
	ctx := context.Background()
	items := []product.StockItem{{ProductID: p.ID, Quantity: 1}}
	if _, _, err := read(t, cache, p.ID); err != nil {
		t.Fatal(err)
	}

	repo.down.Store(true)
	if _, err := stock.Reserve(ctx, uuid.NewString(), items); err == nil {
		t.Fatal("Reserve succeeded")
	}
	if err := stock.Release(ctx, uuid.NewString()); err == nil {
		t.Fatal("Release succeeded")
	}
	if err := cache.Delete(ctx, p.ID); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Delete while down = %v, want unavailable", err)
	}
	before := repo.reads.Load()
	if got, stale, err := read(t, cache, p.ID); err != nil || !stale || got.ID != p.ID {
		t.Errorf("read after failed writes in the outage = %+v, stale %v, %v; want the product, stale", got, stale, err)
	}
	if repo.reads.Load() != before {
		t.Error("read after failed writes in the outage went to the database")
	}

	repo.down.Store(false)
	if _, err := stock.Reserve(ctx, uuid.NewString(), items); err == nil {
		t.Fatal("Reserve succeeded")
	}
	before = repo.reads.Load()
	if _, stale, err := read(t, cache, p.ID); err != nil || stale {
		t.Errorf("read after a failed write, database up = stale %v, %v", stale, err)
	}
	if repo.reads.Load() == before {
		t.Error("a write that failed with the database up left its product cached")
	}
}
