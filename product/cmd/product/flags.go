package main

import (
	"errors"
	"flag"

	"github.com/kitshop/kitshop/internal/devsecrets"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/product"
	"github.com/kitshop/kitshop/user/userapi"
)

// flags are the product service's own settings.
type flags struct {
	seed       bool
	cacheItems int
}

// spec describes the product service to kit/app, with its own flags in f.
func spec(f *flags) app.Spec {
	schema, _ := migrations.For("product") // embedded: it exists
	return app.Spec{
		Name: "product", HTTPAddr: ":8081", GRPCAddr: ":9081", MetricsAddr: "127.0.0.1:9281",
		// A ceiling that protects the database, not a per-client quota.
		RateLimit: 50000, RateBurst: 50000,
		// The catalog's reads allocate per request at tens of thousands a
		// second: fewer collections buy throughput (kit/server.TuneGC).
		GCPercent: 400, MemoryLimit: 192 << 20,
		Schema:     schema,
		Events:     true, // product.changed, through the outbox
		Auth:       app.Auth{Issuer: userapi.Issuer, Audience: userapi.Audience, Service: "user"},
		DevSecrets: devsecrets.Values,
		Flags: func(fs *flag.FlagSet) func() error {
			fs.BoolVar(&f.seed, "seed", false, "load the demo catalog after migrating (keeps existing products)")
			fs.IntVar(&f.cacheItems, "cache-items", product.DefaultCacheItems, "products kept in the read cache; 0 disables the cache")
			return func() error {
				if f.cacheItems < 0 {
					return errors.New("-cache-items must not be negative")
				}
				return nil
			}
		},
	}
}
