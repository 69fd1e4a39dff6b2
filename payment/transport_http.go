package payment

import (
	"context"
	"net/http"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/httpx"
)

// CollectionPath is the API's one route, and the prefix the service
// announces in Consul (app.Registration.Prefixes): the gateway forwards the
// path unchanged, and lets no request through without a token.
const CollectionPath = "/api/v1/payments"

// NewHTTPHandler serves the endpoints as a JSON API; every route needs an
// access token (Authorization: Bearer …):
//
//	GET /api/v1/payments?order_id=<uuid>   200 {"payments":[…]}
//
// The order's owner and admins get its payments; for anyone else, and for
// an order without a payment, the answer is the same 404 problem. A missing
// or malformed order_id is a 400 problem naming the field, and a missing or
// bad token a 401 with a WWW-Authenticate challenge. Every error is an
// application/problem+json document (kit/httpx).
func NewHTTPHandler(eps Endpoints, logger log.Logger) http.Handler {
	opts := append(httpx.ServerOptions(logger), httptransport.ServerBefore(auth.HTTPToContext()))
	r := httpx.NewRouter(logger)
	r.Handle(http.MethodGet, CollectionPath, httptransport.NewServer(eps.List, decodeHTTPListRequest, encodeHTTPListResponse, opts...))
	return r
}

func decodeHTTPListRequest(_ context.Context, r *http.Request) (any, error) {
	p, err := httpx.QueryParams(r)
	if err != nil {
		return nil, err
	}
	req := ListRequest{OrderID: p.String("order_id")}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return req, nil
}

func encodeHTTPListResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, resp.(ListResponse))
}
