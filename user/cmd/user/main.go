// Command user runs the account service: sign-up, login and token refresh
// over HTTP (/api/v1/users, /api/v1/auth), the signing keys at
// /.well-known/jwks.json, and kitshop.user.v1.UserService over gRPC, on a
// Postgres database, registered in Consul for the gateway to find. It
// verifies the tokens it issues with its own key: it needs no other
// service.
//
// Prefer USER_ADMIN_PASSWORD (or USER_ADMIN_PASSWORD_FILE) to
// -admin-password: command lines are visible to every user of the machine.
// The admin account is created at start if it does not exist; an existing
// account with that email must already be an admin, or the service refuses
// to start.
//
// Every account created (by sign-up, or the admin's at start) is published
// as a kitshop.user.v1.registered event through the transactional outbox to
// NATS JetStream (-nats-url); a sign-up with an email that has an account
// creates nothing and publishes nothing. The service starts and serves while
// the broker is down; the events wait in the outbox.
//
// Behind the gateway, set -trust-forwarded-for so that the login and
// sign-up throttles count per client rather than per gateway; only do so
// when the service's port is reachable solely through the gateway.
//
// Services that call other services as themselves (the order service
// reserving stock) get their tokens at POST /api/v1/auth/token with a
// client id and secret listed in -service-accounts, e.g.
// USER_SERVICE_ACCOUNTS_FILE naming a file with "order:<secret of 16 or
// more characters>".
//
// The common flags, their USER_<FLAG> environment variables, /healthz,
// /readyz, the internal /metrics listener (with the throttles' refusals,
// kitshop_ratelimit_rejections_total{limiter="login"|"signup"}) and the
// shutdown order come from kit/app. Run with -h for the list.
package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/requestid"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
	"github.com/kitshop/kitshop/user"
)

func main() { app.Main("user", build) }

// build wires the account service on the App: signing key, repository,
// service, event relay, admin bootstrap, endpoints, transports and
// registration.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}
	// The signing key first: without it there is nothing to serve.
	key, created, err := user.LoadSigningKey(f.signingKeyFile, f.generateKey)
	if err != nil {
		return a.Fail(err)
	}
	signer, err := user.NewSigner(key, a.Options.Issuer, a.Options.Audience, f.tokenTTL)
	if err != nil {
		return a.Fail(err)
	}
	level.Info(a.Logger).Log("msg", "signing key ready", "path", f.signingKeyFile, "kid", signer.KeyID(), "generated", created)

	// Domain, inside out: repository, service, service middleware.
	base, err := user.NewService(user.NewPostgres(a.Pool), signer,
		user.WithBcryptCost(f.bcryptCost),
		user.WithRefreshTTL(f.refreshTTL),
		user.WithLoginThrottle(user.NewLoginThrottle(f.accountFailures, f.clientFailures, f.throttleWindow)),
		user.WithServiceAccounts(f.serviceAccounts),
		user.WithSignUpThrottle(f.signUpsPerClient, f.signUpWindow),
		user.WithHashPool(user.NewHashPool(f.hashWorkers, f.hashQueue)),
	)
	if err != nil {
		return a.Fail(err)
	}
	level.Info(a.Logger).Log("msg", "service accounts", "names", strings.Join(f.serviceAccounts.Names(), ","))
	svc := user.LoggingMiddleware(a.Log("service"))(base)
	// The outbox relay publishes the accounts' events.
	if err := a.Publish(user.EventStream); err != nil {
		return a.Fail(err)
	}
	if f.adminEmail != "" {
		// Creates the account once; never promotes an existing one.
		if _, _, err := svc.EnsureAdmin(ctx, user.NewUser{Email: f.adminEmail, Password: f.adminPassword, Name: f.adminName}); err != nil {
			return a.Fail(fmt.Errorf("bootstrapping admin: %w", err))
		}
	}

	// The standard chain, with the throttles' refusals counted inside the
	// instance's rate limit. The service verifies its own tokens.
	eps := user.NewEndpoints(svc, signer.Verifier()).Wrap(func(method string) endpoint.Middleware {
		return a.Endpoint(method, nil, user.CountThrottled(a.Metrics, method))
	})
	a.Handle(requestid.HTTPMiddleware(user.NewHTTPHandler(eps, a.Log("http"), user.TrustForwardedFor(f.trustForwardedFor))))
	userv1.RegisterUserServiceServer(a.GRPC(), user.NewGRPCServer(eps, a.Log("grpc")))
	a.Register(app.Registration{Prefixes: user.APIPrefixes, Public: user.PublicRoutes})
	return a, nil
}
