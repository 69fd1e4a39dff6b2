// Command notification runs the notification service: items over HTTP
// (/api/v1/notification) and gRPC (kitshop.notification.v1.NotificationService) on a
// Postgres database, registered in Consul for the gateway to find.
//
// Reading is open to everyone; creating items needs an admin's access token,
// over HTTP and gRPC alike, checked with the keys of the user service
// (-auth-service) found through Consul, or at -jwks-url.
//
// The common flags, their NOTIFICATION_<FLAG> environment variables, /healthz,
// /readyz, the internal /metrics listener and the shutdown order come from
// kit/app. Run with -h for the list.
package main

import (
	"context"
	"io"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/notification"
	notificationv1 "github.com/kitshop/kitshop/proto/notification/v1"
)

func main() { app.Main("notification", build) }

// build wires the notification service on the App: repository, service,
// endpoints, transports, registration.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}

	// Domain, inside out: repository, service, service middleware.
	var svc notification.Service = notification.NewService(notification.NewPostgres(a.Pool))
	svc = notification.LoggingMiddleware(a.Log("service"))(svc)

	// The standard endpoint middleware (kit/app: metrics, log, rate limit,
	// timeout) outside the access rules of NewEndpoints, so that denied
	// calls are counted and logged too. A service that calls others puts a
	// circuit breaker on those calls, not here (see docs/adding-a-service.md).
	eps := notification.NewEndpoints(svc, a.Verifier).Wrap(func(method string) endpoint.Middleware { return a.Endpoint(method, nil) })

	a.Handle(requestid.HTTPMiddleware(notification.NewHTTPHandler(eps, a.Log("http"))))
	notificationv1.RegisterNotificationServiceServer(a.GRPC(), notification.NewGRPCServer(eps, a.Log("grpc")))
	a.Register(app.Registration{Prefixes: []string{notification.APIPrefix}, Public: notification.PublicRoutes})
	return a, nil
}
