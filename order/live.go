package order

import (
	"time"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/liveconfig"
)

// The order service's own live settings (kit/liveconfig), besides those of
// every service (kit/app.LiveSchema): the time limit of a call to the
// catalog and the catalog breaker's thresholds.
var (
	LiveProductTimeout = liveconfig.Duration("product-timeout",
		"time limit of one call to the catalog, retries on other instances included", time.Microsecond, time.Minute)
	LiveProductBreaker = breaker.LiveSettings("product-breaker-")
)

// LiveSettings lists the order service's own live settings.
func LiveSettings() []liveconfig.Checker {
	return append([]liveconfig.Checker{LiveProductTimeout}, LiveProductBreaker.Checkers()...)
}
