package main

import (
	"errors"
	"flag"
	"time"

	"github.com/kitshop/kitshop/internal/devsecrets"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/payment"
	"github.com/kitshop/kitshop/user/userapi"
)

// flags are the payment service's own settings.
type flags struct {
	slowCardDelay time.Duration
}

// spec describes the payment service to kit/app, with its own flags in f.
func spec(f *flags) app.Spec {
	schema, _ := migrations.For("payment") // embedded: it exists
	return app.Spec{
		Name: "payment", HTTPAddr: ":8085", GRPCAddr: ":9085", MetricsAddr: "127.0.0.1:9285",
		// A ceiling that protects the database, not a per-client quota.
		RateLimit: 1000, RateBurst: 2000,
		Schema:     schema,
		Auth:       app.Auth{Issuer: userapi.Issuer, Audience: userapi.Audience, Service: "user"},
		DevSecrets: devsecrets.Values,
		Events:     true,
		Flags: func(fs *flag.FlagSet) func() error {
			fs.DurationVar(&f.slowCardDelay, "slow-card-delay", payment.DefaultSlowDelay,
				"how long the simulated provider takes to charge pm_card_slow (at most "+maxSlowCardDelay.String()+")")
			return func() error {
				if f.slowCardDelay <= 0 || f.slowCardDelay > maxSlowCardDelay {
					return errors.New("-slow-card-delay must be positive and at most " + maxSlowCardDelay.String())
				}
				return nil
			}
		},
	}
}

// maxSlowCardDelay keeps a slow charge well inside the handler's timeout.
const maxSlowCardDelay = payment.HandlerTimeout / 2
