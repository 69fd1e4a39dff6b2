package main

import (
	"flag"

	"github.com/kitshop/kitshop/internal/devsecrets"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/user/userapi"
)

// flags are the web service's own settings: none yet. A flag goes
// here, is registered in spec's Flags and checked in the function it
// returns, and build reads it from f.
type flags struct{}

// spec describes the web service to kit/app, with its own flags in f.
func spec(f *flags) app.Spec {
	schema, _ := migrations.For("web") // embedded: it exists
	return app.Spec{
		Name: "web", HTTPAddr: ":8088", GRPCAddr: ":9088", MetricsAddr: "127.0.0.1:9288",
		// A ceiling that protects the database, not a per-client quota.
		RateLimit: 50000, RateBurst: 50000,
		Schema:     schema,
		Auth:       app.Auth{Issuer: userapi.Issuer, Audience: userapi.Audience, Service: "user"},
		DevSecrets: devsecrets.Values,
		Flags: func(fs *flag.FlagSet) func() error {
			return nil // no flags of its own, nothing to check
		},
	}
}
