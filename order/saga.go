package order

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/kitshop/kitshop/kit/errs"
)

// saga holds the steps the request path and the recovery loop share.
type saga struct {
	repo    Repository
	catalog Catalog
}

// reserve reserves o's stock and records the outcome: confirmed, rejected
// (the catalog's refusal is returned, as a Conflict) or failed with a
// release owed (the catalog's error is returned, as an Unavailable, and
// releaseOwed is true: the caller should release now if it can). When
// another actor moved the order first (the recovery loop confirmed it, its
// owner cancelled it), the order as it now is is returned. When the
// outcome cannot be recorded (the database failed), the order stays pending
// for the recovery loop and the database's error is returned.
//
// With leavePending (the recovery loop), a catalog failure changes nothing:
// the order stays pending for the next round.
func (s *saga) reserve(ctx context.Context, o Order, leavePending bool) (cur Order, releaseOwed bool, err error) {
	stock := StockItems(o.Items)
	rerr := s.catalog.Reserve(ctx, o.ID, stock)
	switch {
	case rerr == nil:
		cur, _, err := s.repo.Transition(ctx, o.ID, []Status{StatusPending}, Transition{To: StatusConfirmed})
		return cur, false, err

	case isRejection(rerr):
		rej := rejectionOf(rerr, stock, o.Items)
		cur, ok, err := s.repo.Transition(ctx, o.ID, []Status{StatusPending},
			Transition{To: StatusRejected, Rejection: errs.FieldsOf(rej)})
		switch {
		case err != nil:
			return Order{}, false, err
		case !ok:
			return cur, false, nil
		}
		return Order{}, false, rej

	case leavePending:
		return Order{}, false, rerr

	default:
		// The catalog failed: the reservation may or may not have been
		// made, so a release is owed. The key is given up so that the
		// client's retry starts afresh.
		cur, ok, err := s.repo.Transition(ctx, o.ID, []Status{StatusPending},
			Transition{To: StatusFailed, ReleasePending: true, DropIdempotencyKey: true})
		switch {
		case err != nil:
			return Order{}, false, err
		case !ok:
			return cur, false, nil
		}
		if errs.Is(rerr, errs.Unavailable) {
			return Order{}, true, rerr
		}
		return Order{}, true, errs.Wrap(rerr, errs.Unavailable, "catalog unavailable")
	}
}

// release gives an order's stock back and clears the flag that said it was
// owed.
func (s *saga) release(ctx context.Context, id string) error {
	if err := s.catalog.Release(ctx, id); err != nil {
		return err
	}
	return s.repo.ClearReleasePending(ctx, id)
}

// isRejection reports whether the catalog refused a reservation for a
// reason of the order's own (short stock, a product gone): nothing was
// reserved and retrying will not help. Other business errors (our service
// token refused, say) are failures of ours.
func isRejection(err error) bool {
	switch errs.KindOf(err) {
	case errs.Conflict, errs.NotFound, errs.Invalid:
		return true
	}
	return false
}

// rejectionOf turns the catalog's refusal into the client's Conflict error.
// The catalog names items by their index in the reservation (sorted by
// product id); the client knows them by their line in the order, so
// "items[i]" is renumbered.
func rejectionOf(err error, reserved []StockItem, lines []Item) error {
	line := make(map[string]int, len(lines))
	for i, it := range lines {
		line[it.ProductID] = i
	}
	var fields []errs.FieldError
	for _, f := range errs.FieldsOf(err) {
		var (
			i    int
			rest string
		)
		if n, _ := fmt.Sscanf(f.Field, "items[%d]%s", &i, &rest); n >= 1 && i >= 0 && i < len(reserved) {
			f.Field = fmt.Sprintf("items[%d]%s", line[reserved[i].ProductID], rest)
		}
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		fields = []errs.FieldError{{Field: "items", Message: errs.Message(err)}}
	}
	return rejected(fields)
}

// rejected is the error of a rejected order.
func rejected(fields []errs.FieldError) error {
	return &errs.Error{Kind: errs.Conflict, Message: "insufficient stock", Fields: fields}
}

// StockItems returns the reservation request for items, sorted by product
// id.
func StockItems(items []Item) []StockItem {
	out := make([]StockItem, len(items))
	for i, it := range items {
		out[i] = StockItem{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	slices.SortFunc(out, func(a, b StockItem) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return out
}
