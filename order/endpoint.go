package order

import (
	"context"

	"github.com/kitshop/kitshop/kit/endpointx"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
)

// Method names, as in the gRPC service; endpoint middleware (logging, rate
// limits) is keyed by them, so HTTP and gRPC calls log the same method.
const (
	MethodCreate = "CreateOrder"
	MethodGet    = "GetOrder"
	MethodList   = "ListOrders"
	MethodCancel = "CancelOrder"
)

// Endpoints holds one go-kit endpoint per Service method; both transports
// serve the same set, so middleware applied here applies to both.
//
// Endpoints return the service's errors as the endpoint error (not inside
// the response), so that endpoint middleware sees them.
type Endpoints struct {
	Create endpoint.Endpoint // CreateRequest -> CreateResponse
	Get    endpoint.Endpoint // GetRequest -> OrderResponse
	List   endpoint.Endpoint // ListRequest -> ListResponse
	Cancel endpoint.Endpoint // CancelRequest -> OrderResponse
}

// NewEndpoints returns the endpoints of svc, every one built with
// auth.Authenticate(v): they need a valid access token on the context (put
// there by the transports), and the caller's identity reaches the service.
// No other middleware is applied.
func NewEndpoints(svc Service, v *auth.Verifier) Endpoints {
	authenticated := auth.Authenticate(v)
	return Endpoints{
		Create: authenticated(endpointx.Typed(MethodCreate, func(ctx context.Context, req CreateRequest) (CreateResponse, error) {
			c, err := svc.Create(ctx, req.Order)
			return CreateResponse(c), err
		})),
		Get: authenticated(endpointx.Typed(MethodGet, func(ctx context.Context, req GetRequest) (OrderResponse, error) {
			o, err := svc.Get(ctx, req.ID)
			return OrderResponse{Order: o}, err
		})),
		List: authenticated(endpointx.Typed(MethodList, func(ctx context.Context, req ListRequest) (ListResponse, error) {
			page, err := svc.List(ctx, ListQuery(req))
			return ListResponse{Orders: page.Orders, NextPageToken: page.NextPageToken}, err
		})),
		Cancel: authenticated(endpointx.Typed(MethodCancel, func(ctx context.Context, req CancelRequest) (OrderResponse, error) {
			o, err := svc.Cancel(ctx, req.ID)
			return OrderResponse{Order: o}, err
		})),
	}
}

// Wrap returns the endpoints with middleware applied, chosen per method by
// mw (called once per method with its Method* name), outside the
// authentication: a logging middleware also logs calls refused for a
// missing token, and a rate limit also protects the signature checks.
func (e Endpoints) Wrap(mw func(method string) endpoint.Middleware) Endpoints {
	return Endpoints{
		Create: mw(MethodCreate)(e.Create),
		Get:    mw(MethodGet)(e.Get),
		List:   mw(MethodList)(e.List),
		Cancel: mw(MethodCancel)(e.Cancel),
	}
}

// CreateRequest is the request of the Create endpoint.
type CreateRequest struct {
	Order NewOrder
}

// CreateResponse carries the order placed, or replayed.
type CreateResponse struct {
	Order    Order
	Replayed bool
}

// GetRequest is the request of the Get endpoint.
type GetRequest struct {
	ID string
}

// OrderResponse carries one order.
type OrderResponse struct {
	Order Order
}

// ListRequest is the request of the List endpoint; see ListQuery.
type ListRequest struct {
	Limit     int
	PageToken string
	All       bool
}

// ListResponse is one page of orders; NextPageToken is empty on the last
// page.
type ListResponse struct {
	Orders        []Order `json:"orders"`
	NextPageToken string  `json:"next_page_token,omitempty"`
}

// CancelRequest is the request of the Cancel endpoint.
type CancelRequest struct {
	ID string
}
