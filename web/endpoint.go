package web

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/endpointx"
)

// Method names, as in the gRPC service; endpoint middleware (logging,
// metrics, rate limits) is keyed by them, so HTTP and gRPC calls are logged
// and counted under the same method.
const (
	MethodList   = "ListItems"
	MethodGet    = "GetItem"
	MethodCreate = "CreateItem"
)

// Endpoints holds one go-kit endpoint per Service method; both transports
// serve the same set, so middleware applied here applies to both.
//
// Endpoints return the service's errors as the endpoint error (not inside
// the response), so that endpoint middleware sees them: logging records the
// kind, and a breaker can tell business errors from failures.
type Endpoints struct {
	List   endpoint.Endpoint // ListRequest -> ListResponse
	Get    endpoint.Endpoint // GetRequest -> GetResponse
	Create endpoint.Endpoint // CreateRequest -> CreateResponse
}

// NewEndpoints returns the endpoints of svc with the service's access rules
// and no other middleware. Reading is open to everyone: List and Get look at
// no token. Create is for admins only: it is built with auth.Authenticate(v)
// and auth.Admin(), so a call without a valid access token (put on the
// context by the transports) is errs.Unauthenticated and a caller without
// the admin role errs.Forbidden, before the service is reached.
//
// The rules live here, not only in the gateway, because each service is
// reachable on its own ports (and over gRPC, which the gateway never sees):
// the gateway's check saves work, this one is what protects the data.
func NewEndpoints(svc Service, v *auth.Verifier) Endpoints {
	adminOnly := endpoint.Chain(auth.Authenticate(v), auth.Admin())
	return Endpoints{
		List: endpointx.Typed(MethodList, func(ctx context.Context, req ListRequest) (ListResponse, error) {
			page, err := svc.List(ctx, ListQuery(req))
			return ListResponse{Items: page.Items, NextPageToken: page.NextPageToken}, err
		}),
		Get: endpointx.Typed(MethodGet, func(ctx context.Context, req GetRequest) (GetResponse, error) {
			it, err := svc.Get(ctx, req.ID)
			return GetResponse{Item: it}, err
		}),
		Create: adminOnly(endpointx.Typed(MethodCreate, func(ctx context.Context, req CreateRequest) (CreateResponse, error) {
			it, err := svc.Create(ctx, req.Item)
			return CreateResponse{Item: it}, err
		})),
	}
}

// Wrap returns the endpoints with middleware applied, chosen per method by
// mw (called once per method with its Method* name). Use it to add logging,
// metrics, rate limiting or timeouts with the method name baked in:
//
//	eps = eps.Wrap(func(method string) endpoint.Middleware {
//		return endpoint.Chain(logging.EndpointMiddleware(logger, method), middleware.Timeout(5*time.Second))
//	})
//
// The first middleware in a chain is the outermost. The access rules of
// NewEndpoints stay innermost, so every call is logged and counted, denied
// ones included.
func (e Endpoints) Wrap(mw func(method string) endpoint.Middleware) Endpoints {
	return Endpoints{
		List:   mw(MethodList)(e.List),
		Get:    mw(MethodGet)(e.Get),
		Create: mw(MethodCreate)(e.Create),
	}
}

// ListRequest is the request of the List endpoint; see ListQuery.
type ListRequest struct {
	Limit     int
	PageToken string
}

// ListResponse is one page of items; NextPageToken is empty on the last
// page.
type ListResponse struct {
	Items         []Item `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// GetRequest is the request of the Get endpoint.
type GetRequest struct {
	ID string
}

// GetResponse carries the item found.
type GetResponse struct {
	Item Item
}

// CreateRequest is the request of the Create endpoint.
type CreateRequest struct {
	Item NewItem
}

// CreateResponse carries the item created.
type CreateResponse struct {
	Item Item
}
