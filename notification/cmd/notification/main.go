// Command notification runs the notification service: it turns the order,
// payment and user services' events (NATS JetStream, -nats-url) into in-app
// notifications, served over HTTP (/api/v1/notifications) and gRPC
// (kitshop.notification.v1.NotificationService) from a Postgres database,
// registered in Consul for the gateway to find.
//
// With -smtp-addr and -smtp-from it also emails each notification to its
// user, once the user's address is known (from the user service's
// registered event): emails are queued with the notification and sent by a
// background sender, retried with backoff. Prefer
// NOTIFICATION_SMTP_PASSWORD_FILE to -smtp-password: command lines are
// visible to every user of the machine.
//
// Every route needs a customer's or an admin's access token, checked with
// the keys of the user service (-auth-service) found through Consul, or at
// -jwks-url; each user sees only their own notifications.
//
// The common flags, their NOTIFICATION_<FLAG> environment variables,
// /healthz, /readyz, the internal /metrics listener and the shutdown order
// come from kit/app. Run with -h for the list.
package main

import (
	"context"
	"io"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/kit/subscriber"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/notification"
	notificationv1 "github.com/kitshop/kitshop/proto/notification/v1"
)

func main() { app.Main("notification", build) }

// build wires the notification service on the App: storage, email sender,
// event consumers, service, endpoints, transports, registration.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}
	store := notification.NewPostgres(a.Pool)
	templates, err := notification.LoadTemplates()
	if err != nil {
		return a.Fail(err)
	}

	// Emails, when there is a server to send them: queued with the
	// notification, sent by the sender, which each commit wakes. Deferred
	// before the consumers, it stops after them.
	var handlerOpts []notification.HandlerOption
	if f.smtp.Addr != "" {
		mailer, err := notification.NewSMTPMailer(f.smtp)
		if err != nil {
			return a.Fail(err)
		}
		sender, err := notification.StartSender(store, mailer, notification.SenderOptions{
			Poll: f.emailPoll, Logger: a.Log("email"), Registerer: a.Metrics.Registry(),
		})
		if err != nil {
			return a.Fail(err)
		}
		a.Defer(sender.Stop)
		handlerOpts = append(handlerOpts, notification.WithEmails(sender.Wake))
	}

	// Events in: one subscriber (kit/subscriber) for the three streams,
	// counted like the API's methods. No rate limit here: a limited event
	// would be rejected for good, where JetStream's back pressure is enough.
	handle := notification.NewEventEndpoint(notification.NewEventHandler(store, templates, handlerOpts...))
	handle = endpoint.Chain(a.Metrics.EndpointMiddleware(notification.MethodHandleEvent),
		tracing.EndpointMiddleware("notification."+notification.MethodHandleEvent),
		logging.EndpointMiddleware(a.Log("endpoint"), notification.MethodHandleEvent))(handle)
	sub := subscriber.New(handle, events.Decode, append(a.SubscriberOptions(notification.Consumer),
		subscriber.MaxDeliver(notification.MaxDeliver), subscriber.Timeout(notification.EventTimeout))...)
	for _, s := range notification.Subscriptions() {
		a.Subscribe(s.Stream, s.Consumer, sub.Handle)
	}

	// The API, inside out: service, service middleware, endpoints with the
	// standard middleware (kit/app) outside the access rules.
	var svc notification.Service = notification.NewService(store)
	svc = notification.LoggingMiddleware(a.Log("service"))(svc)
	eps := notification.NewEndpoints(svc, a.Verifier).Wrap(func(method string) endpoint.Middleware { return a.Endpoint(method, nil) })
	a.Handle(requestid.HTTPMiddleware(notification.NewHTTPHandler(eps, a.Log("http"))))
	notificationv1.RegisterNotificationServiceServer(a.GRPC(), notification.NewGRPCServer(eps, a.Log("grpc")))
	a.Register(app.Registration{Prefixes: []string{notification.APIPrefix}}) // every route needs a token
	return a, nil
}
