package product

import (
	"context"

	"github.com/kitshop/kitshop/kit/endpointx"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

// Method names, as in the gRPC service; endpoint middleware (logging, rate
// limits) is keyed by them, so HTTP and gRPC calls log the same method.
const (
	MethodList   = "ListProducts"
	MethodGet    = "GetProduct"
	MethodCreate = "CreateProduct"
	MethodUpdate = "UpdateProduct"
	MethodDelete = "DeleteProduct"
)

// Endpoints holds one go-kit endpoint per Service method; both transports
// serve the same set, so middleware applied here applies to both.
//
// Endpoints return the service's errors as the endpoint error (not inside the
// response), so that endpoint middleware sees them: logging records the kind,
// and a breaker can tell business errors from failures.
type Endpoints struct {
	List   endpoint.Endpoint // ListRequest -> ListResponse
	Get    endpoint.Endpoint // GetRequest -> GetResponse
	Create endpoint.Endpoint // CreateRequest -> CreateResponse
	Update endpoint.Endpoint // UpdateRequest -> UpdateResponse
	Delete endpoint.Endpoint // DeleteRequest -> DeleteResponse
}

// NewEndpoints returns the endpoints of svc with the catalog's access rules
// and no other middleware. Reading is open to everyone: List and Get look at
// no token. Create, Update and Delete are for admins only: they are built
// with auth.Authenticate(v) and auth.Admin(), so a call without a valid
// access token (put on the context by the transports) is
// errs.Unauthenticated and a caller without the admin role errs.Forbidden,
// before the service is reached.
//
// The rules live here, not only in the gateway, because each service is
// reachable on its own ports (and over gRPC, which the gateway never sees):
// the gateway's check saves work, this one is what protects the catalog.
func NewEndpoints(svc Service, v *auth.Verifier) Endpoints {
	adminOnly := endpoint.Chain(auth.Authenticate(v), auth.Admin())
	return Endpoints{
		List: endpointx.Typed(MethodList, func(ctx context.Context, req ListRequest) (ListResponse, error) {
			page, err := svc.List(ctx, ListQuery(req))
			return ListResponse{Products: page.Products, NextPageToken: page.NextPageToken}, err
		}),
		Get: endpointx.Typed(MethodGet, func(ctx context.Context, req GetRequest) (GetResponse, error) {
			p, err := svc.Get(ctx, req.ID)
			return GetResponse{Product: p}, err
		}),
		Create: adminOnly(endpointx.Typed(MethodCreate, func(ctx context.Context, req CreateRequest) (CreateResponse, error) {
			p, err := svc.Create(ctx, req.Product)
			return CreateResponse{Product: p}, err
		})),
		Update: adminOnly(endpointx.Typed(MethodUpdate, func(ctx context.Context, req UpdateRequest) (UpdateResponse, error) {
			p, err := svc.Update(ctx, req.ID, req.Patch)
			return UpdateResponse{Product: p}, err
		})),
		Delete: adminOnly(endpointx.Typed(MethodDelete, func(ctx context.Context, req DeleteRequest) (DeleteResponse, error) {
			return DeleteResponse{}, svc.Delete(ctx, req.ID)
		})),
	}
}

// Wrap returns the endpoints with middleware applied, chosen per method by
// mw (called once per method with its Method* name). Use it to add logging,
// rate limiting or timeouts with the method name baked in:
//
//	eps = eps.Wrap(func(method string) endpoint.Middleware {
//		return endpoint.Chain(logging.EndpointMiddleware(logger, method), middleware.Timeout(5*time.Second))
//	})
//
// The first middleware in a chain is the outermost.
func (e Endpoints) Wrap(mw func(method string) endpoint.Middleware) Endpoints {
	return Endpoints{
		List:   mw(MethodList)(e.List),
		Get:    mw(MethodGet)(e.Get),
		Create: mw(MethodCreate)(e.Create),
		Update: mw(MethodUpdate)(e.Update),
		Delete: mw(MethodDelete)(e.Delete),
	}
}

// ListRequest is the request of the List endpoint; see ListQuery.
type ListRequest struct {
	Limit     int
	PageToken string
	Q         string
}

// ListResponse is one page of products; NextPageToken is empty on the last
// page.
type ListResponse struct {
	Products      []Product `json:"products"`
	NextPageToken string    `json:"next_page_token,omitempty"`
}

// GetRequest is the request of the Get endpoint.
type GetRequest struct {
	ID string
}

// GetResponse carries the product found.
type GetResponse struct {
	Product Product
}

// CreateRequest is the request of the Create endpoint.
type CreateRequest struct {
	Product NewProduct
}

// CreateResponse carries the product created.
type CreateResponse struct {
	Product Product
}

// UpdateRequest is the request of the Update endpoint.
type UpdateRequest struct {
	ID    string
	Patch Patch
}

// UpdateResponse carries the product as updated.
type UpdateResponse struct {
	Product Product
}

// DeleteRequest is the request of the Delete endpoint.
type DeleteRequest struct {
	ID string
}

// DeleteResponse is the empty response of the Delete endpoint.
type DeleteResponse struct{}

// Method names of the stock API (gRPC only).
const (
	MethodBatchGet = "BatchGetProducts"
	MethodReserve  = "ReserveStock"
	MethodRelease  = "ReleaseStock"
)

// StockEndpoints holds one go-kit endpoint per Stock method.
type StockEndpoints struct {
	BatchGet endpoint.Endpoint // BatchGetRequest -> BatchGetResponse
	Reserve  endpoint.Endpoint // ReserveRequest -> ReserveResponse
	Release  endpoint.Endpoint // ReleaseRequest -> ReleaseResponse
}

// NewStockEndpoints returns the endpoints of s, for services and admins
// only: each is built with auth.Authenticate(v) and ServiceOrAdmin, so a
// call without a valid token is errs.Unauthenticated and a customer's
// errs.Forbidden, before s is reached. Reserving and releasing stock moves
// goods; a shopper's token must never be enough.
func NewStockEndpoints(s Stock, v *auth.Verifier) StockEndpoints {
	allowed := endpoint.Chain(auth.Authenticate(v), ServiceOrAdmin())
	return StockEndpoints{
		BatchGet: allowed(endpointx.Typed(MethodBatchGet, func(ctx context.Context, req BatchGetRequest) (BatchGetResponse, error) {
			products, err := s.BatchGet(ctx, req.IDs)
			return BatchGetResponse{Products: products}, err
		})),
		Reserve: allowed(endpointx.Typed(MethodReserve, func(ctx context.Context, req ReserveRequest) (ReserveResponse, error) {
			return ReserveResponse{}, s.Reserve(ctx, req.OrderID, req.Items)
		})),
		Release: allowed(endpointx.Typed(MethodRelease, func(ctx context.Context, req ReleaseRequest) (ReleaseResponse, error) {
			return ReleaseResponse{}, s.Release(ctx, req.OrderID)
		})),
	}
}

// Wrap returns the endpoints with middleware applied, chosen per method by
// mw, outside the access checks (see Endpoints.Wrap).
func (e StockEndpoints) Wrap(mw func(method string) endpoint.Middleware) StockEndpoints {
	return StockEndpoints{
		BatchGet: mw(MethodBatchGet)(e.BatchGet),
		Reserve:  mw(MethodReserve)(e.Reserve),
		Release:  mw(MethodRelease)(e.Release),
	}
}

// ServiceOrAdmin returns endpoint middleware that admits only callers with
// the service or the admin role. It goes inside auth.Authenticate.
func ServiceOrAdmin() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			id, ok := auth.FromContext(ctx)
			switch {
			case !ok:
				return nil, errs.New(errs.Unauthenticated, "authentication required")
			case !id.HasRole(auth.RoleService) && !id.HasRole(auth.RoleAdmin):
				return nil, errs.New(errs.Forbidden, "permission denied")
			}
			return next(ctx, req)
		}
	}
}

// BatchGetRequest is the request of the BatchGet endpoint.
type BatchGetRequest struct {
	IDs []string
}

// BatchGetResponse carries the products found.
type BatchGetResponse struct {
	Products []Product
}

// ReserveRequest is the request of the Reserve endpoint.
type ReserveRequest struct {
	OrderID string
	Items   []StockItem
}

// ReserveResponse is the empty response of the Reserve endpoint.
type ReserveResponse struct{}

// ReleaseRequest is the request of the Release endpoint.
type ReleaseRequest struct {
	OrderID string
}

// ReleaseResponse is the empty response of the Release endpoint.
type ReleaseResponse struct{}
