package payment

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/endpointx"
)

// Method names, as in the gRPC service for the API and after the events
// for the handlers; endpoint middleware (logging, metrics) is keyed by
// them.
const (
	MethodList           = "ListPayments"
	MethodOrderConfirmed = "OrderConfirmed"
	MethodOrderCancelled = "OrderCancelled"
)

// Endpoints are the endpoints of the API, which both transports (HTTP and
// gRPC) serve, so middleware applied here applies to both.
//
// Endpoints return the service's errors as the endpoint error (not inside
// the response), so that endpoint middleware sees them.
type Endpoints struct {
	List endpoint.Endpoint // ListRequest -> ListResponse
}

// NewEndpoints returns the API's endpoints, built with auth.Authenticate(v):
// they need a valid access token on the context (put there by the
// transports). Who may see which payment is the service's rule (see
// Service.List). No other middleware is applied.
func NewEndpoints(svc Service, v *auth.Verifier) Endpoints {
	return Endpoints{
		List: auth.Authenticate(v)(endpointx.Typed(MethodList, func(ctx context.Context, req ListRequest) (ListResponse, error) {
			ps, err := svc.List(ctx, req.OrderID)
			return ListResponse{Payments: ps}, err
		})),
	}
}

// Wrap returns the endpoints with middleware applied, chosen per method by
// mw, outside the authentication: calls refused for a missing token are
// logged and counted too.
func (e Endpoints) Wrap(mw func(method string) endpoint.Middleware) Endpoints {
	return Endpoints{List: mw(MethodList)(e.List)}
}

// ListRequest is the request of the List endpoint.
type ListRequest struct {
	OrderID string
}

// ListResponse carries the payments of an order.
type ListResponse struct {
	Payments []Payment `json:"payments"`
}

// EventEndpoints are the handlers of the order events, which the event
// transport (NewSubscriber) runs. They take no token: the broker is the
// only way in, and its events come from the order service.
type EventEndpoints struct {
	OrderConfirmed endpoint.Endpoint // OrderEvent -> Result
	OrderCancelled endpoint.Endpoint // OrderEvent -> Result
}

// NewEventEndpoints returns the event handlers of svc, without middleware.
func NewEventEndpoints(svc Service) EventEndpoints {
	return EventEndpoints{
		OrderConfirmed: endpointx.Typed(MethodOrderConfirmed, svc.OrderConfirmed),
		OrderCancelled: endpointx.Typed(MethodOrderCancelled, svc.OrderCancelled),
	}
}

// Wrap returns the handlers with middleware applied, chosen per method by
// mw. Keep rate limits off them: a rejected event is acknowledged, and a
// payment would be lost.
func (e EventEndpoints) Wrap(mw func(method string) endpoint.Middleware) EventEndpoints {
	return EventEndpoints{
		OrderConfirmed: mw(MethodOrderConfirmed)(e.OrderConfirmed),
		OrderCancelled: mw(MethodOrderCancelled)(e.OrderCancelled),
	}
}
