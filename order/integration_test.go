package order_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/sd"
	"github.com/go-kit/log"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/product"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// catalogServer is the real product service, with its own database, served
// over gRPC on loopback.
type catalogServer struct {
	addr    string
	svc     product.Service
	pool    *pgxpool.Pool
	signer  *authtest.Signer
	stopped chan struct{}
	stop    func()
}

func startCatalog(t *testing.T) *catalogServer {
	t.Helper()
	pool := migratedPool(t, "product")
	repo := product.NewPostgres(pool)
	svc := product.NewService(repo)
	signer := authtest.NewSigner(t)
	logger := log.NewNopLogger()
	srv := grpcx.NewServer(logger)
	productv1.RegisterProductServiceServer(srv, product.NewGRPCServer(product.NewEndpoints(svc, signer.Verifier()), logger,
		product.WithStock(product.NewStockEndpoints(product.NewStock(repo), signer.Verifier()))))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &catalogServer{addr: lis.Addr().String(), svc: svc, pool: pool, signer: signer, stopped: make(chan struct{})}
	go func() {
		defer close(c.stopped)
		srv.Serve(lis)
	}()
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			srv.Stop()
			<-c.stopped
		})
	}
	t.Cleanup(c.stop)
	return c
}

// add creates a product and returns it as the order service sees it.
func (c *catalogServer) add(t *testing.T, sku string, price, stock int64) order.CatalogProduct {
	t.Helper()
	p, err := c.svc.Create(context.Background(), product.NewProduct{SKU: sku, Name: "Item " + sku, PriceMinor: price, Currency: "EUR", Stock: stock})
	if err != nil {
		t.Fatal(err)
	}
	return order.CatalogProduct{ID: p.ID, SKU: p.SKU, Name: p.Name, PriceMinor: p.PriceMinor, Currency: p.Currency, Stock: p.Stock}
}

func (c *catalogServer) stockOf(t *testing.T, id string) int64 {
	t.Helper()
	p, err := c.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p.Stock
}

