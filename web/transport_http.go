package web

import (
	"context"
	"net/http"
	"net/url"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/httpx"
)

// APIPrefix is the path prefix the service announces in its Consul
// registration (app.Registration.Prefixes, see cmd/web): the gateway forwards
// every request under it here, with the path unchanged, so the routes are
// the same behind the gateway and on the service's own port.
const APIPrefix = "/api/v1/web"

// HTTP routes of the service.
const (
	CollectionPath = APIPrefix + "/items"
	ItemPath       = CollectionPath + "/{id}"
)

// PublicRoutes are the routes the service registers as public
// (app.Registration.Public, see cmd/web), which the gateway lets
// through without a token: every read under APIPrefix. Everything else
// under APIPrefix needs an access token. The service enforces the same
// rules itself (see NewEndpoints); this only lets the gateway turn bad
// requests away early.
var PublicRoutes = []consul.PublicRoute{{Method: http.MethodGet, Path: APIPrefix}}

// NewHTTPHandler serves the endpoints as a JSON API:
//
//	GET  /api/v1/web/items?limit=&page_token=  200 {"items":[…],"next_page_token":"…"}
//	POST /api/v1/web/items                     201 item, Location header
//	GET  /api/v1/web/items/{id}                200 item
//
// POST needs "Authorization: Bearer <access token>" of an admin (401 with a
// WWW-Authenticate challenge without a valid token, 403 for other roles);
// reads need nothing. The token is only taken off the request here; the
// endpoints check it (NewEndpoints). The body is decoded before the endpoint
// runs, so a malformed body is a 400 whoever sends it.
//
// Every error is an application/problem+json document (kit/httpx). Request
// bodies are strict: JSON only, at most 1 MiB, no unknown fields.
func NewHTTPHandler(eps Endpoints, logger log.Logger) http.Handler {
	opts := append(httpx.ServerOptions(logger), httptransport.ServerBefore(auth.HTTPToContext()))
	r := httpx.NewRouter(logger)
	r.Handle(http.MethodGet, CollectionPath, httptransport.NewServer(eps.List, decodeHTTPListRequest, encodeHTTPListResponse, opts...))
	r.Handle(http.MethodPost, CollectionPath, httptransport.NewServer(eps.Create, decodeHTTPCreateRequest, encodeHTTPCreateResponse, opts...))
	r.Handle(http.MethodGet, ItemPath, httptransport.NewServer(eps.Get, decodeHTTPGetRequest, encodeHTTPGetResponse, opts...))
	return r
}

// ItemURL returns the path of the item with id, as used in Location.
func ItemURL(id string) string {
	return CollectionPath + "/" + url.PathEscape(id)
}

func decodeHTTPListRequest(_ context.Context, r *http.Request) (any, error) {
	p, err := httpx.QueryParams(r)
	if err != nil {
		return nil, err
	}
	req := ListRequest{Limit: p.Limit("limit"), PageToken: p.String("page_token")}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return req, nil
}

func decodeHTTPGetRequest(_ context.Context, r *http.Request) (any, error) {
	return GetRequest{ID: r.PathValue("id")}, nil
}

// createBody is the JSON body of POST /api/v1/web/items. name is
// required; description and quantity may be left out (empty, 0). Pointers
// tell a missing member from a zero value; none may be null.
type createBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Quantity    *int64  `json:"quantity"`
}

func decodeHTTPCreateRequest(_ context.Context, r *http.Request) (any, error) {
	var body createBody
	if err := httpx.DecodeObject(r, &body, "name"); err != nil {
		return nil, err
	}
	return CreateRequest{Item: NewItem{
		Name:        *body.Name,
		Description: deref(body.Description),
		Quantity:    deref(body.Quantity),
	}}, nil
}

func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

func encodeHTTPListResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, resp.(ListResponse))
}

func encodeHTTPGetResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, resp.(GetResponse).Item)
}

func encodeHTTPCreateResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, created{Item: resp.(CreateResponse).Item})
}

// created is an item just created: 201 with its Location.
type created struct {
	Item
}

// StatusCode implements httptransport.StatusCoder.
func (created) StatusCode() int { return http.StatusCreated }

// Headers implements httptransport.Headerer.
func (c created) Headers() http.Header {
	return http.Header{"Location": {ItemURL(c.ID)}}
}
