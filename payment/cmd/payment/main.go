// Command payment runs the payment service: items over HTTP
// (/api/v1/payment) and gRPC (kitshop.payment.v1.PaymentService) on a
// Postgres database, registered in Consul for the gateway to find.
//
// Reading is open to everyone; creating items needs an admin's access token,
// over HTTP and gRPC alike, checked with the keys of the user service
// (-auth-service) found through Consul, or at -jwks-url.
//
// The common flags, their PAYMENT_<FLAG> environment variables, /healthz,
// /readyz, the internal /metrics listener and the shutdown order come from
// kit/app. Run with -h for the list.
package main

import (
	"context"
	"io"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/payment"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
)

func main() { app.Main("payment", build) }

// build wires the payment service on the App: repository, service,
// endpoints, transports, registration.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}

	// Domain, inside out: repository, service, service middleware.
	var svc payment.Service = payment.NewService(payment.NewPostgres(a.Pool))
	svc = payment.LoggingMiddleware(a.Log("service"))(svc)

	// The standard endpoint middleware (kit/app: metrics, log, rate limit,
	// timeout) outside the access rules of NewEndpoints, so that denied
	// calls are counted and logged too. A service that calls others puts a
	// circuit breaker on those calls, not here (see docs/adding-a-service.md).
	eps := payment.NewEndpoints(svc, a.Verifier).Wrap(func(method string) endpoint.Middleware { return a.Endpoint(method, nil) })

	a.Handle(requestid.HTTPMiddleware(payment.NewHTTPHandler(eps, a.Log("http"))))
	paymentv1.RegisterPaymentServiceServer(a.GRPC(), payment.NewGRPCServer(eps, a.Log("grpc")))
	a.Register(app.Registration{Prefixes: []string{payment.APIPrefix}, Public: payment.PublicRoutes})
	return a, nil
}
