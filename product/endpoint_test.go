package product_test

import (
	"context"
	"slices"
	"testing"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/product"
)

func TestEndpointsWrap(t *testing.T) {
	who := newCallers(t)
	eps := product.NewEndpoints(product.NewService(newMemRepo()), who.signer.Verifier())
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

	ctx := auth.NewTokenContext(context.Background(), who.admin)
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
	eps := product.NewEndpoints(product.NewService(newMemRepo()), newCallers(t).signer.Verifier())
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

// TestEndpointsAuthorization checks the catalog's rules at the endpoints,
// where both transports meet them: anyone reads, only admins write, and no
// forged token passes for one.
func TestEndpointsAuthorization(t *testing.T) {
	who := newCallers(t)
	repo := newMemRepo()
	eps := product.NewEndpoints(product.NewService(repo), who.signer.Verifier())
	admin := auth.NewTokenContext(context.Background(), who.admin)
	resp, err := eps.Create(admin, product.CreateRequest{Product: validNew()})
	if err != nil {
		t.Fatalf("admin Create: %v", err)
	}
	existing := resp.(product.CreateResponse).Product

	type call struct {
		name  string
		write bool
		call  func(ctx context.Context) error
	}
	calls := []call{
		{"List", false, func(ctx context.Context) error {
			_, err := eps.List(ctx, product.ListRequest{})
			return err
		}},
		{"Get", false, func(ctx context.Context) error {
			_, err := eps.Get(ctx, product.GetRequest{ID: existing.ID})
			return err
		}},
		{"Create", true, func(ctx context.Context) error {
			np := validNew()
			np.SKU = "AUTH-" + uuid.NewString()[:8]
			_, err := eps.Create(ctx, product.CreateRequest{Product: np})
			return err
		}},
		{"Update", true, func(ctx context.Context) error {
			_, err := eps.Update(ctx, product.UpdateRequest{ID: existing.ID, Patch: product.Patch{Stock: ptr[int64](1)}})
			return err
		}},
		{"Delete", true, func(ctx context.Context) error {
			_, err := eps.Delete(ctx, product.DeleteRequest{ID: existing.ID})
			return err
		}},
	}

	type caller struct {
		name      string
		ctx       context.Context
		wantWrite errs.Kind // the kind of a write's error; 0 for success
	}
	cases := []caller{
		{"anonymous", context.Background(), errs.Unauthenticated},
		{"customer", auth.NewTokenContext(context.Background(), who.customer), errs.Forbidden},
	}
	for _, f := range forgedTokens(t, who.signer) {
		cases = append(cases, caller{"forged: " + f.name, auth.NewTokenContext(context.Background(), f.token), errs.Unauthenticated})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := repo.callCount()
			for _, cl := range calls {
				err := cl.call(c.ctx)
				switch {
				case !cl.write && err != nil:
					t.Errorf("%s: %v, want reading to be open to everyone", cl.name, err)
				case cl.write && errs.KindOf(err) != c.wantWrite:
					t.Errorf("%s: error %v (kind %v), want kind %v", cl.name, err, errs.KindOf(err), c.wantWrite)
				}
			}
			// Two reads reach the repository; no refused write may.
			if got := repo.callCount() - before; got != 2 {
				t.Errorf("repository saw %d calls, want 2 (the reads only)", got)
			}
		})
	}

	// The admin may do everything; Delete last, as it removes the product.
	for _, cl := range calls {
		if err := cl.call(admin); err != nil {
			t.Errorf("admin %s: %v", cl.name, err)
		}
	}
}
