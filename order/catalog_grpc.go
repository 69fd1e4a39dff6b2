package order

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	grpctransport "github.com/go-kit/kit/transport/grpc"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/middleware"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// Defaults of CatalogOptions.
const (
	DefaultCatalogTimeout  = 2 * time.Second
	DefaultCatalogAttempts = 3
	// DefaultBreakerName is the hystrix command of the order service's
	// calls to the catalog; hystrix keeps one circuit per name and process.
	DefaultBreakerName = "order->product"
)

// CatalogOptions tune a CatalogClient. Zero fields take the defaults.
type CatalogOptions struct {
	// Timeout bounds each call, all attempts together: a deadline on the
	// caller's context that is earlier wins.
	Timeout time.Duration
	// TimeoutFunc, when set, replaces Timeout with a limit read on every
	// call, for a timeout that changes live.
	TimeoutFunc func() time.Duration
	// Attempts is how many instances one call tries while they answer
	// Unavailable (every call is idempotent, so retrying is safe).
	Attempts int
	// Breaker guards all calls to the catalog: while it is open, calls fail
	// at once with errs.Unavailable. Nil means a hystrix breaker named
	// DefaultBreakerName with default settings.
	Breaker breaker.Breaker
	// Logger receives the endpointer's messages about instances.
	Logger log.Logger
}

// CatalogClient is the Catalog on the product service's gRPC API. Each call
// goes, outermost first, through:
//
//   - a service token from the TokenSource (auth.ServiceTokenMiddleware),
//     sent as the call's authorization: the catalog reserves stock for
//     services only, and a failure to get a token is not the catalog's
//     fault, so it is outside the breaker;
//   - the circuit breaker, which fails calls fast while the catalog is
//     failing (business answers such as short stock count as successes);
//   - the per-call deadline (kit/middleware.Timeout);
//   - kit/middleware.RetryBalanced over go-kit's round-robin balancer: an
//     Unavailable answer is retried on the next instance;
//   - one go-kit gRPC client per instance, made by sd.NewEndpointer from the
//     instances the sd.Instancer reports (kit/consul.NewInstancer in
//     production), one connection per instance, closed when the instance
//     goes away.
type CatalogClient struct {
	endpointer *sd.DefaultEndpointer
	products   endpoint.Endpoint
	reserve    endpoint.Endpoint
	release    endpoint.Endpoint
}

var _ Catalog = (*CatalogClient)(nil)

// NewCatalogClient returns a Catalog calling the product service instances
// that instancer reports (gRPC addresses, "host:port") with tokens from
// tokens. Close releases the connections; instancer is the caller's to
// stop.
func NewCatalogClient(instancer sd.Instancer, tokens auth.TokenSource, opts CatalogOptions) *CatalogClient {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultCatalogTimeout
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultCatalogAttempts
	}
	if opts.Breaker == nil {
		opts.Breaker = breaker.NewHystrix(DefaultBreakerName, breaker.Settings{})
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	endpointer := sd.NewEndpointer(instancer, catalogFactory(tokens), opts.Logger)
	ep := endpoint.Chain(
		auth.ServiceTokenMiddleware(tokens),
		breaker.Middleware(opts.Breaker),
		timeout(opts),
	)(middleware.RetryBalanced(lb.NewRoundRobin(endpointer), opts.Attempts, 0))
	return &CatalogClient{endpointer: endpointer, products: ep, reserve: ep, release: ep}
}

func timeout(opts CatalogOptions) endpoint.Middleware {
	if opts.TimeoutFunc != nil {
		return middleware.TimeoutFunc(opts.TimeoutFunc)
	}
	return middleware.Timeout(opts.Timeout)
}

// Close closes the connections to every instance.
func (c *CatalogClient) Close() { c.endpointer.Close() }

// Products implements Catalog.
func (c *CatalogClient) Products(ctx context.Context, ids []string) ([]CatalogProduct, error) {
	resp, err := c.products(ctx, &productv1.BatchGetProductsRequest{Ids: ids})
	if err != nil {
		return nil, catalogError(err)
	}
	msgs := resp.(*productv1.BatchGetProductsResponse).GetProducts()
	out := make([]CatalogProduct, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, CatalogProduct{
			ID:         m.GetId(),
			SKU:        m.GetSku(),
			Name:       m.GetName(),
			PriceMinor: m.GetPriceMinor(),
			Currency:   m.GetCurrency(),
			Stock:      m.GetStock(),
		})
	}
	return out, nil
}

// Reserve implements Catalog.
func (c *CatalogClient) Reserve(ctx context.Context, orderID string, items []StockItem) error {
	req := &productv1.ReserveStockRequest{OrderId: orderID, Items: make([]*productv1.StockItem, len(items))}
	for i, it := range items {
		req.Items[i] = &productv1.StockItem{ProductId: it.ProductID, Quantity: it.Quantity}
	}
	_, err := c.reserve(ctx, req)
	return catalogError(err)
}

// Release implements Catalog.
func (c *CatalogClient) Release(ctx context.Context, orderID string) error {
	_, err := c.release(ctx, &productv1.ReleaseStockRequest{OrderId: orderID})
	return catalogError(err)
}

// catalogError passes the catalog's answers (business errors) through and
// turns every failure into an errs.Unavailable with a message of our own:
// a transport error's text ("dial tcp 10.0.0.7:9081: connection refused")
// must not reach the order service's clients. The cause stays for logs,
// and a retry hint of at least a second goes with it.
func catalogError(err error) error {
	if err == nil || errs.KindOf(err).Business() {
		return err
	}
	return &errs.Error{
		Kind:       errs.Unavailable,
		Message:    "product catalog unavailable, try again later",
		RetryAfter: max(errs.RetryAfterOf(err), time.Second),
		Err:        err,
	}
}

// catalogFactory makes the endpoint of one product instance: one
// connection, three go-kit gRPC clients sharing it, and an endpoint that
// picks the client by the request's type, so that one balancer serves all
// three calls.
func catalogFactory(tokens auth.TokenSource) sd.Factory {
	return func(addr string) (endpoint.Endpoint, io.Closer, error) {
		cc, err := grpcx.Dial(addr)
		if err != nil {
			return nil, nil, err
		}
		const service = "kitshop.product.v1.ProductService"
		opts := []grpctransport.ClientOption{grpctransport.ClientBefore(auth.ServiceTokenToGRPC(tokens))}
		pass := func(_ context.Context, req any) (any, error) { return req, nil }
		batchGet := grpctransport.NewClient(cc, service, "BatchGetProducts", pass, pass, &productv1.BatchGetProductsResponse{}, opts...).Endpoint()
		reserve := grpctransport.NewClient(cc, service, "ReserveStock", pass, pass, &productv1.ReserveStockResponse{}, opts...).Endpoint()
		release := grpctransport.NewClient(cc, service, "ReleaseStock", pass, pass, &productv1.ReleaseStockResponse{}, opts...).Endpoint()
		ep := func(ctx context.Context, req any) (any, error) {
			switch req.(type) {
			case *productv1.BatchGetProductsRequest:
				return batchGet(ctx, req)
			case *productv1.ReserveStockRequest:
				return reserve(ctx, req)
			case *productv1.ReleaseStockRequest:
				return release(ctx, req)
			}
			return nil, errs.Wrap(fmt.Errorf("catalog client: unexpected request type %T", req), errs.Internal, "")
		}
		return ep, cc, nil
	}
}
