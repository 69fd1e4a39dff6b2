package breaker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/errs"
)

func ExampleMiddleware() {
	// One breaker per dependency; the name is hystrix's command name.
	b := breaker.NewHystrix("example-product-service", breaker.Settings{
		VolumeThreshold: 20,
		ErrorPercent:    50,
		SleepWindow:     5 * time.Second,
	})
	getProduct := func(ctx context.Context, request any) (any, error) {
		return nil, errs.New(errs.NotFound, "product not found")
	}
	ep := breaker.Middleware(b)(getProduct)

	// Not-found answers are the dependency working: the caller sees them,
	// the circuit does not count them.
	for range 50 {
		_, _ = ep(context.Background(), "p-404")
	}
	_, err := ep(context.Background(), "p-404")
	fmt.Println(err)
	fmt.Println("open:", b.Open())
	// Output:
	// not_found: product not found
	// open: false
}
