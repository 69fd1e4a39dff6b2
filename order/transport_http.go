package order

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// HTTP routes. The gateway forwards /api/v1/orders paths unchanged, so they
// are the same behind it and on the service's own port.
const (
	CollectionPath = "/api/v1/orders"
	ItemPath       = "/api/v1/orders/{id}"
	CancelPath     = "/api/v1/orders/{id}/cancel"
)

// IdempotencyKeyHeader is the request header that makes POST
// /api/v1/orders safe to retry; ReplayedHeader ("true") marks a response
// that replays an earlier request's.
const (
	IdempotencyKeyHeader = "Idempotency-Key"
	ReplayedHeader       = "Idempotent-Replayed"
)

// NewHTTPHandler serves the endpoints as a JSON API; every route needs an
// access token (Authorization: Bearer …):
//
//	POST /api/v1/orders  {"items":[{"product_id":…,"quantity":n},…], "payment_method":"pm_card_visa"}
//	     [Idempotency-Key: k]                   201 order, Location header
//	                                            200 order + Idempotent-Replayed: true for a repeated request
//	GET  /api/v1/orders?limit=&page_token=&all=true   200 {"orders":[…],"next_page_token":"…"} newest first
//	GET  /api/v1/orders/{id}                    200 order
//	POST /api/v1/orders/{id}/cancel             200 order (cancelled)
//
// A rejected order (short stock) is a 409 problem listing the short lines;
// an unreachable catalog is a 503 problem with Retry-After, and nothing was
// ordered. Every error is an application/problem+json document
// (kit/httpx). Request bodies are strict: JSON only, at most 1 MiB, no
// unknown fields, no nulls.
func NewHTTPHandler(eps Endpoints, logger log.Logger) http.Handler {
	opts := append(httpx.ServerOptions(logger), httptransport.ServerBefore(auth.HTTPToContext()))
	r := httpx.NewRouter(logger)
	r.Handle(http.MethodPost, CollectionPath, httptransport.NewServer(eps.Create, decodeHTTPCreateRequest, encodeHTTPCreateResponse, opts...))
	r.Handle(http.MethodGet, CollectionPath, httptransport.NewServer(eps.List, decodeHTTPListRequest, encodeHTTPListResponse, opts...))
	r.Handle(http.MethodGet, ItemPath, httptransport.NewServer(eps.Get, decodeHTTPGetRequest, encodeHTTPOrderResponse, opts...))
	r.Handle(http.MethodPost, CancelPath, httptransport.NewServer(eps.Cancel, decodeHTTPCancelRequest, encodeHTTPOrderResponse, opts...))
	return r
}

// ItemURL returns the path of the order with id, as used in Location.
func ItemURL(id string) string {
	return CollectionPath + "/" + url.PathEscape(id)
}

// createBody is the JSON body of POST /api/v1/orders. Pointers tell a
// missing or null member from a zero one.
type createBody struct {
	Items         *[]lineBody `json:"items"`
	PaymentMethod *string     `json:"payment_method"`
}

type lineBody struct {
	ProductID *string `json:"product_id"`
	Quantity  *int64  `json:"quantity"`
}

func decodeHTTPCreateRequest(_ context.Context, r *http.Request) (any, error) {
	var fields []errs.FieldError
	keys := r.Header.Values(IdempotencyKeyHeader)
	if len(keys) > 1 {
		fields = append(fields, errs.FieldError{Field: IdempotencyKeyHeader, Message: "must be given at most once"})
	}
	var body createBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	if body.Items == nil {
		fields = append(fields, errs.FieldError{Field: "items", Message: "is required"})
	}
	var no NewOrder
	if body.PaymentMethod != nil {
		if *body.PaymentMethod == "" {
			fields = append(fields, errs.FieldError{Field: "payment_method", Message: "must not be empty; leave it out for the default, " + DefaultPaymentMethod})
		}
		no.PaymentMethod = *body.PaymentMethod
	}
	if body.Items != nil {
		for i, l := range *body.Items {
			if l.ProductID == nil {
				fields = append(fields, errs.FieldError{Field: "items[" + strconv.Itoa(i) + "].product_id", Message: "is required"})
			}
			if l.Quantity == nil {
				fields = append(fields, errs.FieldError{Field: "items[" + strconv.Itoa(i) + "].quantity", Message: "is required"})
			}
			if l.ProductID != nil && l.Quantity != nil {
				no.Items = append(no.Items, LineRequest{ProductID: *l.ProductID, Quantity: *l.Quantity})
			}
		}
	}
	if err := errs.InvalidFields(fields...); err != nil {
		return nil, err
	}
	if len(keys) == 1 {
		no.IdempotencyKey = keys[0]
		if !ValidIdempotencyKey(no.IdempotencyKey) {
			return nil, errs.InvalidFields(errs.FieldError{Field: IdempotencyKeyHeader, Message: "must be 1 to 255 printable ASCII characters"})
		}
	}
	return CreateRequest{Order: no}, nil
}

func decodeHTTPListRequest(_ context.Context, r *http.Request) (any, error) {
	p, err := httpx.QueryParams(r)
	if err != nil {
		return nil, err
	}
	req := ListRequest{Limit: p.Limit("limit"), PageToken: p.String("page_token"), All: p.Bool("all")}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return req, nil
}

func decodeHTTPGetRequest(_ context.Context, r *http.Request) (any, error) {
	return GetRequest{ID: r.PathValue("id")}, nil
}

func decodeHTTPCancelRequest(_ context.Context, r *http.Request) (any, error) {
	return CancelRequest{ID: r.PathValue("id")}, nil
}

func encodeHTTPCreateResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	c := resp.(CreateResponse)
	if c.Replayed {
		return httpx.EncodeJSON(ctx, w, replayed{Order: c.Order})
	}
	return httpx.EncodeJSON(ctx, w, created{Order: c.Order})
}

func encodeHTTPOrderResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, resp.(OrderResponse).Order)
}

func encodeHTTPListResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, resp.(ListResponse))
}

// created is an order just placed: 201 with its Location.
type created struct {
	Order
}

// StatusCode implements httptransport.StatusCoder.
func (created) StatusCode() int { return http.StatusCreated }

// Headers implements httptransport.Headerer.
func (c created) Headers() http.Header {
	return http.Header{"Location": {ItemURL(c.ID)}}
}

// replayed is an order an earlier request with the same idempotency key
// placed: 200, so the client can tell, and the same Location.
type replayed struct {
	Order
}

// Headers implements httptransport.Headerer.
func (c replayed) Headers() http.Header {
	return http.Header{"Location": {ItemURL(c.ID)}, ReplayedHeader: {"true"}}
}
