package consul

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/hashicorp/consul/api"
)

// Watcher follows the passing instances of one service.
//
// It runs one goroutine of blocking health queries until Stop. While Consul
// is unreachable it retries with exponential backoff and keeps the last known
// instances: losing Consul for a moment must not make every caller believe a
// healthy dependency is gone. For the same reason, when Consul answers again
// but lacks instances it listed before (a restarted agent that not every
// instance has registered with again yet), the missing ones are kept for a
// grace period or until Consul lists them again (see WithRecoveryGrace).
//
// Snapshots are sorted by instance ID and shared between callers: treat them
// as read-only.
type Watcher struct {
	service string
	w       *watch[Instance]
}

// NewWatcher starts watching the passing instances of service. The first
// result arrives shortly after; use Ready to wait for it. Call Stop when done.
func NewWatcher(c Client, service string, logger log.Logger, opts ...Option) *Watcher {
	query := func(ctx context.Context, index uint64, wait time.Duration) ([]Instance, uint64, error) {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: wait}
		entries, meta, err := c.Service(ctx, service, "", true, q)
		if err != nil {
			return nil, 0, err
		}
		return instancesFrom(entries), meta.LastIndex, nil
	}
	logger = log.With(logger, "component", "consul.watcher", "service", service)
	return &Watcher{
		service: service,
		w:       startWatch(query, equalInstances, func(in Instance) string { return in.ID }, logger, newOptions(opts)),
	}
}

// Service returns the name of the watched service.
func (w *Watcher) Service() string { return w.service }

// Instances returns the latest snapshot of passing instances: empty before
// the first result, the last known set while Consul is unreachable.
func (w *Watcher) Instances() []Instance { return w.w.snapshot() }

// Ready blocks until the first result from Consul has arrived (Instances is
// then authoritative), ctx ends (ctx.Err()), or the watcher is stopped
// (ErrStopped).
func (w *Watcher) Ready(ctx context.Context) error { return w.w.waitReady(ctx) }

// Subscribe returns a channel that receives every new snapshot, starting with
// the current one if the first result has arrived, and a function that ends
// the subscription and closes the channel. The channel holds one snapshot:
// a subscriber that falls behind gets the latest, never a backlog, and never
// slows the watcher. Stop closes all subscribed channels.
func (w *Watcher) Subscribe() (<-chan []Instance, func()) { return w.w.subscribe() }

// Stop ends the watch goroutine and closes subscribed channels. It waits for
// the goroutine to exit and is safe to call more than once.
func (w *Watcher) Stop() { w.w.stop() }
