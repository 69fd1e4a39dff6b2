// Command order runs the order service: orders over HTTP (/api/v1/orders)
// and gRPC (kitshop.order.v1.OrderService) on a Postgres database,
// registered in Consul for the gateway to find.
//
// Every route needs a customer's (or admin's) access token, checked with the
// keys of the user service (-auth-service) found through Consul, or at
// -jwks-url.
//
// Stock is reserved in the product service (-product-service in Consul, or
// -product-addr) over gRPC, as the service account "order": the service
// obtains its own tokens from the user service's token endpoint with
// -service-id and -service-secret (prefer ORDER_SERVICE_SECRET_FILE to the
// flag: command lines are visible to every user of the machine). The user
// service must know the account (USER_SERVICE_ACCOUNTS="order:<secret>").
//
// Every change of an order is published as an event (kitshop.order.v1.*)
// through the transactional outbox to NATS JetStream (-nats-url); the
// payment service's outcomes (kitshop.payment.v1.succeeded, failed) move
// confirmed orders to paid, or cancel them and release their stock.
//
// A recovery loop runs in every instance, at start and every
// -recovery-interval: it finishes orders left pending by a crash and
// releases stock owed by failed or cancelled orders (see package order).
//
// While the database does not answer, every call that needs it fails at
// once with 503 and Retry-After, and /readyz says "degraded" (200): the
// instance stays in rotation, answering fast.
//
// The common flags, their ORDER_<FLAG> environment variables, /healthz,
// /readyz, the internal /metrics listener (with the catalog breaker's state,
// "order->product") and the shutdown order come from kit/app. Run with -h
// for the list.
package main

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/liveconfig"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/kit/subscriber"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/order"
	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	"github.com/kitshop/kitshop/user/userapi"
)

// The catalog breaker: at most this many calls in flight from one instance
// (one per order being placed; hystrix's default of 100 shed orders as 503s
// under a burst of a few hundred), and a short sleep window once open, so
// orders go through soon after the catalog is back.
const (
	productMaxConcurrent = 1024
	productSleepWindow   = time.Second
)

func main() { app.Main("order", build) }

// build wires the order service on the App: the catalog client, repository,
// service, recovery loop, endpoints, transports and registration.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}
	// The user service's token endpoint, for this service's own account;
	// a fetch made for a request is a span of its trace.
	tokenClient := &http.Client{Timeout: auth.DefaultTokenFetchTimeout, Transport: tracing.Transport(nil)}
	tokens := auth.NewClientCredentials(a.URLs(a.Options.AuthService, userapi.TokenPath, f.tokenURLs),
		f.serviceID, f.serviceSecret, tokenClient, auth.WithTokenLogger(a.Log("auth")))

	// The catalog: instances from Consul (or fixed), behind a breaker.
	var instancer sd.Instancer = sd.FixedInstancer(f.productAddrs)
	if len(f.productAddrs) == 0 {
		products := consul.NewInstancer(a.Watch(f.productService), consul.Instance.GRPCAddr)
		a.Defer(products.Stop)
		instancer = products
	}
	// Its timeout and breaker settings are live (liveSettings).
	productTimeout := liveconfig.Bind(a.Live, order.LiveProductTimeout, f.productTimeout)
	productSettings := breaker.Settings{MaxConcurrent: productMaxConcurrent, SleepWindow: productSleepWindow}
	productBreaker := breaker.NewHystrix(order.DefaultBreakerName, productSettings)
	order.LiveProductBreaker.Bind(a.Live, productSettings, productBreaker.Reconfigure)
	catalog := order.NewCatalogClient(instancer, tokens, order.CatalogOptions{
		TimeoutFunc: productTimeout.Get,
		Breaker:     a.Metrics.Breaker(order.DefaultBreakerName, productBreaker),
		Logger:      a.Log("catalog"),
	})
	a.Defer(catalog.Close)

	// Domain, inside out: repository, service, service middleware; and the
	// recovery loop on the same repository and catalog.
	repo := order.NewPostgres(a.Pool)
	var svc order.Service = order.NewService(repo, catalog, order.WithReleaseTimeout(f.productTimeout))
	svc = order.LoggingMiddleware(a.Log("service"))(svc)
	recovery := order.NewRecovery(repo, catalog, a.Log("recovery"), order.RecoveryOptions{
		Interval: f.recoveryInterval, Age: f.recoveryAge, Batch: f.recoveryBatch, CallTimeout: f.productTimeout,
	})
	a.Defer(recovery.Stop)
	// Every instance shares the database: while it is out, answering 503 at
	// once beats being withdrawn.
	a.DegradedWhen(func() bool { return true })

	// The asynchronous half: the outbox relay publishes the order's events;
	// the payment service's outcomes move orders to paid or cancelled.
	if err := a.Publish(order.EventStream); err != nil {
		return a.Fail(err)
	}
	payments := subscriber.New(order.MakePaymentEventsEndpoint(order.NewPaymentFollower(repo, catalog)),
		events.Decode, a.SubscriberOptions("order")...)
	a.Subscribe(order.PaymentStream, events.ConsumerConfig{Durable: "order", Subjects: order.PaymentSubjects}, payments.Handle)

	eps := order.NewEndpoints(svc, a.Verifier).Wrap(func(method string) endpoint.Middleware { return a.Endpoint(method, nil) })
	a.Handle(requestid.HTTPMiddleware(order.NewHTTPHandler(eps, a.Log("http"))))
	orderv1.RegisterOrderServiceServer(a.GRPC(), order.NewGRPCServer(eps, a.Log("grpc")))
	a.Register(app.Registration{Prefixes: []string{order.CollectionPath}}) // every route needs a token

	// The first round runs now: what a previous run left half-done is
	// finished as soon as the catalog answers.
	recovery.Start()
	level.Info(a.Logger).Log("msg", "recovery loop started", "interval", f.recoveryInterval, "age", f.recoveryAge)
	return a, nil
}
