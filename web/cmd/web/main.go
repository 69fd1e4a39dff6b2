// Command web runs the web service: items over HTTP
// (/api/v1/web) and gRPC (kitshop.web.v1.WebService) on a
// Postgres database, registered in Consul for the gateway to find.
//
// Reading is open to everyone; creating items needs an admin's access token,
// over HTTP and gRPC alike, checked with the keys of the user service
// (-auth-service) found through Consul, or at -jwks-url.
//
// The common flags, their WEB_<FLAG> environment variables, /healthz,
// /readyz, the internal /metrics listener and the shutdown order come from
// kit/app. Run with -h for the list.
package main

import (
	"context"
	"io"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/requestid"
	webv1 "github.com/kitshop/kitshop/proto/web/v1"
	"github.com/kitshop/kitshop/web"
)

func main() { app.Main("web", build) }

// build wires the web service on the App: repository, service,
// endpoints, transports, registration.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}

	// Domain, inside out: repository, service, service middleware.
	var svc web.Service = web.NewService(web.NewPostgres(a.Pool))
	svc = web.LoggingMiddleware(a.Log("service"))(svc)

	// The standard endpoint middleware (kit/app: metrics, log, rate limit,
	// timeout) outside the access rules of NewEndpoints, so that denied
	// calls are counted and logged too. A service that calls others puts a
	// circuit breaker on those calls, not here (see docs/adding-a-service.md).
	eps := web.NewEndpoints(svc, a.Verifier).Wrap(func(method string) endpoint.Middleware { return a.Endpoint(method, nil) })

	a.Handle(requestid.HTTPMiddleware(web.NewHTTPHandler(eps, a.Log("http"))))
	webv1.RegisterWebServiceServer(a.GRPC(), web.NewGRPCServer(eps, a.Log("grpc")))
	a.Register(app.Registration{Prefixes: []string{web.APIPrefix}, Public: web.PublicRoutes})
	return a, nil
}
