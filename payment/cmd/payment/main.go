// Command payment runs the payment service: it consumes the order service's
// events from NATS JetStream (-nats-url), charges confirmed orders through
// a simulated payment provider, refunds or voids cancelled ones, and
// publishes payment.succeeded, payment.failed and payment.refunded from its
// outbox. Its API, GET /api/v1/payments?order_id= over HTTP and
// kitshop.payment.v1.PaymentService over gRPC, shows an order's payment to
// the order's owner and to admins, with access tokens checked with the keys
// of the user service (-auth-service) found through Consul, or at
// -jwks-url.
//
// The simulated provider charges the test payment methods: pm_card_visa
// succeeds, pm_card_chargeDeclined is declined, pm_card_slow succeeds after
// -slow-card-delay, anything else is declined as invalid_payment_method.
//
// The common flags, their PAYMENT_<FLAG> environment variables, /healthz,
// /readyz, the internal /metrics listener (with the provider's calls,
// kitshop_payment_provider_*) and the shutdown order come from kit/app. Run
// with -h for the list.
package main

import (
	"context"
	"io"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/payment"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

func main() { app.Main("payment", build) }

// build wires the payment service on the App: provider, repository,
// service, the API's endpoints and transports, the outbox relay and the
// consumer of the order events.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}

	// Domain, inside out: provider, repository, service, service middleware.
	provider := payment.InstrumentProvider(a.Metrics.Registry())(
		payment.NewSimulatedProvider(payment.SimulatedOptions{SlowDelay: f.slowCardDelay}))
	var svc payment.Service = payment.NewService(payment.NewPostgres(a.Pool), provider)
	svc = payment.LoggingMiddleware(a.Log("service"))(svc)

	// The API: the standard endpoint middleware outside the access rules.
	eps := payment.NewEndpoints(svc, a.Verifier).Wrap(func(method string) endpoint.Middleware { return a.Endpoint(method, nil) })
	a.Handle(requestid.HTTPMiddleware(payment.NewHTTPHandler(eps, a.Log("http"))))
	paymentv1.RegisterPaymentServiceServer(a.GRPC(), payment.NewGRPCServer(eps, a.Log("grpc")))
	a.Register(app.Registration{Prefixes: []string{payment.CollectionPath}}) // every route needs a token

	// The events: the relay publishes the outbox; the order events are
	// handled with metrics and logs but no rate limit or request timeout
	// (the subscriber has its own), since a rejected event would be lost.
	if err := a.Publish(payment.Stream()); err != nil {
		return a.Fail(err)
	}
	handlers := payment.NewEventEndpoints(svc).Wrap(func(method string) endpoint.Middleware {
		return endpoint.Chain(a.Metrics.EndpointMiddleware(method), tracing.EndpointMiddleware("payment."+method),
			logging.EndpointMiddleware(a.Log("endpoint"), method))
	})
	sub := payment.NewSubscriber(handlers, a.SubscriberOptions(payment.Consumer)...)
	a.Subscribe(payment.OrderStream(), payment.OrderConsumer(), sub.Handle)
	return a, nil
}
