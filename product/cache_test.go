package product_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/product"
)

// countingRepo counts the reads that reach the database.
type countingRepo struct {
	product.Repository
	gets, lists atomic.Int64
}

func (r *countingRepo) Get(ctx context.Context, id string) (product.Product, error) {
	r.gets.Add(1)
	return r.Repository.Get(ctx, id)
}

func (r *countingRepo) List(ctx context.Context, f product.Filter) ([]product.Product, error) {
	r.lists.Add(1)
	return r.Repository.List(ctx, f)
}

// listeningCache returns a Cache on pool that listens for changes until the
// test ends, once it is live.
func listeningCache(t *testing.T, pool *pgxpool.Pool) (*product.Cache, *countingRepo) {
	t.Helper()
	repo := &countingRepo{Repository: product.NewPostgres(pool)}
	cache := product.NewCache(repo, 0, 0)
	connected := make(chan struct{}, 1)
	h := cache.ListenHandler(log.NewNopLogger())
	onConnected := h.Connected
	h.Connected = func() {
		onConnected()
		select {
		case connected <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		postgres.Listen(ctx, pool, product.ChangeChannel, h)
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("cache never started listening")
	}
	return cache, repo
}

func createProduct(t *testing.T, repo product.Repository, sku string, stock int64) product.Product {
	t.Helper()
	p, err := repo.Create(context.Background(), product.NewProduct{SKU: sku, Name: "Cached " + sku, PriceMinor: 500, Currency: "EUR", Stock: stock})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return p
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCacheServesRepeatedReadsFromMemory(t *testing.T) {
	pool := newPool(t)
	// Created before the cache listens, so that no notification of the
	// insert can arrive in the middle of the reads below.
	p := createProduct(t, product.NewPostgres(pool), "CACHE-1", 5)
	cache, repo := listeningCache(t, pool)
	ctx := context.Background()

	for range 3 {
		got, err := cache.Get(ctx, p.ID)
		if err != nil || got.ID != p.ID || got.Stock != 5 {
			t.Fatalf("Get = %+v, %v", got, err)
		}
	}
	if n := repo.gets.Load(); n != 1 {
		t.Errorf("database reads for 3 Gets = %d, want 1", n)
	}
	f := product.Filter{Limit: 10}
	for range 3 {
		page, err := cache.List(ctx, f)
		if err != nil || len(page) != 1 {
			t.Fatalf("List = %v, %v", page, err)
		}
	}
	if n := repo.lists.Load(); n != 1 {
		t.Errorf("database reads for 3 Lists = %d, want 1", n)
	}

	// Misses are not cached: an unknown id asks the database every time.
	unknown := uuid.NewString()
	for range 2 {
		if _, err := cache.Get(ctx, unknown); !errs.Is(err, errs.NotFound) {
			t.Fatalf("Get(unknown) = %v, want not_found", err)
		}
	}
	if n := repo.gets.Load(); n != 3 {
		t.Errorf("database reads after 2 unknown Gets = %d, want 3", n)
	}
}

// Every kind of write, by anyone, reaches every cache: through the cache
// itself, through another instance's cache, and in plain SQL (which is how
// the stock reservations change products).
func TestCacheFollowsChangesFromEveryWriter(t *testing.T) {
	pool := newPool(t)
	a, _ := listeningCache(t, pool)
	b, _ := listeningCache(t, pool)
	ctx := context.Background()
	p := createProduct(t, a, "CACHE-2", 10)
	f := product.Filter{Limit: 10}

	warm := func() {
		t.Helper()
		for _, c := range []*product.Cache{a, b} {
			if _, err := c.Get(ctx, p.ID); err != nil {
				t.Fatalf("Get: %v", err)
			}
			if _, err := c.List(ctx, f); err != nil {
				t.Fatalf("List: %v", err)
			}
		}
	}
	seesStock := func(c *product.Cache, want int64) func() bool {
		return func() bool {
			got, err := c.Get(ctx, p.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			page, err := c.List(ctx, f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			return got.Stock == want && len(page) == 1 && page[0].Stock == want
		}
	}

	warm()
	stock := int64(7)
	if _, err := a.Update(ctx, p.ID, product.Patch{Stock: &stock}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if !seesStock(a, 7)() {
		t.Error("the writing cache serves the old row right after its own update")
	}
	eventually(t, "the other instance's cache sees the update", seesStock(b, 7))

	warm()
	if _, err := pool.Exec(ctx, `UPDATE products SET stock = stock - 3 WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "cache a sees an update made in SQL", seesStock(a, 4))
	eventually(t, "cache b sees an update made in SQL", seesStock(b, 4))

	warm()
	if err := b.Delete(ctx, p.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	eventually(t, "cache a forgets a product deleted through b", func() bool {
		_, err := a.Get(ctx, p.ID)
		page, _ := a.List(ctx, f)
		return errs.Is(err, errs.NotFound) && len(page) == 0
	})

	// A new product appears in cached pages.
	warm2, _ := a.List(ctx, f)
	if len(warm2) != 0 {
		t.Fatalf("List after delete = %v", warm2)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO products (sku, name, price_minor, currency) VALUES ('CACHE-3', 'New', 1, 'EUR')`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a cached page shows a product inserted in SQL", func() bool {
		page, _ := a.List(ctx, f)
		return len(page) == 1
	})
}

// Without a listening connection the cache cannot know about changes, so it
// must not serve anything: every read goes to the database.
func TestCacheServesNothingWhileNotListening(t *testing.T) {
	pool := newPool(t)
	repo := &countingRepo{Repository: product.NewPostgres(pool)}
	cache := product.NewCache(repo, 0, 0)
	ctx := context.Background()
	p := createProduct(t, cache, "CACHE-4", 1)
	for range 3 {
		if _, err := cache.Get(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := repo.gets.Load(); n != 3 {
		t.Errorf("database reads for 3 Gets before listening = %d, want 3", n)
	}

	// Live, then the connection is lost: cached rows go and nothing is kept.
	cache.SetLive(true)
	cache.Get(ctx, p.ID)
	cache.ListenHandler(log.NewNopLogger()).Lost(errors.New("connection reset"))
	if _, err := pool.Exec(ctx, `UPDATE products SET stock = 99 WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := cache.Get(ctx, p.ID)
		if err != nil || got.Stock != 99 {
			t.Fatalf("Get after the listener was lost = %+v, %v; want the database's stock 99", got, err)
		}
	}
	if n := repo.gets.Load(); n != 6 {
		t.Errorf("database reads = %d, want 6 (nothing cached while not listening)", n)
	}
}

// blockingRepo holds Get until release is closed, so a test can change the
// data while a read is in flight.
type blockingRepo struct {
	product.Repository
	entered chan struct{}
	release chan struct{}
	row     product.Product
	calls   atomic.Int64
}

func (r *blockingRepo) Get(ctx context.Context, id string) (product.Product, error) {
	if r.calls.Add(1) == 1 {
		close(r.entered)
		<-r.release
	}
	return r.row, nil
}

// A row read before a change but returned after its notification must not be
// cached: it would be served stale until the next change.
func TestCacheDropsAReadThatRacedWithAChange(t *testing.T) {
	repo := &blockingRepo{entered: make(chan struct{}), release: make(chan struct{}), row: product.Product{ID: "p", Stock: 1}}
	cache := product.NewCache(repo, 0, 0)
	cache.SetLive(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cache.Get(context.Background(), "p") // reads the old row, slowly
	}()
	<-repo.entered
	cache.Invalidate("p") // the change's notification arrives meanwhile
	repo.row = product.Product{ID: "p", Stock: 2}
	close(repo.release)
	wg.Wait()

	got, _ := cache.Get(context.Background(), "p")
	if got.Stock != 2 {
		t.Errorf("Get after the change = stock %d, want 2 (the raced read was cached)", got.Stock)
	}
}

func TestCacheStaysWithinItsBound(t *testing.T) {
	pool := newPool(t)
	repo := &countingRepo{Repository: product.NewPostgres(pool)}
	cache := product.NewCache(repo, 3, 2)
	cache.SetLive(true)
	ctx := context.Background()
	var ids []string
	for i := range 6 {
		ids = append(ids, createProduct(t, repo, "BOUND-"+string(rune('A'+i)), 1).ID)
	}
	for _, id := range ids {
		cache.Get(ctx, id)
	}
	before := repo.gets.Load()
	for _, id := range ids {
		cache.Get(ctx, id)
	}
	// 3 of 6 can be cached; the second pass hits the database at least 3 times.
	if n := repo.gets.Load() - before; n < 3 {
		t.Errorf("second pass read the database %d times, want >= 3 with room for 3 products", n)
	}
}

// A reservation answered by this instance is visible in its cache at once,
// without waiting for the notification (none arrives here: no listener).
func TestCacheSeesItsOwnReservationsAtOnce(t *testing.T) {
	pool := newPool(t)
	pg := product.NewPostgres(pool)
	cache := product.NewCache(pg, 0, 0)
	cache.SetLive(true)
	ctx := context.Background()
	p := createProduct(t, pg, "CACHE-5", 10)
	stock := cache.StockRepository(pg)

	get := func() int64 {
		t.Helper()
		got, err := cache.Get(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Stock
	}
	get() // cached
	order := uuid.NewString()
	if sh, err := stock.Reserve(ctx, order, []product.StockItem{{ProductID: p.ID, Quantity: 4}}); err != nil || len(sh) != 0 {
		t.Fatalf("Reserve = %v, %v", sh, err)
	}
	if got := get(); got != 6 {
		t.Errorf("stock after reserving 4 of 10 = %d, want 6", got)
	}
	if err := stock.Release(ctx, order); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != 10 {
		t.Errorf("stock after the release = %d, want 10", got)
	}
}

// fixedRepo answers Update and Delete at once, without a database.
type fixedRepo struct{ product.Repository }

func (fixedRepo) Update(_ context.Context, id string, _ product.Patch) (product.Product, error) {
	return product.Product{ID: id}, nil
}

func (fixedRepo) Delete(context.Context, string) error { return nil }

// An update or delete answers only once this instance has heard the
// notification of its change (so every instance has been told), and never
// waits long for one that does not come.
func TestCacheWritesWaitForTheirNotification(t *testing.T) {
	cases := []struct {
		name  string
		write func(c *product.Cache) error
	}{
		{"update", func(c *product.Cache) error {
			_, err := c.Update(context.Background(), "p1", product.Patch{})
			return err
		}},
		{"delete", func(c *product.Cache) error { return c.Delete(context.Background(), "p1") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cache := product.NewCache(fixedRepo{}, 0, 0)
			cache.SetLive(true)
			done := make(chan error, 1)
			go func() { done <- tc.write(cache) }()
			select {
			case <-done:
				t.Fatal("the write answered before its notification")
			case <-time.After(50 * time.Millisecond):
			}
			cache.Invalidate("p2") // another product's: still waiting
			select {
			case <-done:
				t.Fatal("the write answered on another product's notification")
			case <-time.After(20 * time.Millisecond):
			}
			cache.Invalidate("p1")
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Second):
				t.Fatal("the write did not answer after its notification")
			}

			// No notification at all: the wait is bounded.
			start := time.Now()
			if err := tc.write(cache); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited > 5*time.Second {
				t.Errorf("a write without a notification waited %v", waited)
			}

			// Not listening: no wait.
			cache.SetLive(false)
			start = time.Now()
			tc.write(cache)
			if waited := time.Since(start); waited > 100*time.Millisecond {
				t.Errorf("a write while not listening waited %v", waited)
			}
		})
	}
}
