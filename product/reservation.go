package product

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/validate"
)

// Limits of the stock API.
const (
	MaxBatchIDs         = 100 // ids per BatchGet
	MaxReservationItems = 100 // items per reservation
)

// StockItem is Quantity units of one product, to reserve.
type StockItem struct {
	ProductID string
	Quantity  int64
}

// Shortage is a product a reservation could not take from stock:
// Available units are left, or the product does not exist (Missing).
type Shortage struct {
	ProductID string
	Available int64
	Missing   bool
}

// Stock is the catalog's stock reservation API, for other services (the
// order service). It is separate from Service because its callers are
// services, not shoppers or admins editing the catalog, and because its
// rules are about money-critical invariants: stock never goes negative and
// an order never reserves twice.
//
// Every method returns *errs.Error values: Invalid (with one errs.FieldError
// per bad field) for bad input, and Unavailable or Internal when the
// database fails.
type Stock interface {
	// BatchGet returns the products with the given ids, at most
	// MaxBatchIDs; unknown ids are simply absent from the result, and
	// repeated ids are returned once. Invalid for a malformed id (field
	// ids[i]) or too many ids.
	BatchGet(ctx context.Context, ids []string) ([]Product, error)

	// Reserve takes items out of stock for the order orderID, all or
	// nothing, in one transaction: stock never goes below zero, whatever
	// runs concurrently.
	//
	// It is idempotent per orderID: once the reservation exists, calling
	// again succeeds without reserving anything more (the items of the first
	// call win). Once the order's stock was released (by Release, also a
	// Release that came before any Reserve), it fails with Conflict "stock
	// reservation already released" and reserves nothing, so a retried
	// reservation cannot outlive its cancellation.
	//
	// Short stock is Conflict "insufficient stock" with one field per short
	// item, items[i].quantity "only N left" (i indexes items as given); an
	// unknown product is NotFound with the field items[i].product_id;
	// Invalid for a malformed order id, no items, more than
	// MaxReservationItems, a product listed twice or a quantity outside
	// 1..MaxStock.
	Reserve(ctx context.Context, orderID string, items []StockItem) error

	// Release gives the order's reserved stock back (once: it is
	// idempotent) and leaves a tombstone, so that no later Reserve for the
	// order reserves anything. Releasing an order that never reserved
	// succeeds and leaves the tombstone. Invalid for a malformed order id.
	Release(ctx context.Context, orderID string) error
}

// StockRepository stores reservations. It receives validated input and
// reports failures as *errs.Error.
type StockRepository interface {
	// ProductsByID returns the products with the given ids (canonical,
	// distinct); unknown ids are absent.
	ProductsByID(ctx context.Context, ids []string) ([]Product, error)
	// Reserve applies the reservation contract of Stock.Reserve to items
	// (sorted by product id, distinct) in one transaction. Short or missing
	// products are returned as shortages, with nothing reserved and a nil
	// error; an order already released is a Conflict wrapping
	// ErrReservationReleased.
	Reserve(ctx context.Context, orderID string, items []StockItem) ([]Shortage, error)
	// Release applies the contract of Stock.Release in one transaction.
	Release(ctx context.Context, orderID string) error
}

// ErrReservationReleased is the cause of the Conflict a Reserve for a
// released order returns.
var ErrReservationReleased = errors.New("stock reservation already released")

// NewStock returns the stock API backed by repo.
func NewStock(repo StockRepository) Stock {
	return &stock{repo: repo}
}

type stock struct {
	repo StockRepository
}

