package order_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/order"
)

func TestMain(m *testing.M) {
	testenv.Main(m)
}

// newPool returns a pool on a fresh, migrated order database of the shared
// test Postgres; the pool is closed when the test ends.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return migratedPool(t, "order")
}

// migratedPool returns a pool on a fresh database migrated for service.
func migratedPool(t *testing.T, service string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, testenv.Database(t))
	if err != nil {
		t.Fatalf("opening database: %v", err)
	}
	t.Cleanup(pool.Close)
	fsys, err := migrations.For(service)
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, fsys); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return pool
}

// as returns a context whose caller is the user with id and roles, as
// auth.Authenticate would leave it.
func as(id string, roles ...string) context.Context {
	if len(roles) == 0 {
		roles = []string{auth.RoleCustomer}
	}
	return auth.NewContext(context.Background(), auth.Identity{UserID: id, Roles: roles})
}

// fakeCatalog is an in-memory Catalog with the product service's
// reservation semantics: all or nothing, idempotent per order, tombstones
// on release. fail, when set, makes every call fail with it.
type fakeCatalog struct {
	mu           sync.Mutex
	products     map[string]order.CatalogProduct
	reservations map[string][]order.StockItem // order id -> items; nil value = tombstone
	released     map[string]bool
	fail         error
	calls        map[string]int
}

func newFakeCatalog(products ...order.CatalogProduct) *fakeCatalog {
	c := &fakeCatalog{
		products:     map[string]order.CatalogProduct{},
		reservations: map[string][]order.StockItem{},
		released:     map[string]bool{},
		calls:        map[string]int{},
	}
	for _, p := range products {
		c.products[p.ID] = p
	}
	return c
}

// product adds a product with stock and returns it.
func (c *fakeCatalog) product(sku string, price, stock int64, currency string) order.CatalogProduct {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := order.CatalogProduct{ID: uuid.NewString(), SKU: sku, Name: "Product " + sku, PriceMinor: price, Currency: currency, Stock: stock}
	c.products[p.ID] = p
	return p
}

func (c *fakeCatalog) setFail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

func (c *fakeCatalog) stock(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.products[id].Stock
}

func (c *fakeCatalog) count(call string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[call]
}

func (c *fakeCatalog) Products(_ context.Context, ids []string) ([]order.CatalogProduct, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls["products"]++
	if c.fail != nil {
		return nil, c.fail
	}
	var out []order.CatalogProduct
	for _, id := range ids {
		if p, ok := c.products[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func (c *fakeCatalog) Reserve(_ context.Context, orderID string, items []order.StockItem) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls["reserve"]++
	if c.fail != nil {
		return c.fail
	}
	if c.released[orderID] {
		return errs.New(errs.Conflict, "stock reservation already released")
	}
	if _, ok := c.reservations[orderID]; ok {
		return nil
	}
	if !slices.IsSortedFunc(items, func(a, b order.StockItem) int {
		if a.ProductID < b.ProductID {
			return -1
		}
		return 1
	}) {
		return errs.New(errs.Invalid, "items not sorted")
	}
	var short []errs.FieldError
	for i, it := range items {
		p, ok := c.products[it.ProductID]
		if !ok {
			return &errs.Error{Kind: errs.NotFound, Message: "product not found",
				Fields: []errs.FieldError{{Field: fmt.Sprintf("items[%d].product_id", i), Message: "no such product"}}}
		}
		if p.Stock < it.Quantity {
			short = append(short, errs.FieldError{Field: fmt.Sprintf("items[%d].quantity", i), Message: fmt.Sprintf("only %d left", p.Stock)})
		}
	}
	if len(short) > 0 {
		return &errs.Error{Kind: errs.Conflict, Message: "insufficient stock", Fields: short}
	}
	for _, it := range items {
		p := c.products[it.ProductID]
		p.Stock -= it.Quantity
		c.products[it.ProductID] = p
	}
	c.reservations[orderID] = slices.Clone(items)
	return nil
}

func (c *fakeCatalog) Release(_ context.Context, orderID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls["release"]++
	if c.fail != nil {
		return c.fail
	}
	if c.released[orderID] {
		return nil
	}
	for _, it := range c.reservations[orderID] {
		p := c.products[it.ProductID]
		p.Stock += it.Quantity
		c.products[it.ProductID] = p
	}
	c.released[orderID] = true
	return nil
}

// fieldNames returns the fields an error names, in order.
func fieldNames(err error) []string {
	var names []string
	for _, f := range errs.FieldsOf(err) {
		names = append(names, f.Field)
	}
	return names
}

// line is shorthand for a LineRequest.
func line(p order.CatalogProduct, qty int64) order.LineRequest {
	return order.LineRequest{ProductID: p.ID, Quantity: qty}
}

var errCatalogDown = errs.New(errs.Unavailable, "dependency unavailable: circuit open")
