package gateway

import (
	"time"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/liveconfig"
	"github.com/kitshop/kitshop/kit/logging"
)

// LiveService is the name the gateway's live settings are kept under:
// kitshop/config/gateway/<key>.
const LiveService = "gateway"

// The gateway's live settings (kit/liveconfig). Their defaults are the
// flags of the same name.
var (
	LiveRateLimit = liveconfig.Float("rate-limit",
		"requests per second allowed per client IP (0 disables the limit)", 0, 1e6)
	LiveRateBurst = liveconfig.Int("rate-burst",
		"requests a client IP may send in a burst above rate-limit", 1, 1_000_000)
	LiveUserRateLimit = liveconfig.Float("user-rate-limit",
		"requests per second allowed per authenticated user, on top of rate-limit (0 disables the limit)", 0, 1e6)
	LiveUserRateBurst = liveconfig.Int("user-rate-burst",
		"requests a user may send in a burst above user-rate-limit", 1, 1_000_000)
	// The server's write timeout is sized at start for attempts of up to
	// 10s (-upstream-timeout's default); a longer limit needs the flag.
	LiveUpstreamTimeout = liveconfig.Duration("upstream-timeout",
		"time limit of one attempt on an upstream instance, response body included", 10*time.Millisecond, 10*time.Second)
	LiveLogLevel = liveconfig.Enum("log-level",
		"the least severe log lines written", logging.Levels...)
	// LiveBreaker tunes every instance's circuit breaker.
	LiveBreaker = breaker.LiveSettings("breaker-")
)

// LiveSchema is the schema of the gateway's live settings; kitctl checks
// values against it.
func LiveSchema() liveconfig.Schema {
	return liveconfig.NewSchema(LiveService,
		LiveRateLimit, LiveRateBurst, LiveUserRateLimit, LiveUserRateBurst, LiveUpstreamTimeout, LiveLogLevel,
	).With(LiveBreaker.Checkers()...).With(LiveSettings()...)
}

// BindLive binds the gateway's live settings, but the log level (which
// belongs to the process), on s, with cfg (the Config given to New) for
// defaults.
func (g *Gateway) BindLive(s *liveconfig.Store, cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	limit := liveconfig.Bind(s, LiveRateLimit, cfg.RateLimit)
	burst := liveconfig.Bind(s, LiveRateBurst, cfg.RateBurst)
	limit.OnChange(func(v float64) { g.limiter.SetRate(v, burst.Get()) })
	burst.OnChange(func(v int) { g.limiter.SetRate(limit.Get(), v) })
	userLimit := liveconfig.Bind(s, LiveUserRateLimit, cfg.UserRateLimit)
	userBurst := liveconfig.Bind(s, LiveUserRateBurst, cfg.UserRateBurst)
	userLimit.OnChange(func(v float64) { g.userLimiter.SetRate(v, userBurst.Get()) })
	userBurst.OnChange(func(v int) { g.userLimiter.SetRate(userLimit.Get(), v) })
	liveconfig.Bind(s, LiveUpstreamTimeout, cfg.UpstreamTimeout).OnChange(g.SetUpstreamTimeout)
	LiveBreaker.Bind(s, cfg.Breaker, g.breakers.set)
	return nil
}

// SetUpstreamTimeout changes the time limit of one attempt.
func (g *Gateway) SetUpstreamTimeout(d time.Duration) { g.fwd.timeout.Store(int64(d)) }

// set changes the settings of every instance's breaker, present and future.
func (b *breakers) set(s breaker.Settings) {
	b.settings.Store(&s)
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, ib := range b.m {
		ib.Reconfigure(s)
	}
}
