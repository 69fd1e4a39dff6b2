package tracing_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/kitshop/kitshop/kit/tracing"
)

// A process sets tracing up once, first, and wraps its handler; kit/app
// does both for every service.
func Example() {
	ctx := context.Background()
	p, err := tracing.Setup(ctx, tracing.Config{
		Service: "inventory", Instance: "inventory-1",
		Ratio: tracing.DefaultRatio,
		Dir:   os.TempDir(), // and OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(ctx) // exports what is still buffered

	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", tracing.Route("GET /items/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// r.Context() carries the server span; pass it on to every call.
	})))
	_ = http.Server{Handler: tracing.HTTPHandler(mux)}
}
