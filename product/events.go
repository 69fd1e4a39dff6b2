package product

import (
	"context"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/outbox"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// Source names the catalog in its events' envelopes.
const Source = "product"

// EventStream is the stream the catalog publishes its events on
// (kit/app's Publish creates it).
var EventStream = events.StreamConfig{Name: productv1.Stream, Subjects: []string{productv1.StreamSubjects}}

// changed is a product.changed event to write: what happened to which
// product.
type changed struct {
	change  productv1.ProductChanged_Change
	product Product
}

// changedEvents returns the outbox events of changes. Each is the product
// as the change left it, except for a deletion, which only names the
// product. Their aggregate is "product/<id>", so the events of one product
// are published in the order they committed: every write locks the
// product's row before it adds the event.
func changedEvents(ctx context.Context, changes []changed) ([]outbox.Event, error) {
	evs := make([]outbox.Event, len(changes))
	for i, c := range changes {
		data := &productv1.ProductChanged{ProductId: c.product.ID, Change: c.change}
		if c.change != productv1.ProductChanged_CHANGE_DELETED {
			data.Product = ToProto(c.product)
		}
		var err error
		if evs[i], err = events.New(ctx, Source, productv1.SubjectChanged, "product/"+c.product.ID, data); err != nil {
			return nil, errs.Wrap(err, errs.Internal, "building a product event") // a bug, not the database
		}
	}
	return evs, nil
}
