package notification

import (
	"context"
	"net/http"
	"time"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
)

// APIPrefix is the path prefix the service announces in its Consul
// registration (see cmd/notification): the gateway forwards every request
// under it here, with the path unchanged, so the routes are the same behind
// the gateway and on the service's own port. None of them is public.
const APIPrefix = "/api/v1/notifications"

// HTTP routes of the service.
const (
	CollectionPath = APIPrefix
	ReadPath       = APIPrefix + "/{id}/read"
	ReadAllPath    = APIPrefix + "/read-all"
)

// NewHTTPHandler serves the endpoints as a JSON API; every route needs the
// access token of a customer or an admin (Authorization: Bearer …), and
// works on the caller's own notifications:
//
//	GET  /api/v1/notifications?limit=&page_token=&unread=true
//	     200 {"notifications":[…],"unread_count":n,"next_page_token":"…"} newest first
//	POST /api/v1/notifications/{id}/read   200 the notification, read (again: unchanged)
//	POST /api/v1/notifications/read-all    200 {"marked_read":n}
//
// A notification is {id, kind, title, body, order_id, read, read_at,
// created_at}; order_id and read_at are null when they do not apply.
// Without a valid token the answer is 401 with a WWW-Authenticate
// challenge, for a service account's 403; another user's notification is
// 404, like an unknown one. Every error is an application/problem+json
// document (kit/httpx).
func NewHTTPHandler(eps Endpoints, logger log.Logger) http.Handler {
	opts := append(httpx.ServerOptions(logger), httptransport.ServerBefore(auth.HTTPToContext()))
	r := httpx.NewRouter(logger)
	r.Handle(http.MethodGet, CollectionPath, httptransport.NewServer(eps.List, decodeHTTPListRequest, encodeHTTPListResponse, opts...))
	r.Handle(http.MethodPost, ReadPath, httptransport.NewServer(eps.MarkRead, decodeHTTPMarkReadRequest, encodeHTTPMarkReadResponse, opts...))
	r.Handle(http.MethodPost, ReadAllPath, httptransport.NewServer(eps.MarkAllRead, decodeHTTPMarkAllReadRequest, httpx.EncodeJSON, opts...))
	return r
}

func decodeHTTPListRequest(_ context.Context, r *http.Request) (any, error) {
	p, err := httpx.QueryParams(r)
	if err != nil {
		return nil, err
	}
	req := ListRequest{Limit: p.Limit("limit"), PageToken: p.String("page_token"), UnreadOnly: p.Bool("unread")}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return req, nil
}

func decodeHTTPMarkReadRequest(_ context.Context, r *http.Request) (any, error) {
	return MarkReadRequest{ID: r.PathValue("id")}, nil
}

func decodeHTTPMarkAllReadRequest(context.Context, *http.Request) (any, error) {
	return MarkAllReadRequest{}, nil
}

func encodeHTTPListResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	page := resp.(ListResponse)
	out := listJSON{
		Notifications: make([]NotificationJSON, 0, len(page.Notifications)),
		UnreadCount:   page.UnreadCount,
		NextPageToken: page.NextPageToken,
	}
	for _, n := range page.Notifications {
		out.Notifications = append(out.Notifications, ToJSON(n))
	}
	return httpx.EncodeJSON(ctx, w, out)
}

func encodeHTTPMarkReadResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, ToJSON(resp.(MarkReadResponse).Notification))
}

// listJSON is the body of GET /api/v1/notifications.
type listJSON struct {
	Notifications []NotificationJSON `json:"notifications"`
	UnreadCount   int64              `json:"unread_count"`
	NextPageToken string             `json:"next_page_token,omitempty"`
}

// NotificationJSON is a notification as the HTTP API shows it: order_id
// and read_at are null when they do not apply.
type NotificationJSON struct {
	ID        string     `json:"id"`
	Kind      Kind       `json:"kind"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	OrderID   *string    `json:"order_id"`
	Read      bool       `json:"read"`
	ReadAt    *time.Time `json:"read_at"`
	CreatedAt time.Time  `json:"created_at"`
}

// ToJSON returns n as the HTTP API shows it.
func ToJSON(n Notification) NotificationJSON {
	out := NotificationJSON{ID: n.ID, Kind: n.Kind, Title: n.Title, Body: n.Body, Read: n.Read(), CreatedAt: n.CreatedAt}
	if n.OrderID != "" {
		out.OrderID = &n.OrderID
	}
	if n.Read() {
		out.ReadAt = &n.ReadAt
	}
	return out
}
