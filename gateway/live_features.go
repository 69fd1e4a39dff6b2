package gateway

import (
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/liveconfig"
)

// The gateway's live settings (kit/liveconfig), under
// kitshop/config/gateway/: changed in Consul, applied by every gateway
// instance within a second, to the requests that start from then on.
var (
	// LiveComposites is "composites": the composite routes, as
	// CompositeConfig JSON (DefaultCompositesJSON by default).
	LiveComposites = liveconfig.JSON("composites",
		"composite routes: GET <path>?expand=<parts> answered with the document and its parts, fetched in parallel",
		func(c CompositeConfig) error { _, err := NewComposites(c); return err })
	// LiveBalance is "balance": the instance selection strategy per
	// service, as Balance JSON ({"default":"round_robin","services":{"product":"p2c"}}).
	LiveBalance = liveconfig.JSON("balance",
		"instance selection per service: round_robin, random or p2c (power of two choices on requests in flight)",
		func(b Balance) error { return b.Validate() })
)

// LiveSettings are the definitions of the live settings above; LiveSchema
// includes them.
func LiveSettings() []liveconfig.Checker {
	return []liveconfig.Checker{LiveComposites, LiveBalance}
}

// FollowLive binds the live settings in store to g, with the given
// defaults (from flags), and applies every valid change as it comes; the
// store has already refused invalid ones.
func (g *Gateway) FollowLive(store *liveconfig.Store, composites CompositeConfig, balance Balance) {
	logger := log.With(g.logger, "component", "live_settings")
	liveconfig.Bind(store, LiveComposites, composites).OnChange(func(c CompositeConfig) {
		cs, err := NewComposites(c)
		if err != nil { // checked before; kept for safety
			level.Error(logger).Log("msg", "composites refused", "err", err)
			return
		}
		g.SetComposites(cs)
	})
	liveconfig.Bind(store, LiveBalance, balance).OnChange(func(b Balance) {
		if err := g.SetBalance(b); err != nil {
			level.Error(logger).Log("msg", "balance refused", "err", err)
		}
	})
}
