package main

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/gateway"
	"github.com/kitshop/kitshop/kit/liveconfig"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/metrics"
)

// liveReadyWait is how long the gateway waits for its stored settings
// before it starts on its flags: a Consul outage barely delays a start.
const liveReadyWait = time.Second

// startLive follows the gateway's live settings in Consul
// (kitshop/config/gateway/) until the returned store is stopped.
func startLive(ctx context.Context, s settings, gw *gateway.Gateway, cfg gateway.Config, levels *logging.LevelVar, logger log.Logger, m *metrics.Metrics) (*liveconfig.Store, error) {
	client, err := liveconfig.NewClient(s.consulAddr)
	if err != nil {
		return nil, err
	}
	store := liveconfig.NewStore(client, gateway.LiveSchema(), liveconfig.Options{Logger: logger, Registerer: m.Registry()})
	if err := gw.BindLive(store, cfg); err != nil {
		return nil, err
	}
	gw.FollowLive(store, s.features.composites, s.features.balance)
	liveconfig.Bind(store, gateway.LiveLogLevel, s.logLevel).OnChange(func(l string) { _ = levels.Set(l) })
	store.Start()
	wctx, cancel := context.WithTimeout(ctx, liveReadyWait)
	defer cancel()
	if err := store.Ready(wctx); err != nil {
		level.Warn(logger).Log("msg", "live configuration not read yet; starting on the flags", "err", err)
	}
	return store, nil
}
