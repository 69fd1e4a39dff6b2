package liveconfig_test

import (
	"fmt"
	"time"

	"github.com/kitshop/kitshop/kit/liveconfig"
)

// A service declares its settings once; kitctl checks values against the
// same schema before it writes them, and the service's Store applies them.
func ExampleSchema_Check() {
	schema := liveconfig.NewSchema("order",
		liveconfig.Duration("product-call-timeout", "time limit of a call to product", 10*time.Millisecond, time.Minute),
	)
	fmt.Println(schema.Check("product-call-timeout", "750ms"))
	fmt.Println(schema.Check("product-call-timeout", "2h"))
	fmt.Println(schema.Check("feature/gift-wrap", "true"))
	// Output:
	// <nil>
	// product-call-timeout: 2h0m0s is out of range [10ms, 1m0s]
	// <nil>
}
