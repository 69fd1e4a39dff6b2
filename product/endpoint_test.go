package product_test

import (
	"context"
	"slices"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/product"
)

func TestEndpointsWrap(t *testing.T) {
	eps := product.NewEndpoints(product.NewService(newMemRepo()))
	var wrapped, called []string
	eps = eps.Wrap(func(method string) endpoint.Middleware {
		wrapped = append(wrapped, method)
		return func(next endpoint.Endpoint) endpoint.Endpoint {
			return func(ctx context.Context, req any) (any, error) {
				called = append(called, method)
				return next(ctx, req)
			}
		}
	})
	want := []string{product.MethodList, product.MethodGet, product.MethodCreate, product.MethodUpdate, product.MethodDelete}
	if !slices.Equal(wrapped, want) {
		t.Errorf("middleware built for %v, want %v", wrapped, want)
	}

	ctx := context.Background()
	resp, err := eps.Create(ctx, product.CreateRequest{Product: validNew()})
	if err != nil {
		t.Fatal(err)
	}
	created := resp.(product.CreateResponse).Product
	if _, err := eps.Get(ctx, product.GetRequest{ID: created.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := eps.Update(ctx, product.UpdateRequest{ID: created.ID, Patch: product.Patch{Stock: ptr[int64](1)}}); err != nil {
		t.Fatal(err)
	}
	resp, err = eps.List(ctx, product.ListRequest{})
	if err != nil || len(resp.(product.ListResponse).Products) != 1 {
		t.Fatalf("List = %v, %v", resp, err)
	}
	if _, err := eps.Delete(ctx, product.DeleteRequest{ID: created.ID}); err != nil {
		t.Fatal(err)
	}
	if want := []string{product.MethodCreate, product.MethodGet, product.MethodUpdate, product.MethodList, product.MethodDelete}; !slices.Equal(called, want) {
		t.Errorf("middleware called for %v, want %v", called, want)
	}
}

// Service errors are endpoint errors, not part of the response, so endpoint
// middleware (logging, breakers) sees them.
func TestEndpointErrors(t *testing.T) {
	eps := product.NewEndpoints(product.NewService(newMemRepo()))
	resp, err := eps.Get(context.Background(), product.GetRequest{ID: "bad"})
	if !errs.Is(err, errs.Invalid) || resp != nil {
		t.Errorf("Get(bad id) = %v, %v; want nil and an invalid error", resp, err)
	}
	// A request of the wrong type is a wiring bug: Internal, not a panic.
	resp, err = eps.Get(context.Background(), product.DeleteRequest{ID: "x"})
	if !errs.Is(err, errs.Internal) || resp != nil {
		t.Errorf("Get(wrong type) = %v, %v; want nil and an internal error", resp, err)
	}
}
