package app

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/liveconfig"
	"github.com/kitshop/kitshop/kit/logging"
)

// The live settings every service has (kit/liveconfig), under
// kitshop/config/<service>/. Their defaults are the flags of the same name.
var (
	LiveRateLimit = liveconfig.Float("rate-limit",
		"requests per second this instance accepts over both transports", 0.001, 1e6)
	LiveRateBurst = liveconfig.Int("rate-burst",
		"requests this instance accepts in a burst above rate-limit", 1, 1_000_000)
	LiveRequestTimeout = liveconfig.Duration("request-timeout",
		"time limit per request (0s disables it)", 0, 5*time.Minute)
	LiveLogLevel = liveconfig.Enum("log-level",
		"the least severe log lines written", logging.Levels...)
)

// LiveSchema is the schema of a service built on App: the common settings
// above and the service's own (Spec.Live). kitctl checks values against it.
func LiveSchema(service string, own ...liveconfig.Checker) liveconfig.Schema {
	return liveconfig.NewSchema(service, LiveRateLimit, LiveRateBurst, LiveRequestTimeout, LiveLogLevel).With(own...)
}

// liveReadyWait is how long New waits for the stored settings before it
// starts on its defaults: long enough for a local Consul, short enough that
// a Consul outage barely delays a start.
const liveReadyWait = time.Second

// startLive binds the common settings and starts following Consul.
func (a *App) startLive(ctx context.Context, levels *logging.LevelVar) {
	var kv liveconfig.KV
	if a.Options.ConsulAddr != "" {
		if c, err := liveconfig.NewClient(a.Options.ConsulAddr); err == nil {
			kv = c
		}
	}
	a.Live = liveconfig.NewStore(kv, LiveSchema(a.Spec.Name, a.Spec.Live...), liveconfig.Options{
		Logger: a.liveLogger, Registerer: a.Metrics.Registry(),
	})
	o := a.Options
	limit := liveconfig.Bind(a.Live, LiveRateLimit, o.RateLimit)
	burst := liveconfig.Bind(a.Live, LiveRateBurst, o.RateBurst)
	limit.OnChange(func(v float64) { a.limiter.SetRate(v, burst.Get()) })
	burst.OnChange(func(v int) { a.limiter.SetRate(limit.Get(), v) })
	a.requestTimeout = new(atomic.Int64)
	liveconfig.Bind(a.Live, LiveRequestTimeout, o.RequestTimeout).OnChange(func(d time.Duration) { a.requestTimeout.Store(int64(d)) })
	liveconfig.Bind(a.Live, LiveLogLevel, o.LogLevel).OnChange(func(l string) { _ = levels.Set(l) })

	a.Live.Start()
	a.Defer(a.Live.Stop)
	wctx, cancel := context.WithTimeout(ctx, liveReadyWait)
	defer cancel()
	if err := a.Live.Ready(wctx); err != nil {
		level.Warn(a.Logger).Log("msg", "live configuration not read yet; starting on the defaults", "err", err)
	}
}

// RequestTimeout is the request time limit in force (request-timeout).
func (a *App) RequestTimeout() time.Duration { return time.Duration(a.requestTimeout.Load()) }
