package product

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"

	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// HTTP routes of the catalog. The gateway forwards /api/v1/products paths
// unchanged, so they are the same behind it and on the service's own port.
const (
	CollectionPath = "/api/v1/products"
	ItemPath       = "/api/v1/products/{id}"
)

// PublicRoutes is the registration metadata (Consul meta "public_routes",
// see cmd/product) that tells the gateway which requests need no token, as
// comma-separated "METHOD /path/prefix" entries: reading the catalog, the
// collection and every item below it. Everything else under CollectionPath
// needs an access token. The service enforces the same rules itself (see
// NewEndpoints); this only lets the gateway turn bad requests away early.
var PublicRoutes = []consul.PublicRoute{{Method: http.MethodGet, Path: CollectionPath}}

// NewHTTPHandler serves the endpoints as a JSON API:
//
//	GET    /api/v1/products?limit=&page_token=&q=  200 {"products":[…],"next_page_token":"…"}
//	POST   /api/v1/products                        201 product, Location header
//	GET    /api/v1/products/{id}                   200 product
//	PATCH  /api/v1/products/{id}                   200 product (only the fields sent change)
//	DELETE /api/v1/products/{id}                   204
//
// Reads carry Cache-Control (ReadCacheControl), a strong ETag and
// Last-Modified, and answer 304 Not Modified to an If-None-Match that names
// the current ETag.
//
// POST, PATCH and DELETE need "Authorization: Bearer <access token>" of an
// admin (401 with a WWW-Authenticate challenge without a valid token, 403
// for other roles); reads need nothing. The token is only taken off the
// request here; the endpoints check it (NewEndpoints). The body is decoded
// before the endpoint runs, so a malformed body is a 400 whoever sends it.
//
// Every error is an application/problem+json document (kit/httpx). Request
// bodies are strict: JSON only, at most 1 MiB, no unknown fields, no nulls.
func NewHTTPHandler(eps Endpoints, logger log.Logger) http.Handler {
	opts := append(httpx.ServerOptions(logger), httptransport.ServerBefore(auth.HTTPToContext()))
	r := httpx.NewRouter(logger)
	// Reads may be answered from the cache while the database is out; the
	// mark it leaves becomes a Warning header (StaleHeader).
	readOpts := append(slices.Clip(opts), httptransport.ServerBefore(func(ctx context.Context, _ *http.Request) context.Context {
		return WithStaleMark(ctx)
	}), httptransport.ServerBefore(withIfNoneMatch))
	r.Handle(http.MethodGet, CollectionPath, httptransport.NewServer(eps.List, decodeHTTPListRequest, encodeHTTPListResponse, readOpts...))
	r.Handle(http.MethodPost, CollectionPath, httptransport.NewServer(eps.Create, decodeHTTPCreateRequest, encodeHTTPCreateResponse, opts...))
	r.Handle(http.MethodGet, ItemPath, httptransport.NewServer(eps.Get, decodeHTTPGetRequest, encodeHTTPGetResponse, readOpts...))
	r.Handle(http.MethodPatch, ItemPath, httptransport.NewServer(eps.Update, decodeHTTPUpdateRequest, encodeHTTPUpdateResponse, opts...))
	r.Handle(http.MethodDelete, ItemPath, httptransport.NewServer(eps.Delete, decodeHTTPDeleteRequest, encodeHTTPDeleteResponse, opts...))
	return r
}

// ItemURL returns the path of the product with id, as used in Location.
func ItemURL(id string) string {
	return CollectionPath + "/" + url.PathEscape(id)
}

func decodeHTTPListRequest(_ context.Context, r *http.Request) (any, error) {
	p, err := httpx.QueryParams(r)
	if err != nil {
		return nil, err
	}
	req := ListRequest{Limit: p.Limit("limit"), PageToken: p.String("page_token"), Q: p.String("q")}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return req, nil
}

func decodeHTTPGetRequest(_ context.Context, r *http.Request) (any, error) {
	return GetRequest{ID: r.PathValue("id")}, nil
}

func decodeHTTPDeleteRequest(_ context.Context, r *http.Request) (any, error) {
	return DeleteRequest{ID: r.PathValue("id")}, nil
}

// createBody is the JSON body of POST /api/v1/products. description and
// stock may be left out (empty, 0); the others are required, so that a
// forgotten price is not silently a free product.
type createBody struct {
	SKU         *string `json:"sku"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	PriceMinor  *int64  `json:"price_minor"`
	Currency    *string `json:"currency"`
	Stock       *int64  `json:"stock"`
}

func decodeHTTPCreateRequest(_ context.Context, r *http.Request) (any, error) {
	var body createBody
	if err := httpx.DecodeObject(r, &body, "sku", "name", "price_minor", "currency"); err != nil {
		return nil, err
	}
	return CreateRequest{Product: NewProduct{
		SKU:         *body.SKU,
		Name:        *body.Name,
		Description: deref(body.Description),
		PriceMinor:  *body.PriceMinor,
		Currency:    *body.Currency,
		Stock:       deref(body.Stock),
	}}, nil
}

// patchBody is the JSON body of PATCH /api/v1/products/{id}: every field is
// optional, absent fields keep their value. None may be null: no field can be
// cleared, and silently ignoring a null a client meant as "clear" would be
// worse than rejecting it.
type patchBody struct {
	SKU         *string `json:"sku"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	PriceMinor  *int64  `json:"price_minor"`
	Currency    *string `json:"currency"`
	Stock       *int64  `json:"stock"`
}

func decodeHTTPUpdateRequest(_ context.Context, r *http.Request) (any, error) {
	var body patchBody
	if err := httpx.DecodeObject(r, &body); err != nil {
		return nil, err
	}
	return UpdateRequest{ID: r.PathValue("id"), Patch: Patch(body)}, nil
}

func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

func encodeHTTPListResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	list := resp.(ListResponse)
	body, err := json.Marshal(list)
	if err != nil {
		return errs.Wrap(err, errs.Internal, "")
	}
	return encodeCacheable(ctx, w, append(body, '\n'), lastModified(list.Products))
}

func encodeHTTPGetResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	p := resp.(GetResponse).Product
	buf := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(buf)
	body, err := appendProductJSON((*buf)[:0], p)
	if err != nil {
		return errs.Wrap(err, errs.Internal, "")
	}
	body = append(body, '\n')
	*buf = body
	return encodeCacheable(ctx, w, body, p.UpdatedAt)
}

// bodyBuffers hold the bodies of point reads between requests: the
// response writer copies a body, so its buffer can serve the next one.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// setStale adds the Warning header to an answer the cache marked as
// possibly stale.
func setStale(ctx context.Context, w http.ResponseWriter) {
	if Stale(ctx) {
		w.Header().Set(StaleHeader, StaleWarning)
	}
}

func encodeHTTPCreateResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, created{Product: resp.(CreateResponse).Product})
}

func encodeHTTPUpdateResponse(ctx context.Context, w http.ResponseWriter, resp any) error {
	return httpx.EncodeJSON(ctx, w, resp.(UpdateResponse).Product)
}

func encodeHTTPDeleteResponse(ctx context.Context, w http.ResponseWriter, _ any) error {
	return httpx.EncodeJSON(ctx, w, nil) // 204 No Content
}

// created is a product just created: 201 with its Location.
type created struct {
	Product
}

// StatusCode implements httptransport.StatusCoder.
func (created) StatusCode() int { return http.StatusCreated }

// Headers implements httptransport.Headerer.
func (c created) Headers() http.Header {
	return http.Header{"Location": {ItemURL(c.ID)}}
}
