// Command product runs the catalog service: the product API over HTTP
// (/api/v1/products) and gRPC (kitshop.product.v1.ProductService) on a
// Postgres database, registered in Consul for the gateway to find.
//
// Reading the catalog is open to everyone; creating, changing and deleting
// products needs an admin's access token, over HTTP and gRPC alike, checked
// with the keys of the user service (-auth-service) found through Consul,
// or at -jwks-url. The gRPC port also serves the stock API
// (BatchGetProducts, ReserveStock, ReleaseStock) to callers with the
// "service" or "admin" role, such as the order service.
//
// Every change to a product (created, updated, deleted, its stock moved by
// an admin or by an order's reservation or release) is published as a
// kitshop.product.v1.changed event through the transactional outbox to
// NATS JetStream (-nats-url). The service starts and serves while the
// broker is down; the events wait in the outbox.
//
// A read cache (-cache-items) serves GetProduct and the list pages from
// memory while a connection of its own listens for every committed change.
// While the database does not answer, writes and the reads the cache cannot
// serve fail at once with 503 and Retry-After, cached reads are answered
// with a Warning: 110 header (possibly stale), and /readyz says "degraded"
// (200) as long as the cache holds anything, "not_ready" otherwise.
//
// The common flags, their PRODUCT_<FLAG> environment variables, /healthz,
// /readyz, the internal /metrics listener and the shutdown order come from
// kit/app. Run with -h for the list.
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/postgres"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/product"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

func main() { app.Main("product", build) }

// build wires the catalog on the App: repository (behind the read cache),
// service, event relay, endpoints, transports, registration.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}
	if f.seed {
		data, err := migrations.Seed("product")
		if err != nil {
			return a.Fail(err)
		}
		if _, err := a.Pool.Exec(ctx, string(data)); err != nil {
			return a.Fail(fmt.Errorf("seeding: %w", err))
		}
		level.Info(a.Logger).Log("msg", "seed data applied")
	}

	// Domain, inside out: repository (behind the cache), service, service
	// middleware; the stock API for other services on the same database.
	var repo product.Repository = product.NewPostgres(a.Pool)
	var stockRepo product.StockRepository = product.NewPostgres(a.Pool)
	if f.cacheItems > 0 {
		cache := product.NewCache(repo, f.cacheItems, 0)
		cache.ServeStale(func() bool { return !a.Guard.Up() })
		a.DegradedWhen(cache.Warm)
		stockRepo = cache.StockRepository(stockRepo)
		listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
		listening := make(chan struct{})
		go func() {
			defer close(listening)
			_ = postgres.Listen(listenCtx, a.Pool, product.ChangeChannel, cache.ListenHandler(a.Log("cache")))
		}()
		a.Defer(func() { stopListening(); <-listening })
		repo = cache
	}
	var svc product.Service = product.NewService(repo)
	svc = product.LoggingMiddleware(a.Log("service"))(svc)
	stock := product.StockLoggingMiddleware(a.Log("stock"))(product.NewStock(stockRepo))

	// Successful point reads (GetProduct, and BatchGetProducts for orders)
	// are the hottest calls: logged at debug level, which is filtered out;
	// the metrics still count and time every one.
	mw := func(method string) endpoint.Middleware {
		if method == product.MethodGet || method == product.MethodBatchGet {
			return a.Endpoint(method, []logging.Option{logging.SuccessLevel(level.DebugValue())})
		}
		return a.Endpoint(method, nil)
	}
	// The outbox relay publishes the catalog's events.
	if err := a.Publish(product.EventStream); err != nil {
		return a.Fail(err)
	}

	eps := product.NewEndpoints(svc, a.Verifier).Wrap(mw)
	stockEps := product.NewStockEndpoints(stock, a.Verifier).Wrap(mw)

	a.Handle(requestid.HTTPMiddleware(product.NewHTTPHandler(eps, a.Log("http"))))
	productv1.RegisterProductServiceServer(a.GRPC(), product.NewGRPCServer(eps, a.Log("grpc"), product.WithStock(stockEps)))
	a.Register(app.Registration{Prefixes: []string{product.CollectionPath}, Public: product.PublicRoutes})
	return a, nil
}
