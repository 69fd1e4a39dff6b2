package logging_test

import (
	"context"
	"os"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
)

func ExampleEndpointMiddleware() {
	// In main this would be logging.New(os.Stderr, "logfmt"); here took,
	// which varies from run to run, is dropped so the output is stable.
	logger := withoutTook(log.NewLogfmtLogger(os.Stdout))

	getProduct := func(ctx context.Context, request any) (any, error) {
		return nil, errs.New(errs.NotFound, "product not found")
	}
	ep := logging.EndpointMiddleware(logger, "GetProduct")(getProduct)

	ctx := requestid.NewContext(context.Background(), "req-42")
	_, _ = ep(ctx, "p-1")

	// Output:
	// level=info method=GetProduct request_id=req-42 kind=not_found err="not_found: product not found"
}

func ExampleNew() {
	logger := logging.New(os.Stderr, "json")
	logger = log.With(logger, "component", "product")
	_ = logger.Log("msg", "listening", "transport", "http", "addr", "127.0.0.1:8081")
}

// withoutTook drops the "took" key-value pair before logging.
func withoutTook(next log.Logger) log.Logger {
	return log.LoggerFunc(func(kv ...any) error {
		kept := make([]any, 0, len(kv))
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] != "took" {
				kept = append(kept, kv[i], kv[i+1])
			}
		}
		return next.Log(kept...)
	})
}