func (s *stock) BatchGet(ctx context.Context, ids []string) ([]Product, error) {
	var v validator
	if len(ids) > MaxBatchIDs {
		v.Add("ids", fmt.Sprintf("must list at most %d ids", MaxBatchIDs))
		return nil, v.Err()
	}
	canonical := make([]string, 0, len(ids))
	for i, id := range ids {
		c, err := ParseID(id)
		if err != nil {
			v.Add(fmt.Sprintf("ids[%d]", i), "must be a UUID")
			continue
		}
		if !slices.Contains(canonical, c) {
			canonical = append(canonical, c)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(canonical) == 0 {
		return []Product{}, nil
	}
	return s.repo.ProductsByID(ctx, canonical)
}

func (s *stock) Reserve(ctx context.Context, orderID string, items []StockItem) error {
	orderID, sorted, index, err := validateReservation(orderID, items)
	if err != nil {
		return err
	}
	shortages, err := s.repo.Reserve(ctx, orderID, sorted)
	if err != nil {
		return err
	}
	if len(shortages) == 0 {
		return nil
	}
	var missing, short []errs.FieldError
	for _, sh := range shortages {
		i := index[sh.ProductID]
		if sh.Missing {
			missing = append(missing, errs.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Message: "no such product"})
			continue
		}
		short = append(short, errs.FieldError{Field: fmt.Sprintf("items[%d].quantity", i), Message: fmt.Sprintf("only %d left", sh.Available)})
	}
	if len(missing) > 0 {
		return &errs.Error{Kind: errs.NotFound, Message: "product not found", Fields: missing}
	}
	return &errs.Error{Kind: errs.Conflict, Message: "insufficient stock", Fields: short}
}

func (s *stock) Release(ctx context.Context, orderID string) error {
	var v validator
	id := v.UUID("order_id", orderID)
	if err := v.Err(); err != nil {
		return err
	}
	return s.repo.Release(ctx, id)
}

// validateReservation checks a reservation and returns the canonical order
// id, the items sorted by product id (the order in which rows are locked, so
// that concurrent reservations cannot deadlock) and each product's index in
// the request, for error fields.
func validateReservation(orderID string, items []StockItem) (string, []StockItem, map[string]int, error) {
	var v validator
	id := v.UUID("order_id", orderID)
	switch {
	case len(items) == 0:
		v.Add("items", "must list at least one product")
	case len(items) > MaxReservationItems:
		v.Add("items", fmt.Sprintf("must list at most %d products", MaxReservationItems))
	}
	if err := v.Err(); err != nil {
		return "", nil, nil, err
	}
	index := make(map[string]int, len(items))
	sorted := make([]StockItem, 0, len(items))
	for i, it := range items {
		pid, err := ParseID(it.ProductID)
		if err != nil {
			v.Add(fmt.Sprintf("items[%d].product_id", i), "must be a UUID")
			continue
		}
		if _, dup := index[pid]; dup {
			v.Add(fmt.Sprintf("items[%d].product_id", i), "is listed twice")
			continue
		}
		if it.Quantity < 1 || it.Quantity > MaxStock {
			v.Add(fmt.Sprintf("items[%d].quantity", i), "must be between 1 and 1000000000")
			continue
		}
		index[pid] = i
		sorted = append(sorted, StockItem{ProductID: pid, Quantity: it.Quantity})
	}
	if err := v.Err(); err != nil {
		return "", nil, nil, err
	}
	slices.SortFunc(sorted, func(a, b StockItem) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return id, sorted, index, nil
}

// StockLoggingMiddleware logs every reservation and release: the order id,
// the number of items, the calling service, how long it took and, on
// failure, the error kind. It is the audit trail of stock movements that
// are not admin edits. Batch reads are left to the endpoint logging.
func StockLoggingMiddleware(logger log.Logger) func(Stock) Stock {
	return func(next Stock) Stock {
		return &loggingStock{next: next, audit: logging.NewAudit(logger, "stock changed", "stock change")}
	}
}

type loggingStock struct {
	next  Stock
	audit logging.Audit
}

func (s *loggingStock) BatchGet(ctx context.Context, ids []string) ([]Product, error) {
	return s.next.BatchGet(ctx, ids)
}

func (s *loggingStock) Reserve(ctx context.Context, orderID string, items []StockItem) (err error) {
	defer func(begin time.Time) {
		s.log(ctx, "reserve", orderID, err, begin, "items", len(items))
	}(time.Now())
	return s.next.Reserve(ctx, orderID, items)
}

func (s *loggingStock) Release(ctx context.Context, orderID string) (err error) {
	defer func(begin time.Time) {
		s.log(ctx, "release", orderID, err, begin)
	}(time.Now())
	return s.next.Release(ctx, orderID)
}

func (s *loggingStock) log(ctx context.Context, op, orderID string, err error, begin time.Time, kvs ...any) {
	caller, _ := auth.FromContext(ctx)
	s.audit.Log(ctx, op, err, begin, append([]any{"order_id", validate.LogID(orderID), "by", caller.UserID}, kvs...)...)
}
