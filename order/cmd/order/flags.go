package main

import (
	"errors"
	"flag"
	"time"

	"github.com/kitshop/kitshop/internal/devsecrets"
	"github.com/kitshop/kitshop/kit/app"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/migrations"
	"github.com/kitshop/kitshop/order"
	"github.com/kitshop/kitshop/user/userapi"
)

// flags are the order service's own settings.
type flags struct {
	serviceID, serviceSecret string
	tokenURLs                []string
	productService           string
	productAddrs             []string
	productTimeout           time.Duration
	recoveryInterval         time.Duration
	recoveryAge              time.Duration
	recoveryBatch            int
}

// spec describes the order service to kit/app, with its own flags in f.
func spec(f *flags) app.Spec {
	schema, _ := migrations.For("order") // embedded: it exists
	return app.Spec{
		Name: "order", HTTPAddr: ":8084", GRPCAddr: ":9084", MetricsAddr: "127.0.0.1:9284",
		RateLimit: 1000, RateBurst: 2000,
		Schema:      schema,
		Auth:        app.Auth{Issuer: userapi.Issuer, Audience: userapi.Audience, Service: "user"},
		SecretFlags: []string{"service-secret"},
		DevSecrets:  devsecrets.Values,
		Events:      true,
		Live:        order.LiveSettings(),
		Flags: func(fs *flag.FlagSet) func() error {
			tokenURL := fs.String("token-url", "", "comma-separated URLs of the service token endpoint, tried in order; replaces the lookup of -auth-service in Consul")
			fs.StringVar(&f.productService, "product-service", "product", "Consul service of the catalog, whose gRPC API reserves stock")
			productAddr := fs.String("product-addr", "", "comma-separated gRPC addresses (host:port) of catalog instances; replaces the lookup of -product-service in Consul")
			fs.DurationVar(&f.productTimeout, "product-timeout", order.DefaultCatalogTimeout, "time limit of one call to the catalog, retries on other instances included")
			fs.StringVar(&f.serviceID, "service-id", "order", "client id of this service's account at the user service")
			fs.StringVar(&f.serviceSecret, "service-secret", "", "client secret of this service's account (required; prefer ORDER_SERVICE_SECRET_FILE)")
			fs.DurationVar(&f.recoveryInterval, "recovery-interval", order.DefaultRecoveryInterval, "pause between two rounds of the recovery loop")
			fs.DurationVar(&f.recoveryAge, "recovery-age", order.DefaultRecoveryAge, "how long an order must have been pending before the recovery loop finishes it")
			fs.IntVar(&f.recoveryBatch, "recovery-batch", order.DefaultRecoveryBatch, "orders of each kind one recovery round handles at most")
			return func() error {
				var err error
				problems := []error{config.Require(fs, "ORDER", "service-secret")}
				if f.productTimeout <= 0 || f.recoveryInterval <= 0 || f.recoveryAge <= 0 || f.recoveryBatch < 1 {
					problems = append(problems, errors.New("-product-timeout, -recovery-interval, -recovery-age and -recovery-batch must be positive"))
				}
				if f.serviceID == "" {
					problems = append(problems, errors.New("-service-id must not be empty"))
				}
				f.tokenURLs, err = app.ParseURLs("-token-url", *tokenURL)
				problems = append(problems, err)
				f.productAddrs, err = app.ParseAddrs("-product-addr", *productAddr)
				problems = append(problems, err)
				if consulAddr := fs.Lookup("consul-addr").Value.String(); consulAddr == "" && (len(f.tokenURLs) == 0 || len(f.productAddrs) == 0) {
					// Without Consul nothing could be found; better to say so
					// now than to answer every request with 503.
					problems = append(problems, errors.New("-token-url and -product-addr are required when -consul-addr is empty"))
				} else if f.productService == "" {
					problems = append(problems, errors.New("-product-service must not be empty"))
				}
				return errors.Join(problems...)
			}
		},
	}
}