// reservations counts the reservation rows of the catalog by status.
func (c *catalogServer) reservations(t *testing.T) map[string]int {
	t.Helper()
	rows, err := c.pool.Query(context.Background(), `SELECT status, count(*) FROM stock_reservations GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			s string
			n int
		)
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// client returns the real gRPC catalog client for c, with a breaker of its
// own (hystrix circuits are per name and process).
func (c *catalogServer) client(t *testing.T, timeout time.Duration) *order.CatalogClient {
	t.Helper()
	tokens := auth.TokenSourceFunc(func(context.Context) (string, error) {
		return c.signer.Token(auth.ServiceSubject("order"), auth.RoleService), nil
	})
	cl := order.NewCatalogClient(sd.FixedInstancer{c.addr}, tokens, order.CatalogOptions{
		Timeout: timeout,
		Breaker: breaker.NewHystrix("order->product "+t.Name()+" "+uuid.NewString(), breaker.Settings{}),
	})
	t.Cleanup(cl.Close)
	return cl
}

func TestRealCatalogOrderLifecycle(t *testing.T) {
	cat := startCatalog(t)
	mug := cat.add(t, "MUG-1", 1250, 5)
	repo := order.NewPostgres(newPool(t))
	svc := order.NewService(repo, cat.client(t, 2*time.Second))
	user := uuid.NewString()

	c, err := svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(mug, 2)}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if c.Order.Status != order.StatusConfirmed || c.Order.TotalMinor != 2500 || c.Order.Items[0].SKU != "MUG-1" {
		t.Errorf("order %+v", c.Order)
	}
	if got := cat.stockOf(t, mug.ID); got != 3 {
		t.Errorf("stock %d, want 3", got)
	}
	_, err = svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(mug, 4)}})
	if !errs.Is(err, errs.Conflict) || len(errs.FieldsOf(err)) != 1 || errs.FieldsOf(err)[0].Message != "only 3 left" {
		t.Errorf("short order: %v, want Conflict \"only 3 left\"", err)
	}
	if _, err := svc.Cancel(as(user), c.Order.ID); err != nil {
		t.Fatal(err)
	}
	if got := cat.stockOf(t, mug.ID); got != 5 {
		t.Errorf("stock after cancel %d, want 5", got)
	}
	if got := cat.reservations(t); got["released"] != 1 || got["reserved"] != 0 {
		t.Errorf("reservations %v, want one released", got)
	}
}

func TestRealCatalogConcurrentOrdersNeverOversell(t *testing.T) {
	cat := startCatalog(t)
	p := cat.add(t, "RUSH-1", 999, 7)
	repo := order.NewPostgres(newPool(t))
	svc := order.NewService(repo, cat.client(t, 5*time.Second))

	const buyers = 40
	var (
		wg                   sync.WaitGroup
		mu                   sync.Mutex
		confirmed, conflicts int
		other                []error
	)
	start := make(chan struct{})
	for range buyers {
		wg.Go(func() {
			<-start
			c, err := svc.Create(as(uuid.NewString()), order.NewOrder{Items: []order.LineRequest{line(p, 1)}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && c.Order.Status == order.StatusConfirmed:
				confirmed++
			case errs.Is(err, errs.Conflict):
				conflicts++
			default:
				other = append(other, err)
			}
		})
	}
	begin := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d concurrent orders against stock 7 took %v", buyers, time.Since(begin))
	if confirmed != 7 || conflicts != buyers-7 || len(other) > 0 {
		t.Errorf("confirmed %d (want 7), conflicts %d (want %d), other %v", confirmed, conflicts, buyers-7, other)
	}
	if got := cat.stockOf(t, p.ID); got != 0 {
		t.Errorf("stock %d, want 0", got)
	}
	admin := as(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin)
	page, err := svc.List(admin, order.ListQuery{All: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byStatus := map[order.Status]int{}
	for _, o := range page.Orders {
		byStatus[o.Status]++
	}
	if byStatus[order.StatusConfirmed] != 7 || byStatus[order.StatusRejected] != buyers-7 || len(page.Orders) != buyers {
		t.Errorf("orders by status %v, want 7 confirmed and %d rejected", byStatus, buyers-7)
	}
}

func TestRealCatalogConcurrentRetriesWithOneKey(t *testing.T) {
	cat := startCatalog(t)
	p := cat.add(t, "KEY-1", 100, 50)
	svc := order.NewService(order.NewPostgres(newPool(t)), cat.client(t, 5*time.Second))
	user := uuid.NewString()
	req := order.NewOrder{Items: []order.LineRequest{line(p, 3)}, IdempotencyKey: "checkout-42"}

	var wg sync.WaitGroup
	results := make(chan error, 10)
	ids := make(chan string, 10)
	for range 10 {
		wg.Go(func() {
			c, err := svc.Create(as(user), req)
			if err == nil {
				ids <- c.Order.ID
			}
			results <- err
		})
	}
	wg.Wait()
	close(results)
	close(ids)
	for err := range results {
		// A request that finds the first one still running is told to
		// retry shortly; nothing else may fail.
		if err != nil && !errs.Is(err, errs.Conflict) {
			t.Errorf("unexpected error %v", err)
		}
	}
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Errorf("%d distinct orders, want 1", len(seen))
	}
	if got := cat.stockOf(t, p.ID); got != 47 {
		t.Errorf("stock %d, want 47: one reservation", got)
	}
	// Afterwards every retry is a replay.
	c, err := svc.Create(as(user), req)
	if err != nil || !c.Replayed || !seen[c.Order.ID] {
		t.Errorf("late retry = %+v, %v; want a replay", c, err)
	}
}

func TestRealCatalogRecovery(t *testing.T) {
	tests := []struct {
		name         string
		crash        crashingCatalog
		wantStatus   order.Status
		wantStock    int64
		wantReserved map[string]int
	}{
		{"crash between reservation and confirmation", crashingCatalog{afterReserve: true}, order.StatusConfirmed, 7, map[string]int{"reserved": 1}},
		{"crash after marking failed, before release", crashingCatalog{lossyReserve: true, beforeRelease: true}, order.StatusFailed, 10, map[string]int{"released": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := startCatalog(t)
			p := cat.add(t, "CRASH-1", 100, 10)
			repo := order.NewPostgres(newPool(t))
			real := cat.client(t, 2*time.Second)
			crash := tt.crash
			crash.Catalog = real
			user := uuid.NewString()
			createCrashing(t, order.NewService(repo, crash), as(user), order.NewOrder{Items: []order.LineRequest{line(p, 3)}})

			rec := order.NewRecovery(repo, real, log.NewNopLogger(), order.RecoveryOptions{Age: time.Nanosecond})
			st1 := rec.RunOnce(context.Background())
			st2 := rec.RunOnce(context.Background())
			t.Logf("rounds: %+v then %+v", st1, st2)
			if st2 != (order.RecoveryStats{}) {
				t.Errorf("second round did %+v, want nothing", st2)
			}
			o, err := order.NewService(repo, real).List(as(user), order.ListQuery{})
			if err != nil || len(o.Orders) != 1 || o.Orders[0].Status != tt.wantStatus {
				t.Fatalf("orders %+v, %v; want one %s", o.Orders, err, tt.wantStatus)
			}
			if got := cat.stockOf(t, p.ID); got != tt.wantStock {
				t.Errorf("stock %d, want %d (reserved exactly once)", got, tt.wantStock)
			}
			if got := cat.reservations(t); len(got) != len(tt.wantReserved) || got["reserved"] != tt.wantReserved["reserved"] || got["released"] != tt.wantReserved["released"] {
				t.Errorf("reservations %v, want %v", got, tt.wantReserved)
			}
		})
	}
}

func TestRealCatalogUnavailable(t *testing.T) {
	cat := startCatalog(t)
	p := cat.add(t, "DOWN-1", 100, 10)
	repo := order.NewPostgres(newPool(t))
	client := cat.client(t, 2*time.Second)
	svc := order.NewService(repo, client)
	user := uuid.NewString()
	if _, err := svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(p, 1)}}); err != nil {
		t.Fatalf("order while up: %v", err)
	}
	cat.stop()

	var worst time.Duration
	for i := range 30 {
		begin := time.Now()
		_, err := svc.Create(as(user), order.NewOrder{Items: []order.LineRequest{line(p, 1)}, IdempotencyKey: "retry-me"})
		took := time.Since(begin)
		worst = max(worst, took)
		if !errs.Is(err, errs.Unavailable) {
			t.Fatalf("attempt %d: %v, want Unavailable", i+1, err)
		}
		if i == 0 || i == 29 {
			if msg := errs.Message(err); strings.Contains(msg, "127.0.0.1") {
				t.Errorf("client-facing message %q reveals an address", msg)
			}
			t.Logf("attempt %d: 503 after %v (%v)", i+1, took, errs.Message(err))
		}
	}
	t.Logf("slowest of 30 attempts while the catalog is down: %v", worst)
	if worst > 3*time.Second {
		t.Errorf("an attempt took %v, want well under 3s", worst)
	}
	page, err := svc.List(as(user), order.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Orders) != 1 || page.Orders[0].Status != order.StatusConfirmed {
		t.Errorf("orders %+v, want only the confirmed one: failed attempts leave nothing", page.Orders)
	}
	if pending, _ := repo.StalePending(context.Background(), time.Now().Add(time.Hour), 10); len(pending) != 0 {
		t.Errorf("pending orders %v, want none", pending)
	}
	if owed, _ := repo.ReleasePending(context.Background(), 10); len(owed) != 0 {
		t.Errorf("owed releases %v, want none", owed)
	}
}
