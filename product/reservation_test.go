package product_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/auth/authtest"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/product"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// stockFixture is the real stock API and catalog on a fresh database.
type stockFixture struct {
	stock product.Stock
	svc   product.Service
	pool  *pgxpool.Pool
}

func newStockFixture(t *testing.T) *stockFixture {
	t.Helper()
	pool := newPool(t)
	repo := product.NewPostgres(pool)
	return &stockFixture{stock: product.NewStock(repo), svc: product.NewService(repo), pool: pool}
}

// add creates a product with stock units and returns its id.
func (f *stockFixture) add(t *testing.T, sku string, stock int64) string {
	t.Helper()
	p, err := f.svc.Create(context.Background(), product.NewProduct{SKU: sku, Name: "Item " + sku, PriceMinor: 100, Currency: "EUR", Stock: stock})
	if err != nil {
		t.Fatalf("creating %s: %v", sku, err)
	}
	return p.ID
}

// stockOf reads a product's stock straight from the database.
func (f *stockFixture) stockOf(t *testing.T, id string) int64 {
	t.Helper()
	var n int64
	if err := f.pool.QueryRow(context.Background(), `SELECT stock FROM products WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *stockFixture) wantStock(t *testing.T, want map[string]int64) {
	t.Helper()
	for id, n := range want {
		if got := f.stockOf(t, id); got != n {
			t.Errorf("stock of %s = %d, want %d", id, got, n)
		}
	}
}

func items(pairs ...any) []product.StockItem {
	var out []product.StockItem
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, product.StockItem{ProductID: pairs[i].(string), Quantity: int64(pairs[i+1].(int))})
	}
	return out
}

func TestReserveAllOrNothing(t *testing.T) {
	f := newStockFixture(t)
	ctx := context.Background()
	a, b := f.add(t, "RES-A", 5), f.add(t, "RES-B", 1)

	err := f.stock.Reserve(ctx, uuid.NewString(), items(a, 2, b, 2))
	if !errs.Is(err, errs.Conflict) {
		t.Fatalf("error %v, want Conflict", err)
	}
	want := []errs.FieldError{{Field: "items[1].quantity", Message: "only 1 left"}}
	if got := errs.FieldsOf(err); !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	f.wantStock(t, map[string]int64{a: 5, b: 1})

	// Both short: both named, by their index in the request.
	err = f.stock.Reserve(ctx, uuid.NewString(), items(b, 3, a, 9))
	if got := fieldNamesOf(err); !slices.Equal(got, []string{"items[0].quantity", "items[1].quantity"}) && !slices.Equal(got, []string{"items[1].quantity", "items[0].quantity"}) {
		t.Errorf("fields %v, want both items", got)
	}

	if err := f.stock.Reserve(ctx, uuid.NewString(), items(b, 1, a, 5)); err != nil {
		t.Fatalf("exact reservation: %v", err)
	}
	f.wantStock(t, map[string]int64{a: 0, b: 0})
}

func fieldNamesOf(err error) []string {
	var names []string
	for _, fe := range errs.FieldsOf(err) {
		names = append(names, fe.Field)
	}
	return names
}

func TestReserveIsIdempotentAndReleaseLeavesTombstone(t *testing.T) {
	f := newStockFixture(t)
	ctx := context.Background()
	a := f.add(t, "IDEM-A", 10)
	order := uuid.NewString()

	for i := range 3 {
		if err := f.stock.Reserve(ctx, order, items(a, 4)); err != nil {
			t.Fatalf("reserve #%d: %v", i+1, err)
		}
	}
	// Another item list for the same order changes nothing either.
	if err := f.stock.Reserve(ctx, order, items(a, 1)); err != nil {
		t.Fatalf("reserve with other items: %v", err)
	}
	f.wantStock(t, map[string]int64{a: 6})

	for i := range 2 {
		if err := f.stock.Release(ctx, order); err != nil {
			t.Fatalf("release #%d: %v", i+1, err)
		}
		f.wantStock(t, map[string]int64{a: 10})
	}
	err := f.stock.Reserve(ctx, order, items(a, 4))
	if !errs.Is(err, errs.Conflict) {
		t.Errorf("reserve after release: %v, want Conflict", err)
	}
	f.wantStock(t, map[string]int64{a: 10})
}

func TestReleaseBeforeReserveBlocksIt(t *testing.T) {
	f := newStockFixture(t)
	ctx := context.Background()
	a := f.add(t, "LATE-A", 3)
	order := uuid.NewString()

	if err := f.stock.Release(ctx, order); err != nil {
		t.Fatalf("release of an unknown order: %v", err)
	}
	if err := f.stock.Reserve(ctx, order, items(a, 1)); !errs.Is(err, errs.Conflict) {
		t.Errorf("late reserve: %v, want Conflict", err)
	}
	f.wantStock(t, map[string]int64{a: 3})
	if err := f.stock.Release(ctx, order); err != nil {
		t.Errorf("second release: %v", err)
	}
	f.wantStock(t, map[string]int64{a: 3})
}

func TestReserveValidation(t *testing.T) {
	f := newStockFixture(t)
	a := f.add(t, "VAL-A", 3)
	tests := []struct {
		name       string
		order      string
		items      []product.StockItem
		kind       errs.Kind
		wantFields []string
	}{
		{"malformed order id", "o-1", items(a, 1), errs.Invalid, []string{"order_id"}},
		{"no items", uuid.NewString(), nil, errs.Invalid, []string{"items"}},
		{"malformed product id", uuid.NewString(), items("p", 1), errs.Invalid, []string{"items[0].product_id"}},
		{"product twice", uuid.NewString(), items(a, 1, a, 1), errs.Invalid, []string{"items[1].product_id"}},
		{"zero quantity", uuid.NewString(), items(a, 0), errs.Invalid, []string{"items[0].quantity"}},
		{"negative quantity", uuid.NewString(), items(a, -2), errs.Invalid, []string{"items[0].quantity"}},
		{"unknown product", uuid.NewString(), items(a, 1, uuid.NewString(), 1), errs.NotFound, []string{"items[1].product_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.stock.Reserve(context.Background(), tt.order, tt.items)
			if !errs.Is(err, tt.kind) {
				t.Fatalf("error %v, want %v", err, tt.kind)
			}
			if got := fieldNamesOf(err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields %v, want %v", got, tt.wantFields)
			}
		})
	}
	f.wantStock(t, map[string]int64{a: 3})
	if err := f.stock.Release(context.Background(), "nope"); !errs.Is(err, errs.Invalid) {
		t.Errorf("release with malformed id: %v, want Invalid", err)
	}
}

func TestBatchGet(t *testing.T) {
	f := newStockFixture(t)
	ctx := context.Background()
	a, b := f.add(t, "BATCH-A", 1), f.add(t, "BATCH-B", 2)

	got, err := f.stock.BatchGet(ctx, []string{b, uuid.NewString(), a, b})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range got {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	want := []string{a, b}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v (unknown absent, repeats once)", ids, want)
	}
	if got, err := f.stock.BatchGet(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("empty batch = %v, %v", got, err)
	}
	if _, err := f.stock.BatchGet(ctx, []string{a, "x"}); !errs.Is(err, errs.Invalid) || !slices.Equal(fieldNamesOf(err), []string{"ids[1]"}) {
		t.Errorf("malformed id: %v", err)
	}
	many := make([]string, product.MaxBatchIDs+1)
	for i := range many {
		many[i] = uuid.NewString()
	}
	if _, err := f.stock.BatchGet(ctx, many); !errs.Is(err, errs.Invalid) {
		t.Errorf("too many ids: %v, want Invalid", err)
	}
}

func TestReservationSchema(t *testing.T) {
	f := newStockFixture(t)
	ctx := context.Background()
	a := f.add(t, "SCHEMA-A", 1)
	order := uuid.NewString()
	if err := f.stock.Reserve(ctx, order, items(a, 1)); err != nil {
		t.Fatal(err)
	}
	for name, stmt := range map[string]string{
		"negative stock":         `UPDATE products SET stock = -1 WHERE id = '` + a + `'`,
		"zero quantity":          `UPDATE stock_reservation_items SET quantity = 0`,
		"unknown status":         `UPDATE stock_reservations SET status = 'lost'`,
		"released without time":  `UPDATE stock_reservations SET status = 'released'`,
		"item of no product":     `INSERT INTO stock_reservation_items (order_id, product_id, quantity) VALUES ('` + order + `', gen_random_uuid(), 1)`,
		"item of no reservation": `INSERT INTO stock_reservation_items (order_id, product_id, quantity) VALUES (gen_random_uuid(), '` + a + `', 1)`,
	} {
		if _, err := f.pool.Exec(ctx, stmt); err == nil {
			t.Errorf("%s: statement succeeded, want a constraint violation", name)
		}
	}
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	f := newStockFixture(t)
	a := f.add(t, "RUSH-A", 10)
	const buyers = 50
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		succeeded int
		others    []error
	)
	start := make(chan struct{})
	for range buyers {
		wg.Go(func() {
			<-start
			err := f.stock.Reserve(context.Background(), uuid.NewString(), items(a, 1))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				succeeded++
			case !errs.Is(err, errs.Conflict):
				others = append(others, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if succeeded != 10 || len(others) > 0 {
		t.Errorf("%d reservations succeeded (want 10), unexpected errors: %v", succeeded, others)
	}
	f.wantStock(t, map[string]int64{a: 0})
	var reserved int64
	if err := f.pool.QueryRow(context.Background(), `SELECT coalesce(sum(quantity), 0) FROM stock_reservation_items WHERE product_id = $1`, a).Scan(&reserved); err != nil {
		t.Fatal(err)
	}
	if reserved != 10 {
		t.Errorf("%d units recorded as reserved, want 10", reserved)
	}
}

func TestConcurrentRetriesReserveOnce(t *testing.T) {
	f := newStockFixture(t)
	a := f.add(t, "RETRY-A", 100)
	order := uuid.NewString()
	var wg sync.WaitGroup
	errCh := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errCh <- f.stock.Reserve(context.Background(), order, items(a, 7)) })
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		if err != nil {
			t.Errorf("retry: %v", err)
		}
	}
	f.wantStock(t, map[string]int64{a: 93})
}

// newStockGRPCClient serves the real catalog and stock API on a fresh
// database over loopback, with tokens of signer.
func newStockGRPCClient(t *testing.T, signer *authtest.Signer) (productv1.ProductServiceClient, *stockFixture) {
	t.Helper()
	f := newStockFixture(t)
	logger := log.NewNopLogger()
	v := signer.Verifier()
	srv := grpcx.NewServer(logger)
	productv1.RegisterProductServiceServer(srv, product.NewGRPCServer(product.NewEndpoints(f.svc, v), logger,
		product.WithStock(product.NewStockEndpoints(f.stock, v))))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	cc, err := grpcx.Dial(lis.Addr().String(), grpcUnaryAuth())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return productv1.NewProductServiceClient(cc), f
}

func TestStockGRPCAccess(t *testing.T) {
	signer := authtest.NewSigner(t)
	client, f := newStockGRPCClient(t, signer)
	a := f.add(t, "GRPC-STOCK-A", 5)

	tests := []struct {
		name  string
		token string
		code  codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"bad token", "garbage", codes.Unauthenticated},
		{"customer", signer.Token(uuid.NewString(), auth.RoleCustomer), codes.PermissionDenied},
		{"service", signer.Token(auth.ServiceSubject("order"), auth.RoleService), codes.OK},
		{"admin", signer.Token(uuid.NewString(), auth.RoleCustomer, auth.RoleAdmin), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tt.token != "" {
				ctx = auth.NewTokenContext(ctx, tt.token)
			}
			order := uuid.NewString()
			calls := map[string]error{}
			_, calls["BatchGetProducts"] = client.BatchGetProducts(ctx, &productv1.BatchGetProductsRequest{Ids: []string{a}})
			_, calls["ReserveStock"] = client.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: order,
				Items: []*productv1.StockItem{{ProductId: a, Quantity: 1}}})
			_, calls["ReleaseStock"] = client.ReleaseStock(ctx, &productv1.ReleaseStockRequest{OrderId: order})
			for method, err := range calls {
				if got := status.Code(errs.ToGRPC(err)); got != tt.code {
					t.Errorf("%s: code %v (%v), want %v", method, got, err, tt.code)
				}
			}
		})
	}
	f.wantStock(t, map[string]int64{a: 5}) // every reservation was released
}

func TestStockGRPCErrors(t *testing.T) {
	signer := authtest.NewSigner(t)
	client, f := newStockGRPCClient(t, signer)
	a := f.add(t, "GRPC-STOCK-B", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = auth.NewTokenContext(ctx, signer.Token(auth.ServiceSubject("order"), auth.RoleService))

	_, err := client.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: uuid.NewString(),
		Items: []*productv1.StockItem{{ProductId: a, Quantity: 2}}})
	if !errs.Is(err, errs.Conflict) {
		t.Fatalf("short reservation: %v, want Conflict", err)
	}
	if got, want := errs.FieldsOf(err), []errs.FieldError{{Field: "items[0].quantity", Message: "only 1 left"}}; !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v (carried as BadRequest details)", got, want)
	}
	if st, _ := status.FromError(errs.ToGRPC(err)); st.Code() != codes.FailedPrecondition {
		t.Errorf("code %v, want FailedPrecondition", st.Code())
	}
	resp, err := client.BatchGetProducts(ctx, &productv1.BatchGetProductsRequest{Ids: []string{a, uuid.NewString()}})
	if err != nil || len(resp.GetProducts()) != 1 || resp.GetProducts()[0].GetStock() != 1 {
		t.Errorf("BatchGetProducts = %v, %v", resp, err)
	}
	_, err = client.ReserveStock(ctx, &productv1.ReserveStockRequest{OrderId: "x"})
	if !errs.Is(err, errs.Invalid) {
		t.Errorf("malformed request: %v, want Invalid", err)
	}
}

// grpcUnaryAuth makes a client send the token on the call's context.
func grpcUnaryAuth() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(auth.UnaryClientInterceptor())
}

// TestReserveSingleItem covers the one-statement path of single-item
// reservations: every answer the multi-item transaction gives.
func TestReserveSingleItem(t *testing.T) {
	f := newStockFixture(t)
	ctx := context.Background()
	a := f.add(t, "ONE-A", 3)
	released := uuid.NewString()
	if err := f.stock.Release(ctx, released); err != nil {
		t.Fatal(err)
	}
	reserved := uuid.NewString()
	if err := f.stock.Reserve(ctx, reserved, items(a, 1)); err != nil {
		t.Fatalf("first reservation: %v", err)
	}
	tests := []struct {
		name       string
		order      string
		items      []product.StockItem
		wantKind   errs.Kind // 0: success
		wantFields []errs.FieldError
		wantStock  int64
	}{
		{"short", uuid.NewString(), items(a, 3), errs.Conflict, []errs.FieldError{{Field: "items[0].quantity", Message: "only 2 left"}}, 2},
		{"unknown product", uuid.NewString(), items(uuid.NewString(), 1), errs.NotFound, []errs.FieldError{{Field: "items[0].product_id", Message: "no such product"}}, 2},
		{"retry of a reservation", reserved, items(a, 1), 0, nil, 2},
		{"after a release", released, items(a, 1), errs.Conflict, nil, 2},
		{"the rest", uuid.NewString(), items(a, 2), 0, nil, 0},
		{"none left", uuid.NewString(), items(a, 1), errs.Conflict, []errs.FieldError{{Field: "items[0].quantity", Message: "only 0 left"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.stock.Reserve(ctx, tt.order, tt.items)
			if tt.wantKind == 0 {
				if err != nil {
					t.Fatalf("error %v, want success", err)
				}
			} else if !errs.Is(err, tt.wantKind) {
				t.Fatalf("error %v, want %v", err, tt.wantKind)
			}
			if got := errs.FieldsOf(err); tt.wantFields != nil && !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields %v, want %v", got, tt.wantFields)
			}
			f.wantStock(t, map[string]int64{a: tt.wantStock})
		})
	}
	// Nothing of the failed calls was recorded.
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM stock_reservations WHERE status = 'reserved'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d reservations recorded, want 2", n)
	}
}
