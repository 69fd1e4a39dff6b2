package ratelimit_test

import (
	"context"
	"fmt"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/ratelimit"
)

func ExampleMiddleware() {
	// Two calls at once, then one every two seconds.
	limit := ratelimit.Middleware(ratelimit.NewTokenBucket(0.5, 2))
	ep := limit(func(context.Context, any) (any, error) { return "ok", nil })

	for range 3 {
		resp, err := ep(context.Background(), nil)
		if err != nil {
			fmt.Println(errs.KindOf(err), "retry after", errs.RetryAfterOf(err))
			continue
		}
		fmt.Println(resp)
	}
	// Output:
	// ok
	// ok
	// rate_limited retry after 2s
}

func ExampleKeyed() {
	// One request per second per client IP, bursts of one, at most 10000
	// clients remembered.
	perIP := ratelimit.NewKeyed(1, 1, 10000)

	for _, ip := range []string{"192.0.2.1", "192.0.2.1", "198.51.100.7"} {
		ok, wait := perIP.Allow(ip)
		if !ok {
			fmt.Println(ip, "rejected:", ratelimit.Error(wait))
			continue
		}
		fmt.Println(ip, "allowed")
	}
	// Output:
	// 192.0.2.1 allowed
	// 192.0.2.1 rejected: rate_limited: too many requests
	// 198.51.100.7 allowed
}
