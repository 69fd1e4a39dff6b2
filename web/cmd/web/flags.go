package main

import (
	"errors"
	"flag"

	"github.com/kitshop/kitshop/internal/devsecrets"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/user/userapi"
)

// flags are the web service's own settings.
type flags struct {
	cookieSecret                                      string
	productService, orderService, notificationService string
	trustForwardedFor                                 bool
}

// spec describes the web service to kit/app, with its own flags in f.
func spec(f *flags) app.Spec {
	schema, _ := migrations.For("web") // embedded: it exists
	return app.Spec{
		// No gRPC: the storefront's API is its pages.
		Name: "web", HTTPAddr: ":8088", GRPCAddr: "", MetricsAddr: "127.0.0.1:9288",
		// A ceiling that protects the instance, not a per-client quota.
		RateLimit: 5000, RateBurst: 10000,
		// Every page allocates its rendering; fewer collections, as the
		// product service and the gateway have, keep the catalog's tail
		// latency down.
		GCPercent: 400, MemoryLimit: 192 << 20,
		Schema:      schema,
		Auth:        app.Auth{Issuer: userapi.Issuer, Audience: userapi.Audience, Service: userapi.Service},
		DevSecrets:  devsecrets.Values,
		SecretFlags: []string{"cookie-secret"},
		Flags: func(fs *flag.FlagSet) func() error {
			fs.StringVar(&f.cookieSecret, "cookie-secret", "", `key that signs the cookies (guest carts, CSRF tokens), at least 32 characters; every instance needs the same (prefer WEB_COOKIE_SECRET_FILE); "" makes a random one per process`)
			fs.StringVar(&f.productService, "product-service", "product", "Consul service of the catalog (gRPC)")
			fs.StringVar(&f.orderService, "order-service", "order", "Consul service of the orders (gRPC)")
			fs.StringVar(&f.notificationService, "notification-service", "notification", "Consul service of the notifications (gRPC)")
			fs.BoolVar(&f.trustForwardedFor, "trust-forwarded-for", false, "take the shopper's address (for the user service's sign-in throttle) from X-Forwarded-For (only behind the gateway)")
			return func() error {
				if f.cookieSecret != "" && len(f.cookieSecret) < 32 {
					return errors.New("-cookie-secret must be at least 32 characters")
				}
				if f.productService == "" || f.orderService == "" || f.notificationService == "" {
					return errors.New("-product-service, -order-service and -notification-service must not be empty")
				}
				return nil
			}
		},
	}
}
