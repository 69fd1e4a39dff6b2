// Command web runs the storefront: the shop's pages, rendered on the server,
// registered in Consul at the site root so that the gateway serves it at /
// next to the API (gateway.SitePrefix).
//
// It calls the product, order and notification services over gRPC (found in
// Consul: -product-service, -order-service, -notification-service) and the
// user service's HTTP API for accounts (-auth-service), each through a
// breaker with retries, forwarding the shopper's access token. Tokens live in
// HttpOnly cookies only; the shop's own database (-database-url) keeps the
// signed-in shoppers' carts, and a guest's cart is a cookie signed with
// -cookie-secret.
//
// The common flags, their WEB_<FLAG> environment variables, /healthz,
// /readyz, the internal /metrics listener and the shutdown order come from
// kit/app. Run with -h for the list.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/consul"
	"github.com/kitshop/kitshop/kit/requestid"
	"github.com/kitshop/kitshop/web"
)

func main() { app.Main("web", build) }

// errNoConsul: the storefront finds every service it calls in Consul.
var errNoConsul = errors.New("-consul-addr is required: the storefront finds the services it calls in Consul")

// build wires the storefront on the App: the backends, the carts, the
// sessions, the pages and the registration.
func build(ctx context.Context, args []string, stderr io.Writer) (*app.App, error) {
	var f flags
	a, err := app.New(ctx, spec(&f), args, stderr)
	if err != nil {
		return nil, err
	}
	backend := func(service string) *web.Backend {
		instancer := consul.NewInstancer(a.Watch(service), consul.Instance.GRPCAddr)
		a.Defer(instancer.Stop)
		name := "web->" + service
		b := web.NewBackend(service, instancer, web.BackendOptions{
			Breaker: a.Metrics.Breaker(name, breaker.NewHystrix(name, breaker.Settings{MaxConcurrent: 1024, SleepWindow: time.Second})),
			Logger:  a.Log(service),
		})
		a.Defer(b.Close)
		return b
	}
	if a.Consul == nil {
		return a.Fail(errNoConsul)
	}
	accounts := web.NewAccounts(a.URLs(a.Options.AuthService, "", nil),
		a.Metrics.Breaker("web->user", breaker.NewHystrix("web->user", breaker.Settings{MaxConcurrent: 1024, SleepWindow: time.Second})))
	shop := &web.Shop{Products: backend(f.productService), Orders: backend(f.orderService),
		Notifications: backend(f.notificationService), Accounts: accounts}

	key := []byte(f.cookieSecret)
	if len(key) == 0 {
		key = []byte(rand.Text() + rand.Text())
		level.Warn(a.Logger).Log("msg", "no -cookie-secret: guest carts and open forms do not survive a restart, and instances do not share them")
	}
	sessions := web.NewSessions(key, a.Verifier, accounts, a.Log("session"))
	srv, err := web.NewServer(shop, web.NewCarts(a.Pool), sessions, a.Log("http"), web.TrustForwardedFor(f.trustForwardedFor))
	if err != nil {
		return a.Fail(err)
	}
	a.Handle(requestid.HTTPMiddleware(http.Handler(srv.Handler())))
	a.Register(app.Registration{Prefixes: []string{web.SitePrefix}, Public: web.PublicRoutes})
	return a, nil
}
