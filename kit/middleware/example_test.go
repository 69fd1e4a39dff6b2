package middleware_test

import (
	"context"
	"fmt"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/middleware"
)

func ExampleTimeout() {
	slowDependency := func(ctx context.Context, request any) (any, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Minute):
			return "finally", nil
		}
	}
	ep := middleware.Timeout(20 * time.Millisecond)(slowDependency)

	_, err := ep(context.Background(), nil)
	fmt.Println(errs.KindOf(err), errs.Message(err))
	// Output:
	// unavailable request timed out
}

func ExampleRetry() {
	attempt := 0
	flaky := func(ctx context.Context, request any) (any, error) {
		attempt++
		if attempt < 3 {
			return nil, errs.New(errs.Unavailable, "connection refused")
		}
		return fmt.Sprintf("ok after %d attempts", attempt), nil
	}
	ep := middleware.Retry(3, time.Millisecond)(flaky)

	resp, err := ep(context.Background(), nil)
	fmt.Println(resp, err)
	// Output:
	// ok after 3 attempts <nil>
}

func ExampleRetryBalanced() {
	instance := func(name string, err error) endpoint.Endpoint {
		return func(context.Context, any) (any, error) {
			if err != nil {
				return nil, err
			}
			return "answered by " + name, nil
		}
	}
	// In kitshop the endpointer comes from a Consul instancer.
	instances := sd.FixedEndpointer{
		instance("10.0.0.1", errs.New(errs.Unavailable, "connection refused")),
		instance("10.0.0.2", nil),
	}
	ep := middleware.RetryBalanced(lb.NewRoundRobin(instances), 2, time.Second)

	for range 3 {
		resp, err := ep(context.Background(), nil)
		fmt.Println(resp, err)
	}
	// Output:
	// answered by 10.0.0.2 <nil>
	// answered by 10.0.0.2 <nil>
	// answered by 10.0.0.2 <nil>
}
