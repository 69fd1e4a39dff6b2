package notification

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/endpointx"
)

// Method names, as in the gRPC service; endpoint middleware (logging,
// metrics, rate limits) is keyed by them, so HTTP and gRPC calls are logged
// and counted under the same method. MethodHandleEvent is the events'
// endpoint (NewEventEndpoint), counted apart.
const (
	MethodList        = "ListNotifications"
	MethodMarkRead    = "MarkRead"
	MethodMarkAllRead = "MarkAllRead"
	MethodHandleEvent = "HandleEvent"
)

// Endpoints holds one go-kit endpoint per Service method; both transports
// serve the same set, so middleware applied here applies to both.
//
// Endpoints return the service's errors as the endpoint error (not inside
// the response), so that endpoint middleware sees them.
type Endpoints struct {
	List        endpoint.Endpoint // ListRequest -> ListResponse
	MarkRead    endpoint.Endpoint // MarkReadRequest -> MarkReadResponse
	MarkAllRead endpoint.Endpoint // MarkAllReadRequest -> MarkAllReadResponse
}

// NewEndpoints returns the endpoints of svc, each built with
// auth.Authenticate(v) and auth.AnyRole(customer, admin): a call without a
// valid access token (put on the context by the transports) is
// errs.Unauthenticated, one with a service account's token errs.Forbidden,
// before the service is reached. The service then keeps every user to their
// own notifications.
//
// The rules live here, not only in the gateway, because each service is
// reachable on its own ports (and over gRPC, which the gateway never sees).
func NewEndpoints(svc Service, v *auth.Verifier) Endpoints {
	users := endpoint.Chain(auth.Authenticate(v), auth.AnyRole(auth.RoleCustomer, auth.RoleAdmin))
	return Endpoints{
		List: users(endpointx.Typed(MethodList, func(ctx context.Context, req ListRequest) (ListResponse, error) {
			page, err := svc.List(ctx, ListQuery(req))
			return ListResponse(page), err
		})),
		MarkRead: users(endpointx.Typed(MethodMarkRead, func(ctx context.Context, req MarkReadRequest) (MarkReadResponse, error) {
			n, err := svc.MarkRead(ctx, req.ID)
			return MarkReadResponse{Notification: n}, err
		})),
		MarkAllRead: users(endpointx.Typed(MethodMarkAllRead, func(ctx context.Context, _ MarkAllReadRequest) (MarkAllReadResponse, error) {
			n, err := svc.MarkAllRead(ctx)
			return MarkAllReadResponse{MarkedRead: n}, err
		})),
	}
}

// Wrap returns the endpoints with middleware applied, chosen per method by
// mw (called once per method with its Method* name), outside the access
// rules: a logging middleware also logs calls refused for a missing token,
// and a rate limit also protects the signature checks.
func (e Endpoints) Wrap(mw func(method string) endpoint.Middleware) Endpoints {
	return Endpoints{
		List:        mw(MethodList)(e.List),
		MarkRead:    mw(MethodMarkRead)(e.MarkRead),
		MarkAllRead: mw(MethodMarkAllRead)(e.MarkAllRead),
	}
}

// ListRequest is the request of the List endpoint; see ListQuery.
type ListRequest struct {
	Limit      int
	PageToken  string
	UnreadOnly bool
}

// ListResponse is one page of notifications; see Page.
type ListResponse struct {
	Notifications []Notification
	UnreadCount   int64
	NextPageToken string
}

// MarkReadRequest is the request of the MarkRead endpoint.
type MarkReadRequest struct {
	ID string
}

// MarkReadResponse carries the notification marked read.
type MarkReadResponse struct {
	Notification Notification
}

// MarkAllReadRequest is the request of the MarkAllRead endpoint.
type MarkAllReadRequest struct{}

// MarkAllReadResponse says how many notifications were marked read.
type MarkAllReadResponse struct {
	MarkedRead int64 `json:"marked_read"`
}
