package order

import "context"

// Catalog is what the order service needs from the product service. The
// gRPC implementation is NewCatalogClient; tests substitute fakes and
// wrappers that fail on cue.
//
// All three calls are idempotent, so implementations may retry them.
// Failures to reach the catalog are errs.Unavailable errors.
type Catalog interface {
	// Products returns the products with the given ids; unknown ids are
	// simply absent from the result.
	Products(ctx context.Context, ids []string) ([]CatalogProduct, error)

	// Reserve takes items (sorted by product id) out of stock for the
	// order orderID, all or nothing. It is idempotent per orderID: once a
	// reservation is made, calling again succeeds without reserving twice;
	// once the order's stock was released (or a release came first), it
	// fails with errs.Conflict and reserves nothing. Short stock is an
	// errs.Conflict with one field per short item ("items[i].quantity",
	// "only N left", i the index in items); an unknown product is an
	// errs.NotFound or errs.Invalid naming the item.
	Reserve(ctx context.Context, orderID string, items []StockItem) error

	// Release gives the order's reserved stock back, and makes sure no
	// later Reserve for orderID reserves anything. It is idempotent, and
	// succeeds for an order that never reserved.
	Release(ctx context.Context, orderID string) error
}

// CatalogProduct is a product as the catalog describes it.
type CatalogProduct struct {
	ID         string
	SKU        string
	Name       string
	PriceMinor int64
	Currency   string
	Stock      int64
}

// StockItem is Quantity units of one product, to reserve.
type StockItem struct {
	ProductID string
	Quantity  int64
}
